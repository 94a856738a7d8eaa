//! The request span and W3C trace context propagation.
//!
//! Uses whatever propagator and tracing-opentelemetry layer the binary
//! installed; with none installed every call here is a cheap no-op.

use std::sync::atomic::{AtomicBool, Ordering};

use http::{HeaderMap, Method};
use opentelemetry::global;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use tracing::field::Empty;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

const TRACEPARENT: &str = "traceparent";

/// Whether request spans carry their fields (see [`set_span_fields`]).
static SPAN_FIELDS: AtomicBool = AtomicBool::new(true);

/// Says whether anything reads the request span's fields: an exporter (they become span
/// attributes) or a log filter at `INFO` (they are printed with each log line of the request).
/// When nothing does, the span is created without them, so recording one is a lookup that
/// finds no field instead of an attribute built and thrown away; the span still carries trace
/// context. Set once at start; on by default.
pub fn set_span_fields(on: bool) {
    SPAN_FIELDS.store(on, Ordering::Relaxed);
}

/// One span per MCP request; fields are recorded as the request is decided.
pub fn request_span(method: &Method, org: &str, slug: &str) -> Span {
    span_of(SPAN_FIELDS.load(Ordering::Relaxed), method, org, slug)
}

/// Whether `span` records fields (a span without them needs no `otel.name` formatted).
pub fn records_fields(span: &Span) -> bool {
    !span.is_disabled() && span.metadata().is_some_and(|meta| meta.fields().len() > 1)
}

fn span_of(fields: bool, method: &Method, org: &str, slug: &str) -> Span {
    if !fields {
        return tracing::info_span!("mcp.request", otel.kind = "server");
    }
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

    /// A finished span's attribute names.
    #[derive(Debug, Clone, Default)]
    struct Attributes(std::sync::Arc<std::sync::Mutex<Vec<Vec<String>>>>);

    impl opentelemetry_sdk::trace::SpanExporter for Attributes {
        async fn export(
            &self,
            batch: Vec<opentelemetry_sdk::trace::SpanData>,
        ) -> opentelemetry_sdk::error::OTelSdkResult {
            let mut spans = self.0.lock().unwrap();
            for span in batch {
                spans.push(span.attributes.iter().map(|kv| kv.key.to_string()).collect());
            }
            Ok(())
        }
    }

    /// Runs a request span with or without fields; returns its exported attribute names and
    /// the traceparent sent upstream.
    fn one_request(fields: bool) -> (Vec<String>, String) {
        global::set_text_map_propagator(TraceContextPropagator::new());
        let exported = Attributes::default();
        let provider = SdkTracerProvider::builder().with_simple_exporter(exported.clone()).build();
        // Only the span's own fields become attributes: no locations, threads, target or timings.
        let layer = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("test"))
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false);
        let subscriber = tracing_subscriber::registry().with(layer);
        let traceparent = tracing::subscriber::with_default(subscriber, || {
            let mut incoming = HeaderMap::new();
            incoming.insert(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap(),
            );
            let span = span_of(fields, &Method::POST, "default", "github");
            set_remote_parent(&span, &incoming);
            assert_eq!(records_fields(&span), fields);
            span.record("user", "alice");
            let mut upstream = HeaderMap::new();
            inject_context(&span, &mut upstream);
            upstream["traceparent"].to_str().unwrap().to_owned()
        });
        let mut spans = exported.0.lock().unwrap().clone();
        assert_eq!(spans.len(), 1, "one span exported");
        (spans.remove(0), traceparent)
    }

    #[test]
    fn a_span_without_fields_still_carries_the_trace_and_records_nothing() {
        let (attributes, traceparent) = one_request(false);
        assert!(traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{traceparent}");
        assert!(attributes.is_empty(), "{attributes:?}");
        // The slow path: fields declared and recorded become attributes.
        let (attributes, traceparent) = one_request(true);
        assert!(traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{traceparent}");
        for name in ["http.request.method", "org", "server", "user"] {
            assert!(attributes.iter().any(|a| a == name), "{name} in {attributes:?}");
        }
    }

    #[test]
    fn without_a_layer_nothing_is_injected() {
        let span = request_span(&Method::GET, "default", "x");
        let mut upstream = HeaderMap::new();
        inject_context(&span, &mut upstream);
        assert!(upstream.is_empty());
    }
}
