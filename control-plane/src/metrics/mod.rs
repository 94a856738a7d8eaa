//! Prometheus metrics of the control plane: the families, the typed methods that record into
//! them, the admin API's request layer ([`track_api_requests`]) and `/metrics` on its own
//! listener (`GATEHOUSE_METRICS_ADDR`).
//!
//! The listener is separate from the admin API on purpose: metrics name every org's servers
//! and traffic, and the admin API is public. Imports no other module of the crate, so every
//! layer may record into it. docs/metrics.md lists every metric.

mod api_requests;
mod scrape;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

pub use api_requests::track_api_requests;
pub use scrape::{serve, EdgeSample, EdgesProbe, CONTENT_TYPE};

/// Buckets of the publish duration histogram, in seconds: 1 ms to 10 s.
const PUBLISH_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// `gatehouse_api_requests_total`: the matched route template (never the raw path, which
/// would carry org slugs and ids), the HTTP method and the status code.
/// Where an audit event came from: an admin change or an edge's batch.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuditSourceLabels {
    /// `admin` or `edge`.
    pub source: &'static str,
}

/// An audit export destination: `webhook` or `otlp`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExportLabels {
    /// `webhook` or `otlp`.
    pub destination: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiRequestLabels {
    pub route: Arc<str>,
    pub method: &'static str,
    pub status: u16,
}

/// The control plane's metrics handle, shared (`Arc`) by the publisher, the HTTP layer and
/// whatever writes audit events.
pub struct ControlPlaneMetrics {
    registry: Registry,
    api_requests: Family<ApiRequestLabels, Counter>,
    publish_duration: Histogram,
    audit_written: Family<AuditSourceLabels, Counter>,
    bursts: Family<AuditSourceLabels, Counter>,
    export_delivered: Family<ExportLabels, Counter>,
    export_failed: Family<ExportLabels, Counter>,
    export_backlog: Family<ExportLabels, Gauge>,
    scrape: Arc<scrape::ScrapeState>,
    /// Interned `route` label values (the router's templates, a fixed set).
    routes: RwLock<HashMap<Box<str>, Arc<str>>>,
}

impl std::fmt::Debug for ControlPlaneMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlaneMetrics").finish_non_exhaustive()
    }
}

impl Default for ControlPlaneMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ControlPlaneMetrics {
    /// Every family registered, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("gatehouse");
        let api_requests = Family::default();
        registry.register(
            "api_requests",
            "Requests to the admin API listener by route template, HTTP method and status",
            api_requests.clone(),
        );
        let publish_duration = Histogram::new(PUBLISH_BUCKETS);
        registry.register(
            "control_plane_publish_duration_seconds",
            "Time to publish one config delta: read the outbox and the touched entries, diff, broadcast",
            publish_duration.clone(),
        );
        let audit_written = Family::<AuditSourceLabels, Counter>::default();
        registry.register(
            "audit_events_written",
            "Audit events written to the database (the write rate is its rate())",
            audit_written.clone(),
        );
        let bursts = Family::<AuditSourceLabels, Counter>::default();
        registry.register(
            "auth_failure_bursts",
            "Failed-authentication bursts recorded (one auth_failure_burst event each), by where the failures happened",
            bursts.clone(),
        );
        let export_delivered = Family::<ExportLabels, Counter>::default();
        registry.register(
            "audit_export_delivered",
            "Audit events acknowledged by an export destination",
            export_delivered.clone(),
        );
        let export_failed = Family::<ExportLabels, Counter>::default();
        registry.register(
            "audit_export_failed",
            "Failed attempts to deliver a batch of audit events to an export destination",
            export_failed.clone(),
        );
        let export_backlog = Family::<ExportLabels, Gauge>::default();
        registry.register(
            "audit_export_backlog",
            "Audit events waiting for the export destinations this replica delivers, as of its last round",
            export_backlog.clone(),
        );
        let scrape = Arc::new(scrape::ScrapeState::default());
        registry.register_collector(Box::new(scrape.clone()));
        Self {
            registry,
            api_requests,
            publish_duration,
            audit_written,
            bursts,
            export_delivered,
            export_failed,
            export_backlog,
            scrape,
            routes: RwLock::default(),
        }
    }

    /// One admin API request answered.
    pub fn api_request(&self, labels: &ApiRequestLabels) {
        self.api_requests.get_or_create(labels).inc();
    }

    /// The publisher published `version` (at start, or a delta that took `elapsed`).
    pub fn config_published(&self, version: u64, elapsed: Option<Duration>) {
        self.scrape.version.store(version, Ordering::Relaxed);
        if let Some(elapsed) = elapsed {
            self.publish_duration.observe(elapsed.as_secs_f64());
        }
    }

    /// `n` audit rows of admin changes committed.
    pub fn admin_audit_rows_written(&self, n: u64) {
        self.audit_written.get_or_create(&AuditSourceLabels { source: "admin" }).inc_by(n);
    }

    /// `n` audit events of edges stored.
    pub fn edge_audit_events_written(&self, n: u64) {
        self.audit_written.get_or_create(&AuditSourceLabels { source: "edge" }).inc_by(n);
    }

    /// One failed-authentication burst recorded; `source` is `admin` or `edge`.
    pub fn auth_failure_burst(&self, source: &'static str) {
        self.bursts.get_or_create(&AuditSourceLabels { source }).inc();
    }

    /// `n` audit events acknowledged by a `destination` (`webhook`, `otlp`).
    pub fn audit_export_delivered(&self, destination: &'static str, n: u64) {
        self.export_delivered.get_or_create(&ExportLabels { destination }).inc_by(n);
    }

    /// One failed delivery attempt to a `destination`.
    pub fn audit_export_failed(&self, destination: &'static str) {
        self.export_failed.get_or_create(&ExportLabels { destination }).inc();
    }

    /// Events waiting for a `destination`'s exports delivered by this replica.
    pub fn audit_export_backlog(&self, destination: &'static str, backlog: u64) {
        self.export_backlog
            .get_or_create(&ExportLabels { destination })
            .set(i64::try_from(backlog).unwrap_or(i64::MAX));
    }

    /// Asks `probe` for the edges this replica knows at each scrape.
    pub fn watch_edges(&self, probe: EdgesProbe) {
        if self.scrape.edges.set(probe).is_err() {
            tracing::warn!("edge probe already set on the control-plane metrics; ignored");
        }
    }

    /// The metrics in the Prometheus text format (0.0.4).
    pub fn render(&self) -> String {
        let mut text = String::with_capacity(16 * 1024);
        if let Err(err) = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry) {
            tracing::error!(%err, "encoding the control-plane metrics failed");
        }
        text
    }
}
