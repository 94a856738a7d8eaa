//! Upstream OAuth, control-plane side: discovery, registration, the per-user
//! authorization-code flow through a real OpenID provider to a protected MCP
//! upstream, sealed grants, the `CredentialBroker` lease protocol, the
//! connections API and the SSRF guard.

use std::time::Duration;

use gatehouse_proto::config::v1 as pb;
use gatehouse_proto::config::v1::config_distribution_client::ConfigDistributionClient;
use gatehouse_proto::config::v1::credential_broker_client::CredentialBrokerClient;
use gatehouse_tests::control_plane::TestControlPlane;
use gatehouse_tests::db::TestDb;
use gatehouse_tests::eventually;
use gatehouse_tests::oidc::{
    authorize_headless, browser_client, no_redirect_client, OidcClient, OidcConfig, TestOidcProvider,
};
use gatehouse_tests::protected_upstream::{ProtectedOptions, ProtectedUpstream};
use reqwest::Url;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use tokio_stream::StreamExt;
use tonic::transport::Channel;

const WAIT: Duration = Duration::from_secs(5);

type Broker = CredentialBrokerClient<Channel>;

async fn broker(cp: &TestControlPlane) -> Broker {
    CredentialBrokerClient::connect(cp.grpc_url.clone()).await.expect("connect grpc")
}

fn authed<T>(cp: &TestControlPlane, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {}", cp.node_token).parse().unwrap());
    request
}

async fn org_id(cp: &TestControlPlane) -> String {
    cp.store().await.org_by_slug("default").await.unwrap().expect("default org").id
}

async fn create_link(cp: &TestControlPlane, user: &str, server_id: &str) -> pb::AuthorizationLink {
    let org_id = org_id(cp).await;
    let request = pb::AuthorizationLinkRequest {
        org_id,
        user: user.into(),
        server_id: server_id.into(),
        scopes: vec![],
        session_hash: String::new(),
        ..Default::default()
    };
    broker(cp).await.create_authorization_link(authed(cp, request)).await.expect("create link").into_inner()
}

async fn get_grant(cp: &TestControlPlane, user: &str, server_id: &str) -> Option<pb::Grant> {
    let request = pb::GrantRequest {
        org_id: org_id(cp).await,
        user: user.into(),
        server_id: server_id.into(),
        ..Default::default()
    };
    broker(cp).await.get_grant(authed(cp, request)).await.expect("get grant").into_inner().grant
}

/// An authorization response not yet fetched, and the browser it belongs to.
struct Callback {
    url: Url,
    browser: reqwest::Client,
}

impl Callback {
    fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// Fetches the callback in the browser that started the flow.
    async fn complete(&self) -> (StatusCode, String) {
        let response = self.browser.get(self.url.clone()).send().await.expect("GET callback");
        (response.status(), response.text().await.unwrap_or_default())
    }
}

/// Opens the link in a fresh browser, lets the OP log in headlessly, and returns the callback (not yet fetched).
async fn authorize(link: &str) -> Callback {
    let browser = browser_client();
    let url = authorize_headless(&browser, link).await;
    Callback { url, browser }
}

async fn fetch(url: &str) -> (StatusCode, String) {
    let response = no_redirect_client().get(url).send().await.expect("GET");
    (response.status(), response.text().await.unwrap_or_default())
}

/// Every byte of the SQLite database files.
fn sqlite_bytes(db: &TestDb) -> Option<Vec<u8>> {
    let path = db.sqlite_path()?;
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        bytes.extend(std::fs::read(file).unwrap_or_default());
    }
    Some(bytes)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

async fn start_op(config: OidcConfig) -> TestOidcProvider {
    TestOidcProvider::start(config.resource_scopes(&["mcp:read", "mcp:write"])).await
}

