//! Many orgs on one control plane and one edge, and no crossing between them:
//! `/mcp/{org}/{slug}` reaches that org's server only, the default org's
//! `/mcp/{slug}` reaches the default org's server only, a credential counts
//! only in the org its URL names (gateway tokens, bring-your-own tokens checked
//! by introspection, access tokens of Gatehouse's authorization server), each
//! org's protected resource metadata names that org's authorization server, and
//! a person signs in at the SSO of the org whose server a client asks for.
//!
//! The admin API acts on the default org; the second org (`acme`) is set up
//! through the store, as the org admin API would.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use gatehouse_control_plane::store::{
    AsClient, AsClientKind, NewServer, NewToken, NewWorkspace, Org, OrgAuthPatch, Store, ToolRules,
};
use gatehouse_control_plane::tokens::{self, Lifetime};
use gatehouse_tests::db::TestDb;
use gatehouse_tests::oauth_browser::{location, query_of, register_public_client, start_org_sso};
use gatehouse_tests::oidc::OidcUser;
use gatehouse_tests::TestStack;
use reqwest::{header, StatusCode};
use secrecy::ExposeSecret as _;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

const LIST: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;

/// What the edge answered.
#[derive(Debug, PartialEq)]
struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    body: Value,
}

/// A real HTTP server that counts the requests it receives and answers every one with
/// `body` (an upstream naming itself, or an introspection endpoint).
#[derive(Clone)]
struct Receiver {
    url: String,
    hits: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start(path: &str, body: Value) -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new()
            .route(
                "/{*path}",
                axum::routing::any(|State((hits, body)): State<(Arc<AtomicUsize>, Value)>| async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    axum::Json(body).into_response()
                }),
            )
            .with_state((hits.clone(), body));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url: format!("http://{addr}{path}"), hits }
    }

    /// An upstream MCP server that names itself in every answer.
    async fn upstream(name: &str) -> Self {
        Self::start("/mcp", json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": [], "upstream": name}}))
            .await
    }

    /// An RFC 7662 introspection endpoint that finds every token active.
    async fn introspection() -> Self {
        let exp = chrono::Utc::now().timestamp() + 300;
        Self::start("/introspect", json!({"active": true, "sub": "agent", "exp": exp})).await
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// The default org and `acme`, each with a `platform` workspace and a server `tools` on its own
/// upstream provisioned to it, and a gateway token each.
struct Tenants {
    stack: TestStack,
    store: Store,
    acme: Org,
    default_upstream: Receiver,
    acme_upstream: Receiver,
    default_token: String,
    acme_token: String,
    http: reqwest::Client,
}

impl Tenants {
    /// `advanced` is each server's `advanced_config`, given its org's slug.
    async fn start(advanced: impl Fn(&str) -> Value) -> Self {
        Self::start_on(TestDb::sqlite().await, advanced).await
    }

    /// [`Self::start`] on `db`.
    async fn start_on(db: TestDb, advanced: impl Fn(&str) -> Value) -> Self {
        let stack = TestStack::start_with_public_edge_on(db).await;
        let admin = stack.cp.admin();
        let default_upstream = Receiver::upstream("default").await;
        admin.create_workspace("platform").await;
        admin
            .create_server_json(json!({"slug": "tools", "name": "Default tools", "url": default_upstream.url,
                "auth_type": "none", "advanced_config": advanced("default")}))
            .await;
        admin.provision("platform", "tools", &[], &[]).await;
        let default_token = admin.mint_token("alice", "platform").await.token;

        let store = stack.cp.store().await;
        let acme = store.ensure_org("acme", "Acme").await.unwrap();
        let acme_upstream = Receiver::upstream("acme").await;
        let new_workspace = NewWorkspace { slug: "platform".into(), name: "Acme platform".into() };
        store.create_workspace(&acme.id, new_workspace).await.unwrap();
        let server = NewServer {
            slug: "tools".into(),
            name: "Acme tools".into(),
            url: acme_upstream.url.clone(),
            auth_type: "none".into(),
            headers: BTreeMap::new(),
            advanced_config: advanced("acme"),
            auto_provision: false,
        };
        store.create_server(&acme.id, server).await.unwrap();
        let rules = ToolRules { allow: vec![], deny: vec![] };
        store.provision(&acme.id, "platform", "tools", rules).await.unwrap();
        let generated = tokens::generate();
        let token = NewToken {
            team: "platform".into(),
            user: "wile".into(),
            scopes: vec![],
            server_permissions: vec![],
            tool_permissions: vec![],
            lifetime: Lifetime::Never,
            hash: generated.hash,
            hint: generated.hint.clone(),
        };
        store.create_token(&acme.id, token).await.unwrap();
        stack.sync().await;
        Self {
            stack,
            store,
            acme,
            default_upstream,
            acme_upstream,
            default_token,
            acme_token: generated.token.expose_secret().to_owned(),
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.stack.edge.url)
    }

    /// `POST {path}` with a `tools/list` and `Authorization: Bearer {token}`.
    async fn list(&self, path: &str, token: &str) -> Answer {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header(header::CONTENT_TYPE, "application/json")
            .body(LIST)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let challenge =
            response.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_owned());
        Answer { status, challenge, body: response.json().await.unwrap_or(Value::Null) }
    }

    /// The upstream that answered `path` for `token`; panics unless the answer is 200.
    async fn reached(&self, path: &str, token: &str) -> String {
        let answer = self.list(path, token).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {answer:?}");
        answer.body["result"]["upstream"].as_str().unwrap_or_default().to_owned()
    }

    /// Asserts `token` is refused at `path` exactly as a token that does not exist (status,
    /// challenge and body), and reaches no upstream.
    async fn assert_unknown(&self, path: &str, token: &str) {
        let before = (self.default_upstream.hits(), self.acme_upstream.hits());
        let refused = self.list(path, token).await;
        let unknown = self.list(path, "gth_no_such_token_anywhere").await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{path}: {refused:?}");
        assert_eq!(refused, unknown, "{path}: answered like an unknown token");
        assert_eq!(
            (self.default_upstream.hits(), self.acme_upstream.hits()),
            before,
            "{path}: no upstream reached"
        );
    }

    async fn prm(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(self.url(&format!("/.well-known/oauth-protected-resource{path}")))
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn tenancy_each_org_reaches_only_its_own_server() {
    let t = Tenants::start(|_| json!({})).await;

    // The same slug in two orgs: each org's URL reaches that org's upstream.
    assert_eq!(t.reached("/mcp/acme/tools", &t.acme_token).await, "acme");
    assert_eq!(t.reached("/mcp/default/tools", &t.default_token).await, "default");
    // The legacy URL is the default org's, and only the default org's.
    assert_eq!(t.reached("/mcp/tools", &t.default_token).await, "default");
    assert_eq!(t.acme_upstream.hits(), 1);
    assert_eq!(t.default_upstream.hits(), 2);

    // A token of another org is refused exactly as a token that does not exist.
    t.assert_unknown("/mcp/acme/tools", &t.default_token).await;
    t.assert_unknown("/mcp/default/tools", &t.acme_token).await;
    t.assert_unknown("/mcp/tools", &t.acme_token).await;
    // An org that does not exist is no different.
    t.assert_unknown("/mcp/nope/tools", &t.acme_token).await;
    assert_eq!(
        t.list("/mcp/nope/tools", "gth_no_such_token_anywhere").await.status,
        StatusCode::UNAUTHORIZED
    );

    // A server the org does not have is 404 for that org's caller.
    assert_eq!(t.list("/mcp/acme/missing", &t.acme_token).await.status, StatusCode::NOT_FOUND);

    // The challenge points at the metadata of the URL the client used.
    for path in ["/mcp/acme/tools", "/mcp/default/tools", "/mcp/tools"] {
        let challenge = t.list(path, "gth_no_such_token_anywhere").await.challenge.unwrap();
        let expected =
            format!(r#"resource_metadata="{}/.well-known/oauth-protected-resource{path}""#, t.stack.edge.url);
        assert!(challenge.contains(&expected), "{path}: {challenge}");
    }
}

#[tokio::test]
async fn tenancy_protected_resource_metadata_names_each_orgs_authorization_server() {
    let t = Tenants::start(|_| json!({})).await;
    let issuer = t.stack.cp.api_url.clone();
    let patch = OrgAuthPatch {
        external_auth_config: Some(Some(
            json!({"issuer": "https://idp.acme.test", "scopes_supported": ["read"]}),
        )),
        ..Default::default()
    };
    t.store.update_org_auth_settings(&t.acme.id, patch).await.unwrap();
    t.stack.sync().await;

    let (status, acme) = t.prm("/mcp/acme/tools").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(acme["resource"], t.url("/mcp/acme/tools"));
    assert_eq!(acme["authorization_servers"], json!(["https://idp.acme.test"]));
    assert_eq!(acme["scopes_supported"], json!(["read"]));
    assert_eq!(acme["resource_name"], "Acme tools");

    for path in ["/mcp/default/tools", "/mcp/tools"] {
        let (status, default) = t.prm(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(default["resource"], t.url(path), "the URL the client used");
        assert_eq!(default["authorization_servers"], json!([issuer]), "{path}");
        assert_eq!(default["resource_name"], "Default tools", "{path}");
    }
    // An org or a server that does not exist has no metadata.
    assert_eq!(t.prm("/mcp/nope/tools").await.0, StatusCode::NOT_FOUND);
    assert_eq!(t.prm("/mcp/acme/missing").await.0, StatusCode::NOT_FOUND);

    // The challenge of each org asks for what its own authorization server issues.
    let challenge = t.list("/mcp/acme/tools", "gth_no_such_token_anywhere").await.challenge.unwrap();
    assert!(!challenge.contains("scope="), "{challenge}");
    let challenge = t.list("/mcp/default/tools", "gth_no_such_token_anywhere").await.challenge.unwrap();
    assert!(challenge.ends_with(r#"scope="mcp""#), "{challenge}");
}

#[tokio::test]
async fn tenancy_introspection_sees_only_its_own_orgs_traffic() {
    let default_idp = Receiver::introspection().await;
    let acme_idp = Receiver::introspection().await;
    let endpoints = [("default", default_idp.url.clone()), ("acme", acme_idp.url.clone())];
    let t = Tenants::start(move |org| {
        let endpoint = &endpoints.iter().find(|(o, _)| *o == org).unwrap().1;
        json!({"jwt_validation": {"introspectEndpoint": endpoint, "workspace": "platform",
            "skipIssuerAndAudienceCheck": true}})
    })
    .await;

    // The default org's traffic, at both of its URLs, is introspected by its own endpoint only.
    assert_eq!(t.reached("/mcp/tools", "opaque-default-1").await, "default");
    assert_eq!(t.reached("/mcp/default/tools", "opaque-default-2").await, "default");
    assert!(default_idp.hits() >= 2, "the default org's endpoint answered");
    assert_eq!(acme_idp.hits(), 0, "acme's endpoint never saw the default org's tokens");

    // And acme's traffic by acme's only.
    let before = default_idp.hits();
    assert_eq!(t.reached("/mcp/acme/tools", "opaque-acme-1").await, "acme");
    assert!(acme_idp.hits() >= 1);
    assert_eq!(default_idp.hits(), before, "the default org's endpoint never saw acme's tokens");
}

/// A machine client of `org` in its workspace `platform` with a known secret; returns its id.
async fn machine_client(store: &Store, org: &Org, secret: &str) -> String {
    let workspaces = store.list_workspaces(&org.id).await.unwrap();
    let workspace_id = workspaces.into_iter().find(|w| w.slug == "platform").unwrap().id;
    let digest: String = Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    let client = AsClient {
        client_id: format!("ghm_{}", uuid::Uuid::new_v4().simple()),
        kind: AsClientKind::Machine,
        name: "bot".into(),
        redirect_uris: vec![],
        grant_types: vec!["client_credentials".into()],
        auth_method: "client_secret_basic".into(),
        secret_hash: Some(digest),
        logo_uri: None,
        scopes: vec!["mcp".into()],
        org_id: Some(org.id.clone()),
        workspace_id: Some(workspace_id),
        created_at: chrono::Utc::now(),
    };
    store.insert_as_client(&client).await.unwrap();
    client.client_id
}

#[tokio::test]
async fn tenancy_access_tokens_are_good_only_at_their_orgs_server() {
    // PostgreSQL when configured (GATEHOUSE_TEST_DATABASE_URL), SQLite otherwise.
    let db = match TestDb::postgres().await {
        Some(db) => db,
        None => TestDb::sqlite().await,
    };
    let t = Tenants::start_on(db, |_| json!({})).await;
    let cp = &t.stack.cp;
    let default_org = t.store.org_by_slug("default").await.unwrap().unwrap();
    let acme_bot = machine_client(&t.store, &t.acme, "acme-secret").await;
    let default_bot = machine_client(&t.store, &default_org, "default-secret").await;
    let token = |client: &str, secret: &str, resource: String| {
        let request = t
            .http
            .post(format!("{}/oauth/token", cp.api_url))
            .basic_auth(client, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("resource", resource.as_str())]);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };

    // An access token for acme's server: good there, refused at the default org's URLs.
    let (status, body) = token(&acme_bot, "acme-secret", t.url("/mcp/acme/tools")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let acme_access = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(t.reached("/mcp/acme/tools", &acme_access).await, "acme");
    t.assert_unknown("/mcp/tools", &acme_access).await;
    t.assert_unknown("/mcp/default/tools", &acme_access).await;

    // The default org's tokens, for either of its URLs, are good at both, and not at acme's.
    for resource in ["/mcp/default/tools", "/mcp/tools"] {
        let (status, body) = token(&default_bot, "default-secret", t.url(resource)).await;
        assert_eq!(status, StatusCode::OK, "{resource}: {body}");
        let access = body["access_token"].as_str().unwrap().to_owned();
        assert_eq!(t.reached("/mcp/tools", &access).await, "default", "{resource}");
        assert_eq!(t.reached("/mcp/default/tools", &access).await, "default", "{resource}");
        t.assert_unknown("/mcp/acme/tools", &access).await;
    }

    // The authorization server issues no token for another org's server, whichever URL names it.
    for resource in ["/mcp/tools", "/mcp/default/tools"] {
        let (status, body) = token(&acme_bot, "acme-secret", t.url(resource)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("access_denied")),
            "{resource}"
        );
    }
    let (status, body) = token(&default_bot, "default-secret", t.url("/mcp/acme/tools")).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("access_denied")));
    let (status, body) = token(&acme_bot, "acme-secret", t.url("/mcp/nope/tools")).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_target")));

    // A person is sent to sign in at the org of the server the client names.
    let redirect = "http://127.0.0.1:33333/callback";
    let client_id = register_public_client(&cp.api_url, "Inspector", redirect).await;
    let no_redirects =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for (resource, org) in
        [("/mcp/acme/tools", "acme"), ("/mcp/tools", "default"), ("/mcp/default/tools", "default")]
    {
        let mut url = url::Url::parse(&format!("{}/oauth/authorize", cp.api_url)).unwrap();
        url.query_pairs_mut().extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", redirect),
            ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            ("code_challenge_method", "S256"),
            ("resource", t.url(resource).as_str()),
        ]);
        let response = no_redirects.get(url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FOUND, "{resource}");
        let location = response.headers()[header::LOCATION].to_str().unwrap();
        assert!(location.starts_with(&format!("/auth/sso/{org}/login?")), "{resource}: {location}");
    }
}

#[tokio::test]
async fn tenancy_sign_in_and_consent_follow_the_resources_org() {
    use base64::Engine as _;
    let t = Tenants::start(|_| json!({})).await;
    let cp = &t.stack.cp;
    let _op =
        start_org_sso(cp, vec![OidcUser::new("alice").email("alice@example.com").groups(&["eng"])]).await;
    let redirect = "http://127.0.0.1:33333/callback";
    let client_id = register_public_client(&cp.api_url, "Inspector", redirect).await;
    let verifier = format!("v{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let challenge =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let authorize_url = |resource: &str| {
        let mut url = url::Url::parse(&format!("{}/oauth/authorize", cp.api_url)).unwrap();
        url.query_pairs_mut().extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", redirect),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("resource", t.url(resource).as_str()),
        ]);
        url.to_string()
    };

    // alice signs in at the default org's SSO; the consent screen names the org and the server.
    let browser = cp.sso_browser();
    let page = browser
        .oauth_consent(browser.oauth_authorize("alice", &authorize_url("/mcp/default/tools")).await)
        .await;
    assert!(
        page.html.contains("<strong>Default tools</strong> of the organisation <strong>Default</strong>"),
        "{}",
        page.html
    );
    assert!(page.html.contains(&format!("<code>{}</code>", t.url("/mcp/default/tools"))), "{}", page.html);
    let back = browser.oauth_decide(&page, "approve", None).await;
    let code = query_of(&location(&back))["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", client_id.as_str()),
        ("code", code.as_str()),
        ("code_verifier", verifier.as_str()),
        ("redirect_uri", redirect),
    ];
    let response = t.http.post(format!("{}/oauth/token", cp.api_url)).form(&form).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(t.reached("/mcp/default/tools", access).await, "default");
    assert_eq!(t.reached("/mcp/tools", access).await, "default");
    t.assert_unknown("/mcp/acme/tools", access).await;

    // Signed in to the default org, a request for acme's server sends the browser to acme's SSO.
    let response = browser.http.get(authorize_url("/mcp/acme/tools")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(location(&response).starts_with("/auth/sso/acme/login?"), "{}", location(&response));
}
