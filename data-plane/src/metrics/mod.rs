//! Prometheus metrics of the edge: the families, the typed methods that record into them,
//! and the `/metrics` endpoint on its own listener (`GATEHOUSE_EDGE_METRICS_ADDR`).
//!
//! Every family is registered once, when the handle is built; recording is a hash lookup
//! under the family's read lock plus an atomic add. Label values are bounded: org and server
//! come from the config, methods from a fixed list ([`labels::method_label`]), tools are
//! capped per server ([`MAX_TOOL_LABELS_PER_SERVER`]), reasons are `&'static str`s.
//! docs/metrics.md lists every metric.

pub mod labels;
mod memo;
mod request;
mod scrape;
mod tool_names;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

pub use request::RequestRecord;
pub use scrape::{serve, CONTENT_TYPE};
pub use tool_names::{MAX_TOOL_LABELS_PER_SERVER, MAX_TOOL_LABEL_BYTES};

use labels::{ReasonLabels, RequestLabels, ResultLabels, ServerLabels, ToolLabels};
use tool_names::ToolNames;

/// The id of the next [`EdgeMetrics`] made.
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Buckets of the request and upstream duration histograms, in seconds: 1 ms to 30 s.
const DURATION_BUCKETS: [f64; 14] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// A histogram family with [`DURATION_BUCKETS`].
type DurationFamily = Family<ServerLabels, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// Whether the token cache's Redis is reachable right now: `None` when no Redis is configured.
/// Asked at scrape time, with the Redis failures served from memory so far.
pub type RedisProbe = Box<dyn Fn() -> Option<RedisStatus> + Send + Sync>;

/// What the token cache says about Redis at scrape time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisStatus {
    /// Redis is in use (not skipped after a failure).
    pub up: bool,
    /// Token-cache operations that failed on Redis and were served from memory.
    pub fallbacks: u64,
}

/// The edge's metrics handle: cheap to share (`Arc`), recorded into from the request path,
/// the config client and the credential broker.
pub struct EdgeMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    tool_calls: Family<ToolLabels, Counter>,
    request_duration: DurationFamily,
    upstream_duration: DurationFamily,
    auth_failures: Family<ReasonLabels, Counter>,
    rate_limited: Family<ServerLabels, Counter>,
    token_cache_hits: Counter,
    token_cache_misses: Counter,
    token_refreshes: Family<ResultLabels, Counter>,
    audit_shipped: Counter,
    audit_dropped: Counter,
    sse_streams: Gauge,
    tool_names: ToolNames,
    unknown: Arc<str>,
    scrape: Arc<scrape::ScrapeState>,
    /// Tells this handle's per-thread memo of recorded handles from another's.
    id: u64,
}

impl std::fmt::Debug for EdgeMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeMetrics").finish_non_exhaustive()
    }
}

