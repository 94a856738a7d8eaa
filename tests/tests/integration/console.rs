//! The admin console end to end in real Chromium (`web/e2e/console.mjs`,
//! driven through playwright-core) against the real control plane serving the
//! embedded console, an edge, the test OpenID provider and an rmcp upstream:
//! sign-in with an API key and with SSO, a server registered and provisioned
//! with a deny glob, a token minted in the browser and its copied client
//! configuration used by a real MCP client through the edge, the token revoked
//! in the browser and refused by the edge, a member's narrower console, and no
//! console error on any page. Screenshots go to `<target>/console-screenshots/`.
//! And the console's key sessions over HTTP: what they may do, CSRF, and their end
//! with their credential.

use std::time::Duration;

use gatehouse_tests::browser::{web_dir, BrowserScenario};
use gatehouse_tests::control_plane::{SsoBrowser, TestControlPlane};
use gatehouse_tests::db::TestDb;
use gatehouse_tests::edge::{EdgeCache, TestEdge};
use gatehouse_tests::eventually;
use gatehouse_tests::oidc::{OidcClient, OidcConfig, OidcUser, TestOidcProvider};
use gatehouse_tests::upstream::{McpUpstream, SessionMode};
use reqwest::{header, Method, StatusCode};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt as _;
use serde_json::{json, Value};

const CLIENT_ID: &str = "gatehouse-console";
const CLIENT_SECRET: &str = "console-secret-2b9e71";

/// The console's typed client is generated from `web/src/api/openapi.json`;
/// when the API changes, that copy and the client must be regenerated, or
/// the console would call routes and fields that are not there.
#[test]
fn the_console_client_is_generated_from_the_current_api() {
    let path = web_dir().join("src/api/openapi.json");
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("web/src/api/openapi.json")).unwrap();
    assert!(
        committed == gatehouse_control_plane::api::document_json(),
        "web/src/api/openapi.json is not the current OpenAPI document: run scripts/gen-console-api"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_in_chromium_signs_in_registers_provisions_mints_and_revokes() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let edge_url = format!("http://{}", listener.local_addr().unwrap());
    let public_edge = edge_url.clone();
    let cp = TestControlPlane::start_with(TestDb::sqlite().await, move |c| {
        c.edge_public_url = public_edge.clone();
        c.allow_loopback_upstreams = true;
    })
    .await;
    let edge = TestEdge::start_on(listener, &cp.grpc_url, &cp.node_token, EdgeCache::temporary(), &[]).await;
    edge.wait_ready().await;
    let upstream = McpUpstream::start(SessionMode::Stateless).await;
    let op = TestOidcProvider::start(
        OidcConfig::new()
            .client(
                OidcClient::confidential(CLIENT_ID, CLIENT_SECRET)
                    .redirect_uri(&format!("{}/auth/sso/callback", cp.api_url)),
            )
            .user(OidcUser::new("alice").email("alice@example.com").name("Alice").groups(&["admins"]))
            .user(OidcUser::new("bob").email("bob@example.com").name("Bob").groups(&["eng"])),
    )
    .await;
    cp.admin()
        .sso_create_provider(json!({
            "name": "Test IdP", "issuer": op.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "claim_mappings": {
                "groups_claim": "groups",
                "role_mappings": [{"claim": "groups", "value": "admins", "role": "admin"}],
            },
        }))
        .await;

    // The console's page itself: strict CSP, no framing, revalidated on every load.
    let page = reqwest::Client::new()
        .get(format!("{}/workspaces/eng", cp.api_url))
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.headers()[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(page.headers()[header::CACHE_CONTROL], "no-cache");

    let mut scenario = BrowserScenario::start(
        "console.mjs",
        &[
            ("CONSOLE_URL", &cp.api_url),
            ("ADMIN_TOKEN", &cp.admin_token),
            ("UPSTREAM_URL", &upstream.url),
            ("OIDC_ISSUER", &op.issuer),
        ],
    );

    // The token minted in the browser, used as the copied client configuration says.
    let minted = scenario.expect_step("minted").await;
    let token = minted["token"].as_str().unwrap();
    let server = &minted["clientConfig"]["mcpServers"]["tools"];
    let url = server["url"].as_str().unwrap();
    assert_eq!(url, format!("{edge_url}/mcp/default/tools"));
    assert_eq!(server["headers"]["Authorization"], format!("Bearer {token}"));
    let version = cp.admin().config_version().await;
    edge.wait_for_version(version).await;
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url).auth_header(token),
    );
    let client = ().serve(transport).await.expect("an MCP client connects with the console's token");
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    assert!(names.contains(&"echo".to_owned()), "{names:?}");
    assert!(!names.contains(&"delete_everything".to_owned()), "the console's deny glob applies: {names:?}");
    client.cancel().await.ok();

    scenario.send("revoke").await;
    scenario.expect_step("revoked").await;
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(5), "the edge refuses the revoked token", || async {
        let response = http
            .post(url)
            .bearer_auth(token)
            .header(header::ACCEPT, "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
            .send()
            .await
            .ok()?;
        (response.status() == StatusCode::UNAUTHORIZED).then_some(())
    })
    .await;

    scenario.finish().await;
}

