//! The edges' audit events: every tool call and refused credential decided at an
//! edge reaches `GET /v1/audit-events` through the `AuditSink` stream, with the
//! fields the decision had; with the control plane stopped an edge keeps
//! serving and ships what it buffered once the control plane is back, each
//! event once.

use std::time::Duration;

use gatehouse_tests::control_plane::{AdminClient, TestControlPlane};
use gatehouse_tests::db::TestDb;
use gatehouse_tests::edge::TestEdge;
use gatehouse_tests::eventually;
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

/// `tools/call` of `tool` at `edge`'s server `slug` with `token`; returns the status and body text.
async fn call_tool(edge: &TestEdge, slug: &str, token: &str, tool: &str, id: u64) -> (StatusCode, String) {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": tool, "arguments": {"text": "hi"}}});
    let response = reqwest::Client::new()
        .post(edge.mcp_url(slug))
        .bearer_auth(token)
        .header(header::ACCEPT, "application/json, text/event-stream")
        .json(&body)
        .send()
        .await
        .expect("POST tools/call to the edge");
    let status = response.status();
    (status, response.text().await.unwrap_or_default())
}

/// Every audit event of the caller's org matching `query`, walking all pages.
async fn events(admin: &AdminClient, query: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/v1/audit-events?limit=1000&{query}{cursor}");
        let (status, body) = admin.request(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        all.extend(body["audit_events"].as_array().unwrap().iter().cloned());
        match body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return all,
        }
    }
}

async fn wait_for_events(admin: &AdminClient, query: &str, count: usize) -> Vec<Value> {
    eventually(WAIT, &format!("{count} audit events for {query}"), || async {
        let found = events(admin, query).await;
        (found.len() >= count).then_some(found)
    })
    .await
}

