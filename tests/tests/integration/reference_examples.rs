//! The hosted gateway's documented JSON examples (`tests/fixtures/reference/`, one file each,
//! as printed), fed to the real control plane and checked at a real edge in front of a real
//! rmcp upstream: advanced configuration blocks stored as written and acting as documented
//! (forwarded headers, `X-User-Claims`, JWTs signed by a test RSA key checked against its
//! JWKS, `claimValues` in both forms, protected resource metadata naming the external
//! authorization server), token requests minted as written, and client configurations that
//! connect an SDK client. Where Gatehouse deliberately differs (docs/edge.md, "Configuration
//! from the hosted gateway"), the test pins the difference.

use std::collections::HashMap;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use gatehouse_tests::control_plane::AdminClient;
use gatehouse_tests::upstream::{McpUpstream, SessionMode};
use gatehouse_tests::TestStack;
use http::{HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt as _};
use serde_json::{json, Value};

/// The issuer the documented examples name, and the audience the tests add.
const DOC_ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "gatehouse";

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is JSON")
}

const FORWARD_HEADERS: &str = include_str!("../../fixtures/reference/advanced_forward_headers.json");
const OAUTH_METADATA: &str = include_str!("../../fixtures/reference/advanced_oauth_metadata.json");
const IDENTITY_FORWARDING: &str =
    include_str!("../../fixtures/reference/advanced_user_identity_forwarding.json");
const JWT_VALIDATION: &str = include_str!("../../fixtures/reference/advanced_jwt_validation.json");
const EXTERNAL_AUTH: &str = include_str!("../../fixtures/reference/advanced_external_auth_config.json");
const COMBINED: &str = include_str!("../../fixtures/reference/advanced_combined.json");
const TOKEN_SCOPES: &str = include_str!("../../fixtures/reference/token_request_scopes.json");
const TOKEN_PERMISSIONS: &str = include_str!("../../fixtures/reference/token_request_permissions.json");
const CLIENT_BEARER: &str = include_str!("../../fixtures/reference/client_config_bearer.json");
const CLIENT_BEARER_ELIDED: &str = include_str!("../../fixtures/reference/client_config_bearer_elided.json");
const CLIENT_API_KEY: &str = include_str!("../../fixtures/reference/client_config_api_key.json");

/// An RSA key (RS256, as the documented `jwt_validation` asks for) with its JWKS.
pub(crate) struct RsaKey {
    kid: String,
    pair: KeyPair,
    n: String,
    e: String,
}

impl RsaKey {
    pub(crate) fn generate(kid: &str) -> Self {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("generate an RSA key");
        let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let (n, e) = (URL_SAFE_NO_PAD.encode(&public.n), URL_SAFE_NO_PAD.encode(&public.e));
        Self { kid: kid.to_owned(), pair, n, e }
    }

    pub(crate) fn jwks(&self) -> Value {
        json!({"keys": [{"kty": "RSA", "n": self.n, "e": self.e, "kid": self.kid, "alg": "RS256", "use": "sig"}]})
    }

    /// A compact RS256 JWT of `claims`.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut signature).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// A token of the documented issuer for `sub`, with `extra` claims merged in.
    pub(crate) fn token(&self, sub: &str, extra: Value) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut claims =
            json!({"iss": DOC_ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + 300});
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            claims[k] = v;
        }
        self.sign(&claims)
    }
}

