//! A server's live tool list (`GET /v1/servers/{slug}/tools`) and "Try a tool"
//! (`POST /v1/servers/{slug}/tools/{tool}/call`) over HTTP, against real rmcp
//! upstreams (sessions with SSE, stateless with JSON), a real edge and the test
//! OpenID provider: the upstream gets the credential an edge would inject, each
//! workspace's globs are judged as the edge judges them, a per-user OAuth server
//! without the person's connection says how to connect, a denied tool is refused,
//! and a tried tool goes through the edge (its audit event shows it) with a
//! token that ends with the call.

use std::time::Duration;

use gatehouse_tests::control_plane::TestControlPlane;
use gatehouse_tests::db::TestDb;
use gatehouse_tests::edge::TestEdge;
use gatehouse_tests::eventually;
use gatehouse_tests::oidc::{OidcClient, OidcConfig, OidcUser, TestOidcProvider};
use gatehouse_tests::upstream::{McpUpstream, SessionMode, UpstreamOptions};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const SECRET: &str = "upstream-secret-7f3a91c2";

async fn stack() -> (TestControlPlane, TestEdge) {
    gatehouse_tests::control_plane_with_public_edge().await
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap_or_else(|| t["name"].as_str().unwrap()))
        .collect()
}

#[tokio::test]
async fn server_tools_are_fetched_with_the_injected_header_over_sse_and_json_and_judged_per_workspace() {
    let (cp, _edge) = stack().await;
    let admin = cp.admin();
    admin.create_workspace("eng").await;
    admin.create_workspace("ops").await;
    let logs = gatehouse_tests::logs::capture();

    for (slug, mode, json_response) in
        [("sessions", SessionMode::Stateful, false), ("stateless", SessionMode::Stateless, true)]
    {
        let upstream = McpUpstream::start_with(UpstreamOptions {
            mode,
            json_response,
            required_header: Some(("x-api-key".into(), SECRET.into())),
        })
        .await;
        admin.create_server(slug, &upstream.url, &[("X-Api-Key", SECRET)]).await;
        admin.provision("eng", slug, &[], &["delete_*"]).await;
        admin.provision("ops", slug, &["echo", "a?d"], &[]).await;

        let (status, body) = admin.request(Method::GET, &format!("/v1/servers/{slug}/tools"), None).await;
        assert_eq!(status, StatusCode::OK, "{slug}: {body}");
        let tools = names(&body["tools"]);
        for tool in ["echo", "add", "whoami", "slow_progress", "delete_everything"] {
            assert!(tools.contains(&tool), "{slug}: {tools:?}");
        }
        let echo = body["tools"].as_array().unwrap().iter().find(|t| t["name"] == "echo").unwrap();
        assert_eq!(echo["description"], "Echo the text back");
        assert_eq!(echo["inputSchema"]["properties"]["text"]["type"], "string", "{echo}");
        assert!(body["fetched_at"].as_str().is_some(), "{body}");
        let eng = &body["workspaces"][0];
        assert_eq!((eng["workspace"].as_str(), eng["deny"].clone()), (Some("eng"), json!(["delete_*"])));
        assert_eq!(names(&eng["denied"]), ["delete_everything"], "{eng}");
        assert!(names(&eng["allowed"]).contains(&"echo"));
        let ops = &body["workspaces"][1];
        let mut allowed = names(&ops["allowed"]);
        allowed.sort();
        assert_eq!(allowed, ["add", "echo"], "{ops}");

        // Every request of the session carried the injected header; a session ends with DELETE.
        let requests = upstream.requests.all();
        assert!(requests.len() >= 3, "initialize, initialized, tools/list: {requests:?}");
        assert!(requests.iter().all(|(_, h)| h.get("x-api-key").map(String::as_str) == Some(SECRET)));
        let deleted = requests.iter().any(|(m, _)| m == "DELETE");
        assert_eq!(deleted, mode == SessionMode::Stateful, "{slug}: DELETE only when there was a session");
        let versions: Vec<_> = requests.iter().filter_map(|(_, h)| h.get("mcp-protocol-version")).collect();
        assert!(versions.iter().all(|v| *v == "2025-11-25" || *v == "2025-06-18"), "{versions:?}");
    }

    // The upstream refusing the credential is a 502 naming the problem, never the secret.
    let refusing = McpUpstream::start_with(UpstreamOptions {
        mode: SessionMode::Stateless,
        json_response: true,
        required_header: Some(("x-api-key".into(), "another".into())),
    })
    .await;
    admin.create_server("refusing", &refusing.url, &[("X-Api-Key", SECRET)]).await;
    let (status, body) = admin.request(Method::GET, "/v1/servers/refusing/tools", None).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], "upstream_error");
    assert!(body["error"]["message"].as_str().unwrap().contains("HTTP 401"), "{body}");
    assert!(!body.to_string().contains(SECRET));

    // An upstream that is not there: 502 too.
    admin.create_server("gone", "http://127.0.0.1:9/mcp", &[]).await;
    let (status, body) = admin.request(Method::GET, "/v1/servers/gone/tools", None).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("could not be reached"), "{body}");

    // Unknown servers are 404; the servers list shows where each is provisioned.
    let (status, _) = admin.request(Method::GET, "/v1/servers/nope/tools", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = admin.request(Method::GET, "/v1/servers", None).await;
    let sessions = list["servers"].as_array().unwrap().iter().find(|s| s["slug"] == "sessions").unwrap();
    assert_eq!(sessions["workspaces"], json!(["eng", "ops"]));
    assert_eq!(sessions["oauth_setup"], Value::Null);
    if let Some(logs) = logs {
        assert!(!logs.text().contains(SECRET), "the header value is logged nowhere");
    }
}