/// Signs in with `api_key` through `POST /v1/console/session` in a cookie-keeping browser.
async fn key_sign_in(cp: &TestControlPlane, api_key: &str) -> (SsoBrowser, StatusCode, Value) {
    let browser = cp.sso_browser();
    let (status, body) = browser
        .sso_request(Method::POST, "/v1/console/session", Some(json!({"api_key": api_key})), None)
        .await;
    (browser, status, body)
}

#[tokio::test]
async fn a_console_key_session_acts_as_its_credential_only_while_it_is_valid() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;

    // Anything but a valid key is refused, naming the field; nothing is signed in.
    let (browser, status, body) = key_sign_in(&cp, "gak_not-a-key").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["field"], "api_key");
    let (status, body) = browser.sso_request(Method::GET, "/v1/console/session", None, None).await;
    assert_eq!((status, &body["caller"]), (StatusCode::OK, &Value::Null));

    // An org API key with the viewer role: reads, may not write, and needs the CSRF token to try.
    let (status, issued) = cp
        .admin()
        .request(Method::POST, "/v1/api-keys", Some(json!({"name": "console", "role": "viewer"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let (viewer, status, caller) = key_sign_in(&cp, issued["key"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{caller}");
    assert_eq!((caller["kind"].as_str(), caller["role"].as_str()), (Some("api_key"), Some("viewer")));
    assert!(!caller.to_string().contains(issued["key"].as_str().unwrap()), "the key is never echoed");
    let csrf = caller["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(viewer.sso_request(Method::GET, "/v1/servers", None, None).await.0, StatusCode::OK);
    let ws = json!({"slug": "eng"});
    let (status, body) = viewer.sso_request(Method::POST, "/v1/workspaces", Some(ws.clone()), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("csrf_failed")));
    let (status, body) =
        viewer.sso_request(Method::POST, "/v1/workspaces", Some(ws.clone()), Some(&csrf)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));

    // Deleting the key ends its sessions.
    let path = format!("/v1/api-keys/{}", issued["id"].as_str().unwrap());
    assert_eq!(cp.admin().request(Method::DELETE, &path, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(viewer.sso_request(Method::GET, "/v1/servers", None, None).await.0, StatusCode::UNAUTHORIZED);
    let (_, body) = viewer.sso_request(Method::GET, "/v1/console/session", None, None).await;
    assert_eq!(body["caller"], Value::Null);

    // The platform admin token: acts as the platform admin until signed out.
    let (admin, status, caller) = key_sign_in(&cp, &cp.admin_token).await;
    assert_eq!(status, StatusCode::OK, "{caller}");
    assert_eq!((caller["kind"].as_str(), caller["platform_admin"].as_bool()), (Some("platform"), Some(true)));
    let csrf = caller["csrf_token"].as_str().unwrap().to_owned();
    let (status, body) = admin.sso_request(Method::POST, "/v1/workspaces", Some(ws), Some(&csrf)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(admin.sso_request(Method::GET, "/v1/edges", None, None).await.0, StatusCode::OK);
    assert_eq!(
        admin.sso_request(Method::DELETE, "/v1/console/session", None, None).await.0,
        StatusCode::FORBIDDEN,
        "signing out needs the CSRF token too"
    );
    assert_eq!(
        admin.sso_request(Method::DELETE, "/v1/console/session", None, Some(&csrf)).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(admin.sso_request(Method::GET, "/v1/servers", None, None).await.0, StatusCode::UNAUTHORIZED);
    cp.stop().await;
}
