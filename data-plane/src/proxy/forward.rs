//! The request path: decide from memory, then hand the request to the upstream.
//!
//! Order (ARCHITECTURE.md "Edge request order"): method (405) → config loaded
//! (503) → `Origin` (403) → token (401) → token scope (403) → server in the token's org (404) → provisioned and
//! permitted (403) → body size (413) → JSON-RPC peek (400) → mirrored headers
//! (400) → method within the token's scopes (403, `crate::scopes`) → tool policy
//! (JSON-RPC error, never forwarded) → session binding
//! (404) → upstream auth type (502) → rate limits and budgets (`limits`: a JSON-RPC
//! error for `tools/call`, else 429) → upstream credential → upstream (`upstream`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::response::Response;
use bytes::Bytes;
use gatehouse_config::identity::allowed_origins;
use gatehouse_config::mcp_path::McpPath;
use gatehouse_config::token_hash;
use http::header::{CONTENT_LENGTH, ORIGIN};
use http::{HeaderMap, HeaderValue, Method};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde_json::value::RawValue;
use tracing::{Instrument as _, Span};

use super::headers::{self, UpstreamHeaderSources, MCP_SESSION_ID};
use super::session::{SessionBinder, SessionBinding};
use super::state::{Inner, ProxyState};
use super::tools_filter::ToolsListFilter;
use super::{prm, request_metadata, response, sse_notify, trace, upstream};
use crate::audit::RequestFacts as AuditFacts;
use crate::auth;
use crate::config_view::{ConfigView, UpstreamAuth};
use crate::elicitation_streams::{session_hash, StreamKey};
use crate::error::EdgeError;
use crate::identity;
use crate::jsonrpc::{self, Field, PeekError};
use crate::limits::{RateLimitOutcome, RequestFacts};
use crate::metrics::{EdgeMetrics, RedisComponent, RequestRecord};
use crate::policy::ToolPolicy;
use crate::scopes::McpAccess;
use crate::tls::TlsSession;

/// An error answer plus the request id to echo, once known.
struct Rejection {
    error: EdgeError,
    id: Option<Box<RawValue>>,
}

impl From<EdgeError> for Rejection {
    fn from(error: EdgeError) -> Self {
        Self { error, id: None }
    }
}

/// The request path's future, on the heap from the start: it is several kilobytes, and
/// the router's layers move the future they are handed (a copy each) before polling it.
pub type Handled = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;

/// Axum handler for every method on `/mcp/{org}/{slug}`.
pub(super) fn handle(
    State(state): State<ProxyState>,
    Path((org, slug)): Path<(String, String)>,
    request: Request,
) -> Handled {
    handled(state, McpPath::qualified(&org, &slug), request)
}

/// Axum handler for every method on `/mcp/{slug}`: the default org's servers only.
pub(super) fn handle_legacy(
    State(state): State<ProxyState>,
    Path(slug): Path<String>,
    request: Request,
) -> Handled {
    handled(state, McpPath::legacy(&slug), request)
}

/// The request path for `path`, whether the router found it or the server parsed it
/// (`super::serve_direct`).
pub(super) fn handled(state: ProxyState, path: McpPath, request: Request) -> Handled {
    Box::pin(handle_path(state, path, request))
}

