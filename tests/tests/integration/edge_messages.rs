//! Edge errors that say what to do: an unknown server is named, near-miss
//! paths under `/mcp` point at the right form, an admin credential presented
//! at the edge is told apart from an unknown gateway token, and a missing
//! `Accept` is answered by the edge, not relayed from the upstream, and an escaped path
//! segment is decoded whichever way the edge routes the request.

use gatehouse_tests::TestStack;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn post(
    stack: &TestStack,
    path: &str,
    token: Option<&str>,
    accept: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", stack.edge.url))
        .json(&json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.json().await.unwrap_or(Value::Null))
}

const MCP_ACCEPT: Option<&str> = Some("application/json, text/event-stream");

#[tokio::test]
async fn edge_errors_say_what_to_do() {
    let stack = TestStack::start().await;
    let admin = stack.cp.admin();
    let upstream = admin.platform_with_tools().await;
    let token = admin.mint_token("dev@example.com", "platform").await.token;
    let (_, key) =
        admin.request(Method::POST, "/v1/api-keys", Some(json!({"name": "ci", "role": "admin"}))).await;
    stack.sync().await;

    let (status, body) = post(&stack, "/mcp/default/nope", Some(&token), MCP_ACCEPT).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["data"]["reason"], "server_not_found", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("\"nope\""), "{body}");

    for path in ["/mcp", "/mcp/", "/mcp/tools/", "/mcp/default/tools/", "/mcp/default/tools/extra"] {
        let (status, body) = post(&stack, path, Some(&token), MCP_ACCEPT).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            body["error"]["message"].as_str().unwrap_or_default().contains("/mcp/{org}/{server_slug}"),
            "{path}: {body}"
        );
    }

    // An org API key, and anything shaped like a generated admin or edge token.
    for admin_credential in [key["key"].as_str().unwrap(), "gha_generated-admin-token", "ghn_some-edge-token"]
    {
        let (status, body) = post(&stack, "/mcp/default/tools", Some(admin_credential), MCP_ACCEPT).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"]["data"]["reason"], "not_a_gateway_token", "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("POST /v1/auth/tokens"), "{body}");
    }
    let (_, unknown) = post(&stack, "/mcp/default/tools", Some("gth_not-a-real-token"), MCP_ACCEPT).await;
    assert_eq!(
        unknown["error"]["data"]["reason"], "invalid_token",
        "an unknown gateway token stays invalid_token"
    );

    let before = upstream.calls.count("echo");
    // No header at all, or reqwest's default `*/*`: the transport wants both named.
    for accept in [None, Some("*/*"), Some("application/json"), Some("text/html")] {
        let (status, body) = post(&stack, "/mcp/default/tools", Some(&token), accept).await;
        assert_eq!(status, StatusCode::NOT_ACCEPTABLE, "{accept:?}: {body}");
        assert_eq!(body["error"]["data"]["reason"], "not_acceptable", "{body}");
        assert_eq!(body["id"], 7, "the error answers the request: {body}");
    }
    assert_eq!(upstream.calls.count("echo"), before);
    let (status, _) =
        post(&stack, "/mcp/default/tools", Some(&token), Some("text/event-stream;q=0.9, application/json"))
            .await;
    assert_eq!(status, StatusCode::OK, "both named, in any order, with parameters");

    // Plain endpoint paths skip the router; a percent-escaped segment still goes through it
    // and is decoded, so both spellings reach the same server.
    for path in
        ["/mcp/default/tools", "/mcp/default/t%6Fols", "/mcp/tools", "/mcp/t%6fols", "/mcp/%64efault/tools"]
    {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", stack.edge.url))
            .json(&json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}))
            .bearer_auth(&token)
            .header("accept", MCP_ACCEPT.unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let text = response.text().await.unwrap();
        assert!(text.contains("\"tools\"") && text.contains("echo"), "{path}: {text}");
    }
    let (status, body) = post(&stack, "/mcp/default/n%6Fpe", Some(&token), MCP_ACCEPT).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"]["message"].as_str().unwrap().contains("\"nope\""), "decoded: {body}");
}