impl Default for EdgeMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl EdgeMetrics {
    /// Every family registered, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("gatehouse");
        let requests = Family::default();
        registry.register(
            "mcp_requests",
            "MCP requests by org, server, MCP method, decision (allow: forwarded upstream; deny: answered by the edge) and HTTP status",
            requests.clone(),
        );
        let tool_calls = Family::default();
        registry.register(
            "tool_calls",
            "tools/call requests by org, server, tool (capped per server, the rest as other) and decision",
            tool_calls.clone(),
        );
        let request_duration: DurationFamily = Family::new_with_constructor(duration_histogram);
        registry.register(
            "mcp_request_duration_seconds",
            "Time from the request's arrival to the response head, by org and server",
            request_duration.clone(),
        );
        let upstream_duration: DurationFamily = Family::new_with_constructor(duration_histogram);
        registry.register(
            "upstream_request_duration_seconds",
            "Time from sending a request upstream to the upstream's response head, by org and server",
            upstream_duration.clone(),
        );
        let auth_failures = Family::default();
        registry.register(
            "auth_failures",
            "Requests refused for their credential, by reason (missing_token, invalid_token, token_expired, ...)",
            auth_failures.clone(),
        );
        let rate_limited = Family::default();
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit, by org and server",
            rate_limited.clone(),
        );
        let token_cache_hits = Counter::default();
        registry.register(
            "token_cache_hits",
            "Upstream access tokens served from the token cache",
            token_cache_hits.clone(),
        );
        let token_cache_misses = Counter::default();
        registry.register(
            "token_cache_misses",
            "Upstream token lookups the cache could not serve (fetched or refreshed instead)",
            token_cache_misses.clone(),
        );
        let token_refreshes = Family::default();
        registry.register(
            "token_refreshes",
            "Upstream access-token refreshes this edge ran, by result (ok, error)",
            token_refreshes.clone(),
        );
        let audit_shipped = Counter::default();
        registry.register(
            "audit_events_shipped",
            "Audit events acknowledged by the control plane",
            audit_shipped.clone(),
        );
        let audit_dropped = Counter::default();
        registry.register(
            "audit_events_dropped",
            "Audit events dropped because the edge's audit buffer was full",
            audit_dropped.clone(),
        );
        let sse_streams = Gauge::default();
        registry.register("sse_streams_open", "Event streams open to clients", sse_streams.clone());
        let scrape = Arc::new(scrape::ScrapeState::default());
        registry.register_collector(Box::new(scrape.clone()));
        Self {
            registry,
            requests,
            tool_calls,
            request_duration,
            upstream_duration,
            auth_failures,
            rate_limited,
            token_cache_hits,
            token_cache_misses,
            token_refreshes,
            audit_shipped,
            audit_dropped,
            sse_streams,
            tool_names: ToolNames::default(),
            unknown: Arc::from(labels::UNKNOWN),
            scrape,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The label of an org or server the config does not know.
    pub fn unknown(&self) -> &Arc<str> {
        &self.unknown
    }

    /// One MCP request answered (its head sent) after `elapsed`.
    pub fn mcp_request(&self, labels: &RequestLabels, elapsed: Duration) {
        let lookup = || {
            let server = ServerLabels { org: labels.org.clone(), server: labels.server.clone() };
            (
                self.requests.get_or_create(labels).clone(),
                self.request_duration.get_or_create(&server).clone(),
            )
        };
        let record = |(requests, duration): &(Counter, Histogram)| {
            requests.inc();
            duration.observe(elapsed.as_secs_f64());
        };
        if memo::with(self.id, |memo| record(memo.request(labels, lookup))).is_none() {
            record(&lookup());
        }
    }

    /// The `tool` label of `tool` on `server` of `org` (interned, capped per server).
    pub fn tool_label(&self, org: &Arc<str>, server: &Arc<str>, tool: &str) -> Arc<str> {
        self.tool_names.label(org, server, tool)
    }

    /// One `tools/call` decided.
    pub fn tool_call(&self, labels: &ToolLabels) {
        let lookup = || self.tool_calls.get_or_create(labels).clone();
        if memo::with(self.id, |memo| memo.tool(labels, lookup).inc()).is_none() {
            lookup().inc();
        }
    }

    /// The upstream answered (head) after `elapsed`.
    pub fn upstream_request(&self, server: &ServerLabels, elapsed: Duration) {
        let lookup = || self.upstream_duration.get_or_create(server).clone();
        if memo::with(self.id, |memo| memo.upstream(server, lookup).observe(elapsed.as_secs_f64())).is_none()
        {
            lookup().observe(elapsed.as_secs_f64());
        }
    }

    /// A request refused for its credential, with the edge error's reason.
    pub fn auth_failure(&self, reason: &'static str) {
        self.auth_failures.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// A request refused by a rate limit.
    pub fn rate_limited(&self, server: &ServerLabels) {
        self.rate_limited.get_or_create(server).inc();
    }

    /// An upstream token served from the cache.
    pub fn token_cache_hit(&self) {
        self.token_cache_hits.inc();
    }

    /// An upstream token the cache could not serve.
    pub fn token_cache_miss(&self) {
        self.token_cache_misses.inc();
    }

    /// A refresh of an upstream token finished.
    pub fn token_refresh(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.token_refreshes.get_or_create(&ResultLabels { result }).inc();
    }

    /// `n` audit events acknowledged by the control plane.
    pub fn audit_events_shipped(&self, n: u64) {
        self.audit_shipped.inc_by(n);
    }

    /// `n` audit events dropped (buffer full).
    pub fn audit_events_dropped(&self, n: u64) {
        self.audit_dropped.inc_by(n);
    }

    /// An operation of `component` served without Redis because Redis failed (rate limits;
    /// the token cache's own fallbacks are read from it at scrape time).
    pub fn redis_fallback(&self, component: RedisComponent) {
        match component {
            RedisComponent::RateLimit => self.scrape.rate_limit_fallbacks.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// An event stream to a client opened; the guard closes it in the gauge when dropped.
    pub fn sse_stream_opened(self: &Arc<Self>) -> SseStreamGuard {
        self.sse_streams.inc();
        SseStreamGuard { metrics: self.clone() }
    }

    /// A config version was installed (from the control plane or the local cache).
    pub fn config_applied(&self, version: u64) {
        self.scrape.config_applied(version);
    }

    /// Asks `probe` about the token cache's Redis at each scrape.
    pub fn watch_redis(&self, probe: RedisProbe) {
        if self.scrape.redis.set(probe).is_err() {
            tracing::warn!("redis probe already set on the edge metrics; ignored");
        }
    }

    /// The metrics in the Prometheus text format (0.0.4).
    pub fn render(&self) -> String {
        let mut text = String::with_capacity(16 * 1024);
        // Writing to a String cannot fail; an encoder error would be a bug in a collector.
        if let Err(err) = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry) {
            tracing::error!(%err, "encoding the edge metrics failed");
        }
        text
    }
}

/// What falls back to process memory when Redis fails, besides the token cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisComponent {
    /// Rate-limit counters.
    RateLimit,
}

/// An open event stream, counted in `gatehouse_sse_streams_open` until dropped.
#[derive(Debug)]
pub struct SseStreamGuard {
    metrics: Arc<EdgeMetrics>,
}

impl Drop for SseStreamGuard {
    fn drop(&mut self) {
        self.metrics.sse_streams.dec();
    }
}

/// Milliseconds since the Unix epoch (the config age's reference).
fn unix_millis() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
