//! The console's audit and usage pages end to end in real Chromium
//! (`web/e2e/audit.mjs`) against a real control plane and edge. The test makes
//! known traffic first, with a real MCP client through the edge (three allowed
//! tool calls, one denied by the workspace's deny glob) and admin changes (more
//! than a page of them, and a server renamed), then checks what the browser
//! shows against the API: every event over "Load more", a kind + decision
//! filter and the action filter narrowing to exactly the right rows, the export
//! link downloading the same events, an admin change's before and after, the
//! owner's audit settings, the usage totals per tool and per server, an
//! auditor's read-only view and a member's refusal. Screenshots `audit.png`
//! and `usage.png` go to `<target>/console-screenshots/`.

use std::time::Duration;

use gatehouse_tests::browser::BrowserScenario;
use gatehouse_tests::control_plane::{AdminClient, TestControlPlane};
use gatehouse_tests::db::TestDb;
use gatehouse_tests::edge::TestEdge;
use gatehouse_tests::eventually;
use reqwest::{Method, StatusCode};
use rmcp::model::CallToolRequestParams;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt as _;
use serde_json::{json, Value};

/// Every event matching `query`, newest first, over all pages.
async fn all_events(admin: &AdminClient, query: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, body) =
            admin.request(Method::GET, &format!("/v1/audit-events?limit=1000&{query}{cursor}"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        all.extend(body["audit_events"].as_array().unwrap().iter().cloned());
        match body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return all,
        }
    }
}

