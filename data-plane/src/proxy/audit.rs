//! The one point where a request's outcome is recorded: its facts, the error
//! (if the edge answered itself), latency and sizes become one
//! [`RequestOutcome`](crate::audit::RequestOutcome) pushed into the audit queue.
//! No encoding happens here; the shipper does that off the request path.
//! For a server that opted in to recording results, the response body is
//! wrapped so the event is pushed once the result has streamed past
//! ([`ResultTap`](crate::audit::capture::ResultTap)).

use std::time::Instant;

use axum::response::Response;
use http::header::CONTENT_LENGTH;
use tracing::Span;

use super::state::Inner;
use super::trace::RequestTrace;
use crate::audit::capture::ResultTap;
use crate::audit::RequestFacts;
use crate::error::EdgeError;

/// Records the request's outcome when auditing is on; returns the response, its
/// body wrapped when the result is to be captured.
pub(super) fn record(
    inner: &Inner,
    facts: RequestFacts,
    error: Option<&EdgeError>,
    response: Response,
    started: Instant,
    trace: (&RequestTrace, &Span),
) -> Response {
    let Some(queue) = &inner.audit else { return response };
    let response_bytes = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    // Usually read on the way to the upstream; a request refused before that looks it up here.
    let trace_id = if facts.has_trace() { None } else { trace.0.context(trace.1).map(|c| c.trace_id()) };
    match facts.finish(error, latency_ms, response_bytes, trace_id) {
        Some((outcome, Some(plan))) if response.status().is_success() => {
            let sse = super::response::content_type_is(response.headers(), "text/event-stream");
            let queue = queue.clone();
            response.map(|body| ResultTap::wrap(body, sse, plan, outcome, queue))
        }
        Some((outcome, _)) => {
            queue.push(outcome);
            response
        }
        None => response,
    }
}
