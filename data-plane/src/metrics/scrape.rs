//! What a scrape computes when it happens (config version and age, Redis status), and the
//! `/metrics` HTTP endpoint.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use tokio::net::TcpListener;

use super::{unix_millis, EdgeMetrics, RedisProbe};

/// `Content-Type` of `/metrics`: the Prometheus text format, version 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// State read at scrape time rather than kept in a family.
#[derive(Default)]
pub(super) struct ScrapeState {
    version: AtomicU64,
    /// When the served version was installed (ms since the epoch); 0 = nothing installed yet.
    applied_at_ms: AtomicU64,
    pub(super) redis: OnceLock<RedisProbe>,
    pub(super) rate_limit_fallbacks: AtomicU64,
}

impl std::fmt::Debug for ScrapeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapeState").field("version", &self.version).finish_non_exhaustive()
    }
}

impl ScrapeState {
    pub(super) fn config_applied(&self, version: u64) {
        self.version.store(version, Ordering::Relaxed);
        self.applied_at_ms.store(unix_millis(), Ordering::Relaxed);
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComponentLabels {
    component: &'static str,
}

impl Collector for ScrapeState {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let applied_at = self.applied_at_ms.load(Ordering::Relaxed);
        let version = if applied_at == 0 { 0 } else { self.version.load(Ordering::Relaxed) };
        let gauge = ConstGauge::new(version as i64);
        gauge.encode(encoder.encode_descriptor(
            "config_version",
            "Config version this edge serves (0: none loaded yet)",
            None,
            MetricType::Gauge,
        )?)?;
        if applied_at != 0 {
            let age = unix_millis().saturating_sub(applied_at) as f64 / 1000.0;
            ConstGauge::new(age).encode(encoder.encode_descriptor(
                "config_age_seconds",
                "Seconds since this edge installed the config version it serves (a snapshot or a delta)",
                None,
                MetricType::Gauge,
            )?)?;
        }
        let redis = self.redis.get().and_then(|probe| probe());
        if let Some(redis) = redis {
            ConstGauge::new(i64::from(redis.up)).encode(encoder.encode_descriptor(
                "redis_up",
                "Whether the upstream token cache's Redis is in use (1) or skipped after a failure (0)",
                None,
                MetricType::Gauge,
            )?)?;
        }
        let mut fallbacks = encoder.encode_descriptor(
            "redis_fallbacks",
            "Operations served from process memory because Redis failed, by component",
            None,
            MetricType::Counter,
        )?;
        if let Some(redis) = redis {
            ConstCounter::new(redis.fallbacks)
                .encode(fallbacks.encode_family(&ComponentLabels { component: "token_cache" })?)?;
        }
        ConstCounter::new(self.rate_limit_fallbacks.load(Ordering::Relaxed))
            .encode(fallbacks.encode_family(&ComponentLabels { component: "rate_limit" })?)?;
        Ok(())
    }
}

/// Serves `GET /metrics` of `metrics` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<EdgeMetrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new().route("/metrics", get(render)).fallback(not_found).with_state(metrics);
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

async fn render(State(metrics): State<Arc<EdgeMetrics>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render())
}

async fn not_found() -> impl IntoResponse {
    let body = serde_json::json!({"error": {"code": "not_found", "message": "this listener serves only GET /metrics"}});
    (StatusCode::NOT_FOUND, axum::Json(body))
}