async fn handle_path(state: ProxyState, path: McpPath, request: Request) -> Response {
    let started = Instant::now();
    let http_method = request.method().clone();
    let mut record = RequestRecord::default();
    // Kept for the 401 challenge, which must name this request's resource metadata URL.
    let origin = prm::RequestOrigin::of(&request);
    let span = trace::request_span(request.method(), path.org_slug(), &path.slug);
    let request_trace = trace::RequestTrace::start(&span, request.headers());
    async move {
        let span = Span::current();
        let inner = &state.inner;
        let mut facts = AuditFacts::new(inner.audit.is_some());
        let outcome = match admit(inner, request.method()) {
            // The one config load of this request: every decision, and the challenge of a
            // refusal, use this view.
            Ok(()) => {
                let view = inner.edge.config();
                let trace = (&request_trace, &span);
                forward(inner, &view, &path, request, &origin, trace, &mut record, &mut facts)
                    .await
                    .map_err(|r| (r, Some(view)))
            }
            Err(error) => Err((error.into(), None)),
        };
        let (response, reason) = match outcome {
            Ok(response) => {
                (super::audit::record(inner, facts, None, response, started, (&request_trace, &span)), None)
            }
            Err((Rejection { error, id }, view)) => {
                let mut response = error.to_response(id.as_deref());
                if let Some(view) = view {
                    let configured = inner.settings.public_base_url.as_ref();
                    prm::challenge(&mut response, &error, &view, configured, &origin, &path);
                    label_server(&mut record, &view, &path);
                }
                let trace = (&request_trace, &span);
                let response = super::audit::record(inner, facts, Some(&error), response, started, trace);
                (response, Some(error.reason()))
            }
        };
        let status = response.status().as_u16();
        let elapsed = started.elapsed();
        let metrics = inner.edge.metrics();
        record.finish(metrics, &http_method, status, reason, elapsed);
        let response = count_stream(metrics, response);
        let latency_ms = elapsed.as_millis() as u64;
        // Latency is to the response head: streamed bodies may stay open for hours.
        tracing::info!(http.status_code = status, latency_ms, error.reason = reason, "mcp request completed");
        // Recorded after the log line so text logs don't show them twice; the OTel span gets them.
        span.record("http.status_code", status);
        span.record("latency_ms", latency_ms);
        if let Some(reason) = reason {
            span.record("error.reason", reason);
        }
        response
    }
    .instrument(span)
    .await
}

/// Whether the client accepts what an MCP endpoint answers with: a POST lists both JSON and
/// an event stream, a GET an event stream, by name as the Streamable HTTP transport requires
/// (upstream SDKs refuse wildcards too). Answered by the edge itself, so the client hears it
/// in the edge's words rather than whatever the upstream would have said.
fn accepts_mcp(headers: &HeaderMap, is_post: bool) -> bool {
    let mut json = false;
    let mut sse = false;
    for value in headers.get_all(http::header::ACCEPT) {
        let Ok(text) = value.to_str() else { continue };
        for item in text.split(',') {
            let media = item.split(';').next().unwrap_or_default().trim();
            json |= media.eq_ignore_ascii_case("application/json");
            sse |= media.eq_ignore_ascii_case("text/event-stream");
        }
    }
    if is_post {
        json && sse
    } else {
        sse
    }
}

/// The checks before any config is read: the method (405), then whether a config is loaded
/// (503).
fn admit(inner: &Inner, method: &Method) -> Result<(), EdgeError> {
    if !matches!(*method, Method::POST | Method::GET | Method::DELETE) {
        return Err(EdgeError::MethodNotAllowed);
    }
    if !inner.edge.is_loaded() {
        return Err(EdgeError::NotReady);
    }
    Ok(())
}

/// Names the server of a request refused before it was authorised, when the URL names one
/// the config knows (only on the refusal path: an allowed request got it from `authorize`).
fn label_server(record: &mut RequestRecord, view: &ConfigView, path: &McpPath) {
    if record.has_server() {
        return;
    }
    let server = view.org_by_slug(path.org_slug()).and_then(|org| view.server(&org.id, &path.slug));
    if let Some(server) = server {
        record.set_server(&server.metric_label);
    }
}

/// Counts an event stream to the client as open until its body is dropped.
fn count_stream(metrics: &Arc<EdgeMetrics>, response: Response) -> Response {
    if !response::content_type_is(response.headers(), "text/event-stream") {
        return response;
    }
    let open = metrics.sse_stream_opened();
    response.map(|body| {
        Body::new(http_body_util::BodyExt::map_frame(body, move |frame| {
            let _open = &open;
            frame
        }))
    })
}

