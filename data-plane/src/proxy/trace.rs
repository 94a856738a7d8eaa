//! The request span and W3C trace context propagation.
//!
//! A request's trace context ([`RequestTrace`]) comes from one of two places. When spans are
//! exported, from the request span's OpenTelemetry context (the tracing-opentelemetry layer
//! builds one per span). When nothing exports them, the binary installs no such layer and the
//! edge makes the context itself ([`set_own_context`]): the caller's trace id and flags, or a
//! new sampled trace, and a new span id, which is what the SDK's default sampler would have
//! given, without building a span nobody reads.
//!
//! Extraction uses whatever propagator the binary installed; injection writes W3C trace
//! context (the one propagator Gatehouse installs) directly, without the propagator's
//! string formatting. With neither a layer nor own contexts every call here is a cheap no-op.

use std::sync::atomic::{AtomicBool, Ordering};

use http::{HeaderMap, HeaderValue, Method};
use opentelemetry::global;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState};
use opentelemetry_http::HeaderExtractor;
use tracing::field::Empty;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

// Names, not strings: a `&str` lookup or insert parses the name again on every request.
const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");
const TRACESTATE: http::HeaderName = http::HeaderName::from_static("tracestate");

/// Whether request spans carry their fields (see [`set_span_fields`]).
static SPAN_FIELDS: AtomicBool = AtomicBool::new(true);
/// Whether the edge makes each request's trace context itself (see [`set_own_context`]).
static OWN_CONTEXT: AtomicBool = AtomicBool::new(false);

/// Says that no OpenTelemetry layer builds spans (nothing exports them), so the edge makes
/// each request's trace context itself. Set once at start; off by default, where the context
/// is the request span's.
pub fn set_own_context(on: bool) {
    OWN_CONTEXT.store(on, Ordering::Relaxed);
}

/// A request's W3C trace context: what the upstream's `traceparent` and the audit event's
/// trace id say.
#[derive(Debug, Clone)]
pub enum RequestTrace {
    /// The request span's OpenTelemetry context, when a layer gives it one.
    FromSpan,
    /// Made by the edge ([`set_own_context`]).
    Own(SpanContext),
}

impl RequestTrace {
    /// The trace of a request with `headers`, whose span is `span`. Call before the span is
    /// entered: an incoming `traceparent` becomes its parent.
    pub fn start(span: &Span, headers: &HeaderMap) -> Self {
        if OWN_CONTEXT.load(Ordering::Relaxed) {
            return Self::Own(own_context(headers));
        }
        set_remote_parent(span, headers);
        Self::FromSpan
    }

    /// The context to propagate, if there is one (without an OpenTelemetry layer or own
    /// contexts there is none). One lookup: read it once per request and pass it on.
    pub fn context(&self, span: &Span) -> Option<SpanContext> {
        match self {
            Self::FromSpan => span_context(span),
            Self::Own(context) => Some(context.clone()),
        }
    }
}

/// A span context of the edge's own: the incoming trace's id, flags and trace state, or a
/// new sampled trace, under a new span id (as the SDK's parent-based always-on sampler does).
fn own_context(headers: &HeaderMap) -> SpanContext {
    let span_id = SpanId::from(nonzero(rand::random::<u64>));
    if let Some(parent) = remote_parent(headers) {
        let parent = parent.span().span_context().clone();
        let flags = parent.trace_flags() & TraceFlags::SAMPLED;
        return SpanContext::new(parent.trace_id(), span_id, flags, false, parent.trace_state().clone());
    }
    let trace_id = TraceId::from(nonzero(rand::random::<u128>));
    SpanContext::new(trace_id, span_id, TraceFlags::SAMPLED, false, TraceState::NONE)
}

/// A random id; all-zero ids are invalid in W3C trace context.
fn nonzero<T: PartialEq + Default>(random: impl Fn() -> T) -> T {
    loop {
        let id = random();
        if id != T::default() {
            return id;
        }
    }
}

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

/// The caller's trace context, when the request carries a valid one.
fn remote_parent(headers: &HeaderMap) -> Option<opentelemetry::Context> {
    // W3C trace context starts with `traceparent`: without one there is nothing to extract.
    if !headers.contains_key(TRACEPARENT) {
        return None;
    }
    let parent = global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)));
    parent.span().span_context().is_valid().then_some(parent)
}

/// Makes an incoming `traceparent` the span's parent. Call before the span is entered.
fn set_remote_parent(span: &Span, headers: &HeaderMap) {
    if let Some(parent) = remote_parent(headers) {
        // Fails only when no OpenTelemetry layer is installed: nothing to link then.
        let _ = span.set_parent(parent);
    }
}

/// The span's OpenTelemetry context, when it has a valid one (an OpenTelemetry layer is
/// installed).
fn span_context(span: &Span) -> Option<SpanContext> {
    if span.is_disabled() {
        return None;
    }
    let cx = span.context();
    let span_context = cx.span().span_context().clone();
    span_context.is_valid().then_some(span_context)
}

