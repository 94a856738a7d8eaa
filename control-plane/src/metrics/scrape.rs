//! What a scrape computes when it happens (published version, connected edges and their
//! lag), and the `/metrics` HTTP endpoint.

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
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use tokio::net::TcpListener;

use super::ControlPlaneMetrics;

/// `Content-Type` of `/metrics`: the Prometheus text format, version 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// One edge this replica knows, as a scrape sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeSample {
    /// The node id the edge reported.
    pub node_id: String,
    /// Whether a stream from it is open on this replica.
    pub connected: bool,
    /// The last version it acknowledged.
    pub acked_version: Option<u64>,
}

/// The edges this replica knows, asked at each scrape.
pub type EdgesProbe = Box<dyn Fn() -> Vec<EdgeSample> + Send + Sync>;

#[derive(Default)]
pub(super) struct ScrapeState {
    pub(super) version: AtomicU64,
    pub(super) edges: OnceLock<EdgesProbe>,
}

impl std::fmt::Debug for ScrapeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapeState").field("version", &self.version).finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabels {
    node: String,
}

impl Collector for ScrapeState {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let version = self.version.load(Ordering::Relaxed);
        ConstGauge::new(version as i64).encode(encoder.encode_descriptor(
            "control_plane_config_version",
            "Config version this replica last published to its edges",
            None,
            MetricType::Gauge,
        )?)?;
        let edges = self.edges.get().map(|probe| probe()).unwrap_or_default();
        let connected: Vec<&EdgeSample> = edges.iter().filter(|e| e.connected).collect();
        ConstGauge::new(connected.len() as i64).encode(encoder.encode_descriptor(
            "control_plane_edges_connected",
            "Edges with a config stream open to this replica",
            None,
            MetricType::Gauge,
        )?)?;
        let mut lag = encoder.encode_descriptor(
            "control_plane_edge_lag_versions",
            "Versions a connected edge is behind this replica's published version (published - acknowledged)",
            None,
            MetricType::Gauge,
        )?;
        for edge in connected {
            // An edge that acknowledged nothing yet is as far behind as the whole history.
            let behind = version.saturating_sub(edge.acked_version.unwrap_or(0));
            ConstGauge::new(behind as i64)
                .encode(lag.encode_family(&NodeLabels { node: edge.node_id.clone() })?)?;
        }
        Ok(())
    }
}

/// Serves `GET /metrics` of `metrics` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<ControlPlaneMetrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new().route("/metrics", get(render)).fallback(not_found).with_state(metrics);
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

async fn render(State(metrics): State<Arc<ControlPlaneMetrics>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render())
}

async fn not_found() -> impl IntoResponse {
    let body = serde_json::json!({"error": {"code": "not_found", "message": "this listener serves only GET /metrics"}});
    (StatusCode::NOT_FOUND, axum::Json(body))
}