#[allow(clippy::too_many_arguments)] // The request path's one entry; `facts` is its audit record.
async fn forward(
    inner: &Inner,
    view: &Arc<ConfigView>,
    path: &McpPath,
    request: Request,
    origin: &prm::RequestOrigin,
    (request_trace, span): (&trace::RequestTrace, &Span),
    record: &mut RequestRecord,
    facts: &mut AuditFacts,
) -> Result<Response, Rejection> {
    let is_post = request.method() == Method::POST;
    let now = now_unix();
    let slug = path.slug.as_str();
    if let Some(presented) = request.headers().get(ORIGIN) {
        if !origin_allowed(inner, view, path, presented) {
            tracing::info!(origin = ?presented, "refusing a request from a browser origin the server does not allow");
            return Err(EdgeError::OriginNotAllowed.into());
        }
    }
    let audiences = || {
        let base = prm::public_base(inner.settings.public_base_url.as_ref(), view, origin);
        prm::audiences(&base, path)
    };
    let org = view.org_by_slug(path.org_slug());
    if let Some(org) = org {
        record.set_org(&org.metric_label);
    }
    let target = auth::Target {
        org: org.map(|org| &**org),
        slug,
        audiences: auth::Audiences(&audiences),
        client: request.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip()),
    };
    facts.target(org.map(|org| &org.audit_id), target.client);
    let peer = request.extensions().get::<TlsSession>().and_then(|tls| tls.client_certificate.as_ref());
    let caller = match auth::authenticate(view, &inner.identity, request.headers(), peer, &target, now).await
    {
        // Say which credential to use when the one presented is for the admin API or an edge.
        Err(EdgeError::InvalidToken)
            if auth::presented_token(request.headers()).is_some_and(token_hash::is_admin_side_credential) =>
        {
            return Err(EdgeError::NotAGatewayToken.into());
        }
        other => other?,
    };
    facts.caller(&caller);
    if !identity::gatehouse_jwt::has_required_scope(&caller) {
        tracing::info!(user = %caller.user, "gatehouse access token lacks the mcp scope");
        return Err(EdgeError::InsufficientScope.into());
    }
    let route = auth::authorize(view, &caller, slug)?;
    record.set_server(&route.server.metric_label);
    facts.route(&route.server.metric_label, &route.workspace_id);
    span.record("workspace", route.workspace_id.as_str());
    span.record("user", caller.user.as_str());

    let (parts, body) = request.into_parts();
    let policy = ToolPolicy::new(route.rules.clone(), route.grant.clone());
    let body = if is_post {
        read_body(body, &parts.headers, inner.settings.max_request_body_bytes).await?
    } else {
        facts.message(parts.method.as_str(), None);
        if trace::records_fields(span) {
            span.record("otel.name", format!("{} {slug}", parts.method));
        }
        // MCP GET and DELETE carry no body; never forward one.
        Bytes::new()
    };
    let allowed = Allowed { policy: &policy, access: McpAccess::of(&caller) };
    let (id, filter, tool) = if is_post {
        let observe = Observe { record, metrics: inner.edge.metrics(), facts };
        check_message(&body, &parts.headers, slug, allowed, span, observe)?
    } else {
        (None, None, None)
    };
    facts.request_bytes(body.len());
    if let Some(capture) = route.server.audit.filter(|_| tool.is_some()) {
        // Opted-in servers only: every other request pays this one check.
        facts.capture(capture, &body);
    }
    let reject = |error: EdgeError| Rejection { error, id: id.map(ToOwned::to_owned) };
    if parts.method != Method::DELETE && !accepts_mcp(&parts.headers, is_post) {
        return Err(reject(EdgeError::NotAcceptable));
    }

    let key = view.session_key();
    if key.is_none() && !inner.warned_no_session_key.load(Ordering::Relaxed) {
        inner.warned_no_session_key.store(true, Ordering::Relaxed);
        tracing::warn!("config has no session binding key; mcp session ids pass through unbound");
    }
    let binding = SessionBinding {
        org: &caller.org_id,
        user: &caller.user,
        workspace: &route.workspace_id,
        server: &route.server.id,
    };
    let sessions = SessionBinder { key, binding };
    let presented_session = parts.headers.get(MCP_SESSION_ID);
    let upstream_session = match presented_session {
        Some(presented) => Some(sessions.inbound(presented).map_err(|e| {
            tracing::info!(reason = %e, "refusing mcp session id");
            reject(EdgeError::SessionNotFound)
        })?),
        None => None,
    };

    let server = &route.server;
    if let UpstreamAuth::Unsupported(kind) = &server.auth {
        tracing::warn!(auth_type = %kind, "server uses an upstream auth type this edge does not support");
        return Err(reject(EdgeError::UpstreamAuthUnsupported));
    }
    if !view.rate_limits().is_empty() {
        let facts = RequestFacts {
            org_id: &caller.org_id,
            server_slug: slug,
            workspace_id: &route.workspace_id,
            user: &caller.user,
            email: caller.email.as_deref(),
            tool: tool.as_deref(),
        };
        let outcome = inner.limiter.check(view, &facts).await;
        let local = match &outcome {
            RateLimitOutcome::Unlimited => false,
            RateLimitOutcome::Allowed { local } => *local,
            RateLimitOutcome::Refused(refusal) => refusal.local,
        };
        if local && inner.limiter.shares_through_redis() {
            inner.edge.metrics().redis_fallback(RedisComponent::RateLimit);
        }
        if let RateLimitOutcome::Refused(refusal) = outcome {
            tracing::info!(rate_limit = %refusal.rule.id, local = refusal.local, retry_after_ms = refusal.retry_after_ms, "request refused by a rate limit");
            return Err(reject(EdgeError::RateLimited(Box::new(refusal))));
        }
    }
    // The upstream credential comes first: fetching it may refuse the request (or ask the
    // user to authorize), and the headers below are built in one step around it.
    let client_session = presented_session.map(HeaderValue::as_bytes);
    facts.session(client_session);
    let is_get = parts.method == Method::GET;
    let identity = caller.grant_identity();
    let who = upstream::CallerRef { org: &caller.org_id, identity: &identity, session: client_session };
    let credential = upstream::credential(inner, view, &who, server).await.map_err(reject)?;
    let span_context = request_trace.context(span);
    facts.trace(span_context.as_ref().map(|c| c.trace_id()));
    let upstream_headers = headers::upstream_request_headers(&UpstreamHeaderSources {
        client: &parts.headers,
        upstream_session,
        trace: span_context.as_ref(),
        view,
        route: &route,
        caller: &caller,
        credential: credential.as_ref(),
        identity: &inner.identity,
        now_unix: now,
    });

    // A refcount bump: `id` still borrows the original buffer.
    let body = is_post.then(|| body.clone());
    let outgoing = upstream::Outgoing { method: parts.method, headers: upstream_headers, body };
    record.upstream_started();
    facts.forwarding();
    let upstream = upstream::send(inner, view, &who, server, outgoing, credential, span).await;
    record.upstream_finished(inner.edge.metrics());
    let upstream = upstream.map_err(reject)?;
    facts.upstream(upstream.status().as_u16());
    let timeout = inner.settings.upstream_response_timeout;
    let response = response::client_response(upstream, filter, &sessions, timeout).await.map_err(reject)?;
    match client_session {
        // The session's standalone stream: completed URL elicitations are reported on it.
        Some(session) if is_get => {
            let key = StreamKey {
                org: caller.org_id.clone(),
                user: caller.user.clone(),
                server_id: route.server.id.clone(),
                session_hash: session_hash(session),
            };
            Ok(sse_notify::attach(&inner.edge, key, response))
        }
        _ => Ok(response),
    }
}

