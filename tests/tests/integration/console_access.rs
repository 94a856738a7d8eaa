//! The console's access pages end to end in real Chromium (`web/e2e/access.mjs`)
//! against a real control plane, edge, OpenID provider (the org's SSO and an
//! upstream's authorization server) and MCP upstreams. What the browser did is
//! checked from outside: a token minted with the pickers has exactly the chosen
//! servers, tool globs and scope at the edge, and its rotation refuses the old
//! secret; an API key created with the auditor role acts as one; a user
//! deactivated and reactivated in the browser is so in the API; the certificate
//! identity and the rate limit exist; a member's Connect link leads through the
//! upstream's authorization to a connection of theirs, and Disconnect removes it.
//! Screenshots go to `<target>/console-screenshots/`.

use std::time::Duration;

use gatehouse_tests::browser::BrowserScenario;
use gatehouse_tests::control_plane::{AdminClient, TestControlPlane};
use gatehouse_tests::db::TestDb;
use gatehouse_tests::edge::{EdgeCache, TestEdge};
use gatehouse_tests::eventually;
use gatehouse_tests::oidc::{OidcClient, OidcConfig, OidcUser, TestOidcProvider};
use gatehouse_tests::protected_upstream::{ProtectedOptions, ProtectedUpstream};
use gatehouse_tests::upstream::{McpUpstream, SessionMode};
use reqwest::{header, Method, StatusCode};
use rmcp::model::CallToolRequestParams;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt as _;
use serde_json::{json, Value};

const CLIENT_ID: &str = "gatehouse-console";
const CLIENT_SECRET: &str = "console-secret-8f2a44";
/// The issuing CA fingerprint the browser registers (any 64 hex digits will do here).
const CA_SHA256: &str = "5d1be7e9dda1ee8896be5b7e34a85ee16452a7b4ba7f3a93a8e8f1a5f3b1c2d4";

/// Status of a JSON-RPC `tools/list` with `token` at `url`.
async fn mcp_status(url: &str, token: &str) -> StatusCode {
    reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header(header::ACCEPT, "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .map(|r| r.status())
        .unwrap_or(StatusCode::BAD_GATEWAY)
}

/// The one row of `list[key]` whose `field` is `value`.
fn row<'a>(list: &'a Value, key: &str, field: &str, value: &str) -> &'a Value {
    let rows = list[key].as_array().unwrap_or_else(|| panic!("{key} in {list}"));
    let found: Vec<_> = rows.iter().filter(|r| r[field] == value).collect();
    assert_eq!(found.len(), 1, "one {key} with {field} {value}: {list}");
    found[0]
}

