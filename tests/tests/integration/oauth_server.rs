//! Gatehouse's own OAuth 2.1 authorization server, driven headlessly like an
//! MCP client would: metadata, JWKS, Dynamic Client Registration, Client ID
//! Metadata Documents, authorization code + PKCE through the org's SSO (the
//! real test OP) and the consent screen, code and refresh-token replay
//! protection, revocation, resource binding, client credentials, key
//! rotation, and no secret in the database or the logs.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use std::sync::{Arc, Mutex};

use gatehouse_control_plane::ControlPlaneConfig;
use gatehouse_tests::control_plane::{SsoBrowser, TestControlPlane};
use gatehouse_tests::db::TestDb;
use gatehouse_tests::edge::TestEdge;
use gatehouse_tests::oauth_browser::{location, query_of, register_public_client, start_org_sso};
use gatehouse_tests::oidc::{OidcUser, TestOidcProvider};
use gatehouse_tests::upstream::{McpUpstream, SessionMode};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use reqwest::{header, Method, StatusCode};
use rmcp::model::CallToolRequestParams;
use rmcp::transport::auth::{AuthClient, AuthorizationRequest, OAuthState};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The default edge public base URL: resources are `{EDGE}/mcp/{slug}`.
const EDGE: &str = "http://127.0.0.1:8787";
const REDIRECT: &str = "http://127.0.0.1:33333/callback";

/// A control plane with the test OP as the default org's SSO, a `platform`
/// workspace (alice is in it by group, mallory is not) and a `tools` server provisioned to it.
struct Env {
    cp: TestControlPlane,
    _op: Option<TestOidcProvider>,
    upstream: McpUpstream,
    http: reqwest::Client,
}

async fn env() -> Env {
    env_with(|_| {}).await
}

async fn env_with(configure: impl Fn(&mut ControlPlaneConfig) + Send + Sync + 'static) -> Env {
    env_on(TestDb::sqlite().await, configure).await
}

async fn env_on(db: TestDb, configure: impl Fn(&mut ControlPlaneConfig) + Send + Sync + 'static) -> Env {
    let cp = TestControlPlane::start_with(db, move |c| {
        c.allow_loopback_upstreams = true;
        configure(c);
    })
    .await;
    let env = env_without_sso(cp).await;
    let op = start_org_sso(
        &env.cp,
        vec![
            OidcUser::new("alice").email("alice@example.com").name("Alice").groups(&["eng"]),
            OidcUser::new("mallory").email("mallory@example.com").name("Mallory").groups(&["sales"]),
        ],
    )
    .await;
    Env { _op: Some(op), ..env }
}

/// A control plane with the `platform` workspace and the `tools` and `other` servers, without SSO.
async fn env_without_sso(cp: TestControlPlane) -> Env {
    let admin = cp.admin();
    admin.create_workspace("platform").await;
    let upstream = McpUpstream::start(SessionMode::Stateful).await;
    admin.create_server("tools", &upstream.url, &[]).await;
    admin.create_server("other", &upstream.url, &[]).await;
    admin.provision("platform", "other", &[], &[]).await;
    admin.provision("platform", "tools", &[], &[]).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    Env { cp, _op: None, upstream, http }
}

/// The parameters of an authorization request for `client_id` to [`REDIRECT`] with
/// `challenge` and `state`, plus `extra` (e.g. `resource`, `scope`).
fn code_request<'a>(
    client_id: &'a str,
    challenge: &'a str,
    state: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("state", state),
    ];
    params.extend_from_slice(extra);
    params
}

fn resource(slug: &str) -> String {
    format!("{EDGE}/mcp/{slug}")
}