/// Whether a browser page at `presented` may call `path`: the edge's own public origin
/// (`GATEHOUSE_PUBLIC_BASE_URL`, or the control plane's `edge_public_base_url`) or one
/// of the server's `allowed_origins`. Never the origin the request's `Host` names:
/// under DNS rebinding that is the attacker's page.
fn origin_allowed(inner: &Inner, view: &ConfigView, path: &McpPath, presented: &HeaderValue) -> bool {
    let Ok(presented) = presented.to_str() else { return false };
    let Some(presented) = allowed_origins::normalize(presented) else { return false };
    let own = |base: &str| url::Url::parse(base).ok().map(|u| u.origin().ascii_serialization());
    let configured = inner.settings.public_base_url.as_ref().map(|u| u.origin().ascii_serialization());
    let pushed = own(view.settings().edge_public_base_url.trim());
    if configured.as_deref() == Some(presented.as_str()) || pushed.as_deref() == Some(presented.as_str()) {
        return true;
    }
    view.org_by_slug(path.org_slug())
        .and_then(|org| view.server(&org.id, &path.slug))
        .is_some_and(|server| server.allowed_origins.allows(&presented))
}

/// What the caller may send: the tool policy and what its scopes allow.
#[derive(Clone, Copy)]
struct Allowed<'p> {
    policy: &'p ToolPolicy,
    access: McpAccess,
}

