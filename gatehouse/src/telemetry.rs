//! Logging and tracing set-up: `tracing` to stdout, W3C trace-context
//! propagation, and OTLP/HTTP span export when an endpoint is configured.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

/// How log lines are written to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Telemetry settings, read from the environment once at start.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// `service.name` reported with every span.
    pub service_name: String,
    /// `RUST_LOG`-style filter; defaults to `info`.
    pub log_filter: String,
    /// `GATEHOUSE_LOG_FORMAT`: `text` (default) or `json`.
    pub log_format: LogFormat,
    /// Full OTLP/HTTP traces URL, from `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
    /// or `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`; `None` disables export.
    pub otlp_traces_endpoint: Option<String>,
}

impl TelemetryConfig {
    /// Reads telemetry settings from an environment map.
    pub fn from_env(service_name: &str, env: &BTreeMap<String, String>) -> anyhow::Result<Self> {
        let log_format = match env.get("GATEHOUSE_LOG_FORMAT").map(String::as_str) {
            None | Some("") | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => anyhow::bail!("GATEHOUSE_LOG_FORMAT must be `text` or `json`, got {other:?}"),
        };
        let non_empty = |k: &str| env.get(k).filter(|v| !v.trim().is_empty()).cloned();
        let otlp_traces_endpoint = non_empty("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| {
            non_empty("OTEL_EXPORTER_OTLP_ENDPOINT")
                .map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
        });
        if let Some(url) = &otlp_traces_endpoint {
            url::Url::parse(url).with_context(|| format!("invalid OTLP endpoint {url:?}"))?;
        }
        Ok(Self {
            service_name: non_empty("OTEL_SERVICE_NAME").unwrap_or_else(|| service_name.to_owned()),
            log_filter: non_empty("RUST_LOG").unwrap_or_else(|| "info".to_owned()),
            log_format,
            otlp_traces_endpoint,
        })
    }
}

/// Keeps the tracer provider alive; flushes pending spans when dropped.
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(err) = self.provider.shutdown() {
            eprintln!("telemetry shutdown failed: {err}");
        }
    }
}

/// Installs the global subscriber, propagator and tracer provider.
///
/// Requests always get real trace ids (so `traceparent` is propagated upstream even without a
/// collector). Exporting, they are the ids of OpenTelemetry spans; not exporting, no
/// OpenTelemetry layer is installed and the edge makes each request's trace context itself
/// (`proxy::trace::set_own_context`): the same ids, without building spans nobody reads.
pub fn init(config: &TelemetryConfig) -> anyhow::Result<TelemetryGuard> {
    let provider = install_tracer_provider(config)?;
    let exporting = config.otlp_traces_endpoint.is_some();
    gatehouse_data_plane::proxy::trace::set_own_context(!exporting);

    let filter = EnvFilter::try_new(&config.log_filter)
        .with_context(|| format!("invalid RUST_LOG filter {:?}", config.log_filter))?;
    // The edge's request span fields are read by an exporter or by log lines at INFO; with
    // neither they would be built for nothing on every request.
    let logs_read_span_fields = filter.max_level_hint().is_none_or(|level| level >= LevelFilter::INFO);
    gatehouse_data_plane::proxy::trace::set_span_fields(exporting || logs_read_span_fields);
    let fmt = match config.log_format {
        // Colour only for a terminal: escape codes would garble files and log shippers.
        LogFormat::Text => {
            tracing_subscriber::fmt::layer().with_ansi(std::io::stdout().is_terminal()).boxed()
        }
        LogFormat::Json => tracing_subscriber::fmt::layer().json().flatten_event(true).boxed(),
    };
    // The OpenTelemetry layer sees spans the log filter drops: everything is exported
    // whatever the log level.
    tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(exporting.then(|| otel_layer(provider.tracer("gatehouse"))))
        .try_init()
        .context("installing the tracing subscriber")?;
    if let Some(endpoint) = &config.otlp_traces_endpoint {
        tracing::info!(%endpoint, "exporting traces over otlp/http");
    }
    Ok(TelemetryGuard { provider })
}

/// The OpenTelemetry layer of an exporting process: every span with its location, thread
/// and timings, and events as span events.
pub fn otel_layer<S>(tracer: opentelemetry_sdk::trace::Tracer) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a> + Send + Sync,
{
    tracing_opentelemetry::layer().with_tracer(tracer).boxed()
}

