//! The request span and W3C trace context propagation.
//!
//! Uses whatever propagator and tracing-opentelemetry layer the binary
//! installed; with none installed every call here is a cheap no-op.

use http::{HeaderMap, Method};
use opentelemetry::global;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use tracing::field::Empty;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

const TRACEPARENT: &str = "traceparent";

/// One span per MCP request; fields are recorded as the request is decided.
pub fn request_span(method: &Method, org: &str, slug: &str) -> Span {
    tracing::info_span!(
        "mcp.request",
        otel.kind = "server",
        otel.name = Empty,
        http.request.method = %method,
        org = %org,
        server = %slug,
        mcp.method = Empty,
        mcp.tool = Empty,
        workspace = Empty,
        user = Empty,
        http.status_code = Empty,
        latency_ms = Empty,
        upstream.status = Empty,
        error.reason = Empty,
    )
}

/// Makes an incoming `traceparent` the span's parent. Call before the span is entered.
pub fn set_remote_parent(span: &Span, headers: &HeaderMap) {
    // W3C trace context starts with `traceparent`: without one there is nothing to extract.
    if !headers.contains_key(TRACEPARENT) {
        return;
    }
    let parent = global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)));
    if parent.span().span_context().is_valid() {
        // Fails only when no OpenTelemetry layer is installed: nothing to link then.
        let _ = span.set_parent(parent);
    }
}

/// Writes the span's trace context (`traceparent`, `tracestate`) into upstream headers.
pub fn inject_context(span: &Span, headers: &mut HeaderMap) {
    let cx = span.context();
    if cx.span().span_context().is_valid() {
        global::get_text_map_propagator(|p| p.inject_context(&cx, &mut HeaderInjector(headers)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt as _;

    #[test]
    fn incoming_trace_continues_upstream() {
        global::set_text_map_propagator(TraceContextPropagator::new());
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let mut incoming = HeaderMap::new();
            incoming.insert(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap(),
            );
            let span = request_span(&Method::POST, "default", "github");
            set_remote_parent(&span, &incoming);
            let mut upstream = HeaderMap::new();
            inject_context(&span, &mut upstream);
            let tp = upstream["traceparent"].to_str().unwrap();
            assert!(tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "same trace: {tp}");
            assert!(!tp.contains("00f067aa0ba902b7"), "our own span id, not the caller's");
        });
    }

    #[test]
    fn without_a_layer_nothing_is_injected() {
        let span = request_span(&Method::GET, "default", "x");
        let mut upstream = HeaderMap::new();
        inject_context(&span, &mut upstream);
        assert!(upstream.is_empty());
    }
}