/// Where a message's method and tool are recorded: metrics and the audit trail.
struct Observe<'o> {
    record: &'o mut RequestRecord,
    metrics: &'o EdgeMetrics,
    facts: &'o mut AuditFacts,
}

/// What a POSTed message is, as far as the request path cares: its id, the filter of a
/// restricted `tools/list`'s response, the tool of a `tools/call`.
type Message<'b> = (Option<&'b RawValue>, Option<ToolsListFilter>, Option<std::borrow::Cow<'b, str>>);

/// Peeks at a POSTed message and applies the JSON-RPC checks; returns the
/// request id, for a restricted `tools/list` the filter for its response, and
/// for a `tools/call` the tool.
fn check_message<'b>(
    body: &'b [u8],
    headers: &HeaderMap,
    slug: &str,
    allowed: Allowed<'_>,
    span: &Span,
    observe: Observe<'_>,
) -> Result<Message<'b>, Rejection> {
    let peek = jsonrpc::peek(body).map_err(|e| match e {
        PeekError::Parse => EdgeError::Parse,
        PeekError::Batch => EdgeError::Batch,
        PeekError::Invalid => EdgeError::InvalidRequest,
    })?;
    let reject = |error: EdgeError| Rejection { error, id: peek.id.map(ToOwned::to_owned) };
    let method = peek.method().unwrap_or("");
    observe.record.set_method(method);
    if !method.is_empty() && trace::records_fields(span) {
        span.record("mcp.method", method);
        span.record("otel.name", format!("{method} {slug}"));
    }
    observe.facts.message(method, if method == "tools/call" { peek.name() } else { None });
    request_metadata::validate(headers, &peek).map_err(reject)?;
    if let Some(scope) = allowed.access.missing_for(peek.method()) {
        return Err(reject(EdgeError::ScopeMissing { scope, method: method.to_owned() }));
    }
    match method {
        "tools/call" => {
            let tool = peek.name().ok_or_else(|| reject(EdgeError::MissingToolName))?;
            span.record("mcp.tool", tool);
            observe.record.set_tool(observe.metrics, tool);
            if !allowed.policy.is_unrestricted() && !allowed.policy.allows(tool) {
                return Err(reject(EdgeError::ToolDenied { tool: tool.to_owned() }));
            }
            // The name moves out of the peek: no copy unless it had escapes.
            let tool = match peek.params.and_then(|p| p.name) {
                Some(Field::Str(name)) => Some(name),
                _ => None,
            };
            Ok((peek.id, None, tool))
        }
        "tools/list" if !allowed.policy.is_unrestricted() => {
            Ok((peek.id, Some(ToolsListFilter::new(allowed.policy.clone(), peek.id)), None))
        }
        _ => Ok((peek.id, None, None)),
    }
}

/// Reads the request body, refusing more than `limit` bytes.
async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, EdgeError> {
    let declared =
        headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(EdgeError::BodyTooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(EdgeError::BodyTooLarge { limit }),
        Err(_) => Err(EdgeError::BodyRead),
    }
}

fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_must_name_both_media_types_in_any_case_order_or_parameters() {
        let accepts = |values: &[&str], is_post: bool| {
            let mut headers = HeaderMap::new();
            for value in values {
                headers.append(http::header::ACCEPT, HeaderValue::from_str(value).unwrap());
            }
            accepts_mcp(&headers, is_post)
        };
        assert!(accepts(&["application/json, text/event-stream"], true));
        assert!(accepts(&["Text/Event-Stream;q=0.9 ,APPLICATION/JSON"], true));
        assert!(accepts(&["application/json", "text/event-stream"], true), "over two headers");
        assert!(!accepts(&["application/json"], true));
        assert!(!accepts(&["*/*"], true));
        assert!(!accepts(&["application/jsonx, text/event-stream"], true));
        assert!(!accepts(&[], true));
        assert!(accepts(&["text/event-stream"], false), "a GET needs only the stream");
        assert!(!accepts(&["application/json"], false));
    }
}