#[tokio::test]
async fn server_tools_of_a_per_user_oauth_server_without_a_connection_say_how_to_connect() {
    let cp =
        TestControlPlane::start_with(TestDb::sqlite().await, |c| c.allow_loopback_upstreams = true).await;
    let op = TestOidcProvider::start(
        OidcConfig::new()
            .client(
                OidcClient::confidential("console", "console-secret-91b2")
                    .redirect_uri(&format!("{}/auth/sso/callback", cp.api_url)),
            )
            .user(OidcUser::new("alice").email("alice@example.com").groups(&["admins"])),
    )
    .await;
    let admin = cp.admin();
    admin
        .sso_create_provider(json!({
            "name": "Test IdP", "issuer": op.issuer, "client_id": "console", "client_secret": "console-secret-91b2",
            "claim_mappings": {"groups_claim": "groups",
                "role_mappings": [{"claim": "groups", "value": "admins", "role": "admin"}]},
        }))
        .await;
    admin
        .create_server_json(
            json!({"slug": "per-user", "url": "http://127.0.0.1:9/mcp", "auth_type": "oauth2"}),
        )
        .await;

    // The admin token is no person: it has no connection of its own.
    let (status, body) = admin.request(Method::GET, "/v1/servers/per-user/tools", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "connection_required");
    assert!(body["error"]["message"].as_str().unwrap().contains("sign in to the console with SSO"), "{body}");

    // A person without a connection is told to connect, and where the link comes from.
    let alice = cp.sso_browser();
    alice.sso_login("default", "alice").await;
    let (_, me) = alice.sso_me().await;
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let (status, body) = alice.sso_request(Method::GET, "/v1/servers/per-user/tools", None, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "connection_required");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("you have not connected server per-user"), "{message}");
    assert!(message.contains(r#"POST /v1/connections {"server": "per-user"}"#), "{message}");
    let (status, link) = alice
        .sso_request(Method::POST, "/v1/connections", Some(json!({"server": "per-user"})), Some(&csrf))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    assert!(
        link["authorization_url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/oauth/upstream/start/", cp.api_url)),
        "{link}"
    );
    // Trying a tool needs the same connection.
    admin.create_workspace("eng").await;
    admin.provision("eng", "per-user", &[], &[]).await;
    let (status, body) = alice
        .sso_request(
            Method::POST,
            "/v1/servers/per-user/tools/echo/call",
            Some(json!({"workspace": "eng", "arguments": {}})),
            Some(&csrf),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("connection_required")),
        "{body}"
    );
    // The admin token gets no link of its own: it is nobody's account, so it must name a user.
    let (status, body) =
        admin.request(Method::POST, "/v1/connections", Some(json!({"server": "per-user"}))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("user")), "{body}");
}

