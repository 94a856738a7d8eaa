//! End to end with the official Rust MCP SDK on both sides:
//! rmcp client → real edge → real rmcp server, configured through the real
//! control plane's admin API.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gatehouse_tests::upstream::{McpUpstream, SessionMode};
use gatehouse_tests::TestStack;
use rmcp::model::{
    CallToolRequestParams, ClientConfig, ClientRequest, ProgressNotificationParam, ProtocolVersion, Request,
};
use rmcp::service::{NotificationContext, PeerRequestOptions, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt as _};
use serde_json::json;

/// A client that records when each progress notification arrived.
#[derive(Clone)]
struct RecordingClient {
    info: ClientConfig,
    progress: Arc<Mutex<Vec<(Instant, f64)>>>,
}

impl RecordingClient {
    fn new(version: ProtocolVersion) -> Self {
        Self { info: ClientConfig::default().with_protocol_version(version), progress: Default::default() }
    }
}

impl ClientHandler for RecordingClient {
    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }

    async fn on_progress(&self, params: ProgressNotificationParam, _cx: NotificationContext<RoleClient>) {
        self.progress.lock().unwrap().push((Instant::now(), params.progress));
    }
}

async fn connect(
    url: &str,
    token: &str,
    version: ProtocolVersion,
) -> (RunningService<RoleClient, RecordingClient>, RecordingClient) {
    let handler = RecordingClient::new(version);
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url).auth_header(token),
    );
    let client = handler.clone().serve(transport).await.expect("mcp client connects through the edge");
    (client, handler)
}

fn text_of(result: &rmcp::model::CallToolResult) -> String {
    serde_json::to_value(&result.content).unwrap()[0]["text"].as_str().unwrap_or_default().to_owned()
}

/// Registers `upstream` as `slug`, provisions it with `deny`, mints a token.
async fn setup(stack: &TestStack, upstream: &McpUpstream, slug: &str, deny: &[&str]) -> String {
    let admin = stack.cp.admin();
    admin.create_workspace("platform").await;
    admin.create_server(slug, &upstream.url, &[]).await;
    admin.provision("platform", slug, &[], deny).await;
    let token = admin.mint_token("alice@example.com", "platform").await.token;
    stack.sync().await;
    token
}

async fn lists_filters_and_denies(version: ProtocolVersion, mode: SessionMode) {
    let stack = TestStack::start().await;
    let upstream = McpUpstream::start(mode).await;
    let token = setup(&stack, &upstream, "tools", &["delete_*"]).await;
    let (client, _) = connect(&stack.edge.mcp_url("tools"), &token, version).await;

    let mut names: Vec<String> =
        client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(names, ["add", "echo", "slow_progress", "whoami"], "denied tool filtered from tools/list");

    let sum = client
        .call_tool(
            CallToolRequestParams::new("add")
                .with_arguments(json!({"a": 2, "b": 40}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_eq!(text_of(&sum), "42");

    let denied = client.call_tool(CallToolRequestParams::new("delete_everything")).await;
    let err = denied.expect_err("a denied tool call fails");
    assert!(err.to_string().contains("not permitted"), "unexpected error: {err}");
    assert_eq!(upstream.calls.count("delete_everything"), 0, "a denied call never reaches the upstream");
    assert_eq!(upstream.calls.count("add"), 1);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn sdk_client_with_sessions_lists_filtered_tools_and_is_denied_forbidden_ones() {
    lists_filters_and_denies(ProtocolVersion::V_2025_11_25, SessionMode::Stateful).await;
}

#[tokio::test]
async fn sdk_client_on_2025_06_18_works_through_the_edge() {
    lists_filters_and_denies(ProtocolVersion::V_2025_06_18, SessionMode::Stateful).await;
}

#[tokio::test]
async fn sdk_client_on_the_stateless_2026_07_28_revision_works_through_the_edge() {
    lists_filters_and_denies(ProtocolVersion::V_2026_07_28, SessionMode::Stateless).await;
}

#[tokio::test]
async fn long_tool_call_streams_progress_before_the_result() {
    let stack = TestStack::start().await;
    let upstream = McpUpstream::start(SessionMode::Stateful).await;
    let token = setup(&stack, &upstream, "slow", &[]).await;
    let (client, handler) = connect(&stack.edge.mcp_url("slow"), &token, ProtocolVersion::V_2025_11_25).await;

    let args = json!({"steps": 5, "delay_ms": 200}).as_object().unwrap().clone();
    let request = ClientRequest::CallToolRequest(Request::new(
        CallToolRequestParams::new("slow_progress").with_arguments(args),
    ));
    let handle = client.send_cancellable_request(request, PeerRequestOptions::no_options()).await.unwrap();
    let response = handle.await_response().await.unwrap();
    let done = Instant::now();
    assert!(format!("{response:?}").contains("done after 5 steps"), "unexpected response {response:?}");

    let progress = handler.progress.lock().unwrap().clone();
    assert_eq!(progress.iter().map(|p| p.1).collect::<Vec<_>>(), [1.0, 2.0, 3.0, 4.0, 5.0]);
    // Had the edge buffered the SSE response, every notification would arrive
    // together with the result; streamed, the first one is ~1 s ahead of it.
    let lead = done.duration_since(progress[0].0);
    assert!(lead >= Duration::from_millis(600), "first progress only {lead:?} before the result: buffered?");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn upstream_sees_injected_credentials_not_the_callers() {
    let stack = TestStack::start().await;
    let upstream = McpUpstream::start(SessionMode::Stateful).await;
    let admin = stack.cp.admin();
    admin.create_workspace("platform").await;
    admin.create_server("who", &upstream.url, &[("x-upstream-key", "upstream-secret-value-123")]).await;
    admin.provision("platform", "who", &[], &[]).await;
    let token = admin.mint_token("alice@example.com", "platform").await.token;
    stack.sync().await;

    let (client, _) = connect(&stack.edge.mcp_url("who"), &token, ProtocolVersion::V_2025_11_25).await;
    let result = client.call_tool(CallToolRequestParams::new("whoami")).await.unwrap();
    let headers: serde_json::Value = serde_json::from_str(&text_of(&result)).unwrap();
    assert_eq!(headers["x-upstream-key"], "upstream-secret-value-123");
    assert!(
        headers.get("authorization").is_none(),
        "the gateway token must not reach the upstream: {headers}"
    );
    assert!(!headers.to_string().contains(&token));
    let upstream_authority = upstream.url.trim_start_matches("http://").trim_end_matches("/mcp");
    assert_eq!(headers["host"], upstream_authority, "upstream Host is the upstream's own");
    assert!(
        headers["traceparent"].as_str().is_some_and(|t| t.starts_with("00-")),
        "traceparent propagated: {headers}"
    );
    client.cancel().await.unwrap();
}
