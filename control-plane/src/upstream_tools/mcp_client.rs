//! A minimal MCP client over Streamable HTTP, for the control plane's own
//! calls: the console's tool list (to an upstream, through the SSRF guard) and
//! "Try a tool" (to an edge). One session: `initialize`,
//! `notifications/initialized`, requests, then `DELETE` when the server gave a
//! session id. Answers may be JSON or an SSE stream (read only until the
//! response to the request arrives); protocol revisions 2025-11-25 and
//! 2025-06-18.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::Method;
use secrecy::ExposeSecret as _;
use serde_json::{json, Value};
use url::Url;

use crate::upstream_oauth::ssrf::{BlockedAddress, GuardedClient};

/// The protocol revisions the client speaks, newest first (the first is offered).
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18"];
const SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
const PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// The most a response (JSON body or SSE stream until the answer) may hold.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// The most of a failed response's body read for its JSON-RPC error.
const MAX_ERROR_BYTES: usize = 64 * 1024;
/// How many `tools/list` pages are followed before giving up on a cursor loop.
const MAX_PAGES: usize = 100;
/// How long a session's `DELETE` may take (best effort).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a call failed. Messages never hold credentials: transport errors drop
/// the URL, and the injected header values are scrubbed from what a server says.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The address is not one Gatehouse may reach.
    #[error("refusing to contact it: {0}")]
    Blocked(#[from] BlockedAddress),
    /// No HTTP answer.
    #[error("it could not be reached: {0}")]
    Transport(String),
    /// An HTTP error status without a JSON-RPC error.
    #[error("it answered HTTP {0}")]
    Status(u16),
    /// A JSON-RPC error.
    #[error("it answered JSON-RPC error {code}: {message}")]
    Rpc {
        /// The JSON-RPC error code.
        code: i64,
        /// Its message (scrubbed, shortened).
        message: String,
        /// HTTP status it came with.
        status: u16,
        /// The error's `data`, when it is small.
        data: Option<Value>,
    },
    /// Not MCP as Gatehouse speaks it.
    #[error("{0}")]
    Protocol(String),
}

/// The HTTP client a session uses: the SSRF-guarded one for upstreams, a plain
/// one for the operator's own edges.
#[derive(Debug, Clone)]
pub enum McpHttp {
    /// Upstream servers: admin-set URLs, through `upstream_oauth::ssrf`.
    Guarded(GuardedClient),
    /// The edges' public URL, set by the operator.
    Plain(reqwest::Client),
}

impl McpHttp {
    fn request(&self, method: Method, url: &Url) -> Result<reqwest::RequestBuilder, McpError> {
        match self {
            McpHttp::Guarded(client) => Ok(client.request(method, url)?),
            McpHttp::Plain(client) => Ok(client.request(method, url.clone())),
        }
    }
}

/// Headers a session sends with every request (credentials), kept apart so
/// their values can be scrubbed from error messages.
#[derive(Clone, Default)]
pub struct InjectedHeaders(pub HeaderMap);

impl std::fmt::Debug for InjectedHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl InjectedHeaders {
    /// Adds a secret header (marked sensitive, so HTTP debug output hides it).
    pub fn insert_secret(&mut self, name: HeaderName, value: &secrecy::SecretString) -> Result<(), McpError> {
        let mut value = HeaderValue::from_str(value.expose_secret()).map_err(|_| {
            McpError::Protocol(format!("the value of header {name} is not a valid header value"))
        })?;
        value.set_sensitive(true);
        self.0.insert(name, value);
        Ok(())
    }

    /// `text` with every injected value replaced.
    fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for value in self.0.values() {
            if let Ok(v) = value.to_str() {
                let secret = v.strip_prefix("Bearer ").unwrap_or(v);
                if secret.len() >= 4 {
                    out = out.replace(secret, "[redacted]");
                }
            }
        }
        out
    }
}

/// An open MCP session.
pub struct McpSession {
    http: McpHttp,
    url: Url,
    injected: InjectedHeaders,
    session_id: Option<HeaderValue>,
    protocol_version: &'static str,
    next_id: i64,
}

