//! Real upstream MCP servers for tests, built with the official Rust SDK
//! (rmcp) and served over Streamable HTTP on 127.0.0.1:0.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::serve::ListenerExt as _;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ProgressNotificationParam, RequestMetaObject, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{schemars, tool, tool_handler, tool_router, ErrorData, Peer, RoleServer, ServerHandler};
use tokio_util::sync::CancellationToken;

/// How the upstream handles sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionMode {
    /// Classic sessions: `initialize` returns an `Mcp-Session-Id`.
    Stateful,
    /// No sessions: every request stands alone (as in the 2026-07-28 revision).
    Stateless,
}

/// One tool call: the tool's name and the HTTP request headers it came with.
type RecordedCall = (String, BTreeMap<String, String>);

/// Every tool call the upstream received.
#[derive(Debug, Default, Clone)]
pub struct CallLog(Arc<Mutex<Vec<RecordedCall>>>);

impl CallLog {
    /// How many times `tool` was called.
    pub fn count(&self, tool: &str) -> usize {
        self.0.lock().unwrap().iter().filter(|(t, _)| t == tool).count()
    }

    /// Headers of the most recent call to `tool`.
    pub fn last_headers(&self, tool: &str) -> Option<BTreeMap<String, String>> {
        self.0.lock().unwrap().iter().rev().find(|(t, _)| t == tool).map(|(_, h)| h.clone())
    }

    fn record(&self, tool: &str, parts: &http::request::Parts) {
        self.0.lock().unwrap().push((tool.to_owned(), header_map(parts)));
    }
}

fn header_map(parts: &http::request::Parts) -> BTreeMap<String, String> {
    parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect()
}

/// Arguments of `echo`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct EchoArgs {
    /// Text to send back.
    pub text: String,
}

/// Arguments of `add`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct AddArgs {
    /// Left operand.
    pub a: i64,
    /// Right operand.
    pub b: i64,
}

/// Arguments of `slow_progress`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct ProgressArgs {
    /// Number of progress notifications to send.
    pub steps: u32,
    /// Pause between notifications, in milliseconds.
    pub delay_ms: u64,
}

/// The test server's tools: `echo`, `add`, `whoami`, `slow_progress`, `delete_everything`.
#[derive(Clone)]
pub struct TestTools {
    calls: CallLog,
    #[allow(dead_code)]
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl TestTools {
    /// Creates the tool set, recording calls in `calls`.
    pub fn new(calls: CallLog) -> Self {
        Self { calls, tool_router: Self::tool_router() }
    }

    #[tool(description = "Echo the text back")]
    async fn echo(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(args): Parameters<EchoArgs>,
    ) -> String {
        self.calls.record("echo", &parts);
        args.text
    }

    #[tool(description = "Add two integers")]
    async fn add(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(args): Parameters<AddArgs>,
    ) -> String {
        self.calls.record("add", &parts);
        (args.a + args.b).to_string()
    }

    #[tool(description = "Return the HTTP request headers the server received, as JSON")]
    async fn whoami(&self, Extension(parts): Extension<http::request::Parts>) -> String {
        self.calls.record("whoami", &parts);
        serde_json::to_string(&header_map(&parts)).unwrap()
    }

    #[tool(description = "Send `steps` progress notifications, `delay_ms` apart, then finish")]
    async fn slow_progress(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        meta: RequestMetaObject,
        client: Peer<RoleServer>,
        Parameters(args): Parameters<ProgressArgs>,
    ) -> Result<String, ErrorData> {
        self.calls.record("slow_progress", &parts);
        let token = meta
            .get_progress_token()
            .ok_or_else(|| ErrorData::invalid_params("a progress token is required", None))?;
        for step in 1..=args.steps {
            client
                .notify_progress(
                    ProgressNotificationParam::new(token.clone(), f64::from(step))
                        .with_total(f64::from(args.steps))
                        .with_message(format!("step {step}")),
                )
                .await
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
            tokio::time::sleep(Duration::from_millis(args.delay_ms)).await;
        }
        Ok(format!("done after {} steps", args.steps))
    }

    #[tool(description = "A dangerous tool that policies should deny")]
    async fn delete_everything(&self, Extension(parts): Extension<http::request::Parts>) -> String {
        self.calls.record("delete_everything", &parts);
        "everything deleted".to_owned()
    }
}

#[tool_handler]
impl ServerHandler for TestTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions("Gatehouse test server")
    }
}