/// Installs the W3C trace-context propagator and a global tracer provider
/// (exporting over OTLP/HTTP when configured) and returns the provider.
///
/// [`init`] uses it; test harnesses that install their own subscriber call it
/// to get the same propagation behaviour.
pub fn install_tracer_provider(config: &TelemetryConfig) -> anyhow::Result<SdkTracerProvider> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let resource = Resource::builder().with_service_name(config.service_name.clone()).build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if let Some(endpoint) = &config.otlp_traces_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint.clone())
            .build()
            .context("building the OTLP span exporter")?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    Ok(provider)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn otlp_endpoint_gets_the_traces_path() {
        let c = TelemetryConfig::from_env("x", &env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")]))
            .unwrap();
        assert_eq!(c.otlp_traces_endpoint.as_deref(), Some("http://c:4318/v1/traces"));
        let c = TelemetryConfig::from_env(
            "x",
            &env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t/x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.otlp_traces_endpoint.as_deref(), Some("http://t/x"));
        assert!(TelemetryConfig::from_env("x", &env(&[])).unwrap().otlp_traces_endpoint.is_none());
    }

    /// Spans reach a real OTLP/HTTP receiver when an endpoint is configured.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spans_are_exported_over_otlp_http_when_an_endpoint_is_set() {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::layer::SubscriberExt as _;

        type Exports = Arc<Mutex<Vec<(String, Vec<u8>)>>>;
        let received: Exports = Arc::default();
        let sink = received.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                sink.lock().unwrap().push((ct, body.to_vec()));
                ""
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let config = TelemetryConfig::from_env(
            "gatehouse-otlp-test",
            &env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://{addr}"))]),
        )
        .unwrap();
        let provider = install_tracer_provider(&config).unwrap();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("t")));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("mcp.request", server = "github");
            span.in_scope(|| tracing::info!("inside"));
        });
        // The batch exporter flushes on its own thread with a blocking client.
        let flushed = tokio::task::spawn_blocking(move || provider.force_flush()).await.unwrap();
        flushed.unwrap();

        let got = received.lock().unwrap().clone();
        assert_eq!(got.len(), 1, "one export request");
        let (content_type, body) = &got[0];
        assert_eq!(content_type, "application/x-protobuf");
        let contains = |needle: &str| body.windows(needle.len()).any(|w| w == needle.as_bytes());
        assert!(contains("mcp.request"), "the span is in the export");
        assert!(contains("gatehouse-otlp-test"), "service.name is in the export");
    }

    /// A finished span: its name and the names of its events.
    type Finished = (String, Vec<String>);

    /// Collects finished spans.
    #[derive(Debug, Clone, Default)]
    struct Collected(std::sync::Arc<std::sync::Mutex<Vec<Finished>>>);

    impl opentelemetry_sdk::trace::SpanExporter for Collected {
        async fn export(
            &self,
            batch: Vec<opentelemetry_sdk::trace::SpanData>,
        ) -> opentelemetry_sdk::error::OTelSdkResult {
            let mut spans = self.0.lock().unwrap();
            for span in batch {
                let events = span.events.iter().map(|e| e.name.to_string()).collect();
                spans.push((span.name.to_string(), events));
            }
            Ok(())
        }
    }

    const INCOMING: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /// Runs a request (its span with a remote parent, an event and a debug child span) as
    /// the binary would, exporting or not; returns what reached the exporter and the
    /// traceparent sent upstream.
    fn record_a_request(exporting: bool) -> (Vec<Finished>, String) {
        use gatehouse_data_plane::proxy::trace;
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let collected = Collected::default();
        let provider = SdkTracerProvider::builder().with_simple_exporter(collected.clone()).build();
        trace::set_own_context(!exporting);
        let subscriber =
            tracing_subscriber::registry().with(exporting.then(|| otel_layer(provider.tracer("t"))));
        let traceparent = tracing::subscriber::with_default(subscriber, || {
            let mut incoming = axum::http::HeaderMap::new();
            incoming.insert("traceparent", INCOMING.parse().unwrap());
            let span = trace::request_span(&axum::http::Method::POST, "default", "github");
            let request_trace = trace::RequestTrace::start(&span, &incoming);
            span.in_scope(|| {
                tracing::info!("mcp request completed");
                tracing::debug_span!("library.detail").in_scope(|| {});
            });
            let mut upstream = axum::http::HeaderMap::new();
            trace::inject(&request_trace.context(&span).expect("a trace context"), &mut upstream);
            upstream["traceparent"].to_str().unwrap().to_owned()
        });
        let spans = collected.0.lock().unwrap().clone();
        (spans, traceparent)
    }

    /// Not exporting, no span is built, and the request still continues the caller's trace
    /// upstream under a span id of its own.
    #[test]
    fn without_an_exporter_only_trace_context_is_kept() {
        let (spans, traceparent) = record_a_request(false);
        assert!(traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{traceparent}");
        assert!(traceparent.ends_with("-01"), "still sampled: {traceparent}");
        assert!(!traceparent.contains("00f067aa0ba902b7"), "the edge's own span is the parent");
        assert_eq!(spans, []);
    }

    /// Exporting, the slow path applies: the request span is exported, its id is the parent
    /// upstream, events are span events and library spans are kept.
    #[test]
    fn with_an_exporter_everything_is_recorded() {
        let (spans, traceparent) = record_a_request(true);
        assert!(traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{traceparent}");
        assert!(!traceparent.contains("00f067aa0ba902b7"), "the edge's own span is the parent");
        let names: Vec<&str> = spans.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["library.detail", "mcp.request"]);
        assert_eq!(spans[1].1, ["mcp request completed"]);
    }

    #[test]
    fn bad_values_are_refused_with_the_variable_named() {
        let err = TelemetryConfig::from_env("x", &env(&[("GATEHOUSE_LOG_FORMAT", "yaml")])).unwrap_err();
        assert!(err.to_string().contains("GATEHOUSE_LOG_FORMAT"));
        assert!(
            TelemetryConfig::from_env("x", &env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url")])).is_err()
        );
    }
}