#[tokio::test]
async fn audit_edge_tool_calls_through_two_edges_are_recorded_with_their_decision() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let admin = cp.admin();
    let upstream = admin.platform_with_tools().await;
    admin.provision("platform", "tools", &[], &["delete_*"]).await;
    let token = admin.mint_token("alice@example.com", "platform").await;
    let first = TestEdge::start(&cp.grpc_url, &cp.node_token).await;
    let second = TestEdge::start(&cp.grpc_url, &cp.node_token).await;
    let version = admin.config_version().await;
    first.wait_for_version(version).await;
    second.wait_for_version(version).await;

    let (status, body) = call_tool(&first, "tools", &token.token, "echo", 1).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call_tool(&second, "tools", &token.token, "echo", 2).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call_tool(&first, "tools", &token.token, "delete_everything", 3).await;
    assert_eq!(status, StatusCode::OK, "a denied call is a JSON-RPC error: {body}");
    assert!(body.contains("tool_denied"), "{body}");
    assert_eq!(upstream.calls.count("delete_everything"), 0, "never forwarded");
    let bad = "gth_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA000000";
    let (status, _) = call_tool(&second, "tools", bad, "echo", 4).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let calls = wait_for_events(&admin, "kind=tool_call", 3).await;
    assert_eq!(calls.len(), 3, "{calls:#?}");
    let allowed: Vec<&Value> = calls.iter().filter(|e| e["decision"] == "allow").collect();
    assert_eq!(allowed.len(), 2, "{calls:#?}");
    let edges: std::collections::BTreeSet<&str> =
        allowed.iter().map(|e| e["edge"].as_str().unwrap()).collect();
    assert_eq!(edges, [first.node_id.as_str(), second.node_id.as_str()].into(), "one through each edge");
    for e in &allowed {
        assert_eq!(e["user"], "alice@example.com");
        assert_eq!(e["identity_source"], "gatehouse");
        assert_eq!(e["server"], "tools");
        assert_eq!(e["tool"], "echo");
        assert_eq!(e["method"], "tools/call");
        assert_eq!(e["upstream_status"], 200);
        assert!(e["workspace"].as_str().is_some_and(|w| !w.is_empty()), "{e}");
        assert!(e["request_bytes"].as_u64().unwrap() > 0, "{e}");
        assert!(e["latency_ms"].as_u64().is_some(), "{e}");
        assert_eq!(e["client_address"], "127.0.0.1");
        assert!(e.get("reason").is_none(), "{e}");
    }
    let denied = calls.iter().find(|e| e["decision"] == "deny").expect("the denied call");
    assert_eq!(denied["tool"], "delete_everything");
    assert_eq!(denied["reason"], "tool_denied");
    assert_eq!(denied["jsonrpc_code"], -32602);
    assert!(denied.get("upstream_status").is_none(), "{denied}");

    // Filters: by decision and tool.
    assert_eq!(events(&admin, "kind=tool_call&decision=deny").await.len(), 1);
    assert_eq!(events(&admin, "tool=echo&decision=allow").await.len(), 2);
    // `action` matches an edge event's method: exactly the three tool calls, no other event.
    let by_action = events(&admin, "action=tools/call").await;
    let mut ids: Vec<&Value> = by_action.iter().map(|e| &e["id"]).collect();
    let mut call_ids: Vec<&Value> = calls.iter().map(|e| &e["id"]).collect();
    ids.sort_by_key(|v| v.to_string());
    call_ids.sort_by_key(|v| v.to_string());
    assert_eq!(ids, call_ids, "{by_action:#?}");

    let failures = wait_for_events(&admin, "kind=auth_failure", 1).await;
    assert_eq!(failures[0]["reason"], "invalid_token");
    assert_eq!(failures[0]["decision"], "deny");
    assert_eq!(failures[0]["client_address"], "127.0.0.1");

    // No credential is in any stored event.
    let dump = gatehouse_tests::db::dump_text(cp.db()).await;
    assert!(!dump.contains(&token.token), "the gateway token is stored nowhere");
    assert!(!dump.contains(bad), "a refused credential is stored nowhere");

    // Usage aggregates the same events.
    let (status, usage) = admin.request(Method::GET, "/v1/usage?group_by=tool&interval=hour", None).await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    let rows = usage["usage"].as_array().unwrap();
    let echo = rows.iter().find(|r| r["key"] == "echo").expect("echo row");
    assert_eq!((echo["calls"].as_u64(), echo["denials"].as_u64()), (Some(2), Some(0)));
    let deleted = rows.iter().find(|r| r["key"] == "delete_everything").expect("denied row");
    assert_eq!(deleted["denials"], 1);
}

#[tokio::test]
async fn audit_edge_keeps_serving_without_the_control_plane_and_ships_its_buffer_later() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let admin = cp.admin();
    let _upstream = admin.platform_with_tools().await;
    let token = admin.mint_token("bob@example.com", "platform").await;
    let edge = TestEdge::start(&cp.grpc_url, &cp.node_token).await;
    edge.wait_for_version(admin.config_version().await).await;

    let (status, body) = call_tool(&edge, "tools", &token.token, "echo", 1).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_for_events(&admin, "kind=tool_call", 1).await;

    let stopped = cp.stop().await;
    const WHILE_AWAY: u64 = 40;
    let started = std::time::Instant::now();
    for id in 0..WHILE_AWAY {
        let (status, body) = call_tool(&edge, "tools", &token.token, "echo", 100 + id).await;
        assert_eq!(status, StatusCode::OK, "the edge serves without the control plane: {body}");
    }
    assert!(started.elapsed() < Duration::from_secs(10), "no request waited for the audit sink");

    let cp = stopped.start_again().await;
    let admin = cp.admin();
    let all = wait_for_events(&admin, "kind=tool_call", 1 + WHILE_AWAY as usize).await;
    // Give a re-sent batch the chance to show up twice; it must not.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all_again = events(&admin, "kind=tool_call").await;
    assert_eq!(all.len(), 1 + WHILE_AWAY as usize, "none lost");
    assert_eq!(all_again.len(), all.len(), "none stored twice");
    let ids: std::collections::BTreeSet<&str> = all_again.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), all_again.len());
    assert!(all_again.iter().all(|e| e["user"] == "bob@example.com" && e["decision"] == "allow"));
}