/// Every HTTP request an upstream received: its method and its headers.
#[derive(Debug, Default, Clone)]
pub struct RequestLog(Arc<Mutex<Vec<RecordedRequest>>>);

/// One HTTP request: its method and headers.
type RecordedRequest = (String, BTreeMap<String, String>);

impl RequestLog {
    /// The HTTP methods and headers of every request, in order.
    pub fn all(&self) -> Vec<RecordedRequest> {
        self.0.lock().unwrap().clone()
    }
}

/// How a test upstream answers: sessions, JSON or SSE, and a header it requires.
#[derive(Debug, Clone)]
pub struct UpstreamOptions {
    /// Sessions or none.
    pub mode: SessionMode,
    /// Answer requests with `application/json` instead of an SSE stream (stateless only).
    pub json_response: bool,
    /// A header (name, value) every request must carry, else 401.
    pub required_header: Option<(String, String)>,
}

/// A running upstream MCP server; stops when dropped.
pub struct McpUpstream {
    /// The MCP endpoint, `http://127.0.0.1:<port>/mcp`.
    pub url: String,
    /// Every tool call it received.
    pub calls: CallLog,
    /// Every HTTP request it received.
    pub requests: RequestLog,
    cancel: CancellationToken,
}

impl McpUpstream {
    /// Starts a server with the [`TestTools`] on a fresh port.
    pub async fn start(mode: SessionMode) -> Self {
        Self::start_with(UpstreamOptions { mode, json_response: false, required_header: None }).await
    }

    /// Starts a server with the [`TestTools`] on a fresh port, answering as `options` say.
    pub async fn start_with(options: UpstreamOptions) -> Self {
        let mode = options.mode;
        let calls = CallLog::default();
        let requests = RequestLog::default();
        let cancel = CancellationToken::new();
        let log = requests.clone();
        let required = options.required_header.clone();
        let guard = axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let log = log.clone();
                let required = required.clone();
                async move {
                    let headers = request
                        .headers()
                        .iter()
                        .map(|(k, v)| {
                            (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned())
                        })
                        .collect::<BTreeMap<_, _>>();
                    let refused =
                        required.as_ref().is_some_and(|(name, value)| headers.get(name) != Some(value));
                    log.0.lock().unwrap().push((request.method().to_string(), headers));
                    if refused {
                        return axum::response::IntoResponse::into_response((
                            http::StatusCode::UNAUTHORIZED,
                            "missing credential",
                        ));
                    }
                    next.run(request).await
                }
            },
        );
        let router = mcp_router(mode, options.json_response, calls.clone(), &cancel).layer(guard);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Without TCP_NODELAY small responses wait on delayed ACKs (~40 ms),
        // which would swamp what the edge benchmark measures.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let stop = cancel.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).with_graceful_shutdown(stop.cancelled_owned()).await;
        });
        Self { url: format!("http://{addr}/mcp"), calls, requests, cancel }
    }
}

/// The [`TestTools`] as a Streamable HTTP endpoint at `/mcp`, recording calls in `calls`
/// (answers as JSON instead of SSE streams when `json_response`).
pub fn mcp_router(
    mode: SessionMode,
    json_response: bool,
    calls: CallLog,
    cancel: &CancellationToken,
) -> axum::Router {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(mode == SessionMode::Stateful)
        .with_json_response(json_response)
        .with_sse_keep_alive(None)
        .with_cancellation_token(cancel.child_token());
    let tools = TestTools::new(calls);
    let service: StreamableHttpService<TestTools, LocalSessionManager> =
        StreamableHttpService::new(move || Ok(tools.clone()), Default::default(), config);
    axum::Router::new().nest_service("/mcp", service)
}

impl Drop for McpUpstream {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