/// A PKCE verifier and its S256 challenge.
fn pkce() -> (String, String) {
    let verifier = format!("v{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let challenge = B64.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

impl Env {
    /// Registers a public client through DCR.
    async fn register_public(&self) -> String {
        register_public_client(&self.cp.api_url, "Inspector", REDIRECT).await
    }

    /// `GET /oauth/authorize` in `browser`, logging in through SSO as `login` when sent there.
    async fn authorize(
        &self,
        browser: &SsoBrowser,
        login: &str,
        params: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut url = url::Url::parse(&format!("{}/oauth/authorize", self.cp.api_url)).unwrap();
        url.query_pairs_mut().extend_pairs(params);
        browser.oauth_authorize(login, url.as_str()).await
    }

    /// Answers a consent page (no resource pick); returns the redirect back to the client.
    async fn decide(
        &self,
        browser: &SsoBrowser,
        page: reqwest::Response,
        decision: &str,
    ) -> reqwest::Response {
        let page = browser.oauth_consent(page).await;
        browser.oauth_decide(&page, decision, None).await
    }

    /// A code for `client_id` as alice (consenting if asked); returns `(code, verifier)`.
    async fn code(&self, browser: &SsoBrowser, client_id: &str, res: &str) -> (String, String) {
        let (verifier, challenge) = pkce();
        let params = code_request(client_id, &challenge, "st-123", &[("scope", "mcp"), ("resource", res)]);
        let mut resp = self.authorize(browser, "alice", &params).await;
        if resp.status() == StatusCode::OK {
            resp = self.decide(browser, resp, "approve").await;
        }
        assert_eq!(resp.status(), StatusCode::FOUND);
        let loc = location(&resp);
        assert!(loc.starts_with(REDIRECT), "{loc}");
        let q = query_of(&loc);
        assert_eq!(q["state"], "st-123");
        assert_eq!(q["iss"], self.cp.api_url, "RFC 9207 iss");
        (q.get("code").unwrap_or_else(|| panic!("a code: {loc}")).clone(), verifier)
    }

    async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let resp =
            self.http.post(format!("{}/oauth/token", self.cp.api_url)).form(form).send().await.unwrap();
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
        let status = resp.status();
        (status, resp.json().await.unwrap())
    }

    async fn exchange(&self, client_id: &str, code: &str, verifier: &str) -> (StatusCode, Value) {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", REDIRECT),
            ("resource", &resource("tools")),
        ])
        .await
    }

    async fn refresh(&self, client_id: &str, refresh_token: &str) -> (StatusCode, Value) {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// `GET url` as JSON.
    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> T {
        self.http.get(url).send().await.unwrap().json().await.unwrap()
    }

    /// Verifies an access token against the published JWKS; returns its claims.
    async fn verify(&self, token: &str, audience: &str) -> Value {
        let jwks: JwkSet = self.get_json(&format!("{}/oauth/jwks.json", self.cp.api_url)).await;
        let header = decode_header(token).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("the token's kid is published");
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[self.cp.api_url.as_str()]);
        decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .expect("a valid token")
            .claims
    }
}

#[tokio::test]
async fn oauth_metadata_documents_and_jwks() {
    let env = env_without_sso(TestControlPlane::start(TestDb::sqlite().await).await).await;
    let base = &env.cp.api_url;
    for path in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
        let doc: Value = env.get_json(&format!("{base}{path}")).await;
        assert_eq!(doc["issuer"], base.as_str());
        assert_eq!(doc["authorization_endpoint"], format!("{base}/oauth/authorize"));
        assert_eq!(doc["token_endpoint"], format!("{base}/oauth/token"));
        assert_eq!(doc["registration_endpoint"], format!("{base}/oauth/register"));
        assert_eq!(doc["revocation_endpoint"], format!("{base}/oauth/revoke"));
        assert_eq!(doc["jwks_uri"], format!("{base}/oauth/jwks.json"));
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(doc["response_types_supported"], json!(["code"]));
        assert_eq!(
            doc["grant_types_supported"],
            json!(["authorization_code", "refresh_token", "client_credentials"])
        );
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"],
            json!(["none", "client_secret_basic", "client_secret_post"])
        );
        assert_eq!(doc["client_id_metadata_document_supported"], true);
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    }
    // The issuer has no path, so there is no path-inserted variant.
    let resp =
        env.http.get(format!("{base}/.well-known/oauth-authorization-server/tenant")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    let jwks: Value = env.get_json(&format!("{base}/oauth/jwks.json")).await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "access-token and identity keys: {jwks}");
    for key in keys {
        assert_eq!(key["kty"], "EC");
        assert_eq!(key["crv"], "P-256");
        assert_eq!(key["alg"], "ES256");
        assert_eq!(key["use"], "sig");
        assert!(key.get("d").is_none(), "no private part: {key}");
    }
}