impl McpSession {
    /// Initializes a session with the server at `url`, sending `injected` with every request.
    pub async fn open(http: McpHttp, url: Url, injected: InjectedHeaders) -> Result<Self, McpError> {
        let mut session = Self {
            http,
            url,
            injected,
            session_id: None,
            protocol_version: PROTOCOL_VERSIONS[0],
            next_id: 0,
        };
        let params = json!({
            "protocolVersion": PROTOCOL_VERSIONS[0],
            "capabilities": {},
            "clientInfo": {"name": "gatehouse-control-plane", "version": env!("CARGO_PKG_VERSION")},
        });
        let result = session.request_inner("initialize", params, true).await?;
        let version = result.get("protocolVersion").and_then(Value::as_str).unwrap_or_default();
        session.protocol_version =
            PROTOCOL_VERSIONS.iter().copied().find(|v| *v == version).ok_or_else(|| {
                McpError::Protocol(format!(
                    "it speaks MCP protocol version {version:?}; Gatehouse's own client speaks {}",
                    PROTOCOL_VERSIONS.join(" and ")
                ))
            })?;
        session.notify("notifications/initialized").await?;
        Ok(session)
    }

    /// Every tool, following `nextCursor`.
    pub async fn list_tools(&mut self) -> Result<Vec<Value>, McpError> {
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let page = self.request("tools/list", params).await?;
            match page.get("tools") {
                Some(Value::Array(list)) => tools.extend(list.iter().cloned()),
                _ => return Err(McpError::Protocol("its tools/list result has no tools array".into())),
            }
            cursor =
                page.get("nextCursor").and_then(Value::as_str).filter(|c| !c.is_empty()).map(str::to_owned);
            if cursor.is_none() {
                return Ok(tools);
            }
        }
        Err(McpError::Protocol(format!("its tools/list has more than {MAX_PAGES} pages")))
    }

    /// Calls `tool` with `arguments`; the `tools/call` result.
    pub async fn call_tool(&mut self, tool: &str, arguments: Value) -> Result<Value, McpError> {
        self.request("tools/call", json!({"name": tool, "arguments": arguments})).await
    }

    /// Ends the session (`DELETE` with its id; best effort, errors ignored).
    pub async fn close(self) {
        let Some(id) = self.session_id.clone() else { return };
        let Ok(request) = self.http.request(Method::DELETE, &self.url) else { return };
        let request = request
            .headers(self.injected.0.clone())
            .header(SESSION_ID, id)
            .header(PROTOCOL_VERSION, self.protocol_version);
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, request.send()).await;
    }

    async fn request(&mut self, method: &str, params: Value) -> Result<Value, McpError> {
        self.request_inner(method, params, false).await
    }

    async fn notify(&mut self, method: &str) -> Result<(), McpError> {
        let body = json!({"jsonrpc": "2.0", "method": method});
        let response = self.post(&body, false).await?;
        let status = response.status();
        if !status.is_success() {
            return Err(self.failure(response).await);
        }
        Ok(())
    }

    async fn request_inner(
        &mut self,
        method: &str,
        params: Value,
        initialize: bool,
    ) -> Result<Value, McpError> {
        self.next_id += 1;
        let id = self.next_id;
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let response = self.post(&body, !initialize).await?;
        if !response.status().is_success() {
            return Err(self.failure(response).await);
        }
        if initialize {
            self.session_id = response.headers().get(SESSION_ID).cloned();
        }
        let sse = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/event-stream"));
        let message =
            if sse { self.read_sse(response, id).await? } else { self.read_json(response, id).await? };
        self.outcome(message, 200)
    }

    async fn post(&self, body: &Value, with_version: bool) -> Result<reqwest::Response, McpError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json, text/event-stream"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if with_version {
            headers.insert(PROTOCOL_VERSION, HeaderValue::from_static(self.protocol_version));
        }
        if let Some(id) = &self.session_id {
            headers.insert(SESSION_ID, id.clone());
        }
        // The injected headers win, as on the edge (static headers, then the credential).
        for (name, value) in &self.injected.0 {
            headers.insert(name, value.clone());
        }
        let request = self.http.request(Method::POST, &self.url)?.headers(headers);
        request.body(serde_json::to_vec(body).expect("JSON values serialise")).send().await.map_err(transport)
    }

    /// The error a non-2xx response stands for: its JSON-RPC error, else its status.
    async fn failure(&self, mut response: reqwest::Response) -> McpError {
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while body.len() < MAX_ERROR_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
        match serde_json::from_slice::<Value>(&body) {
            Ok(message) if message.get("error").is_some() => match self.outcome(message, status) {
                Err(error) => error,
                Ok(_) => McpError::Status(status),
            },
            _ => McpError::Status(status),
        }
    }

    async fn read_json(&self, mut response: reqwest::Response, id: i64) -> Result<Value, McpError> {
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_RESPONSE_BYTES {
                return Err(too_large());
            }
        }
        let value: Value =
            serde_json::from_slice(&body).map_err(|_| McpError::Protocol("its answer is not JSON".into()))?;
        // A batch answer is allowed by 2025-03-26; take the one for this request.
        let candidates = match value {
            Value::Array(items) => items,
            other => vec![other],
        };
        candidates
            .into_iter()
            .find(|m| answers(m, id))
            .ok_or_else(|| McpError::Protocol("its answer is not a JSON-RPC response to the request".into()))
    }

    /// Reads SSE events until the response to `id`; notifications and requests of
    /// the server on the way are skipped.
    async fn read_sse(&self, mut response: reqwest::Response, id: i64) -> Result<Value, McpError> {
        let mut buffer: Vec<u8> = Vec::new();
        let mut data = String::new();
        let mut read = 0usize;
        loop {
            while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches(['\n', '\r']);
                if line.is_empty() {
                    if !data.is_empty() {
                        if let Ok(message) = serde_json::from_str::<Value>(&data) {
                            if answers(&message, id) {
                                return Ok(message);
                            }
                        }
                        data.clear();
                    }
                } else if let Some(value) = line.strip_prefix("data:") {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(value.strip_prefix(' ').unwrap_or(value));
                }
            }
            match response.chunk().await.map_err(transport)? {
                Some(chunk) => {
                    read += chunk.len();
                    if read > MAX_RESPONSE_BYTES {
                        return Err(too_large());
                    }
                    buffer.extend_from_slice(&chunk);
                }
                None => {
                    // A last event without its blank line still counts.
                    if let Ok(message) = serde_json::from_str::<Value>(&data) {
                        if answers(&message, id) {
                            return Ok(message);
                        }
                    }
                    return Err(McpError::Protocol("its event stream ended without the response".into()));
                }
            }
        }
    }

    /// A JSON-RPC response as its result, or its error.
    fn outcome(&self, message: Value, status: u16) -> Result<Value, McpError> {
        if let Some(error) = message.get("error") {
            let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
            let text = error.get("message").and_then(Value::as_str).unwrap_or("(no message)");
            let text: String =
                self.injected.scrub(text).chars().filter(|c| !c.is_control()).take(500).collect();
            let data = error
                .get("data")
                .filter(|d| d.to_string().len() <= 4096)
                .map(|d| serde_json::from_str(&self.injected.scrub(&d.to_string())).unwrap_or(Value::Null));
            return Err(McpError::Rpc { code, message: text, status, data });
        }
        message
            .get("result")
            .cloned()
            .ok_or_else(|| McpError::Protocol("its response has neither result nor error".into()))
    }
}