#[tokio::test]
async fn try_a_tool_goes_through_the_edge_with_a_token_that_ends_with_the_call() {
    let (cp, edge) = stack().await;
    let admin = cp.admin();
    let upstream = McpUpstream::start_with(UpstreamOptions {
        mode: SessionMode::Stateful,
        json_response: false,
        required_header: Some(("x-api-key".into(), SECRET.into())),
    })
    .await;
    admin.create_workspace("eng").await;
    admin.create_server("tools", &upstream.url, &[("X-Api-Key", SECRET)]).await;
    admin.provision("eng", "tools", &[], &["delete_*"]).await;

    let (status, body) = admin
        .request(
            Method::POST,
            "/v1/servers/tools/tools/add/call",
            Some(json!({"workspace": "eng", "arguments": {"a": 2, "b": 40}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["isError"], false);
    assert_eq!(body["content"][0]["type"], "text");
    assert_eq!(body["content"][0]["text"], "42");
    assert_eq!(body["user"], "platform-admin");
    assert_eq!(upstream.calls.count("add"), 1);
    let headers = upstream.calls.last_headers("add").unwrap();
    assert_eq!(headers.get("x-api-key").map(String::as_str), Some(SECRET), "the edge injected the header");
    assert!(!headers.contains_key("authorization"), "the try token never reaches the upstream");

    // The edge decided the call: its audit event names the acting user and the tool.
    let event = eventually(Duration::from_secs(20), "the edge's audit event of the tried call", || async {
        let (_, events) = admin.request(Method::GET, "/v1/audit-events?kind=tool_call&tool=add", None).await;
        events["audit_events"].as_array()?.first().cloned()
    })
    .await;
    assert_eq!(event["decision"], "allow", "{event}");
    assert_eq!(event["user"], "platform-admin");
    assert_eq!(event["edge"], edge.node_id.as_str());
    assert!(event["workspace"].as_str().is_some_and(|w| !w.is_empty()), "{event}");

    // The token minted for the try is revoked, and lived at most two minutes.
    let tokens = admin.tokens().await;
    let minted: Vec<&Value> =
        tokens["tokens"].as_array().unwrap().iter().filter(|t| t["user"] == "platform-admin").collect();
    assert_eq!(minted.len(), 1, "{tokens}");
    assert_eq!(minted[0]["status"], "revoked");
    assert_eq!(minted[0]["permissions"], json!({"servers": ["tools"], "tools": ["add"]}));
    let created = chrono::DateTime::parse_from_rfc3339(minted[0]["created_at"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(minted[0]["expires_at"].as_str().unwrap()).unwrap();
    assert!(expires - created <= chrono::Duration::seconds(120), "{}", minted[0]);

    // A tool the workspace's deny glob refuses is refused before anything is minted or called.
    let (status, body) = admin
        .request(
            Method::POST,
            "/v1/servers/tools/tools/delete_everything/call",
            Some(json!({"workspace": "eng"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("deny glob \"delete_*\""), "{body}");
    assert_eq!(upstream.calls.count("delete_everything"), 0);
    assert_eq!(admin.tokens().await["tokens"].as_array().unwrap().len(), 1, "no token for a refused try");

    // A tool error comes back as the tool's result with isError; bad input is a 400 naming the field.
    let (status, body) = admin
        .request(
            Method::POST,
            "/v1/servers/tools/tools/add/call",
            Some(json!({"workspace": "eng", "arguments": {"a": "x"}})),
        )
        .await;
    assert!(
        status == StatusCode::OK && body["isError"] == true || status == StatusCode::BAD_GATEWAY,
        "{status} {body}"
    );
    let (status, body) = admin
        .request(Method::POST, "/v1/servers/tools/tools/add/call", Some(json!({"workspace": "Not A Slug"})))
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("workspace")),
        "{body}"
    );
    let (status, body) = admin
        .request(Method::POST, "/v1/servers/tools/tools/add/call", Some(json!({"workspace": "ops"})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    admin.create_workspace("ops").await;
    let (status, body) = admin
        .request(Method::POST, "/v1/servers/tools/tools/add/call", Some(json!({"workspace": "ops"})))
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::CONFLICT, Some("workspace")),
        "{body}"
    );
}