#[tokio::test]
async fn oauth_dynamic_registration_validates_redirect_uris() {
    let env = env_without_sso(TestControlPlane::start(TestDb::sqlite().await).await).await;
    let url = format!("{}/oauth/register", env.cp.api_url);
    let register = |body: Value| {
        let req = env.http.post(&url).json(&body);
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    let (status, public) = register(json!({"client_name": "Claude", "redirect_uris": ["https://claude.ai/api/mcp/auth_callback", "http://localhost/cb"], "token_endpoint_auth_method": "none"})).await;
    assert_eq!(status, StatusCode::CREATED, "{public}");
    assert!(public["client_id"].as_str().unwrap().starts_with("ghc_"));
    assert!(public["client_id_issued_at"].as_i64().unwrap() > 0);
    assert!(public.get("client_secret").is_none());

    let (status, confidential) =
        register(json!({"client_name": "Server app", "redirect_uris": ["https://app.example.com/cb"]})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(confidential["token_endpoint_auth_method"], "client_secret_basic");
    let secret = confidential["client_secret"].as_str().expect("a secret, once").to_owned();

    for bad in
        ["http://evil.example.com/cb", "https://app.example.com/cb#frag", "javascript:alert(1)", "/relative"]
    {
        let (status, body) =
            register(json!({"redirect_uris": [bad], "token_endpoint_auth_method": "none"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["error"], "invalid_redirect_uri", "{bad}: {body}");
    }
    let (status, body) = register(json!({"redirect_uris": []})).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_redirect_uri")));
    let (status, body) =
        register(json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"]}))
            .await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_client_metadata")));

    // The confidential client's secret is stored only as a digest.
    let db = env.cp.db().sqlite_path().unwrap();
    for suffix in ["", "-wal"] {
        let Ok(bytes) = std::fs::read(format!("{}{suffix}", db.display())) else { continue };
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "client secret in plaintext");
    }
}

#[tokio::test]
async fn oauth_dynamic_registration_is_rate_limited_per_client_address() {
    let db = TestDb::sqlite().await;
    let cp = TestControlPlane::start_with(db, |c| {
        c.oauth_registration_per_minute = 1;
        c.oauth_registration_burst = 3;
    })
    .await;
    let env = env_without_sso(cp).await;
    let url = format!("{}/oauth/register", env.cp.api_url);
    let register = |forwarded: Option<&str>| {
        let mut req = env
            .http
            .post(&url)
            .json(&json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}));
        if let Some(ip) = forwarded {
            req = req.header("x-forwarded-for", ip);
        }
        async move { req.send().await.unwrap() }
    };
    for _ in 0..3 {
        assert_eq!(register(None).await.status(), StatusCode::CREATED);
    }
    let limited = register(None).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.headers()[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(limited.headers()[header::CACHE_CONTROL], "no-store");
    assert_eq!(limited.headers()[header::CONTENT_TYPE], "application/json");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("too many"));
    // A client cannot pick another address with X-Forwarded-For when no proxy is trusted.
    assert_eq!(register(Some("203.0.113.7")).await.status(), StatusCode::TOO_MANY_REQUESTS);
    // The refused registrations stored nothing: the clients table holds the three.
    let count = env.cp.store().await.count_as_dynamic_clients().await.unwrap();
    assert_eq!(count, 3);

    // Behind one trusted proxy the address it appended counts, not the TCP peer.
    let cp = TestControlPlane::start_with(TestDb::sqlite().await, |c| {
        c.oauth_registration_per_minute = 1;
        c.oauth_registration_burst = 1;
        c.trusted_proxy_hops = 1;
    })
    .await;
    let url = format!("{}/oauth/register", cp.api_url);
    let register = |forwarded: &str| {
        let req = env
            .http
            .post(&url)
            .header("x-forwarded-for", forwarded)
            .json(&json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}));
        async move { req.send().await.unwrap().status() }
    };
    assert_eq!(register("198.51.100.1, 203.0.113.1").await, StatusCode::CREATED);
    // The forged left part changes nothing: the same proxy-appended address is limited.
    assert_eq!(register("198.51.100.2, 203.0.113.1").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(register("203.0.113.2").await, StatusCode::CREATED);
}

#[tokio::test]
async fn oauth_authorization_code_flow_through_sso_and_consent() {
    let env = env().await;
    let client_id = env.register_public().await;
    let browser = env.cp.sso_browser();

    // Not logged in: SSO, then consent; deny goes back with access_denied.
    let (_, challenge) = pkce();
    let res = resource("tools");
    let params = code_request(&client_id, &challenge, "s1", &[("resource", &res)]);
    let page = env.authorize(&browser, "alice", &params).await;
    let denied = env.decide(&browser, page, "deny").await;
    let q = query_of(&location(&denied));
    assert_eq!((q["error"].as_str(), q["state"].as_str()), ("access_denied", "s1"));

    // Approve once; consent is then remembered (straight redirect with a code).
    let (code, verifier) = env.code(&browser, &client_id, &res).await;
    let (code2, verifier2) = env.code(&browser, &client_id, &res).await;

    let (status, tokens) = env.exchange(&client_id, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh1 = tokens["refresh_token"].as_str().unwrap().to_owned();
    let claims = env.verify(&access, &res).await;
    assert_eq!(claims["aud"], res);
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["client_id"], client_id);
    assert_eq!(claims["scope"], "mcp");
    assert_eq!(claims["ws"].as_array().unwrap().len(), 1);
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 600);

    // Codes are single use: a replay fails and revokes what the code gave.
    let (status, body) = env.exchange(&client_id, &code, &verifier).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let (status, _) = env.refresh(&client_id, &refresh1).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the replayed code's refresh token is revoked");

    // PKCE is verified (and a failed attempt burns the code).
    let (status, body) = env.exchange(&client_id, &code2, &pkce().0).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let (status, _) = env.exchange(&client_id, &code2, &verifier2).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // redirect_uri and resource must match the authorization request.
    let (code, verifier) = env.code(&browser, &client_id, &res).await;
    let wrong_redirect = [
        ("grant_type", "authorization_code"),
        ("client_id", client_id.as_str()),
        ("code", code.as_str()),
        ("code_verifier", verifier.as_str()),
        ("redirect_uri", "http://127.0.0.1:33333/other"),
    ];
    let (status, body) = env.token(&wrong_redirect).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let (code, verifier) = env.code(&browser, &client_id, &res).await;
    let wrong_resource = [
        ("grant_type", "authorization_code"),
        ("client_id", client_id.as_str()),
        ("code", code.as_str()),
        ("code_verifier", verifier.as_str()),
        ("redirect_uri", REDIRECT),
        ("resource", "http://127.0.0.1:8787/mcp/other"),
    ];
    let (status, body) = env.token(&wrong_resource).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_target")));
}

