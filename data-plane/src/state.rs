//! State shared by the edge's config client and its request path.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config_view::ConfigView;
use crate::elicitation_streams::ElicitationStreams;
use crate::metrics::EdgeMetrics;

/// The config the edge currently serves plus its connection status.
///
/// Requests call [`EdgeState::config`] once and use that one immutable view
/// for their whole life; the config client swaps in new views atomically.
#[derive(Default)]
pub struct EdgeState {
    config: ArcSwap<ConfigView>,
    loaded: AtomicBool,
    connected: AtomicBool,
    elicitation_streams: Arc<ElicitationStreams>,
    metrics: Arc<EdgeMetrics>,
}

// Only what the served view's own (redacting) Debug shows, plus the flags.
impl std::fmt::Debug for EdgeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeState")
            .field("config", &*self.config.load())
            .field("loaded", &self.loaded.load(Ordering::Relaxed))
            .field("connected", &self.connected.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl EdgeState {
    /// An edge with no config yet (not ready).
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The config to use for one request.
    pub fn config(&self) -> Arc<ConfigView> {
        self.config.load_full()
    }

    /// Installs a new config version; the edge is ready from then on.
    ///
    /// URL elicitations the new version reports completed for the first time
    /// are announced on the open streams of their sessions.
    pub fn install(&self, view: ConfigView) {
        let view = Arc::new(view);
        self.metrics.config_applied(view.version());
        let previous = self.config.swap(view.clone());
        self.loaded.store(true, Ordering::Release);
        for completion in view.elicitations_completed_since(&previous) {
            let streams = self.elicitation_streams.complete(completion);
            tracing::debug!(
                elicitation_id = %completion.elicitation_id,
                streams,
                "url elicitation completed"
            );
        }
    }

    /// The open standalone SSE streams, by session.
    pub fn elicitation_streams(&self) -> &Arc<ElicitationStreams> {
        &self.elicitation_streams
    }

    /// The edge's metrics, recorded by every part of it.
    pub fn metrics(&self) -> &Arc<EdgeMetrics> {
        &self.metrics
    }

    /// Whether a config (from the control plane or the local cache) is loaded.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// Whether the config stream to the control plane is currently up.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Records whether the config stream is up.
    pub fn set_connected(&self, up: bool) {
        self.connected.store(up, Ordering::Release);
    }
}
