//! `/metrics` of both planes, scraped with a Prometheus text parser after known traffic:
//! allowed and denied tool calls through a real edge to a real rmcp upstream, requests
//! without a valid credential, an unknown server, and admin API calls (one through an
//! `/v1/orgs/{org}` prefix, one unmatched). Every counter the traffic touches is checked
//! for its exact value, and histograms for their exact counts.

use std::time::Duration;

use gatehouse_tests::metrics::{find, histogram_count, scrape, total, value};
use gatehouse_tests::upstream::{McpUpstream, SessionMode};
use gatehouse_tests::{eventually, TestStack};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn call(id: u32, tool: &str) -> serde_json::Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": {"text": "hi"}}})
}

/// POSTs `body` to `url` (with `token` when given), reads the whole body, returns the status.
async fn post(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &serde_json::Value,
) -> StatusCode {
    let mut request = http.post(url).header("accept", "application/json, text/event-stream").json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("POST to the edge");
    let status = response.status();
    response.bytes().await.expect("the whole response body");
    status
}

#[tokio::test]
async fn metrics_count_known_traffic_on_both_planes() {
    let stack = TestStack::start().await;
    let upstream = McpUpstream::start(SessionMode::Stateless).await;
    let admin = stack.cp.admin();
    admin.create_workspace("platform").await;
    admin.create_server("tools", &upstream.url, &[]).await;
    admin.provision("platform", "tools", &[], &["add"]).await;
    let token = admin.mint_token("alice@example.com", "platform").await.token;
    stack.sync().await;

    let http = reqwest::Client::new();
    let url = format!("{}/mcp/default/tools", stack.edge.url);
    for id in 0..3 {
        assert_eq!(post(&http, &url, Some(&token), &call(id, "echo")).await, StatusCode::OK);
    }
    for id in 10..12 {
        // Denied by the provision's deny list: a JSON-RPC error in a 200, never forwarded.
        assert_eq!(post(&http, &url, Some(&token), &call(id, "add")).await, StatusCode::OK);
    }
    let list = json!({"jsonrpc": "2.0", "id": 20, "method": "tools/list"});
    assert_eq!(post(&http, &url, Some(&token), &list).await, StatusCode::OK);
    assert_eq!(post(&http, &url, None, &call(30, "echo")).await, StatusCode::UNAUTHORIZED);
    let forged = "gth_0000000000000000000000000000000000000000000000";
    assert_eq!(post(&http, &url, Some(forged), &call(31, "echo")).await, StatusCode::UNAUTHORIZED);
    let nowhere = format!("{}/mcp/default/nowhere", stack.edge.url);
    assert_eq!(post(&http, &nowhere, Some(&token), &call(40, "echo")).await, StatusCode::NOT_FOUND);
    assert_eq!(upstream.calls.count("echo"), 3, "only the allowed calls reached the upstream");
    assert_eq!(upstream.calls.count("add"), 0);

    // Streams end when their bodies are read; the gauge follows once the edge drops them.
    let edge = eventually(Duration::from_secs(5), "every event stream to be closed", || async {
        let scrape = scrape(&stack.edge.metrics_url).await;
        (value(&scrape, "gatehouse_sse_streams_open", &[]) == 0.0).then_some(scrape)
    })
    .await;

    let requests = "gatehouse_mcp_requests_total";
    let series = |method, decision, status| {
        [
            ("org", "default"),
            ("server", "tools"),
            ("method", method),
            ("decision", decision),
            ("status", status),
        ]
    };
    assert_eq!(value(&edge, requests, &series("tools/call", "allow", "200")), 3.0);
    assert_eq!(value(&edge, requests, &series("tools/call", "deny", "200")), 2.0);
    assert_eq!(value(&edge, requests, &series("tools/list", "allow", "200")), 1.0);
    // Refused before the body was read: the method is the HTTP one.
    assert_eq!(value(&edge, requests, &series("POST", "deny", "401")), 2.0);
    let unknown_server = [
        ("org", "default"),
        ("server", "unknown"),
        ("method", "POST"),
        ("decision", "deny"),
        ("status", "404"),
    ];
    assert_eq!(value(&edge, requests, &unknown_server), 1.0);
    assert_eq!(total(&edge, requests), 9.0, "no other series");

    let tools = "gatehouse_tool_calls_total";
    let tool =
        |name, decision| [("org", "default"), ("server", "tools"), ("tool", name), ("decision", decision)];
    assert_eq!(value(&edge, tools, &tool("echo", "allow")), 3.0);
    assert_eq!(value(&edge, tools, &tool("add", "deny")), 2.0);
    assert_eq!(total(&edge, tools), 5.0);

    let failures = "gatehouse_auth_failures_total";
    assert_eq!(value(&edge, failures, &[("reason", "missing_token")]), 1.0);
    assert_eq!(value(&edge, failures, &[("reason", "invalid_token")]), 1.0);
    assert_eq!(total(&edge, failures), 2.0);

    let server = [("org", "default"), ("server", "tools")];
    assert_eq!(histogram_count(&edge, "gatehouse_mcp_request_duration_seconds", &server), 8.0);
    assert_eq!(histogram_count(&edge, "gatehouse_upstream_request_duration_seconds", &server), 4.0);
    assert_eq!(total(&edge, "gatehouse_rate_limited_total"), 0.0);
    // No Redis configured: no Redis status, and nothing fell back.
    assert!(find(&edge, "gatehouse_redis_up", &[]).is_empty());
    assert_eq!(value(&edge, "gatehouse_redis_fallbacks_total", &[("component", "rate_limit")]), 0.0);

    let version = admin.config_version().await;
    assert_eq!(value(&edge, "gatehouse_config_version", &[]), version as f64);
    let age = value(&edge, "gatehouse_config_age_seconds", &[]);
    assert!((0.0..60.0).contains(&age), "config age {age}");

    // The control plane: admin API requests by route template, one through the org prefix.
    let (status, _) = admin.request(Method::GET, "/v1/orgs/default/servers", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = admin.request(Method::GET, "/v1/servers", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = admin.request(Method::GET, "/v1/no-such-route", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let cp = eventually(Duration::from_secs(5), "the edge to acknowledge the last version", || async {
        let scrape = scrape(&stack.cp.metrics_url).await;
        let lag = [("node", stack.edge.node_id.as_str())];
        (value(&scrape, "gatehouse_control_plane_edge_lag_versions", &lag) == 0.0).then_some(scrape)
    })
    .await;
    let api = "gatehouse_api_requests_total";
    let route = |route, method, status| [("route", route), ("method", method), ("status", status)];
    assert_eq!(
        value(&cp, api, &route("/v1/servers", "GET", "200")),
        2.0,
        "the org prefix is not a route of its own"
    );
    assert_eq!(value(&cp, api, &route("/v1/servers", "POST", "201")), 1.0);
    assert_eq!(value(&cp, api, &route("/v1/workspaces", "POST", "201")), 1.0);
    assert_eq!(value(&cp, api, &route("unmatched", "GET", "404")), 1.0);
    let org_slug_in_a_route = cp
        .samples
        .iter()
        .filter(|s| s.metric == api)
        .any(|s| s.labels.get("route").is_some_and(|r| r.contains("default")));
    assert!(!org_slug_in_a_route, "routes are templates, never paths");

    assert_eq!(value(&cp, "gatehouse_control_plane_config_version", &[]), version as f64);
    assert_eq!(value(&cp, "gatehouse_control_plane_edges_connected", &[]), 1.0);
    // One publish per admin change at least (publishes may coalesce commits): workspace,
    // server, provision, token.
    let publishes = histogram_count(&cp, "gatehouse_control_plane_publish_duration_seconds", &[]);
    assert!((1.0..=4.0).contains(&publishes), "{publishes} publishes");
    // One audit row per admin change, written in the change's transaction.
    assert_eq!(value(&cp, "gatehouse_audit_events_written_total", &[("source", "admin")]), 4.0);
}

#[tokio::test]
async fn metrics_listeners_serve_only_metrics() {
    let stack = TestStack::start().await;
    for base in [&stack.edge.metrics_url, &stack.cp.metrics_url] {
        let other = base.replace("/metrics", "/v1/servers");
        let response = reqwest::get(&other).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{other}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{body}");
    }
    // And the public listeners do not serve metrics.
    let edge = reqwest::get(format!("{}/metrics", stack.edge.url)).await.unwrap();
    assert_ne!(edge.status(), StatusCode::OK);
    let api = reqwest::get(format!("{}/metrics", stack.cp.api_url)).await.unwrap();
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
}

#[test]
fn metrics_grafana_dashboard_is_valid_json_with_a_panel_per_family() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/grafana/gatehouse-dashboard.json");
    let text = std::fs::read_to_string(path).expect("the dashboard file");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(str::to_owned))
        .collect();
    for family in [
        "gatehouse_mcp_requests_total",
        "gatehouse_tool_calls_total",
        "gatehouse_mcp_request_duration_seconds",
        "gatehouse_upstream_request_duration_seconds",
        "gatehouse_auth_failures_total",
        "gatehouse_rate_limited_total",
        "gatehouse_token_cache_hits_total",
        "gatehouse_token_cache_misses_total",
        "gatehouse_token_refreshes_total",
        "gatehouse_redis_up",
        "gatehouse_redis_fallbacks_total",
        "gatehouse_config_version",
        "gatehouse_config_age_seconds",
        "gatehouse_audit_events_shipped_total",
        "gatehouse_audit_events_dropped_total",
        "gatehouse_sse_streams_open",
        "gatehouse_control_plane_config_version",
        "gatehouse_control_plane_edges_connected",
        "gatehouse_control_plane_edge_lag_versions",
        "gatehouse_control_plane_publish_duration_seconds",
        "gatehouse_api_requests_total",
        "gatehouse_audit_events_written_total",
    ] {
        assert!(exprs.iter().any(|e| e.contains(family)), "no panel queries {family}");
    }
    let variables: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .expect("template variables")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert!(variables.contains(&"org") && variables.contains(&"server"), "{variables:?}");
}