#[tokio::test]
async fn oauth_refresh_rotation_reuse_detection_and_revocation() {
    let logs = gatehouse_tests::logs::capture();
    let env = env().await;
    let client_id = env.register_public().await;
    let browser = env.cp.sso_browser();
    let res = resource("tools");
    let (first_code, verifier) = env.code(&browser, &client_id, &res).await;
    let (status, tokens) = env.exchange(&client_id, &first_code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();

    // Refresh rotates; presenting a rotated token revokes the whole family.
    let (code, verifier) = env.code(&browser, &client_id, &res).await;
    let (_, tokens) = env.exchange(&client_id, &code, &verifier).await;
    let r1 = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, rotated) = env.refresh(&client_id, &r1).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let r2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    env.verify(rotated["access_token"].as_str().unwrap(), &res).await;
    let (status, body) = env.refresh(&client_id, &r1).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let (status, _) = env.refresh(&client_id, &r2).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "reuse revoked the family");

    // Revocation (RFC 7009) stops renewal.
    let (code, verifier) = env.code(&browser, &client_id, &res).await;
    let (_, tokens) = env.exchange(&client_id, &code, &verifier).await;
    let r = tokens["refresh_token"].as_str().unwrap().to_owned();
    let resp = env
        .http
        .post(format!("{}/oauth/revoke", env.cp.api_url))
        .form(&[
            ("client_id", client_id.as_str()),
            ("token", r.as_str()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (status, _) = env.refresh(&client_id, &r).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // No secret in the database or the logs.
    let db = env.cp.db().sqlite_path().unwrap();
    let secrets = [
        ("refresh token", r.clone()),
        ("refresh token", r2.clone()),
        ("access token", access.clone()),
        ("authorization code", first_code.clone()),
    ];
    for suffix in ["", "-wal"] {
        let Ok(bytes) = std::fs::read(format!("{}{suffix}", db.display())) else { continue };
        for (what, secret) in &secrets {
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{what} in plaintext");
        }
        assert!(!bytes.windows(4).any(|w| w == b"\"d\":"), "a private JWK in plaintext");
    }
    if let Some(logs) = logs {
        let text = logs.text();
        for (what, secret) in &secrets {
            assert!(!text.contains(secret.as_str()), "{what} in the logs");
        }
    }
}

#[tokio::test]
async fn oauth_refresh_re_evaluates_the_user_and_the_family_has_an_absolute_lifetime() {
    use gatehouse_control_plane::store::UserLogin;

    let family_lifetime = std::time::Duration::from_secs(4);
    let env = env_with(move |c| c.oauth_refresh_family_lifetime = family_lifetime).await;
    let client_id = env.register_public().await;
    let browser = env.cp.sso_browser();
    let res = resource("tools");
    let (code, verifier) = env.code(&browser, &client_id, &res).await;
    let (status, tokens) = env.exchange(&client_id, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let claims = env.verify(tokens["access_token"].as_str().unwrap(), &res).await;
    let store = env.cp.store().await;
    let user = store.get_user(claims["sub"].as_str().unwrap()).await.unwrap().unwrap();
    let relogin = |role: &str, workspaces: &[&str]| UserLogin {
        org_id: user.org_id.clone(),
        issuer: user.issuer.clone(),
        subject: user.subject.clone(),
        email: user.email.clone(),
        name: user.name.clone(),
        role: role.to_owned(),
        workspace_slugs: workspaces.iter().map(|w| (*w).to_owned()).collect(),
    };

    // A new role reaches the next access token: refresh reads the user as they are now.
    assert_ne!(claims["roles"], json!(["admin"]), "{claims}");
    store.record_login(relogin("admin", &["platform"])).await.unwrap();
    let (status, rotated) = env.refresh(&client_id, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let refreshed = env.verify(rotated["access_token"].as_str().unwrap(), &res).await;
    assert_eq!(refreshed["roles"], json!(["admin"]));
    assert_eq!(refreshed["ws"], claims["ws"]);

    // Removed from the workspace the server is provisioned to: the grant is over, for good.
    store.record_login(relogin("member", &[])).await.unwrap();
    let r2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = env.refresh(&client_id, &r2).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    store.record_login(relogin("member", &["platform"])).await.unwrap();
    let (status, _) = env.refresh(&client_id, &r2).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the family stays revoked");

    // However often it is refreshed, a family ends at its absolute lifetime.
    let (code, verifier) = env.code(&browser, &client_id, &res).await;
    let started = std::time::Instant::now();
    let (_, tokens) = env.exchange(&client_id, &code, &verifier).await;
    let mut refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    while started.elapsed() < family_lifetime - std::time::Duration::from_millis(1500) {
        let (status, body) = env.refresh(&client_id, &refresh).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        refresh = body["refresh_token"].as_str().unwrap().to_owned();
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    tokio::time::sleep(
        (family_lifetime + std::time::Duration::from_millis(200)).saturating_sub(started.elapsed()),
    )
    .await;
    let (status, body) = env.refresh(&client_id, &refresh).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
}

#[tokio::test]
async fn oauth_authorization_errors_redirect_or_show_a_page() {
    let env = env().await;
    let client_id = env.register_public().await;
    let browser = env.cp.sso_browser();
    let (_, challenge) = pkce();
    let res = resource("tools");
    let base = code_request(&client_id, &challenge, "s", &[("resource", &res)]);
    let with = |key: &'static str, value: Option<&'static str>| {
        let mut p: Vec<(&str, &str)> = base.iter().filter(|(k, _)| *k != key).cloned().collect();
        if let Some(v) = value {
            p.push((key, v));
        }
        p
    };

    // Untrusted redirect URI or client: an HTML page, never a redirect.
    for params in [with("redirect_uri", Some("https://evil.example.com/cb")), with("client_id", Some("nope"))]
    {
        let resp = env.authorize(&browser, "alice", &params).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert!(location(&resp).is_empty());
    }
    // Otherwise back to the client with the error, state and iss.
    for (params, error) in [
        (with("code_challenge", None), "invalid_request"),
        (with("code_challenge_method", Some("plain")), "invalid_request"),
        (with("response_type", Some("token")), "unsupported_response_type"),
        (with("resource", Some("http://127.0.0.1:8787/mcp/unknown")), "invalid_target"),
        (with("scope", Some("admin")), "invalid_scope"),
    ] {
        let resp = env.authorize(&browser, "alice", &params).await;
        assert_eq!(resp.status(), StatusCode::FOUND);
        let q = query_of(&location(&resp));
        assert_eq!(q["error"], error, "{params:?}");
        assert_eq!(q["state"], "s");
        assert_eq!(q["iss"], env.cp.api_url);
    }

    // A user in no workspace where the server is provisioned is refused.
    let mallory = env.cp.sso_browser();
    let resp = env.authorize(&mallory, "mallory", &base).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(query_of(&location(&resp))["error"], "access_denied");

    // A cross-origin decision is refused.
    let resp = mallory
        .http
        .post(format!("{}/oauth/authorize/decision", env.cp.api_url))
        .header(header::ORIGIN, "https://evil.example")
        .form(&[("request_id", "whatever"), ("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // A forged decision (unknown request id) from a signed-in user is refused.
    let resp = mallory
        .http
        .post(format!("{}/oauth/authorize/decision", env.cp.api_url))
        .form(&[("request_id", "forged"), ("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn oauth_request_without_resource_lets_the_user_pick_the_server() {
    let env = env().await;
    let client_id = env.register_public().await;
    let browser = env.cp.sso_browser();
    let (verifier, challenge) = pkce();
    let params = code_request(&client_id, &challenge, "pick", &[]);

    // RFC 8707 §2: no resource named; the consent screen offers alice's servers.
    let page = browser.oauth_consent(env.authorize(&browser, "alice", &params).await).await;
    assert_eq!(page.choices, vec![resource("other"), resource("tools")], "{}", page.html);
    // A pick outside the offer (an unknown server) is refused back to the client.
    let resp = browser.oauth_decide(&page, "approve", Some("http://127.0.0.1:8787/mcp/nope")).await;
    assert_eq!(query_of(&location(&resp))["error"], "invalid_target");

    // Picking one binds the code (and the token) to it.
    let page = browser.oauth_consent(env.authorize(&browser, "alice", &params).await).await;
    let resp = browser.oauth_decide(&page, "approve", Some(&resource("other"))).await;
    let q = query_of(&location(&resp));
    assert_eq!((q["state"].as_str(), q["iss"].as_str()), ("pick", env.cp.api_url.as_str()));
    let (status, tokens) = env
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id.as_str()),
            ("code", q["code"].as_str()),
            ("code_verifier", verifier.as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(
        env.verify(tokens["access_token"].as_str().unwrap(), &resource("other")).await["aud"],
        resource("other")
    );

    // Even with consent remembered for that server, a resource-less request asks again.
    let again = env.authorize(&browser, "alice", &params).await;
    assert_eq!(again.status(), StatusCode::OK, "the picker is shown again");
    // An approval without a pick is refused.
    let page = browser.oauth_consent(again).await;
    let resp = browser.oauth_decide(&page, "approve", None).await;
    assert_eq!(query_of(&location(&resp))["error"], "invalid_target");

    // A user with no provisioned server is refused before any consent screen.
    let mallory = env.cp.sso_browser();
    let resp = env.authorize(&mallory, "mallory", &params).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(query_of(&location(&resp))["error"], "access_denied");
}

#[tokio::test]
async fn oauth_client_credentials_and_key_rotation() {
    let env = env_without_sso(TestControlPlane::start(TestDb::sqlite().await).await).await;
    let admin = env.cp.admin();
    let (status, created) = admin
        .request(Method::POST, "/v1/oauth/clients", Some(json!({"name": "CI bot", "workspace": "platform"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let (_, list) = admin.request(Method::GET, "/v1/oauth/clients", None).await;
    assert_eq!(list["clients"][0]["client_id"], client_id);
    assert!(!list.to_string().contains(&secret));

    let res = resource("tools");
    let token = |form: Vec<(&'static str, String)>, basic: bool| {
        let mut req = env.http.post(format!("{}/oauth/token", env.cp.api_url)).form(&form);
        if basic {
            req = req.basic_auth(&client_id, Some(&secret));
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    let cc = |res: &str| vec![("grant_type", "client_credentials".to_owned()), ("resource", res.to_owned())];
    let (status, body) = token(cc(&res), true).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("refresh_token").is_none());
    let old = body["access_token"].as_str().unwrap().to_owned();
    let claims = env.verify(&old, &res).await;
    assert_eq!(claims["sub"], client_id);
    assert_eq!(claims["ws"], json!([created["workspace_id"]]));

    // client_secret_post works too; a wrong secret or an unknown resource does not.
    let mut post = cc(&res);
    post.extend([("client_id", client_id.clone()), ("client_secret", secret.clone())]);
    assert_eq!(token(post, false).await.0, StatusCode::OK);
    let mut wrong = cc(&res);
    wrong.extend([("client_id", client_id.clone()), ("client_secret", "wrong".to_owned())]);
    let (status, body) = token(wrong, false).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    let (status, body) = token(cc("http://127.0.0.1:8787/mcp/nope"), true).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_target")));

    // Rotation: new tokens use the new key, old tokens still verify.
    let old_kid = decode_header(&old).unwrap().kid.unwrap();
    let (status, rotated) = admin.request(Method::POST, "/v1/oauth/signing-keys/rotate", None).await;
    assert_eq!(status, StatusCode::OK);
    let new_kid = rotated["kid"].as_str().unwrap();
    assert_ne!(new_kid, old_kid);
    let (_, body) = token(cc(&res), true).await;
    let new = body["access_token"].as_str().unwrap();
    assert_eq!(decode_header(new).unwrap().kid.as_deref(), Some(new_kid));
    env.verify(new, &res).await;
    env.verify(&old, &res).await;

    // Deleting the client stops it at once.
    let (status, _) = admin.request(Method::DELETE, &format!("/v1/oauth/clients/{client_id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(token(cc(&res), true).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn oauth_identity_key_mints_no_access_token_and_rotates_through_the_api() {
    use gatehouse_control_plane::oauth_server::jwt::{self, AccessClaims};
    use gatehouse_control_plane::store::KeyPurpose;

    let cp =
        TestControlPlane::start_with(TestDb::sqlite().await, |c| c.allow_loopback_upstreams = true).await;
    let env = env_without_sso(cp).await;
    let admin = env.cp.admin();
    let edge = TestEdge::start(&env.cp.grpc_url, &env.cp.node_token).await;
    let (status, created) = admin
        .request(Method::POST, "/v1/oauth/clients", Some(json!({"name": "bot", "workspace": "platform"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let res = resource("tools");
    let resp = env
        .http
        .post(format!("{}/oauth/token", env.cp.api_url))
        .basic_auth(created["client_id"].as_str().unwrap(), created["client_secret"].as_str())
        .form(&[("grant_type", "client_credentials"), ("resource", res.as_str())])
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap().to_owned();
    edge.wait_for_version(admin.config_version().await).await;
    // Past authentication (the stateful upstream answers a session-less tools/list itself).
    let accepted = |status: StatusCode| status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN;
    let status = edge.list_tools("tools", &access).await.status();
    assert!(accepted(status), "{status}");

    // The same claims signed with the identity key every edge holds: refused.
    let claims: AccessClaims = jsonwebtoken::dangerous::insecure_decode(&access).unwrap().claims;
    let store = env.cp.store().await;
    let identity = store.active_as_signing_key(KeyPurpose::Identity).await.unwrap().expect("identity key");
    let minted = jwt::sign(&identity, &claims).unwrap();
    assert_eq!(decode_header(&minted).unwrap().typ.as_deref(), Some("at+jwt"));
    assert_eq!(edge.list_tools("tools", &minted).await.status(), StatusCode::UNAUTHORIZED);

    // The identity key rotates through the admin API (platform admin only).
    let (status, rotated) = admin.request(Method::POST, "/v1/identity/signing-keys/rotate", None).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, identity.kid);
    let active = store.active_as_signing_key(KeyPurpose::Identity).await.unwrap().unwrap();
    assert_eq!(active.kid, new_kid);
    let access_key = store.active_as_signing_key(KeyPurpose::AccessToken).await.unwrap().unwrap();
    assert_ne!(access_key.kid, new_kid, "the access-token key did not rotate");
    let jwks: Value = env.get_json(&format!("{}/oauth/jwks.json", env.cp.api_url)).await;
    assert!(jwks.to_string().contains(&new_kid), "upstreams verify assertions against the published key");
    edge.wait_for_version(admin.config_version().await).await;
    assert_eq!(
        edge.list_tools("tools", &jwt::sign(&active, &claims).unwrap()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let status = edge.list_tools("tools", &access).await.status();
    assert!(accepted(status), "{status}");
}

/// Serves `doc` at `/client.json` on a loopback port; returns the document URL.
async fn serve_metadata(doc: impl Fn(&str) -> Value + Send + Sync + 'static) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/client.json", listener.local_addr().unwrap());
    let body = doc(&url);
    let app = axum::Router::new().route(
        "/client.json",
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([(header::CACHE_CONTROL, "max-age=600")], axum::Json(body)) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn oauth_client_id_metadata_documents() {
    let env = env().await;
    let good = serve_metadata(|url| {
        json!({"client_id": url, "client_name": "Metadata Client", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"})
    })
    .await;
    let browser = env.cp.sso_browser();
    let res = resource("tools");
    let (verifier, challenge) = pkce();
    let params = code_request(&good, &challenge, "m", &[("resource", &res)]);
    let page = env.authorize(&browser, "alice", &params).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Metadata Client"), "the consent screen names the client");
    let page = env.authorize(&browser, "alice", &params).await;
    let resp = env.decide(&browser, page, "approve").await;
    let code = query_of(&location(&resp))["code"].clone();
    let (status, tokens) = env
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", good.as_str()),
            ("code", code.as_str()),
            ("code_verifier", verifier.as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(env.verify(tokens["access_token"].as_str().unwrap(), &res).await["client_id"], good);

    // A document whose client_id is not its own URL is refused.
    let lying =
        serve_metadata(|_| json!({"client_id": "https://other.example/c.json", "redirect_uris": [REDIRECT]}))
            .await;
    let params = [("client_id", lying.as_str()), ("redirect_uri", REDIRECT), ("response_type", "code")];
    let resp = env.authorize(&browser, "alice", &params).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(location(&resp).is_empty());
}

#[tokio::test]
async fn oauth_access_token_reaches_the_upstream_through_the_edge() {
    let env = env().await;
    let edge = TestEdge::start(&env.cp.grpc_url, &env.cp.node_token).await;
    edge.wait_for_version(env.cp.admin().config_version().await).await;

    let client_id = env.register_public().await;
    let browser = env.cp.sso_browser();
    let res = resource("tools");
    let (code, verifier) = env.code(&browser, &client_id, &res).await;
    let (status, tokens) = env.exchange(&client_id, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();

    // The official SDK's client, with Gatehouse's access token, through the real edge.
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(edge.mcp_url("tools")).auth_header(access.clone()),
    );
    let client = ().serve(transport).await.expect("mcp client connects with the oauth access token");
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "echo"), "{tools:?}");
    let params =
        CallToolRequestParams::new("echo").with_arguments(json!({"text": "hi"}).as_object().unwrap().clone());
    client.call_tool(params).await.expect("echo through the edge");
    assert_eq!(env.upstream.calls.count("echo"), 1);
    client.cancel().await.unwrap();

    // The token is bound to its resource: another server refuses it.
    let resp = edge.list_tools("other", &access).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let challenge = resp.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().to_owned();
    assert!(challenge.ends_with(r#", error="invalid_token", scope="mcp""#), "{challenge}");

    // The scope the edge asks for is one this AS issues, in the challenge and the PRM alike.
    let prm: Value =
        env.get_json(&format!("{}/.well-known/oauth-protected-resource/mcp/tools", edge.url)).await;
    let metadata: Value =
        env.get_json(&format!("{}/.well-known/oauth-authorization-server", env.cp.api_url)).await;
    assert_eq!(prm["scopes_supported"], json!(["mcp"]));
    let issued = metadata["scopes_supported"].as_array().unwrap();
    assert!(issued.contains(&json!("mcp")), "{metadata}");

    // A token the AS issued without `mcp` (a machine client limited to offline_access) is 403.
    let (status, machine) = env
        .cp
        .admin()
        .request(
            Method::POST,
            "/v1/oauth/clients",
            Some(json!({"name": "narrow", "workspace": "platform", "scopes": ["offline_access"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{machine}");
    let resp = env
        .http
        .post(format!("{}/oauth/token", env.cp.api_url))
        .basic_auth(machine["client_id"].as_str().unwrap(), machine["client_secret"].as_str())
        .form(&[("grant_type", "client_credentials"), ("resource", res.as_str())])
        .send()
        .await
        .unwrap();
    let narrow: Value = resp.json().await.unwrap();
    assert_eq!(narrow["scope"], "offline_access");
    let resp = edge.list_tools("tools", narrow["access_token"].as_str().unwrap()).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let challenge = resp.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.ends_with(r#", error="insufficient_scope", scope="mcp""#), "{challenge}");
    assert_eq!(env.upstream.calls.count("echo"), 1, "nothing more reached the upstream");
}

#[tokio::test]
async fn oauth_official_sdk_client_completes_the_flow_headlessly() {
    // The edge's public URL is only known once it runs: start, point the
    // control plane at it, restart the control plane (same ports and database).
    let edge_url = Arc::new(Mutex::new(EDGE.to_owned()));
    let configured = edge_url.clone();
    let env = env_with(move |c| c.edge_public_url = configured.lock().unwrap().clone()).await;
    let edge = TestEdge::start(&env.cp.grpc_url, &env.cp.node_token).await;
    *edge_url.lock().unwrap() = edge.url.clone();
    let Env { cp, _op, upstream, http } = env;
    let cp = cp.stop().await.start_again().await;
    let env = Env { cp, _op, upstream, http };
    edge.wait_for_version(env.cp.admin().config_version().await).await;

    // rmcp discovers the edge's protected resource metadata, then this
    // authorization server, registers itself (DCR) and builds the PKCE request.
    let mcp_url = edge.mcp_url("tools");
    let mut state = OAuthState::new(mcp_url.as_str(), None).await.expect("oauth state");
    state
        .start_authorization(AuthorizationRequest::new(REDIRECT).with_client_name("rmcp test client"))
        .await
        .expect("discovery and registration");
    let auth_url = state.get_authorization_url().await.expect("an authorization url");
    assert!(auth_url.starts_with(&format!("{}/oauth/authorize?", env.cp.api_url)), "{auth_url}");

    // The user signs in through SSO and approves; the SDK takes the redirect.
    let browser = env.cp.sso_browser();
    let page = browser.oauth_authorize("alice", &auth_url).await;
    let back = env.decide(&browser, page, "approve").await;
    let callback = location(&back);
    assert!(callback.starts_with(REDIRECT), "{callback}");
    state.handle_callback_url(&callback).await.expect("code exchanged for tokens");

    let manager = state.into_authorization_manager().expect("authorized");
    let token = manager.get_access_token().await.unwrap();
    assert_eq!(env.verify(&token, &mcp_url).await["email"], "alice@example.com");
    let transport = StreamableHttpClientTransport::with_client(
        AuthClient::new(reqwest::Client::default(), manager),
        StreamableHttpClientTransportConfig::with_uri(mcp_url.as_str()),
    );
    let client = ().serve(transport).await.expect("the sdk client connects with its oauth token");
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "echo"));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn oauth_grants_work_on_postgres() {
    // PostgreSQL when configured (GATEHOUSE_TEST_DATABASE_URL), SQLite otherwise.
    let db = match TestDb::postgres().await {
        Some(db) => db,
        None => TestDb::sqlite().await,
    };
    {
        let backend = db.backend();
        let env = env_on(db, |_| {}).await;
        let client_id = env.register_public().await;
        let browser = env.cp.sso_browser();
        let res = resource("tools");
        let (code, verifier) = env.code(&browser, &client_id, &res).await;
        let (status, tokens) = env.exchange(&client_id, &code, &verifier).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {tokens}");
        let r1 = tokens["refresh_token"].as_str().unwrap().to_owned();
        let (status, rotated) = env.refresh(&client_id, &r1).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {rotated}");
        assert_eq!(env.refresh(&client_id, &r1).await.0, StatusCode::BAD_REQUEST, "{backend}: reuse");
        let r2 = rotated["refresh_token"].as_str().unwrap();
        assert_eq!(env.refresh(&client_id, r2).await.0, StatusCode::BAD_REQUEST, "{backend}: family revoked");
        let (status, _) = env.cp.admin().request(Method::POST, "/v1/oauth/signing-keys/rotate", None).await;
        assert_eq!(status, StatusCode::OK, "{backend}");
        env.verify(tokens["access_token"].as_str().unwrap(), &res).await;
    }
}