/// Writes `span_context` as W3C trace context: `traceparent` always, `tracestate` when the
/// trace carries one (an empty `tracestate` may be omitted).
pub fn inject(span_context: &SpanContext, headers: &mut HeaderMap) {
    // 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>
    let mut value = [0u8; 55];
    value[..3].copy_from_slice(b"00-");
    let flags = [(span_context.trace_flags() & TraceFlags::SAMPLED).to_u8()];
    let written = hex::encode_to_slice(span_context.trace_id().to_bytes(), &mut value[3..35])
        .and_then(|()| hex::encode_to_slice(span_context.span_id().to_bytes(), &mut value[36..52]))
        .and_then(|()| hex::encode_to_slice(flags, &mut value[53..55]));
    value[35] = b'-';
    value[52] = b'-';
    if let (Ok(()), Ok(value)) = (written, HeaderValue::from_bytes(&value)) {
        headers.insert(TRACEPARENT, value);
    }
    let state = span_context.trace_state().header();
    if !state.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&state) {
            headers.insert(TRACESTATE, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt as _;

    /// The headers a request with `incoming` headers sends upstream, its span being `span`.
    fn propagate(span: &Span, incoming: &HeaderMap) -> HeaderMap {
        let request_trace = RequestTrace::start(span, incoming);
        let mut upstream = HeaderMap::new();
        if let Some(context) = request_trace.context(span) {
            inject(&context, &mut upstream);
        }
        upstream
    }

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
            let upstream = propagate(&span, &incoming);
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
            assert_eq!(records_fields(&span), fields);
            span.record("user", "alice");
            let upstream = propagate(&span, &incoming);
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
    fn injection_writes_what_the_w3c_propagator_writes() {
        use opentelemetry::propagation::TextMapPropagator as _;
        use opentelemetry::trace::{SpanId, TraceId, TraceState};
        let states = [
            TraceState::default(),
            TraceState::from_key_value([("rojo", "00f067aa0ba902b7"), ("congo", "t61rcWkgMzE")]).unwrap(),
        ];
        for (flags, state) in [TraceFlags::SAMPLED, TraceFlags::default()].into_iter().zip(states) {
            let span_context = SpanContext::new(
                TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
                SpanId::from_hex("b7ad6b7169203331").unwrap(),
                flags,
                true,
                state.clone(),
            );
            let mut ours = HeaderMap::new();
            inject(&span_context, &mut ours);
            let mut sdk = std::collections::HashMap::new();
            let cx = opentelemetry::Context::new().with_remote_span_context(span_context.clone());
            TraceContextPropagator::new().inject_context(&cx, &mut sdk);
            assert_eq!(ours["traceparent"].to_str().unwrap(), sdk["traceparent"]);
            match ours.get("tracestate") {
                Some(value) => assert_eq!(value.to_str().unwrap(), sdk["tracestate"]),
                None => assert_eq!(sdk["tracestate"], "", "only an empty tracestate is left out"),
            }
        }
    }

    /// Own contexts continue the caller's trace (id, flags and state) under a new span id,
    /// or start a sampled one; with an invalid `traceparent` a new trace starts.
    #[test]
    fn own_contexts_continue_the_callers_trace_or_start_one() {
        global::set_text_map_propagator(TraceContextPropagator::new());
        let own = |headers: &[(&str, &str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in headers {
                map.insert(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
            }
            let mut upstream = HeaderMap::new();
            inject(&own_context(&map), &mut upstream);
            let header = |name: &str| upstream.get(name).map(|v| v.to_str().unwrap().to_owned());
            (header("traceparent").unwrap(), header("tracestate"))
        };
        for flags in ["01", "00"] {
            let incoming = format!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{flags}");
            let (tp, state) = own(&[("traceparent", &incoming), ("tracestate", "rojo=00f067aa0ba902b7")]);
            assert!(tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "same trace: {tp}");
            assert!(tp.ends_with(&format!("-{flags}")), "the caller's sampling decision: {tp}");
            assert!(!tp.contains("00f067aa0ba902b7"), "a new span id: {tp}");
            assert_eq!(state.as_deref(), Some("rojo=00f067aa0ba902b7"));
        }
        for headers in
            [&[][..], &[("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01")]]
        {
            let (first, state) = own(headers);
            let (second, _) = own(headers);
            assert_eq!(first.len(), 55, "{first}");
            assert!(first.ends_with("-01"), "a new trace is sampled: {first}");
            assert_ne!(first[3..35], second[3..35], "each request its own trace id");
            assert!(!first.contains("00000000000000000000000000000000"), "{first}");
            assert_eq!(state, None);
        }
    }

    /// The mode switch: with own contexts the span is not asked; without, it is.
    #[test]
    fn a_request_trace_comes_from_the_span_unless_the_edge_makes_its_own() {
        let span = request_span(&Method::POST, "default", "github");
        let headers = HeaderMap::new();
        let from_span = RequestTrace::start(&span, &headers);
        assert!(matches!(from_span, RequestTrace::FromSpan));
        assert!(from_span.context(&span).is_none(), "no layer, no context");
        set_own_context(true);
        let own = RequestTrace::start(&span, &headers);
        set_own_context(false);
        assert!(own.context(&span).is_some_and(|c| c.is_valid() && c.is_sampled()));
    }

    #[test]
    fn without_a_layer_nothing_is_injected() {
        let span = request_span(&Method::GET, "default", "x");
        let upstream = propagate(&span, &HeaderMap::new());
        assert!(upstream.is_empty());
    }
}