#[tokio::test]
async fn per_user_flow_with_dynamic_registration_on_sqlite() {
    per_user_flow(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn per_user_flow_with_dynamic_registration_on_postgres() {
    // Runs when GATEHOUSE_TEST_DATABASE_URL points at PostgreSQL.
    if let Some(db) = TestDb::postgres().await {
        per_user_flow(db).await;
    }
}

/// The whole per-user flow with dynamic registration, then the connections API.
async fn per_user_flow(db: TestDb) {
    let backend = db.backend();
    let op = start_op(OidcConfig::new()).await;
    let upstream = ProtectedUpstream::start(&op, ProtectedOptions::default()).await;
    let cp = TestControlPlane::start(db).await;
    let admin = cp.admin();
    let server =
        admin.create_server_json(json!({"slug": "linear", "url": upstream.url, "auth_type": "oauth2"})).await;
    let server_id = server["id"].as_str().unwrap().to_owned();
    assert_eq!(server["auth_type"], "oauth2");

    let link = create_link(&cp, "alice", &server_id).await;
    assert!(link.url.starts_with(&format!("{}/oauth/upstream/start/", cp.api_url)), "{}", link.url);
    assert!(!link.elicitation_id.is_empty());
    let now = chrono::Utc::now().timestamp();
    assert!((now + 590..=now + 610).contains(&link.expires_at), "expires in 10 minutes");

    let callback = authorize(&link.url).await;
    assert!(callback.as_str().starts_with(&format!("{}/oauth/upstream/callback", cp.api_url)));
    let (status, body) = callback.complete().await;
    assert_eq!(status, StatusCode::OK, "{backend}: {body}");
    assert!(body.contains("Connected"), "{body}");

    // The grant is bound to alice and this server only.
    let grant = get_grant(&cp, "alice", &server_id).await.expect("alice has a grant");
    assert_eq!(grant.status, "active");
    assert_eq!(grant.version, 1);
    assert!(!grant.access_token.is_empty());
    assert!(!grant.refresh_token.is_empty(), "the OP issues refresh tokens");
    assert!(grant.access_expires_at > now);
    assert!(get_grant(&cp, "bob", &server_id).await.is_none());

    // The access token works at the protected upstream (right audience = resource).
    let response = reqwest::Client::new()
        .post(&upstream.url)
        .bearer_auth(&grant.access_token)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{backend}: upstream accepts the token");

    // Links and states are single use.
    let (status, _) = fetch(&link.url).await;
    assert_eq!(status, StatusCode::GONE);
    let (status, body) = callback.complete().await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Tokens are sealed: not in the database files in plaintext.
    if let Some(bytes) = sqlite_bytes(cp.db()) {
        assert!(!contains(&bytes, &grant.access_token), "access token in plaintext");
        assert!(!contains(&bytes, &grant.refresh_token), "refresh token in plaintext");
    }

    // A second user reuses the cached registration.
    let link = create_link(&cp, "bob", &server_id).await;
    let (status, _) = authorize(&link.url).await.complete().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(op.stats().await.registrations, 1, "{backend}: one registration per authorization server");
    let bob = get_grant(&cp, "bob", &server_id).await.expect("bob has a grant");
    assert_ne!(bob.access_token, grant.access_token);

    // Connections API: listed without tokens, deleted (and revoked at the AS).
    let (status, list) = admin.request(Method::GET, "/v1/connections?user=alice", None).await;
    assert_eq!(status, StatusCode::OK);
    let connections = list["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 1, "{list}");
    assert_eq!(connections[0]["server"], "linear");
    assert_eq!(connections[0]["user"], "alice");
    assert_eq!(connections[0]["status"], "active");
    assert!(!list.to_string().contains(&grant.access_token));
    assert!(!list.to_string().contains(&grant.refresh_token));
    let (_, all) = admin.request(Method::GET, "/v1/connections", None).await;
    assert_eq!(all["connections"].as_array().unwrap().len(), 2);
    let id = connections[0]["id"].as_str().unwrap();
    let (status, _) = admin.request(Method::DELETE, &format!("/v1/connections/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = admin.request(Method::DELETE, &format!("/v1/connections/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(get_grant(&cp, "alice", &server_id).await.is_none());
    eventually(WAIT, "revocation at the AS", || async { (op.stats().await.revocations >= 1).then_some(()) })
        .await;
    let (status, _) = cp.admin().with_token(None).request(Method::GET, "/v1/connections", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Deleting the server deletes its grants.
    admin.delete_server("linear").await;
    let (_, all) = admin.request(Method::GET, "/v1/connections", None).await;
    assert_eq!(all["connections"].as_array().unwrap().len(), 0, "{all}");
    cp.stop().await;
}

#[tokio::test]
async fn pre_registered_client_secret_is_sealed_and_authorization_params_cannot_override() {
    let db = TestDb::sqlite().await;
    let cp = TestControlPlane::start(db).await;
    let callback = format!("{}/oauth/upstream/callback", cp.api_url);
    let secret = format!("client-secret-{}", uuid::Uuid::new_v4().simple());
    let op = start_op(
        OidcConfig::new().registration(false).client(
            OidcClient::confidential("gatehouse-pre", &secret)
                .redirect_uri(&callback)
                .grant_types(&["authorization_code", "refresh_token"]),
        ),
    )
    .await;
    let upstream = ProtectedUpstream::start(&op, ProtectedOptions::default()).await;
    let admin = cp.admin();

    for key in ["state", "code_challenge", "scope", "resource", "redirect_uri", "client_id", "response_type"]
    {
        let (status, body) = admin
            .request(
                Method::POST,
                "/v1/servers",
                Some(json!({"slug": "bad", "url": upstream.url, "auth_type": "oauth2",
                    "advanced_config": {"oauth_metadata": {"authorization_params": {key: "x"}}}})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{key}: {body}");
        assert_eq!(
            body["error"]["field"],
            format!("advanced_config.oauth_metadata.authorization_params.{key}"),
            "{body}"
        );
    }
    let (status, body) = admin
        .request(
            Method::POST,
            "/v1/servers",
            Some(json!({"slug": "bad", "url": upstream.url, "auth_type": "oauth2",
                "advanced_config": {"oauth_metadata": {"token_endpoint_auth_method": "client_secret_jwt"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["field"], "advanced_config.oauth_metadata.token_endpoint_auth_method");

    let server = admin
        .create_server_json(json!({"slug": "pre", "url": upstream.url, "auth_type": "oauth2",
            "advanced_config": {"oauth_metadata": {
                "client_id": "gatehouse-pre", "client_secret": secret,
                "token_endpoint_auth_method": "client_secret_post",
                "authorization_params": {"prompt": "consent", "audience": "linear"}}}}))
        .await;
    assert!(!server.to_string().contains(&secret), "secret echoed: {server}");
    assert_eq!(server["advanced_config"]["oauth_metadata"]["client_secret"], "••••");
    let (_, fetched) = admin.request(Method::GET, "/v1/servers/pre", None).await;
    assert!(!fetched.to_string().contains(&secret));
    let server_id = server["id"].as_str().unwrap().to_owned();

    // The start redirect carries Gatehouse's parameters, never the admin's extras in their place.
    let link = create_link(&cp, "carol", &server_id).await;
    let browser = browser_client();
    let response = browser.get(&link.url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let params: Vec<(String, String)> = location.query_pairs().into_owned().collect();
    let one = |k: &str| {
        let values: Vec<&String> = params.iter().filter(|(n, _)| n == k).map(|(_, v)| v).collect();
        assert_eq!(values.len(), 1, "{k} appears once in {location}");
        values[0].clone()
    };
    assert_eq!(one("client_id"), "gatehouse-pre");
    assert_eq!(one("code_challenge_method"), "S256");
    assert_eq!(one("code_challenge").len(), 43);
    assert_eq!(one("resource"), upstream.url);
    assert_eq!(one("redirect_uri"), callback);
    assert_eq!(one("response_type"), "code");
    assert_eq!(one("prompt"), "consent");
    assert_eq!(one("audience"), "linear");
    assert_eq!(one("scope"), "mcp:read mcp:write", "scope from the 401 challenge / resource metadata");
    assert_eq!(one("state").len(), 43);

    let callback = Callback { url: authorize_headless(&browser, location.as_str()).await, browser };
    let (status, body) = callback.complete().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(get_grant(&cp, "carol", &server_id).await.is_some());
    assert_eq!(op.stats().await.registrations, 0, "the pre-registered client is used");

    // The client secret is sealed at rest.
    let bytes = sqlite_bytes(cp.db()).unwrap();
    assert!(!contains(&bytes, &secret), "client secret in plaintext in the database");

    // Sending the placeholder back keeps the secret; the flow still works.
    let mut config = fetched["advanced_config"].clone();
    config["oauth_metadata"]["authorization_params"] = json!({});
    admin.update_server("pre", json!({"advanced_config": config})).await;
    let link = create_link(&cp, "dave", &server_id).await;
    let (status, body) = authorize(&link.url).await.complete().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    cp.stop().await;
}

#[tokio::test]
async fn callback_refuses_unknown_state_and_wrong_issuer() {
    let op = start_op(OidcConfig::new()).await;
    let upstream = ProtectedUpstream::start(&op, ProtectedOptions::default()).await;
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let server = cp
        .admin()
        .create_server_json(json!({"slug": "up", "url": upstream.url, "auth_type": "oauth2"}))
        .await;
    let server_id = server["id"].as_str().unwrap().to_owned();

    // A link's session is a SHA-256 in lowercase hex, or nothing.
    for bad in ["abc", &"A".repeat(64), &"g".repeat(64)] {
        let request = pb::AuthorizationLinkRequest {
            org_id: org_id(&cp).await,
            user: "erin".into(),
            server_id: server_id.clone(),
            scopes: vec![],
            session_hash: bad.to_owned(),
            ..Default::default()
        };
        let status = broker(&cp).await.create_authorization_link(authed(&cp, request)).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{bad}");
        assert!(status.message().contains("session_hash"), "{status:?}");
    }

    let (status, _) = fetch(&format!("{}/oauth/upstream/callback?code=x&state=nope", cp.api_url)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = fetch(&format!("{}/oauth/upstream/start/not-a-link", cp.api_url)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A response claiming another issuer is refused (RFC 9207), and its state is burnt.
    let link = create_link(&cp, "erin", &server_id).await;
    let callback = authorize(&link.url).await;
    let mut forged = callback.url.clone();
    let pairs: Vec<(String, String)> =
        callback.url.query_pairs().into_owned().filter(|(k, _)| k != "iss").collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs).append_pair("iss", "http://evil.example");
    let response =
        callback.browser.get(forged.as_str()).header("accept", "application/json").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "issuer_mismatch");
    let (status, _) = callback.complete().await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the state was single use");
    assert!(get_grant(&cp, "erin", &server_id).await.is_none());

    // Links expire (checked at the store with a link already past its expiry).
    let store = cp.store().await;
    let subject = gatehouse_control_plane::store::authorization_links::AuthorizationSubject {
        org_id: org_id(&cp).await,
        identity: "erin".into(),
        server_id: server_id.clone(),
        scopes: vec![],
        session_hash: None,
        elicitation_id: None,
    };
    let past = chrono::Utc::now().timestamp_millis() - 1;
    store.create_authorization_link("expired-hash", &subject, "e1", past).await.unwrap();
    let consumed =
        store.consume_authorization_link("expired-hash", chrono::Utc::now().timestamp_millis()).await;
    assert_eq!(
        consumed.unwrap().unwrap_err(),
        gatehouse_control_plane::store::authorization_links::ConsumeError::Expired
    );
    cp.stop().await;
}

/// A minimal 2025-03-26-style server: the MCP endpoint answers 401 without
/// resource metadata, and the AS metadata at its origin lacks S256.
async fn legacy_server_without_s256() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let issuer = base.clone();
    let app = axum::Router::new()
        .route(
            "/mcp",
            axum::routing::post(|| async {
                (StatusCode::UNAUTHORIZED, [("www-authenticate", "Bearer realm=\"legacy\"")], "")
            }),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            axum::routing::get(move || {
                let issuer = issuer.clone();
                async move {
                    axum::Json(json!({
                        "issuer": issuer,
                        "authorization_endpoint": format!("{issuer}/authorize"),
                        "token_endpoint": format!("{issuer}/token"),
                        "registration_endpoint": format!("{issuer}/register"),
                        "code_challenge_methods_supported": ["plain"],
                    }))
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("{base}/mcp")
}

#[tokio::test]
async fn authorization_server_without_s256_is_refused() {
    let url = legacy_server_without_s256().await;
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let server =
        cp.admin().create_server_json(json!({"slug": "legacy", "url": url, "auth_type": "oauth2"})).await;
    let link = create_link(&cp, "frank", server["id"].as_str().unwrap()).await;
    let response =
        reqwest::Client::new().get(&link.url).header("accept", "application/json").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("S256"), "{body}");
    cp.stop().await;
}

#[tokio::test]
async fn ssrf_guard_refuses_loopback_unless_allowed() {
    let op = start_op(OidcConfig::new()).await;
    let upstream = ProtectedUpstream::start(&op, ProtectedOptions::default()).await;
    let cp =
        TestControlPlane::start_with(TestDb::sqlite().await, |c| c.allow_loopback_upstreams = false).await;
    let server = cp
        .admin()
        .create_server_json(json!({"slug": "local", "url": upstream.url, "auth_type": "oauth2"}))
        .await;
    let link = create_link(&cp, "gina", server["id"].as_str().unwrap()).await;
    let response =
        reqwest::Client::new().get(&link.url).header("accept", "application/json").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("not a public address"), "{body}");
    assert_eq!(op.stats().await.registrations, 0);
    cp.stop().await;
}

async fn seed_grant(cp: &TestControlPlane, server_id: &str, user: &str) -> String {
    use gatehouse_control_plane::store::grants::{GrantTokens, NewTokens};
    let grant = cp
        .store()
        .await
        .store_grant(
            &org_id(cp).await,
            user,
            server_id,
            NewTokens {
                tokens: GrantTokens {
                    access_token: SecretString::from("access-1"),
                    refresh_token: Some(SecretString::from("refresh-1")),
                },
                access_expires_at: 1,
                scopes: vec!["mcp:read".into()],
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(grant.tokens.access_token.expose_secret(), "access-1");
    grant.id
}

#[tokio::test]
async fn refresh_lease_is_a_compare_and_swap_with_fencing() {
    for db in TestDb::all().await {
        let backend = db.backend();
        let cp = TestControlPlane::start(db).await;
        let server = cp
            .admin()
            .create_server_json(json!({"slug": "s", "url": "http://127.0.0.1:9/mcp", "auth_type": "oauth2"}))
            .await;
        let grant_id = seed_grant(&cp, server["id"].as_str().unwrap(), "hank").await;

        // Unauthenticated callers are refused.
        let err = broker(&cp)
            .await
            .acquire_refresh_lease(pb::LeaseRequest {
                grant_id: grant_id.clone(),
                version: 1,
                node_id: "x".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated);

        // Ten concurrent requests (two "edges" each): exactly one lease.
        let attempts = (0..10).map(|i| {
            let request = authed(
                &cp,
                pb::LeaseRequest { grant_id: grant_id.clone(), version: 1, node_id: format!("edge-{i}") },
            );
            let cp = &cp;
            async move { broker(cp).await.acquire_refresh_lease(request).await.unwrap().into_inner() }
        });
        let leases = futures::future::join_all(attempts).await;
        let granted: Vec<_> = leases.iter().filter(|l| l.granted).collect();
        assert_eq!(granted.len(), 1, "{backend}: exactly one lease");
        let lease = granted[0].clone();
        assert!(lease.fencing_token > 0);
        assert!(lease.lease_expires_at_ms > chrono::Utc::now().timestamp_millis());
        for loser in leases.iter().filter(|l| !l.granted) {
            assert_eq!(loser.current.as_ref().unwrap().version, 1, "losers see the current grant");
        }

        let commit = |version: u64, fencing: u64, refresh: &str| pb::CommitRefreshRequest {
            grant_id: grant_id.clone(),
            expected_version: version,
            fencing_token: fencing,
            access_token: "access-2".into(),
            access_expires_at: 4_000_000_000,
            refresh_token: refresh.into(),
            scopes: vec![],
        };
        // A stale fencing token or version is refused.
        let err = broker(&cp)
            .await
            .commit_refresh(authed(&cp, commit(1, lease.fencing_token + 1, "refresh-2")))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Aborted, "{backend}");
        let err = broker(&cp)
            .await
            .commit_refresh(authed(&cp, commit(2, lease.fencing_token, "refresh-2")))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Aborted);

        // The holder commits: the version moves and the rotated refresh token is stored.
        let committed = broker(&cp)
            .await
            .commit_refresh(authed(&cp, commit(1, lease.fencing_token, "refresh-2")))
            .await
            .unwrap()
            .into_inner()
            .grant
            .unwrap();
        assert_eq!(committed.version, 2);
        assert_eq!(committed.access_token, "access-2");
        assert_eq!(committed.refresh_token, "refresh-2");
        assert_eq!(committed.scopes, vec!["mcp:read".to_owned()]);
        // Committing twice is refused (the lease was released with the commit).
        let err = broker(&cp)
            .await
            .commit_refresh(authed(&cp, commit(1, lease.fencing_token, "refresh-3")))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Aborted);

        // A lease for the old version is refused; for the new one it is granted with a new fence.
        let stale = broker(&cp)
            .await
            .acquire_refresh_lease(authed(
                &cp,
                pb::LeaseRequest { grant_id: grant_id.clone(), version: 1, node_id: "edge-a".into() },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(!stale.granted);
        assert_eq!(stale.current.unwrap().version, 2);
        let fresh = broker(&cp)
            .await
            .acquire_refresh_lease(authed(
                &cp,
                pb::LeaseRequest { grant_id: grant_id.clone(), version: 2, node_id: "edge-a".into() },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(fresh.granted);
        assert!(fresh.fencing_token > lease.fencing_token);
        // An empty refresh token on commit keeps the stored one.
        let kept = broker(&cp)
            .await
            .commit_refresh(authed(&cp, commit(2, fresh.fencing_token, "")))
            .await
            .unwrap()
            .into_inner()
            .grant
            .unwrap();
        assert_eq!(kept.refresh_token, "refresh-2");

        // invalid_grant at the AS: the grant is marked dead, and no lease is granted on it.
        let dead = broker(&cp)
            .await
            .mark_grant_dead(authed(
                &cp,
                pb::MarkGrantDeadRequest {
                    grant_id: grant_id.clone(),
                    expected_version: 3,
                    reason: "invalid_grant".into(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .grant
            .unwrap();
        assert_eq!(dead.status, "dead");
        assert_eq!(dead.version, 4);
        let lease = broker(&cp)
            .await
            .acquire_refresh_lease(authed(
                &cp,
                pb::LeaseRequest { grant_id: grant_id.clone(), version: 4, node_id: "edge-a".into() },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(!lease.granted);
        let (_, list) = cp.admin().request(Method::GET, "/v1/connections?user=hank", None).await;
        assert_eq!(list["connections"][0]["status"], "dead");
        cp.stop().await;
    }
}

#[tokio::test]
async fn client_credentials_servers_publish_their_client_to_edges() {
    let op = start_op(OidcConfig::new().client(
        OidcClient::confidential("machine", "machine-secret-0123456789").grant_types(&["client_credentials"]),
    ))
    .await;
    let upstream = ProtectedUpstream::start(&op, ProtectedOptions::default()).await;
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let server = cp
        .admin()
        .create_server_json(json!({"slug": "machine", "url": upstream.url, "auth_type": "client_credentials",
            "advanced_config": {"oauth_metadata": {"client_id": "machine",
                "client_secret": "machine-secret-0123456789", "scopes": ["mcp:read"]}}}))
        .await;
    let server_id = server["id"].as_str().unwrap().to_owned();
    let node_token = cp.node_token.clone();
    let grpc_url = cp.grpc_url.clone();
    let oauth = eventually(WAIT, "Server.oauth in the edge snapshot", || {
        let (grpc_url, node_token, server_id) = (grpc_url.clone(), node_token.clone(), server_id.clone());
        async move {
            let state = snapshot(&grpc_url, &node_token).await;
            let settings = state.settings.unwrap();
            assert_eq!(settings.token_cache_key.len(), 32);
            state.servers.into_iter().find(|s| s.id == server_id).and_then(|s| s.oauth).filter(|o| o.ready)
        }
    })
    .await;
    assert_eq!(oauth.client_id, "machine");
    assert_eq!(oauth.client_secret, "machine-secret-0123456789");
    assert_eq!(oauth.token_endpoint, op.token_endpoint());
    assert_eq!(oauth.token_endpoint_auth_method, "client_secret_basic");
    assert_eq!(oauth.resource, upstream.url);
    assert_eq!(oauth.scopes, vec!["mcp:read".to_owned()]);
    assert_eq!(oauth.issuer, op.issuer);
    cp.stop().await;
}

async fn snapshot(grpc_url: &str, node_token: &str) -> pb::ConfigState {
    let mut client = ConfigDistributionClient::connect(grpc_url.to_owned()).await.expect("connect grpc");
    let hello = pb::EdgeMessage {
        kind: Some(pb::edge_message::Kind::Hello(pb::Hello {
            node_id: "inspector".into(),
            have_version: 0,
            software_version: "test".into(),
        })),
    };
    let mut request = tonic::Request::new(tokio_stream::iter(vec![hello]).chain(tokio_stream::pending()));
    request.metadata_mut().insert("authorization", format!("Bearer {node_token}").parse().unwrap());
    let mut rx = client.subscribe(request).await.expect("subscribe").into_inner();
    match rx.message().await.expect("stream").expect("message").kind {
        Some(pb::config_message::Kind::Snapshot(s)) => s.state.unwrap(),
        other => panic!("expected a snapshot, got {other:?}"),
    }
}

/// An MCP server whose 401 names no resource metadata, but which serves it at
/// the path-inserted well-known URL, pointing at `issuer`.
async fn server_with_well_known_metadata(issuer: String) -> String {
    server_with_resource_metadata(issuer, None).await
}

/// Like [`server_with_well_known_metadata`], its metadata naming `resource`
/// (default: the server's own URL).
async fn server_with_resource_metadata(issuer: String, resource: Option<&str>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let resource = resource.map_or_else(|| format!("{base}/mcp"), str::to_owned);
    let app = axum::Router::new()
        .route(
            "/mcp",
            axum::routing::post(|| async {
                (StatusCode::UNAUTHORIZED, [("www-authenticate", "Bearer")], "")
            }),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            axum::routing::get(move || {
                let body = json!({"resource": resource, "authorization_servers": [issuer],
                    "scopes_supported": ["mcp:read"]});
                async move { axum::Json(body) }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("{base}/mcp")
}

#[tokio::test]
async fn discovery_falls_back_to_well_known_resource_metadata() {
    let op = start_op(OidcConfig::new()).await;
    let url = server_with_well_known_metadata(op.issuer.clone()).await;
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let server =
        cp.admin().create_server_json(json!({"slug": "wk", "url": url, "auth_type": "oauth2"})).await;
    let link = create_link(&cp, "ivan", server["id"].as_str().unwrap()).await;
    let response = no_redirect_client().get(&link.url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(&op.authorization_endpoint()), "{location}");
    let scope = location.query_pairs().find(|(k, _)| k == "scope").map(|(_, v)| v.into_owned());
    assert_eq!(scope.as_deref(), Some("mcp:read"), "scopes_supported from the resource metadata");
    assert_eq!(op.stats().await.registrations, 1);
    cp.stop().await;
}

#[tokio::test]
async fn resource_metadata_for_another_resource_is_refused_before_authorization() {
    let op = start_op(OidcConfig::new()).await;
    let url = server_with_resource_metadata(op.issuer.clone(), Some("https://evil.example.com/mcp")).await;
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let server =
        cp.admin().create_server_json(json!({"slug": "mismatch", "url": url, "auth_type": "oauth2"})).await;
    let link = create_link(&cp, "ivan", server["id"].as_str().unwrap()).await;
    let response =
        no_redirect_client().get(&link.url).header("accept", "application/json").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY, "never redirected to the AS");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_metadata_refused");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("https://evil.example.com/mcp") && message.contains(&url), "{message}");
    assert_eq!(op.stats().await.registrations, 0, "nothing registered for a refused resource");
    cp.stop().await;
}

#[tokio::test]
async fn upstream_secrets_survive_master_key_rotation() {
    use gatehouse_control_plane::store::grants::{GrantTokens, NewTokens};
    use gatehouse_control_plane::store::oauth_clients::OAuthClientRecord;
    use gatehouse_control_plane::store::Store;
    use gatehouse_control_plane::{Keyring, MasterKey};

    let db = TestDb::sqlite().await;
    let (old, new) = (MasterKey::generate(), MasterKey::generate());
    let store = Store::connect(&db.url(), Keyring::new(old.clone(), vec![])).await.unwrap();
    let org = store.ensure_org("default", "Default").await.unwrap();
    let tokens = NewTokens {
        tokens: GrantTokens {
            access_token: SecretString::from("rotate-access"),
            refresh_token: Some(SecretString::from("rotate-refresh")),
        },
        access_expires_at: 0,
        scopes: vec![],
    };
    store.store_grant(&org.id, "ivy", "server-1", tokens, None).await.unwrap();
    let record = OAuthClientRecord {
        key: "preset:server-1".into(),
        issuer: String::new(),
        client_id: "c".into(),
        auth_method: "client_secret_basic".into(),
        metadata: json!({}),
        client_secret: Some(SecretString::from("rotate-secret")),
    };
    store.put_oauth_client(&record).await.unwrap();
    store.close().await.unwrap();

    let store = Store::connect(&db.url(), Keyring::new(new.clone(), vec![old])).await.unwrap();
    assert_eq!(store.rewrap_all().await.unwrap(), 2);
    assert_eq!(store.rewrap_all().await.unwrap(), 0);
    store.close().await.unwrap();

    // The old key is gone: everything still opens under the new one.
    let store = Store::connect(&db.url(), Keyring::new(new, vec![])).await.unwrap();
    let grant = store.find_grant(&org.id, "ivy", "server-1").await.unwrap().unwrap();
    assert_eq!(grant.tokens.refresh_token.unwrap().expose_secret(), "rotate-refresh");
    let client = store.oauth_client("preset:server-1").await.unwrap().unwrap();
    assert_eq!(client.client_secret.unwrap().expose_secret(), "rotate-secret");
    store.close().await.unwrap();
}

#[tokio::test]
async fn client_credentials_without_a_client_registers_dynamically() {
    let op = start_op(OidcConfig::new()).await;
    let upstream = ProtectedUpstream::start(&op, ProtectedOptions::default()).await;
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let server = cp
        .admin()
        .create_server_json(json!({"slug": "m2m", "url": upstream.url, "auth_type": "client_credentials"}))
        .await;
    let server_id = server["id"].as_str().unwrap().to_owned();
    let (grpc_url, node_token) = (cp.grpc_url.clone(), cp.node_token.clone());
    let oauth = eventually(WAIT, "a registered client in Server.oauth", || {
        let (grpc_url, node_token, server_id) = (grpc_url.clone(), node_token.clone(), server_id.clone());
        async move {
            let state = snapshot(&grpc_url, &node_token).await;
            state.servers.into_iter().find(|s| s.id == server_id).and_then(|s| s.oauth).filter(|o| o.ready)
        }
    })
    .await;
    assert!(!oauth.client_id.is_empty());
    assert!(!oauth.client_secret.is_empty(), "a confidential client");
    assert_eq!(op.stats().await.registrations, 1);

    // The registered client really gets a token for the resource.
    let response = reqwest::Client::new()
        .post(&oauth.token_endpoint)
        .basic_auth(&oauth.client_id, Some(&oauth.client_secret))
        .form(&[("grant_type", "client_credentials"), ("resource", oauth.resource.as_str())])
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert_eq!(status, StatusCode::OK, "{}", response.text().await.unwrap());
    cp.stop().await;
}

/// A link issued to a person SSO knows only works in that person's session;
/// a link of a user SSO doesn't know stays a bearer link.
#[tokio::test]
async fn authorization_links_of_sso_users_need_their_session() {
    use gatehouse_tests::oidc::OidcUser;
    const SSO_CLIENT: &str = "gatehouse-console";
    const SSO_SECRET: &str = "console-secret-2b7e";
    let cp =
        TestControlPlane::start_with(TestDb::sqlite().await, |c| c.allow_loopback_upstreams = true).await;
    let op = start_op(
        OidcConfig::new()
            .client(
                OidcClient::confidential(SSO_CLIENT, SSO_SECRET)
                    .redirect_uri(&format!("{}/auth/sso/callback", cp.api_url)),
            )
            .user(OidcUser::new("alice").email("alice@example.com"))
            .user(OidcUser::new("bob").email("bob@example.com")),
    )
    .await;
    let upstream = ProtectedUpstream::start(&op, ProtectedOptions::default()).await;
    let admin = cp.admin();
    admin
        .sso_create_provider(
            json!({"name": "IdP", "issuer": op.issuer, "client_id": SSO_CLIENT, "client_secret": SSO_SECRET}),
        )
        .await;
    let server =
        admin.create_server_json(json!({"slug": "linear", "url": upstream.url, "auth_type": "oauth2"})).await;
    let server_id = server["id"].as_str().unwrap();
    let (alice, bob) = (cp.sso_browser(), cp.sso_browser());
    alice.sso_login("default", "alice").await;
    bob.sso_login("default", "bob").await;

    // Issued to bob (by email, as a gateway token names him).
    let link = create_link(&cp, "bob@example.com", server_id).await;
    let path = Url::parse(&link.url).unwrap().path().to_owned();
    let anonymous = no_redirect_client().get(&link.url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::FOUND, "no session: log in first");
    let location = anonymous.headers()["location"].to_str().unwrap();
    let login = Url::parse("http://cp.invalid").unwrap().join(location).unwrap();
    assert_eq!(login.path(), "/auth/sso/default/login");
    assert_eq!(
        login.query_pairs().find(|(k, _)| k == "return_to").unwrap().1,
        path,
        "and come back to the link"
    );

    let refused = alice.http.get(&link.url).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "someone else's session is refused");
    assert!(refused.text().await.unwrap().contains("issued to another user"));

    let accepted = bob.http.get(&link.url).send().await.unwrap();
    assert_eq!(accepted.status(), StatusCode::FOUND, "bob's own session goes on to the upstream AS");
    let to = accepted.headers()["location"].to_str().unwrap();
    assert!(to.starts_with(&op.issuer), "{to}");
    assert_eq!(bob.http.get(&link.url).send().await.unwrap().status(), StatusCode::GONE, "still single-use");

    // A user SSO doesn't know (a CI bot's gateway token): the link is a bearer link.
    let link = create_link(&cp, "ci-bot", server_id).await;
    let response = no_redirect_client().get(&link.url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(response.headers()["location"].to_str().unwrap().starts_with(&op.issuer));
}

/// An upstream authorization completes only in the browser that started it and, for a
/// user SSO knows, in that user's session: handing someone the upstream authorization
/// URL of one's own link does not get their upstream account.
#[tokio::test]
async fn upstream_authorization_completes_only_in_the_browser_and_session_that_started_it() {
    use gatehouse_tests::oidc::OidcUser;
    const SSO_CLIENT: &str = "gatehouse-console";
    const SSO_SECRET: &str = "console-secret-2b7e";
    let cp =
        TestControlPlane::start_with(TestDb::sqlite().await, |c| c.allow_loopback_upstreams = true).await;
    let op = start_op(
        OidcConfig::new()
            .client(
                OidcClient::confidential(SSO_CLIENT, SSO_SECRET)
                    .redirect_uri(&format!("{}/auth/sso/callback", cp.api_url)),
            )
            .user(OidcUser::new("alice").email("alice@example.com"))
            .user(OidcUser::new("bob").email("bob@example.com")),
    )
    .await;
    let upstream = ProtectedUpstream::start(&op, ProtectedOptions::default()).await;
    let admin = cp.admin();
    admin
        .sso_create_provider(
            json!({"name": "IdP", "issuer": op.issuer, "client_id": SSO_CLIENT, "client_secret": SSO_SECRET}),
        )
        .await;
    let server =
        admin.create_server_json(json!({"slug": "linear", "url": upstream.url, "auth_type": "oauth2"})).await;
    let server_id = server["id"].as_str().unwrap();
    let started = |browser: reqwest::Client, link: String| async move {
        let response = browser.get(&link).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FOUND);
        let set = response.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned());
        let binding: Vec<String> = set.filter(|c| c.starts_with("gatehouse_upstream_oauth_")).collect();
        assert_eq!(binding.len(), 1, "the start sets the flow's binding cookie");
        assert!(binding[0].contains("HttpOnly") && binding[0].contains("SameSite=Lax"), "{}", binding[0]);
        response.headers()["location"].to_str().unwrap().to_owned()
    };
    let json_get = |browser: &reqwest::Client, url: &Url| {
        browser.get(url.clone()).header("accept", "application/json").send()
    };

    // A bearer link (a name SSO doesn't know): mallory starts it and sends the
    // authorization URL to a colleague, who signs in at the upstream: refused.
    let link = create_link(&cp, "ci-bot", server_id).await;
    let location = started(browser_client(), link.url.clone()).await;
    let colleague = browser_client();
    let callback = authorize_headless(&colleague, &location).await;
    let response = json_get(&colleague, &callback).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "browser_mismatch", "{body}");
    assert!(get_grant(&cp, "ci-bot", server_id).await.is_none(), "no grant from another browser");

    // Bob's link, started in bob's session, finished in that browser once it is alice's session: refused.
    let bob = cp.sso_browser();
    bob.sso_login("default", "bob").await;
    let link = create_link(&cp, "bob@example.com", server_id).await;
    let location = started(bob.http.clone(), link.url.clone()).await;
    let callback = authorize_headless(&bob.http, &location).await;
    bob.sso_login("default", "alice").await;
    let response = json_get(&bob.http, &callback).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "user_mismatch", "{body}");
    assert!(get_grant(&cp, "bob@example.com", server_id).await.is_none());

    // In bob's own browser and session it completes, and the page names whom it is for.
    bob.sso_login("default", "bob").await;
    let link = create_link(&cp, "bob@example.com", server_id).await;
    let location = started(bob.http.clone(), link.url.clone()).await;
    let callback = authorize_headless(&bob.http, &location).await;
    let response = bob.http.get(callback).send().await.unwrap();
    let set_cookies: Vec<String> =
        response.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(page.contains("for the Gatehouse user bob@example.com"), "{page}");
    assert!(set_cookies
        .iter()
        .any(|c| c.starts_with("gatehouse_upstream_oauth_") && c.contains("Max-Age=0")));
    assert!(get_grant(&cp, "bob@example.com", server_id).await.is_some());
}
