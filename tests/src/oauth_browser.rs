//! Gatehouse's own authorization server driven the way a person's browser
//! would: the authorization URL, the SSO login at the test OpenID provider
//! when Gatehouse sends the browser there, and the consent screen.

use std::collections::HashMap;

use reqwest::{header, StatusCode};
use serde_json::json;

use crate::control_plane::{SsoBrowser, TestControlPlane};
use crate::oidc::{OidcClient, OidcConfig, OidcUser, TestOidcProvider};

/// The SSO client Gatehouse is registered as at the test OpenID provider.
const SSO_CLIENT_ID: &str = "gatehouse-console";
const SSO_CLIENT_SECRET: &str = "console-secret-6d1f0a";

/// Starts the test OpenID provider with `users` and makes it the SSO provider of
/// `cp`'s default org; members of the `eng` group land in the `platform` workspace,
/// members of `gatehouse-admins` are admins.
pub async fn start_org_sso(cp: &TestControlPlane, users: Vec<OidcUser>) -> TestOidcProvider {
    let client = OidcClient::confidential(SSO_CLIENT_ID, SSO_CLIENT_SECRET)
        .redirect_uri(&format!("{}/auth/sso/callback", cp.api_url));
    let config = users.into_iter().fold(OidcConfig::new().client(client), OidcConfig::user);
    let op = TestOidcProvider::start(config).await;
    cp.admin()
        .sso_create_provider(json!({
            "name": "Test IdP", "issuer": op.issuer, "client_id": SSO_CLIENT_ID,
            "client_secret": SSO_CLIENT_SECRET,
            "claim_mappings": {
                "groups_claim": "groups",
                "role_mappings": [{"claim": "groups", "value": "gatehouse-admins", "role": "admin"}],
                "workspace_mappings": [{"claim": "groups", "value": "eng", "workspace": "platform"}],
            },
        }))
        .await;
    op
}

/// A consent screen, parsed.
#[derive(Debug)]
pub struct ConsentPage {
    /// The whole page.
    pub html: String,
    /// The single-use request id the form posts back.
    pub request_id: String,
    /// Resources offered to pick from (empty when the client named one).
    pub choices: Vec<String>,
}

/// Registers a public client (`token_endpoint_auth_method: none`) named `name` with
/// `redirect_uri` through Dynamic Client Registration at `api_url`; returns its `client_id`.
pub async fn register_public_client(api_url: &str, name: &str, redirect_uri: &str) -> String {
    let resp = reqwest::Client::new()
        .post(format!("{api_url}/oauth/register"))
        .json(&json!({"client_name": name, "redirect_uris": [redirect_uri], "token_endpoint_auth_method": "none",
                      "grant_types": ["authorization_code", "refresh_token"]}))
        .send()
        .await
        .expect("POST /oauth/register");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: serde_json::Value = resp.json().await.expect("registration response");
    body["client_id"].as_str().expect("a client_id").to_owned()
}

/// The `Location` of a response (empty when there is none).
pub fn location(resp: &reqwest::Response) -> String {
    resp.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// The query parameters of an absolute URL.
pub fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url).expect("absolute url").query_pairs().into_owned().collect()
}

/// The values of every `name="{name}" value="…"` in `html`.
fn attribute_values(html: &str, name: &str) -> Vec<String> {
    let marker = format!(r#"name="{name}" value=""#);
    html.split(marker.as_str()).skip(1).filter_map(|rest| rest.split('"').next()).map(str::to_owned).collect()
}

impl SsoBrowser {
    /// Visits an authorization URL, signing in through SSO as `login` (a user of the
    /// test OP) when Gatehouse sends the browser there; returns the answer to the
    /// authorization request itself (a consent page or a redirect to the client).
    pub async fn oauth_authorize(&self, login: &str, url: &str) -> reqwest::Response {
        let resp = self.http.get(url).send().await.expect("GET authorization url");
        let loc = location(&resp);
        if resp.status() != StatusCode::FOUND || !loc.starts_with("/auth/sso/") {
            return resp;
        }
        let login_url = format!("http://x{loc}");
        let parsed = url::Url::parse(&login_url).expect("login url");
        let org = parsed.path_segments().and_then(|mut s| s.nth(2)).expect("an org in the login path");
        let return_to = query_of(&login_url)["return_to"].clone();
        let callback = self.sso_authorize(org, Some(&return_to), login).await;
        let back = self.sso_callback(&callback).await;
        assert_eq!(back.status(), StatusCode::FOUND, "the SSO callback signs in");
        let loc = location(&back);
        assert!(loc.starts_with("/oauth/authorize?"), "back to the authorization request: {loc}");
        self.http.get(format!("{}{loc}", self.base)).send().await.expect("GET authorization request")
    }

    /// Reads a consent screen (asserting it is one, and not frameable).
    pub async fn oauth_consent(&self, page: reqwest::Response) -> ConsentPage {
        assert_eq!(page.status(), StatusCode::OK, "a consent page");
        assert_eq!(page.headers()[header::X_FRAME_OPTIONS], "DENY");
        let html = page.text().await.expect("consent page body");
        let request_id =
            attribute_values(&html, "request_id").into_iter().next().expect("a request id on the page");
        let choices = attribute_values(&html, "resource");
        ConsentPage { html, request_id, choices }
    }

    /// Answers a consent screen with `decision` (`approve` / `deny`), picking
    /// `resource` when given; returns the redirect back to the client.
    pub async fn oauth_decide(
        &self,
        page: &ConsentPage,
        decision: &str,
        resource: Option<&str>,
    ) -> reqwest::Response {
        let mut form = vec![("request_id", page.request_id.as_str()), ("decision", decision)];
        if let Some(resource) = resource {
            form.push(("resource", resource));
        }
        self.http
            .post(format!("{}/oauth/authorize/decision", self.base))
            .form(&form)
            .send()
            .await
            .expect("POST consent decision")
    }
}