async fn get(admin: &AdminClient, path: &str) -> Value {
    let (status, body) = admin.request(Method::GET, path, None).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_mints_with_pickers_manages_access_and_connects_a_member() {
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
    // The SSO sign-in lands as bob, a member of eng; alice is an admin, carol a member.
    let op = TestOidcProvider::start(
        OidcConfig::new()
            .resource_scopes(&["mcp:read", "mcp:write"])
            .client(
                OidcClient::confidential(CLIENT_ID, CLIENT_SECRET)
                    .redirect_uri(&format!("{}/auth/sso/callback", cp.api_url)),
            )
            .user(OidcUser::new("bob").email("bob@example.com").name("Bob").groups(&["eng"]))
            .user(OidcUser::new("alice").email("alice@example.com").name("Alice").groups(&["admins"]))
            .user(OidcUser::new("carol").email("carol@example.com").name("Carol").groups(&["eng"]))
            .default_user("bob"),
    )
    .await;
    let protected = ProtectedUpstream::start(&op, ProtectedOptions::default()).await;
    let admin = cp.admin();
    admin.create_workspace("eng").await;
    admin.create_server("tools", &upstream.url, &[]).await;
    admin.provision("eng", "tools", &[], &[]).await;
    admin.create_server_json(json!({"slug": "linear", "url": protected.url, "auth_type": "oauth2"})).await;
    admin.provision("eng", "linear", &[], &[]).await;
    admin
        .sso_create_provider(json!({
            "name": "Test IdP", "issuer": op.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "claim_mappings": {
                "groups_claim": "groups",
                "role_mappings": [{"claim": "groups", "value": "admins", "role": "admin"}],
                "workspace_mappings": [{"claim": "groups", "value": "eng", "workspace": "eng"}],
            },
        }))
        .await;
    // Carol has signed in once, so she is one of the org's users.
    cp.sso_browser().sso_login("default", "carol").await;
    let carol = row(&get(&admin, "/v1/users").await, "users", "email", "carol@example.com")["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut scenario = BrowserScenario::start(
        "access.mjs",
        &[("CONSOLE_URL", &cp.api_url), ("ADMIN_TOKEN", &cp.admin_token), ("CA_SHA256", CA_SHA256)],
    );

    // The token minted with the pickers carries exactly what was picked...
    let minted = scenario.expect_step("minted").await;
    let token = minted["token"].as_str().unwrap().to_owned();
    let tokens = get(&admin, "/v1/auth/tokens?user=agent@example.com").await;
    let view =
        row(&tokens, "tokens", "token_hint", &format!("{}…{}", &token[..8], &token[token.len() - 4..]));
    assert_eq!(view["team"], "eng", "{view}");
    assert_eq!(view["scopes"], json!(["mcp:read"]), "{view}");
    assert_eq!(view["permissions"], json!({"servers": ["tools"], "tools": ["echo"]}), "{view}");
    let days =
        chrono::DateTime::parse_from_rfc3339(view["expires_at"].as_str().unwrap()).unwrap().timestamp()
            - chrono::Utc::now().timestamp();
    assert!((6 * 86_400..=7 * 86_400).contains(&days), "the 7-day preset: {view}");
    // ...and the edge enforces it: only the echo tool is listed, and mcp:read may not call it.
    let url = minted["clientConfig"]["mcpServers"]["tools"]["url"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("{edge_url}/mcp/default/tools"));
    edge.wait_for_version(cp.admin().config_version().await).await;
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.as_str()).auth_header(token.clone()),
    );
    let client = ().serve(transport).await.expect("an MCP client connects with the minted token");
    let names: Vec<String> =
        client.list_all_tools().await.unwrap().iter().map(|t| t.name.to_string()).collect();
    assert_eq!(names, ["echo"], "the tool glob applies");
    let call = client
        .call_tool(
            CallToolRequestParams::new("echo")
                .with_arguments(json!({"text": "hi"}).as_object().cloned().unwrap()),
        )
        .await;
    assert!(call.is_err(), "mcp:read may not call tools: {call:?}");
    client.cancel().await.ok();

    // Rotated in the browser: the old secret is refused at the edge, the new one works.
    scenario.send("rotate").await;
    let rotated = scenario.expect_step("rotated").await;
    let new_token = rotated["token"].as_str().unwrap().to_owned();
    assert_ne!(new_token, token);
    eventually(Duration::from_secs(5), "the edge refuses the old secret", || async {
        (mcp_status(&url, &token).await == StatusCode::UNAUTHORIZED).then_some(())
    })
    .await;
    eventually(Duration::from_secs(5), "the edge takes the new secret", || async {
        (mcp_status(&url, &new_token).await == StatusCode::OK).then_some(())
    })
    .await;
    scenario.send("continue").await;

    // The API key created in the browser acts with the auditor role.
    let created = scenario.expect_step("api_key").await;
    let key = created["key"].as_str().unwrap();
    let auditor = admin.with_token(Some(key));
    assert_eq!(auditor.request(Method::GET, "/v1/audit-events", None).await.0, StatusCode::OK);
    let (status, body) = auditor.request(Method::POST, "/v1/workspaces", Some(json!({"slug": "nope"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an auditor may not change the registry: {body}");
    assert_eq!(row(&get(&admin, "/v1/api-keys").await, "api_keys", "name", "audit-bot")["role"], "auditor");

    // Deactivated, then reactivated, in the browser.
    scenario.expect_step("deactivated").await;
    let user = |users: &Value| row(users, "users", "id", &carol)["status"].clone();
    assert_eq!(user(&get(&admin, "/v1/users").await), "deactivated");
    scenario.send("reactivate").await;
    scenario.expect_step("reactivated").await;
    assert_eq!(user(&get(&admin, "/v1/users").await), "active");

    // The certificate identity, bound to its CA and trust domain.
    scenario.expect_step("certificate_identity").await;
    let identities = get(&admin, "/v1/auth/certificate-identities").await;
    let identity = row(&identities, "certificate_identities", "value", "spiffe://acme.example/ci");
    assert_eq!(
        (identity["kind"].as_str(), identity["user"].as_str(), identity["team"].as_str()),
        (Some("san_uri"), Some("ci-bot"), Some("eng"))
    );
    assert_eq!(
        (identity["issuer_ca_sha256"].as_str(), identity["spiffe_trust_domain"].as_str()),
        (Some(CA_SHA256), Some("acme.example"))
    );

    // The rate limit, and the org's JWT settings saved with their warning.
    scenario.expect_step("org_settings").await;
    let limit = get(&admin, "/v1/rate-limits").await;
    let limit = row(&limit, "rate_limits", "name", "agent-rate");
    assert_eq!(limit["limit"], json!({"requests": 100, "per": "minute"}), "{limit}");
    assert_eq!(limit["match"]["server"], "tools", "{limit}");
    let org = get(&admin, "/v1/org").await;
    assert_eq!(org["jwt_validation"]["skipIssuerAndAudienceCheck"], true, "{org}");

    // The member's Connect link went through the upstream's authorization: a connection of bob's.
    scenario.expect_step("connected").await;
    let bob = row(&get(&admin, "/v1/users").await, "users", "email", "bob@example.com")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let connections = get(&admin, &format!("/v1/connections?user={bob}")).await;
    let connection = row(&connections, "connections", "server", "linear");
    assert_eq!(connection["status"], "active", "{connections}");
    scenario.send("disconnect").await;
    scenario.expect_step("disconnected").await;
    let connections = get(&admin, &format!("/v1/connections?user={bob}")).await;
    assert_eq!(connections["connections"], json!([]), "disconnected in the browser");

    scenario.finish().await;
}