async fn api_key(admin: &AdminClient, role: &str) -> String {
    let (status, body) =
        admin.request(Method::POST, "/v1/api-keys", Some(json!({"name": role, "role": role}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["key"].as_str().unwrap().to_owned()
}

/// A usage table's rows as `[key, calls, errors, denials]`.
fn table(step: &Value, name: &str) -> Vec<Vec<String>> {
    serde_json::from_value(step[name].clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn console_audit_and_usage_pages_show_known_traffic_filtered_exported_and_by_role() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let admin = cp.admin();
    let _upstream = admin.platform_with_tools().await;
    admin.provision("platform", "tools", &[], &["delete_*"]).await;
    // More admin changes than one page of the audit table holds.
    for i in 0..55 {
        admin.create_workspace(&format!("team-{i}")).await;
    }
    admin.update_server("tools", json!({"name": "Renamed tools"})).await;
    let auditor_key = api_key(&admin, "auditor").await;
    let member_key = api_key(&admin, "member").await;
    let token = admin.mint_token("alice@example.com", "platform").await;
    let edge = TestEdge::start(&cp.grpc_url, &cp.node_token).await;
    edge.wait_for_version(admin.config_version().await).await;

    // A real MCP client through the edge: three allowed calls, one denied.
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(edge.mcp_url("tools")).auth_header(token.token.clone()),
    );
    let client = ().serve(transport).await.expect("an MCP client connects through the edge");
    for i in 0..3 {
        let args = json!({"text": format!("call {i}")}).as_object().unwrap().clone();
        client
            .call_tool(CallToolRequestParams::new("echo").with_arguments(args))
            .await
            .expect("echo is allowed");
    }
    let refused = client.call_tool(CallToolRequestParams::new("delete_everything")).await;
    assert!(refused.is_err(), "the deny glob refuses delete_everything: {refused:?}");
    client.cancel().await.ok();

    let calls = eventually(Duration::from_secs(20), "the four tool calls are stored", || async {
        let found = all_events(&admin, "kind=tool_call").await;
        (found.len() == 4).then_some(found)
    })
    .await;
    // Let the edge's last batch (the session's end) land before counting everything.
    let total = eventually(Duration::from_secs(10), "the audit trail is quiet", || async {
        let before = all_events(&admin, "").await.len();
        tokio::time::sleep(Duration::from_millis(700)).await;
        let after = all_events(&admin, "").await.len();
        (before == after).then_some(after)
    })
    .await;
    assert!(total > 50, "more than a page of events: {total}");

    let mut scenario = BrowserScenario::start(
        "audit.mjs",
        &[
            ("CONSOLE_URL", &cp.api_url),
            ("ADMIN_TOKEN", &cp.admin_token),
            ("AUDITOR_KEY", &auditor_key),
            ("MEMBER_KEY", &member_key),
        ],
    );

    // "Load more" walks every event (signing in to the console added its own).
    let all = scenario.expect_step("all").await;
    let now_total = all_events(&admin, "").await.len() as u64;
    assert_eq!(all["rows"].as_u64(), Some(now_total), "{all}");
    assert!(all["pages"].as_u64().unwrap() >= 2, "{all}");

    // Kind + decision: exactly the denied call, as the table shows it.
    let denied = scenario.expect_step("denied").await;
    let row: Vec<String> = serde_json::from_value(denied["rows"][0].clone()).unwrap();
    assert_eq!(
        row[1..6],
        ["tool_call", "alice@example.com", "tools/call delete_everything", "tools", "deny: tool_denied"],
        "{denied}"
    );

    // The action filter: the four calls, newest first (the denied one was last).
    let shown = scenario.expect_step("calls").await;
    let whats: Vec<&str> = shown["rows"].as_array().unwrap().iter().map(|r| r[3].as_str().unwrap()).collect();
    assert_eq!(
        whats,
        ["tools/call delete_everything", "tools/call echo", "tools/call echo", "tools/call echo"]
    );
    let denied_event = calls.iter().find(|e| e["decision"] == "deny").unwrap();
    assert_eq!(&shown["expanded"], denied_event, "the expanded row is the event as the API has it");

    // The export link: the same filter, the same events, as JSON lines.
    let export = scenario.expect_step("export").await;
    assert_eq!(export["href"], "/v1/audit-events/export?action=tools%2Fcall&format=jsonl");
    let exported: Vec<&Value> = export["lines"].as_array().unwrap().iter().map(|e| &e["id"]).collect();
    let api_ids: Vec<Value> =
        all_events(&admin, "action=tools/call").await.iter().map(|e| e["id"].clone()).collect();
    assert_eq!(exported, api_ids.iter().collect::<Vec<_>>());
    assert_eq!(exported.len(), 4);

    // The server's rename: one admin row with its before and after.
    let change = scenario.expect_step("change").await;
    assert_eq!(change["rows"][0][3], "PATCH /v1/servers/{slug}", "{change}");
    assert_eq!(change["rows"][0][2], "platform", "{change}");
    assert_eq!(change["detail"]["after"]["name"], "Renamed tools", "{change}");
    assert_eq!(change["detail"]["before"]["name"], "tools", "{change}");

    // The owner's settings reached the API.
    scenario.expect_step("settings").await;
    let (_, settings) = admin.request(Method::GET, "/v1/audit-settings", None).await;
    assert_eq!(settings["audit_retention_days"], 45, "{settings}");

    // Usage: per tool exactly the calls made; per server what the API counts.
    let usage = scenario.expect_step("usage").await;
    let by_tool = table(&usage, "byTool");
    let expect = |rows: &[[&str; 4]]| -> Vec<Vec<String>> {
        rows.iter().map(|r| r.iter().map(|c| (*c).to_owned()).collect()).collect()
    };
    assert_eq!(by_tool, expect(&[["echo", "3", "0", "0"], ["delete_everything", "1", "0", "1"]]));
    let since =
        (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (status, report) = admin
        .request(Method::GET, &format!("/v1/usage?group_by=server&interval=hour&since={since}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let sum = |field: &str| -> u64 {
        report["usage"].as_array().unwrap().iter().map(|r| r[field].as_u64().unwrap()).sum()
    };
    let (server_calls, server_denials) = (sum("calls"), sum("denials"));
    assert!(server_calls > 4, "initialize and the tool calls: {report}");
    assert_eq!(
        table(&usage, "byServer"),
        vec![vec![
            "tools".to_owned(),
            server_calls.to_string(),
            sum("errors").to_string(),
            server_denials.to_string()
        ]]
    );
    assert_eq!(server_denials, 1);

    let auditor = scenario.expect_step("auditor").await;
    assert_eq!(auditor["rows"], 50);
    let member = scenario.expect_step("member").await;
    assert!(member["refusals"].as_u64().unwrap() >= 1, "{member}");
    scenario.finish().await;
    drop(edge);
}
