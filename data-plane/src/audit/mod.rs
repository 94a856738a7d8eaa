//! The edge's audit trail: every MCP request it decides and every credential it
//! refuses becomes one [`RequestOutcome`], built at the one point where the
//! request's outcome is known (the end of the proxy's request path) from the
//! [`RequestFacts`] gathered on the way.
//!
//! The request path only pushes that small struct into a bounded in-memory
//! queue ([`AuditQueue`]: drop-oldest, counted); the shipper task ([`shipper`])
//! encodes batches and ships them over the `AuditSink` stream, keeping each
//! batch until the control plane acknowledges it. The request path never waits
//! for the sink and never fails because the control plane is away.
//!
//! The same record is what rate-limit denials (a deny with reason
//! `rate_limited`) and request metrics can read.

pub mod capture;
mod queue;
pub mod shipper;
mod wire;

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::TraceId;

pub use queue::AuditQueue;

use crate::error::EdgeError;
use crate::identity::caller::{AuthSource, Caller};

/// What an audit event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeKind {
    /// A `tools/call`.
    ToolCall,
    /// Any other MCP request.
    McpRequest,
    /// A presented credential was refused.
    AuthFailure,
}

impl OutcomeKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ToolCall => "tool_call",
            Self::McpRequest => "mcp_request",
            Self::AuthFailure => "auth_failure",
        }
    }
}

/// What the request path learned about a request, filled in as it is decided.
/// Empty (and never allocating) when auditing is off; when on, the org and server are
/// shared with the config and a known method is a constant, so a request costs the copies
/// of its user, workspace and tool only.
#[derive(Debug, Default)]
pub struct RequestFacts {
    enabled: bool,
    org_id: Option<Arc<str>>,
    user: Option<String>,
    identity_source: Option<&'static str>,
    workspace: Option<String>,
    server: Option<Arc<str>>,
    method: Option<Cow<'static, str>>,
    tool: Option<String>,
    trace_id: Option<TraceId>,
    client: Option<IpAddr>,
    request_bytes: u64,
    upstream_status: Option<u16>,
    session_hash: Option<String>,
    forwarded: bool,
    /// Opt-in: the call's recorded arguments.
    arguments: Option<String>,
    /// Opt-in: what to capture of the call's result.
    result_plan: Option<capture::ResultPlan>,
}

impl RequestFacts {
    /// Facts of a request; recorded only when `enabled`.
    pub fn new(enabled: bool) -> Self {
        Self { enabled, ..Self::default() }
    }

    /// The org of the request URL, and the caller's address.
    pub fn target(&mut self, org_id: Option<&Arc<str>>, client: Option<IpAddr>) {
        if self.enabled {
            self.org_id = org_id.cloned();
            self.client = client;
        }
    }

    /// Who called.
    pub fn caller(&mut self, caller: &Caller) {
        if self.enabled {
            self.user = Some(caller.user.clone());
            self.identity_source = Some(identity_source(caller.source));
        }
    }

    /// The server (its slug) and the workspace it is reached through.
    pub fn route(&mut self, server: &Arc<str>, workspace: &str) {
        if self.enabled {
            self.server = Some(Arc::clone(server));
            self.workspace = Some(workspace.to_owned());
        }
    }

    /// The JSON-RPC method (or HTTP method of a GET/DELETE) and, for `tools/call`, the tool.
    pub fn message(&mut self, method: &str, tool: Option<&str>) {
        if self.enabled {
            self.method = Some(method_name(method));
            self.tool = tool.map(str::to_owned);
        }
    }

    /// The request span's trace id, once known.
    pub fn trace(&mut self, trace_id: Option<TraceId>) {
        if self.enabled {
            self.trace_id = trace_id;
        }
    }

    /// Whether the trace id is known (else the outcome's recorder looks it up).
    pub fn has_trace(&self) -> bool {
        self.trace_id.is_some()
    }

    /// The request body size.
    pub fn request_bytes(&mut self, bytes: usize) {
        self.request_bytes = bytes as u64;
    }

    /// The client's `Mcp-Session-Id`, stored only as a hash.
    pub fn session(&mut self, session_id: Option<&[u8]>) {
        if self.enabled {
            self.session_hash =
                session_id.map(|s| crate::elicitation_streams::session_hash(s)[..32].to_owned());
        }
    }

    /// A `tools/call` to a server whose `advanced_config.audit` opted in: its
    /// arguments (from `body`) and what to capture of its result. Only called for such servers.
    pub fn capture(&mut self, settings: gatehouse_config::audit::capture::AuditCapture, body: &[u8]) {
        if self.enabled {
            (self.arguments, self.result_plan) = capture::plan(settings, body);
        }
    }

    /// The request passed every check and goes to the upstream.
    pub fn forwarding(&mut self) {
        self.forwarded = true;
    }

    /// The upstream answered `status`.
    pub fn upstream(&mut self, status: u16) {
        self.upstream_status = Some(status);
    }

