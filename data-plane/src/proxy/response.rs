//! Turning the upstream's response into the client's.
//!
//! Bodies stream through chunk by chunk. The only body ever touched is a
//! successful `tools/list` response for a restricted caller: an SSE stream
//! goes through the streaming filter, anything else is buffered (bounded),
//! filtered and re-serialised.

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue};
use http_body_util::BodyExt as _;

use super::headers::{self, MCP_SESSION_ID};
use super::session::SessionBinder;
use super::sse::{self, MAX_EVENT_BYTES};
use super::tools_filter::ToolsListFilter;
use crate::error::EdgeError;
use crate::upstream_client::UpstreamResponse;

const X_ACCEL_BUFFERING: http::HeaderName = http::HeaderName::from_static("x-accel-buffering");

/// Largest JSON `tools/list` response buffered for filtering.
const MAX_FILTERED_RESPONSE_BYTES: usize = MAX_EVENT_BYTES;

/// Builds the client's response; `filter` is set for a restricted `tools/list`.
///
/// `read_timeout` bounds buffering a body that must be filtered (a stream is
/// never timed out).
pub(super) async fn client_response(
    mut upstream: UpstreamResponse,
    filter: Option<ToolsListFilter>,
    sessions: &SessionBinder<'_>,
    read_timeout: Duration,
) -> Result<Response, EdgeError> {
    // A 401 or 403 never gets here: `upstream` has settled what it means.
    let status = upstream.status();
    // Error bodies are passed on as they are; only a successful list is filtered.
    let filter = filter.filter(|_| status.is_success());
    let is_sse = content_type_is(upstream.headers(), "text/event-stream");
    // Read before the headers are trimmed: a filtered body loses its length.
    let declared = filter.as_ref().and_then(|_| content_length(upstream.headers()));

    let session = upstream.headers().get(MCP_SESSION_ID).map(|upstream_id| sessions.outbound(upstream_id));
    // The upstream's own header map, trimmed in place: the body's length is known without it.
    let mut response_headers = std::mem::take(upstream.headers_mut());
    headers::strip_client_response_headers(&mut response_headers, filter.is_some());
    if let Some(session) = session {
        response_headers.insert(MCP_SESSION_ID, session);
    }
    if is_sse && !response_headers.contains_key(&X_ACCEL_BUFFERING) {
        // Tell reverse proxies in front of the edge not to buffer the stream.
        response_headers.insert(X_ACCEL_BUFFERING, HeaderValue::from_static("no"));
    }

    let body = match filter {
        // hyper's body as it is: frames pass through without a stream adapter.
        None => Body::new(upstream.into_body()),
        Some(filter) if is_sse => {
            let stream = upstream.into_body().into_data_stream().boxed();
            Body::from_stream(sse::filter_tools_list(stream, filter))
        }
        Some(filter) => {
            let bytes = tokio::time::timeout(read_timeout, read_bounded(upstream, declared))
                .await
                .map_err(|_| EdgeError::UpstreamTimeout)??;
            filtered_json(bytes, &filter)?
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = response_headers;
    Ok(response)
}

/// Filters a buffered JSON `tools/list` response; fails closed on anything unparseable.
fn filtered_json(bytes: Bytes, filter: &ToolsListFilter) -> Result<Body, EdgeError> {
    match filter.rewrite(&bytes) {
        Ok(Some(filtered)) => Ok(Body::from(filtered)),
        Ok(None) => Ok(Body::from(bytes)),
        // An empty body holds no tools.
        Err(_) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(Body::from(bytes)),
        Err(error) => {
            tracing::warn!(%error, "tools/list response to filter is not json");
            Err(EdgeError::UpstreamInvalidResponse)
        }
    }
}

/// The `Content-Length` the upstream declared, if any.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Buffers an upstream body that must be rewritten, up to a bound.
async fn read_bounded(response: UpstreamResponse, declared: Option<u64>) -> Result<Bytes, EdgeError> {
    if declared.is_some_and(|n| n > MAX_FILTERED_RESPONSE_BYTES as u64) {
        return Err(EdgeError::UpstreamResponseTooLarge);
    }
    let mut buf = BytesMut::new();
    let mut stream = response.into_body().into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            tracing::warn!(error = ?e, "reading upstream tools/list response failed");
            EdgeError::UpstreamFailed
        })?;
        if buf.len() + chunk.len() > MAX_FILTERED_RESPONSE_BYTES {
            return Err(EdgeError::UpstreamResponseTooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Whether the `Content-Type` (parameters ignored) is `essence`; a value that is not visible
/// ASCII is none. The essence is cut at the first `;` as bytes: asked of every response.
pub(super) fn content_type_is(headers: &HeaderMap, essence: &str) -> bool {
    let Some(Ok(value)) = headers.get(CONTENT_TYPE).map(HeaderValue::to_str) else { return false };
    let value = value.as_bytes();
    let media = value.iter().position(|&b| b == b';').map_or(value, |end| &value[..end]);
    media.trim_ascii().eq_ignore_ascii_case(essence.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_essence() {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("Text/Event-Stream; charset=utf-8"));
        assert!(content_type_is(&h, "text/event-stream"));
        assert!(!content_type_is(&h, "application/json"));
        assert!(!content_type_is(&HeaderMap::new(), "text/event-stream"));
        h.insert(CONTENT_TYPE, HeaderValue::from_static(" application/json "));
        assert!(content_type_is(&h, "application/json"));
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/jsonx"));
        assert!(!content_type_is(&h, "application/json"));
        h.insert(CONTENT_TYPE, HeaderValue::from_bytes(b"text/event-stream;\xff").unwrap());
        assert!(!content_type_is(&h, "text/event-stream"), "a value that is not visible ASCII names no type");
    }
}