/// Whether `message` is the response to request `id`.
fn answers(message: &Value, id: i64) -> bool {
    message.get("id").and_then(Value::as_i64) == Some(id)
        && (message.get("result").is_some() || message.get("error").is_some())
}

fn transport(error: reqwest::Error) -> McpError {
    let kind = if error.is_timeout() { "timed out" } else { "request failed" };
    McpError::Transport(format!("{kind}: {}", error.without_url()))
}

fn too_large() -> McpError {
    McpError::Protocol(format!("its answer is larger than {} MiB", MAX_RESPONSE_BYTES / (1024 * 1024)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_response_to_the_request_answers_it() {
        assert!(answers(&json!({"jsonrpc": "2.0", "id": 3, "result": {}}), 3));
        assert!(answers(&json!({"jsonrpc": "2.0", "id": 3, "error": {"code": 1}}), 3));
        assert!(!answers(&json!({"jsonrpc": "2.0", "id": 2, "result": {}}), 3));
        assert!(!answers(&json!({"jsonrpc": "2.0", "method": "notifications/progress"}), 3));
        assert!(!answers(&json!({"jsonrpc": "2.0", "id": 3, "method": "elicitation/create"}), 3));
    }

    #[test]
    fn injected_values_are_scrubbed_from_what_a_server_says() {
        let mut injected = InjectedHeaders::default();
        injected
            .insert_secret(
                HeaderName::from_static("authorization"),
                &"Bearer sk-live-123456".to_owned().into(),
            )
            .unwrap();
        injected
            .insert_secret(HeaderName::from_static("x-api-key"), &"key-abcdef".to_owned().into())
            .unwrap();
        assert_eq!(
            injected.scrub("bad token sk-live-123456 and key-abcdef"),
            "bad token [redacted] and [redacted]"
        );
        assert!(!format!("{injected:?}").contains("sk-live"));
    }
}