    /// The outcome, or `None` when auditing is off or the request names no org of this
    /// edge; with it, what to capture of the result (when the server opted in).
    pub fn finish(
        self,
        error: Option<&EdgeError>,
        latency_ms: u64,
        response_bytes: Option<u64>,
        trace_id: Option<TraceId>,
    ) -> Option<(RequestOutcome, Option<capture::ResultPlan>)> {
        if !self.enabled {
            return None;
        }
        let org_id = self.org_id?;
        let auth_failure = error.is_some_and(is_auth_failure);
        let kind = if auth_failure {
            OutcomeKind::AuthFailure
        } else if self.method.as_deref() == Some("tools/call") {
            OutcomeKind::ToolCall
        } else {
            OutcomeKind::McpRequest
        };
        let outcome = RequestOutcome {
            at_ms: now_ms(),
            kind,
            org_id,
            user: self.user,
            identity_source: self.identity_source,
            workspace: self.workspace,
            server: self.server,
            method: self.method,
            tool: self.tool,
            // Allowed = handed to the upstream; everything the edge answered itself is a denial.
            allowed: self.forwarded,
            reason: error.map(EdgeError::reason),
            jsonrpc_code: error.map(EdgeError::code),
            upstream_status: self.upstream_status,
            latency_ms,
            request_bytes: self.request_bytes,
            response_bytes,
            trace_id: self.trace_id.or(trace_id),
            session_hash: self.session_hash,
            client: self.client,
            arguments: self.arguments,
            result: None,
        };
        // A result is captured only from an upstream's answer, never from the edge's own error.
        let plan = self.result_plan.filter(|_| self.forwarded && error.is_none());
        Some((outcome, plan))
    }
}

/// Credentials that were presented and refused (not a missing one: that is how
/// every OAuth client starts, and no failure).
fn is_auth_failure(error: &EdgeError) -> bool {
    matches!(
        error,
        EdgeError::InvalidToken
            | EdgeError::NotAGatewayToken
            | EdgeError::ExpiredToken
            | EdgeError::CertificateNotMapped
    )
}

fn identity_source(source: AuthSource) -> &'static str {
    match source {
        AuthSource::ExternalJwt | AuthSource::Introspection => "jwt",
        AuthSource::GatewayToken | AuthSource::GatehouseJwt | AuthSource::ClientCertificate => "gatehouse",
    }
}

/// A method name as recorded: the MCP methods (and the HTTP methods of bodiless requests)
/// as constants, anything else copied.
fn method_name(method: &str) -> Cow<'static, str> {
    match crate::metrics::labels::method_label(method) {
        known if known == method => Cow::Borrowed(known),
        _ => match method {
            "GET" => Cow::Borrowed("GET"),
            "DELETE" => Cow::Borrowed("DELETE"),
            other => Cow::Owned(other.to_owned()),
        },
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// One decided request, as recorded: small, owned, encoded only by the shipper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOutcome {
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// What it was.
    pub kind: OutcomeKind,
    /// The org of the request URL.
    pub org_id: Arc<str>,
    /// The caller, once authenticated.
    pub user: Option<String>,
    /// `gatehouse` or `jwt`.
    pub identity_source: Option<&'static str>,
    /// The workspace the server was reached through.
    pub workspace: Option<String>,
    /// The server slug.
    pub server: Option<Arc<str>>,
    /// The JSON-RPC method.
    pub method: Option<Cow<'static, str>>,
    /// The tool of a `tools/call`.
    pub tool: Option<String>,
    /// Whether the request reached the upstream.
    pub allowed: bool,
    /// The edge's error reason (`tool_denied`, `invalid_token`, `rate_limited`, …).
    pub reason: Option<&'static str>,
    /// The JSON-RPC error code the edge answered with.
    pub jsonrpc_code: Option<i32>,
    /// The upstream's HTTP status.
    pub upstream_status: Option<u16>,
    /// Milliseconds to the response head.
    pub latency_ms: u64,
    /// Request body bytes.
    pub request_bytes: u64,
    /// Response body bytes, when declared.
    pub response_bytes: Option<u64>,
    /// W3C trace id.
    pub trace_id: Option<TraceId>,
    /// Shortened SHA-256 of the client's session id.
    pub session_hash: Option<String>,
    /// The caller's address.
    pub client: Option<IpAddr>,
    /// Opt-in: the call's arguments, redacted and cut (JSON text of the record).
    pub arguments: Option<String>,
    /// Opt-in: the call's result, redacted and cut (JSON text of the record).
    pub result: Option<String>,
}

#[cfg(test)]
impl RequestOutcome {
    /// An allowed request of org `o` with nothing else known, for tests to fill in.
    pub(crate) fn for_tests(kind: OutcomeKind) -> Self {
        Self {
            at_ms: 0,
            kind,
            org_id: "o".into(),
            user: None,
            identity_source: None,
            workspace: None,
            server: None,
            method: None,
            tool: None,
            allowed: true,
            reason: None,
            jsonrpc_code: None,
            upstream_status: None,
            latency_ms: 0,
            request_bytes: 0,
            response_bytes: None,
            trace_id: None,
            session_hash: None,
            client: None,
            arguments: None,
            result: None,
        }
    }
}