/// Serves `jwks` at `/.well-known/jwks.json` on a fresh loopback port; returns its URL.
pub(crate) async fn serve_jwks(jwks: Value) -> String {
    let app = axum::Router::new()
        .route("/.well-known/jwks.json", axum::routing::get(move || async move { axum::Json(jwks) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/.well-known/jwks.json")
}

/// A documented `jwt_validation` made usable here: its key set URL replaced by one that
/// serves `jwks_uri`, and the issuer and audience Gatehouse requires added.
pub(crate) fn reachable(mut jwt_validation: Value, jwks_uri: &str) -> Value {
    jwt_validation["jwksUri"] = json!(jwks_uri);
    jwt_validation["issuer"] = json!(DOC_ISSUER);
    jwt_validation["audience"] = json!(AUDIENCE);
    jwt_validation
}

/// An rmcp client through the edge, with `auth` as `Authorization` and `headers` on every request.
pub(crate) async fn connect(
    url: &str,
    auth: Option<&str>,
    headers: &[(&str, &str)],
) -> RunningService<RoleClient, ()> {
    let custom: HashMap<HeaderName, HeaderValue> = headers
        .iter()
        .map(|(k, v)| (HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap()))
        .collect();
    let mut config = StreamableHttpClientTransportConfig::with_uri(url).custom_headers(custom);
    if let Some(auth) = auth {
        config = config.auth_header(auth);
    }
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("mcp client connects through the edge")
}

/// Calls `whoami` and returns the request headers the upstream received.
pub(crate) async fn whoami(client: &RunningService<RoleClient, ()>) -> Value {
    let result = client.call_tool(CallToolRequestParams::new("whoami")).await.expect("whoami is called");
    let text = serde_json::to_value(&result.content).unwrap()[0]["text"].as_str().unwrap().to_owned();
    serde_json::from_str(&text).unwrap()
}

/// POSTs one JSON-RPC message to the edge as an MCP client would; returns status, headers, body.
pub(crate) async fn post(
    url: &str,
    bearer: &str,
    body: Value,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(bearer)
        .header("accept", "application/json, text/event-stream")
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let text = response.text().await.unwrap();
    (status, headers, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// One stack with a stateful rmcp upstream and a workspace `platform`; `admin` acts on the
/// default org.
pub(crate) struct Fixture {
    pub(crate) stack: TestStack,
    pub(crate) upstream: McpUpstream,
    pub(crate) admin: AdminClient,
}

impl Fixture {
    pub(crate) async fn start() -> Self {
        let stack = TestStack::start().await;
        let upstream = McpUpstream::start(SessionMode::Stateful).await;
        let admin = stack.cp.admin();
        admin.create_workspace("platform").await;
        Self { stack, upstream, admin }
    }

    /// [`Self::start`] with an identity provider: an RSA key `kid` and the URL of its JWKS.
    pub(crate) async fn with_idp(kid: &str) -> (Self, RsaKey, String) {
        let f = Self::start().await;
        let key = RsaKey::generate(kid);
        let jwks = serve_jwks(key.jwks()).await;
        (f, key, jwks)
    }

    /// Creates server `slug` on the upstream with `advanced_config`; returns the API's answer.
    async fn server(&self, slug: &str, advanced_config: Value) -> (StatusCode, Value) {
        let body = json!({"slug": slug, "url": self.upstream.url, "advanced_config": advanced_config});
        self.admin.request(Method::POST, "/v1/servers", Some(body)).await
    }

    async fn stored(&self, slug: &str) -> Value {
        let (status, body) = self.admin.request(Method::GET, &format!("/v1/servers/{slug}"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["advanced_config"].clone()
    }

    async fn workspace_id(&self, slug: &str) -> String {
        let (_, body) = self.admin.request(Method::GET, &format!("/v1/workspaces/{slug}"), None).await;
        body["id"].as_str().expect("workspace id").to_owned()
    }
}

#[tokio::test]
async fn reference_forward_headers_and_identity_forwarding_act_as_documented() {
    let f = Fixture::start().await;
    for (slug, example) in [("forwarding", FORWARD_HEADERS), ("identity", IDENTITY_FORWARDING)] {
        let (status, created) = f.server(slug, fixture(example)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(f.stored(slug).await, fixture(example), "the API returns what was stored");
        f.admin.provision("platform", slug, &[], &[]).await;
    }
    let token = f.admin.mint_token("alice", "platform").await.token;
    f.stack.sync().await;

    // forward_headers: the listed client headers reach the upstream (any case), others do not.
    let sent =
        [("x-request-id", "req-1"), ("X-Trace-Id", "trace-1"), ("x-tenant-id", "acme"), ("x-other", "no")];
    let client = connect(&f.stack.edge.mcp_url("forwarding"), Some(&token), &sent).await;
    let seen = whoami(&client).await;
    assert_eq!(
        (seen["x-request-id"].as_str(), seen["x-trace-id"].as_str()),
        (Some("req-1"), Some("trace-1"))
    );
    assert_eq!(seen["x-tenant-id"], "acme");
    assert!(seen.get("x-other").is_none(), "an unlisted header is not forwarded: {seen}");
    client.cancel().await.unwrap();

    // user_identity_forwarding: X-User-Claims holds exactly the included claims.
    let client = connect(&f.stack.edge.mcp_url("identity"), Some(&token), &[]).await;
    let seen = whoami(&client).await;
    let claims: Value = serde_json::from_str(seen["x-user-claims"].as_str().expect("X-User-Claims")).unwrap();
    let workspace_id = f.workspace_id("platform").await;
    // A gateway token carries no e-mail, so `email` is left out rather than invented.
    assert_eq!(claims, json!({"sub": "alice", "workspace_id": workspace_id}));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn reference_jwt_validation_checks_rs256_tokens_against_the_jwks_with_required_claims() {
    let (f, key, jwks) = Fixture::with_idp("rsa-1").await;

    // As printed, the example names no issuer or audience: Gatehouse refuses it and says how
    // to proceed (any token the keys verify, minted for any service, would otherwise get in).
    let (status, error) = f.server("byo", fixture(JWT_VALIDATION)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["error"]["field"], "advanced_config.jwt_validation.issuer");
    assert!(error["error"]["message"].as_str().unwrap().contains("skipIssuerAndAudienceCheck"), "{error}");

    // With them added (and the key set reachable), every documented key is accepted and stored.
    let mut config = fixture(JWT_VALIDATION);
    config["jwt_validation"] = reachable(config["jwt_validation"].clone(), &jwks);
    let (status, created) = f.server("byo", config.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created["warnings"][0].as_str().unwrap().contains("workspaceClaim"), "{created}");
    assert_eq!(f.stored("byo").await, config);
    f.admin.provision("platform", "byo", &[], &[]).await;
    f.stack.sync().await;
    let url = f.stack.edge.mcp_url("byo");

    // requiredClaims: sub and email.
    let good = key.token("u-1", json!({"email": "alice@example.com"}));
    let client = connect(&url, Some(&good), &[]).await;
    whoami(&client).await;
    client.cancel().await.unwrap();
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let (status, _, body) = post(&url, &key.token("u-1", json!({})), list.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no email claim: {body}");
    // Another key of the same shape is not the IdP's.
    let (status, _, _) =
        post(&url, &RsaKey::generate("rsa-1").token("u-1", json!({"email": "a@b.c"})), list).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(f.upstream.calls.count("whoami"), 1, "refused tokens never reach the upstream");
}

#[tokio::test]
async fn reference_combined_example_validates_forwards_and_acts_in_the_servers_one_workspace() {
    let (f, key, jwks) = Fixture::with_idp("rsa-c").await;
    let mut config = fixture(COMBINED);
    config["jwt_validation"] = reachable(config["jwt_validation"].clone(), &jwks);
    let (status, created) = f.server("combined", config.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(f.stored("combined").await, config, "claimValues keeps its map form");
    f.admin.provision("platform", "combined", &[], &[]).await;
    f.stack.sync().await;
    let url = f.stack.edge.mcp_url("combined");

    // Validated, trace headers forwarded, identity sent, in the server's one workspace.
    let token = key.token("u-7", json!({"email": "u7@example.com"}));
    let client = connect(&url, Some(&token), &[("X-Request-Id", "r-9"), ("X-Trace-Id", "t-9")]).await;
    let seen = whoami(&client).await;
    client.cancel().await.unwrap();
    assert_eq!((seen["x-request-id"].as_str(), seen["x-trace-id"].as_str()), (Some("r-9"), Some("t-9")));
    let claims: Value = serde_json::from_str(seen["x-user-claims"].as_str().unwrap()).unwrap();
    let workspace_id = f.workspace_id("platform").await;
    assert_eq!(claims, json!({"sub": "u-7", "email": "u7@example.com", "workspace_id": workspace_id}));

    // Provisioned to a second workspace, the caller's workspace is unknown: 403 naming the fix.
    f.admin.create_workspace("research").await;
    f.admin.provision("research", "combined", &[], &[]).await;
    f.stack.sync().await;
    let call = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "whoami"}});
    let (status, _, body) = post(&url, &token, call.clone()).await;
    // Decided before the body is read (like any refusal for the server), so no id is echoed.
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["data"]["reason"], "workspace_ambiguous");
    assert!(body["error"]["message"].as_str().unwrap().contains("workspaceClaim"), "{body}");

    // Naming the workspace in a claim resolves it.
    config["jwt_validation"]["workspaceClaim"] = json!("team");
    let updated = f.admin.update_server("combined", json!({"advanced_config": config})).await;
    assert!(updated.get("warnings").is_none(), "{updated}");
    f.stack.sync().await;
    let token = key.token("u-7", json!({"team": "research"}));
    let client = connect(&url, Some(&token), &[]).await;
    let claims: Value =
        serde_json::from_str(whoami(&client).await["x-user-claims"].as_str().unwrap()).unwrap();
    client.cancel().await.unwrap();
    assert_eq!(claims["workspace_id"], f.workspace_id("research").await);
}

#[tokio::test]
async fn reference_claim_values_in_the_map_form_are_enforced_like_the_list_form() {
    let (f, key, jwks) = Fixture::with_idp("rsa-m").await;
    let rules = [
        json!({"iss": {"values": DOC_ISSUER, "matchType": "exact"},
               "groups": {"values": ["eng"], "matchType": "contains"}}),
        json!([{"claim": "iss", "value": DOC_ISSUER, "matchType": "exact"},
               {"claim": "groups", "value": ["eng"], "matchType": "contains"}]),
    ];
    for (i, claim_values) in rules.iter().enumerate() {
        let slug = format!("claims-{i}");
        let jwt_validation =
            reachable(json!({"jwksUri": "", "workspace": "platform", "claimValues": claim_values}), &jwks);
        let (status, body) = f.server(&slug, json!({"jwt_validation": jwt_validation})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(f.stored(&slug).await["jwt_validation"]["claimValues"], *claim_values, "stored as sent");
        f.admin.provision("platform", &slug, &[], &[]).await;
    }
    // A mistake in the map form names the claim.
    let bad = reachable(
        json!({"jwksUri": "", "workspace": "platform",
        "claimValues": {"sub": {"values": "(", "matchType": "regex"}}}),
        &jwks,
    );
    let (status, error) = f.server("bad", json!({"jwt_validation": bad})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"]["field"], "advanced_config.jwt_validation.claimValues.sub");
    f.stack.sync().await;

    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    for i in 0..rules.len() {
        let url = f.stack.edge.mcp_url(&format!("claims-{i}"));
        let eng = key.token("u-1", json!({"groups": ["ops", "eng"]}));
        let client = connect(&url, Some(&eng), &[]).await;
        assert_eq!(client.list_all_tools().await.unwrap().len(), 5, "form {i}");
        client.cancel().await.unwrap();
        let ops = key.token("u-1", json!({"groups": ["ops"]}));
        assert_eq!(post(&url, &ops, list.clone()).await.0, StatusCode::UNAUTHORIZED, "form {i}");
    }
}

#[tokio::test]
async fn reference_external_auth_config_names_the_idp_in_the_servers_and_the_orgs_metadata() {
    let f = Fixture::start().await;
    let (status, body) = f.server("sso", fixture(EXTERNAL_AUTH)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(f.stored("sso").await, fixture(EXTERNAL_AUTH));
    f.admin.create_server("plain", &f.upstream.url, &[]).await;
    // The same block org-wide, as written.
    let org = fixture(EXTERNAL_AUTH)["external_auth_config"].clone();
    let org = json!({"external_auth_config": {"authorization_endpoint": "https://org-idp.example.com/oauth2/authorize",
        "token_endpoint": org["token_endpoint"], "scope": "mcp:read mcp:write"}});
    let (status, body) = f.admin.request(Method::PATCH, "/v1/org", Some(org.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["external_auth_config"], org["external_auth_config"], "stored as written");
    f.stack.sync().await;

    let prm = |slug: &str| {
        let url = format!("{}/.well-known/oauth-protected-resource/mcp/{slug}", f.stack.edge.url);
        async move { reqwest::get(url).await.unwrap().json::<Value>().await.unwrap() }
    };
    let server = prm("sso").await;
    assert_eq!(server["authorization_servers"], json!(["https://idp.example.com"]), "{server}");
    assert_eq!(server["scopes_supported"], json!(["openid", "profile", "mcp"]));
    let plain = prm("plain").await;
    assert_eq!(plain["authorization_servers"], json!(["https://org-idp.example.com"]), "{plain}");
    assert_eq!(plain["scopes_supported"], json!(["mcp:read", "mcp:write"]));

    // An MCP client without a token is pointed at that metadata, with no Gatehouse scope.
    let response = reqwest::Client::new()
        .post(f.stack.edge.mcp_url("sso"))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains("/.well-known/oauth-protected-resource/mcp/sso"), "{challenge}");
    assert!(!challenge.contains("scope="), "{challenge}");

    // A client secret would sit in plaintext in the config, and Gatehouse is no client of the IdP.
    let secret = json!({"external_auth_config": {"authorization_endpoint": "https://idp.example.com/authorize",
        "client_secret": "s3cret"}});
    let (status, error) = f.server("secret", secret).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"]["field"], "advanced_config.external_auth_config");
    assert!(!error.to_string().contains("s3cret"), "{error}");
}

#[tokio::test]
async fn reference_oauth_metadata_is_accepted_and_stored_as_written() {
    let f = Fixture::start().await;
    let body = json!({"slug": "linear", "url": f.upstream.url, "auth_type": "oauth2",
        "advanced_config": fixture(OAUTH_METADATA)});
    let (status, created) = f.admin.request(Method::POST, "/v1/servers", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(f.stored("linear").await, fixture(OAUTH_METADATA));
}

#[tokio::test]
async fn reference_token_requests_are_minted_as_written_and_hold_at_the_edge() {
    let f = Fixture::start().await;
    for workspace in ["engineering", "data-science"] {
        f.admin.create_workspace(workspace).await;
    }
    for slug in ["github", "filesystem", "other"] {
        f.admin.create_server(slug, &f.upstream.url, &[]).await;
        f.admin.provision("engineering", slug, &[], &[]).await;
        f.admin.provision("data-science", slug, &[], &[]).await;
    }
    let mint = |text: &'static str| {
        let admin = f.admin.clone();
        async move {
            let (status, _, body) =
                admin.request_raw(Method::POST, "/v1/auth/tokens", Some("application/json"), text).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            serde_json::from_str::<Value>(&body).unwrap()
        }
    };
    let scoped = mint(TOKEN_SCOPES).await;
    assert_eq!(scoped["user"], fixture(TOKEN_SCOPES)["user"]);
    assert_eq!(scoped["team"], "engineering");
    assert_eq!(scoped["scopes"], json!(["mcp:read", "mcp:write"]));
    let expires = chrono::DateTime::parse_from_rfc3339(scoped["expires_at"].as_str().unwrap()).unwrap();
    let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours() as f64 / 24.0;
    assert!((29.9..=30.0).contains(&days), "expiresIn 30d: {days}");
    let limited = mint(TOKEN_PERMISSIONS).await;
    assert_eq!(limited["permissions"], fixture(TOKEN_PERMISSIONS)["permissions"]);
    f.stack.sync().await;

    // mcp:read + mcp:write: discovery and tool calls.
    let token = scoped["token"].as_str().unwrap();
    let client = connect(&f.stack.edge.mcp_url("github"), Some(token), &[]).await;
    assert_eq!(client.list_all_tools().await.unwrap().len(), 5);
    whoami(&client).await;
    client.cancel().await.unwrap();

    // permissions.servers and permissions.tools: github only, and only tools named read/write.
    let token = limited["token"].as_str().unwrap();
    let client = connect(&f.stack.edge.mcp_url("github"), Some(token), &[]).await;
    assert!(client.list_all_tools().await.unwrap().is_empty(), "no tool is named read or write");
    assert!(client.call_tool(CallToolRequestParams::new("whoami")).await.is_err());
    client.cancel().await.unwrap();
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let (status, _, body) = post(&f.stack.edge.mcp_url("other"), token, list).await;
    assert_eq!(
        (status, body["error"]["data"]["reason"].as_str()),
        (StatusCode::FORBIDDEN, Some("server_not_permitted"))
    );

    // Revocation and rotation take the token's id (its text never goes into a URL).
    let rotated = f.admin.rotate(limited["id"].as_str().unwrap()).await;
    f.admin.revoke(&rotated.id).await;
    f.stack.sync().await;
    assert_eq!(f.stack.edge.list_tools("github", &rotated.token).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn reference_client_configurations_connect_an_sdk_client() {
    let f = Fixture::start().await;
    f.admin.create_server("github", &f.upstream.url, &[]).await;
    f.admin.provision("platform", "github", &[], &[]).await;
    let token = f.admin.mint_token("alice", "platform").await.token;
    f.stack.sync().await;

    for (example, placeholder) in [
        (CLIENT_BEARER, "pt_your_token_here"),
        (CLIENT_BEARER_ELIDED, "pt_...your_token..."),
        (CLIENT_API_KEY, "your-api-key"),
    ] {
        let config = fixture(example);
        let entry = &config["mcpServers"]["portkey-gateway"];
        // One URL per server in Gatehouse: the client names the server it wants.
        assert_eq!(entry["url"], "http://localhost:8787/mcp");
        let url = f.stack.edge.mcp_url("github");
        let headers: Vec<(String, String)> = entry["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().replace(placeholder, &token)))
            .collect();
        let auth =
            headers.iter().find(|(k, _)| k == "Authorization").map(|(_, v)| v.trim_start_matches("Bearer "));
        let others: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(k, _)| k != "Authorization")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let client = connect(&url, auth, &others).await;
        let seen = whoami(&client).await;
        assert!(seen.get("x-api-key").is_none() && seen.get("authorization").is_none(), "{seen}");
        client.cancel().await.unwrap();
    }
}
