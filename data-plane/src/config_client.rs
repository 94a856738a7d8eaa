//! Subscribes to the control plane's config stream and keeps the edge's config current.
//!
//! One long-lived `Subscribe` stream per edge: `Hello` first, then a full
//! snapshot, then deltas, each acknowledged once installed. While the stream
//! is down the edge keeps serving its last good config and reconnects with
//! exponential backoff and jitter; while it waits after failing to connect, it
//! probes the control plane's addresses and reconnects as soon as one that was
//! down accepts again, so a long outage does not delay the edges once it ends.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_proto::config::v1 as pb;
use gatehouse_proto::config::v1::config_distribution_client::ConfigDistributionClient;
use rand::Rng as _;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::config::EdgeConfig;
use crate::config_view::{ApplyError, ConfigView};
use crate::control_plane::{error_chain, ControlPlaneChannel};
use crate::state::EdgeState;

/// Largest config message accepted from the control plane (tonic's default is 4 MiB).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
const SOFTWARE_VERSION: &str = env!("CARGO_PKG_VERSION");
/// How often a waiting edge probes whether the control plane accepts connections again.
const PROBE_INTERVAL: Duration = Duration::from_millis(200);

/// Why one subscription ended.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("control plane answered {code:?}: {message}")]
    Status { code: tonic::Code, message: String },
    #[error("control plane closed the config stream")]
    Closed,
    #[error("cannot apply delta: {0}")]
    Resync(#[from] ApplyError),
}

/// A call that never reached the control plane failed to connect; anything else is its answer.
fn call_error(status: tonic::Status) -> SessionError {
    match std::error::Error::source(&status) {
        Some(transport) if status.code() == tonic::Code::Unavailable => {
            SessionError::Connect(error_chain(transport))
        }
        _ => status.into(),
    }
}

impl From<tonic::Status> for SessionError {
    fn from(status: tonic::Status) -> Self {
        SessionError::Status { code: status.code(), message: status.message().to_owned() }
    }
}

/// Keeps an [`EdgeState`] in sync with the control plane.
#[derive(Debug)]
pub struct ConfigClient {
    control_plane: ControlPlaneChannel,
    node_id: String,
    state: Arc<EdgeState>,
    updates: watch::Sender<Arc<ConfigView>>,
    backoff: Backoff,
}

impl ConfigClient {
    /// A client feeding `state` from the control plane behind `control_plane` (the edge's
    /// one channel, shared with the credential broker); nothing is sent until [`run`](Self::run).
    pub fn new(config: &EdgeConfig, control_plane: ControlPlaneChannel, state: Arc<EdgeState>) -> Self {
        let (updates, _) = watch::channel(state.config());
        Self {
            node_id: control_plane.node_id().to_owned(),
            control_plane,
            state,
            updates,
            backoff: Backoff::new(config.reconnect_min, config.reconnect_max),
        }
    }

    /// Every config this client installs, for the cache writer (see [`crate::config_cache::spawn_writer`]).
    pub fn subscribe(&self) -> watch::Receiver<Arc<ConfigView>> {
        self.updates.subscribe()
    }

    /// Subscribes, applies and acknowledges config until `shutdown` is cancelled.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let span = tracing::info_span!("config_client", node_id = %self.node_id);
        async move {
            loop {
                let mut healthy = false;
                let ended = tokio::select! {
                    () = shutdown.cancelled() => break,
                    err = self.session(&mut healthy) => err,
                };
                self.state.set_connected(false);
                let retry_in = match &ended {
                    // The fresh subscription brings a snapshot, so there is nothing to wait for;
                    // a resync before any install backs off in case the control plane misbehaves.
                    SessionError::Resync(_) if healthy => Duration::ZERO,
                    _ => self.backoff.next_delay(),
                };
                let retry_in_ms = retry_in.as_millis() as u64;
                let version = self.state.config().version();
                match &ended {
                    SessionError::Status { code: tonic::Code::Unauthenticated, message } => tracing::error!(
                        reason = %message,
                        retry_in_ms,
                        "control plane rejected the node token; check GATEHOUSE_NODE_TOKEN"
                    ),
                    SessionError::Resync(err) => {
                        tracing::warn!(%err, version, retry_in_ms, "config delta out of order, resubscribing")
                    }
                    err if healthy => {
                        tracing::warn!(%err, version, retry_in_ms, "config stream lost, serving the last config")
                    }
                    err => tracing::warn!(%err, version, retry_in_ms, "cannot subscribe to the control plane"),
                }
                let probe = matches!(ended, SessionError::Connect(_));
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = self.wait(retry_in, probe) => {}
                }
            }
            self.state.set_connected(false);
            tracing::debug!("config client stopped");
        }
        .instrument(span)
        .await
    }

    /// Waits `delay` before the next attempt. With `probe` (the last attempt could not
    /// connect), the wait ends early once a probe that failed during it succeeds: the
    /// control plane was down and is back. A probe that succeeds from the start (TCP
    /// answers but, say, TLS fails) does not cut the wait, so a misconfigured edge
    /// still backs off.
    async fn wait(&self, delay: Duration, probe: bool) {
        if !probe {
            tokio::time::sleep(delay).await;
            return;
        }
        let deadline = tokio::time::Instant::now() + delay;
        let mut seen_down = false;
        loop {
            let up = tokio::select! {
                up = self.control_plane.probe() => up,
                () = tokio::time::sleep_until(deadline) => return,
            };
            if up {
                if seen_down {
                    tracing::debug!("control plane accepts connections again, reconnecting now");
                } else {
                    // It was never down to the probe: nothing to wait for but the backoff.
                    tokio::time::sleep_until(deadline).await;
                }
                return;
            }
            seen_down = true;
            let next = (tokio::time::Instant::now() + PROBE_INTERVAL).min(deadline);
            tokio::time::sleep_until(next).await;
            if next >= deadline {
                return;
            }
        }
    }

    /// One subscription, until it fails; `healthy` becomes true once a config was installed from it.
    async fn session(&mut self, healthy: &mut bool) -> SessionError {
        match self.subscribe_once(healthy).await {
            Ok(()) => SessionError::Closed,
            Err(err) => err,
        }
    }

    async fn subscribe_once(&mut self, healthy: &mut bool) -> Result<(), SessionError> {
        let mut client = ConfigDistributionClient::new(self.control_plane.channel())
            .max_decoding_message_size(MAX_MESSAGE_BYTES);

        let (outbound, outbound_rx) = mpsc::channel(16);
        let have_version = self.state.config().version();
        let hello = pb::Hello {
            node_id: self.node_id.clone(),
            have_version,
            software_version: SOFTWARE_VERSION.to_owned(),
        };
        outbound
            .send(pb::EdgeMessage { kind: Some(pb::edge_message::Kind::Hello(hello)) })
            .await
            .map_err(|_| SessionError::Closed)?;
        let mut request = tonic::Request::new(ReceiverStream::new(outbound_rx));
        request.metadata_mut().insert("authorization", self.control_plane.authorization().clone());

        let mut inbound = client.subscribe(request).await.map_err(call_error)?.into_inner();
        tracing::debug!(have_version, "config stream open");

        while let Some(message) = inbound.message().await? {
            let (view, source) = match message.kind {
                Some(pb::config_message::Kind::Snapshot(snapshot)) => {
                    let current = self.state.config().version();
                    if self.state.is_loaded() && snapshot.version < current {
                        // The control plane is the source of truth (e.g. restored from a backup).
                        tracing::warn!(
                            version = snapshot.version,
                            current,
                            "snapshot is older than the served config"
                        );
                    }
                    (ConfigView::from_snapshot(snapshot), "snapshot")
                }
                Some(pb::config_message::Kind::Delta(delta)) => (self.state.config().apply(delta)?, "delta"),
                None => {
                    tracing::debug!("ignoring an empty config message");
                    continue;
                }
            };
            let version = self.install(view, source);
            if !*healthy {
                *healthy = true;
                self.backoff.reset();
                self.state.set_connected(true);
            }
            let ack = pb::EdgeMessage { kind: Some(pb::edge_message::Kind::Ack(pb::Ack { version })) };
            outbound.send(ack).await.map_err(|_| SessionError::Closed)?;
        }
        Ok(())
    }

    fn install(&self, view: ConfigView, source: &'static str) -> u64 {
        let version = view.version();
        let (servers, workspaces, provisions, tokens) = view.counts();
        self.state.install(view);
        self.updates.send_replace(self.state.config());
        tracing::info!(version, source, servers, workspaces, provisions, tokens, "config installed");
        version
    }
}

/// Exponential backoff with jitter between `min` and `max`.
#[derive(Debug, Clone)]
struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Self {
        let max = max.max(min);
        Self { min, max, next: min }
    }

    /// The delay before the next attempt; doubles (up to `max`) on every call.
    fn next_delay(&mut self) -> Duration {
        self.next_delay_with(rand::thread_rng().gen_range(0.0..=1.0))
    }

    /// `jitter` in `[0, 1]` picks a delay between half and all of the current step, so
    /// edges that lost the control plane together don't all come back at once.
    fn next_delay_with(&mut self, jitter: f64) -> Duration {
        let step = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        step.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0)).clamp(self.min, self.max)
    }

    /// Starts over from `min` after a healthy connection.
    fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);

    #[test]
    fn backoff_stays_within_bounds_for_any_jitter() {
        for jitter in [0.0, 0.25, 0.5, 1.0, -3.0, 7.0] {
            let mut backoff = Backoff::new(MIN, MAX);
            for _ in 0..64 {
                let delay = backoff.next_delay_with(jitter);
                assert!((MIN..=MAX).contains(&delay), "{delay:?} with jitter {jitter}");
            }
        }
        let mut backoff = Backoff::new(MIN, MAX);
        for _ in 0..1000 {
            assert!((MIN..=MAX).contains(&backoff.next_delay()));
        }
    }

    #[test]
    fn backoff_grows_to_max_and_resets() {
        let mut backoff = Backoff::new(MIN, MAX);
        let delays: Vec<_> = (0..8).map(|_| backoff.next_delay_with(1.0)).collect();
        assert_eq!(delays[0], MIN);
        assert_eq!(delays[1], MIN * 2);
        assert_eq!(delays[2], MIN * 4);
        assert_eq!(delays[7], MAX);
        assert!(delays.windows(2).all(|w| w[0] <= w[1]));

        backoff.reset();
        assert_eq!(backoff.next_delay_with(1.0), MIN);
    }

    #[test]
    fn jitter_spreads_delays_over_half_a_step() {
        let mut low = Backoff::new(MIN, MAX);
        let mut high = Backoff::new(MIN, MAX);
        for _ in 0..3 {
            low.next_delay_with(0.0);
            high.next_delay_with(1.0);
        }
        assert_eq!(low.next_delay_with(0.0), MIN * 4);
        assert_eq!(high.next_delay_with(1.0), MIN * 8);
    }

    type Script = Result<Vec<pb::ConfigMessage>, tonic::Status>;

    /// What the fake control plane saw on one subscription (numbered from 0).
    #[derive(Debug)]
    enum Seen {
        Subscribe { authorization: Option<String> },
        Message { session: usize, kind: pb::edge_message::Kind },
    }

    /// A scripted control plane: each subscription gets the next script, then stays open.
    /// With no script left it answers `Unavailable`.
    struct FakeControlPlane {
        scripts: Arc<std::sync::Mutex<std::collections::VecDeque<Script>>>,
        sessions: std::sync::atomic::AtomicUsize,
        seen: mpsc::UnboundedSender<Seen>,
    }

    #[tonic::async_trait]
    impl pb::config_distribution_server::ConfigDistribution for FakeControlPlane {
        type SubscribeStream =
            std::pin::Pin<Box<dyn futures::Stream<Item = Result<pb::ConfigMessage, tonic::Status>> + Send>>;

        async fn subscribe(
            &self,
            request: tonic::Request<tonic::Streaming<pb::EdgeMessage>>,
        ) -> Result<tonic::Response<Self::SubscribeStream>, tonic::Status> {
            let session = self.sessions.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let authorization =
                request.metadata().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
            let _ = self.seen.send(Seen::Subscribe { authorization });
            let script = self.scripts.lock().unwrap().pop_front();
            let script = script.unwrap_or_else(|| Err(tonic::Status::unavailable("no script left")))?;
            let mut inbound = request.into_inner();
            let seen = self.seen.clone();
            tokio::spawn(async move {
                while let Ok(Some(message)) = inbound.message().await {
                    let _ = seen.send(Seen::Message { session, kind: message.kind.unwrap() });
                }
            });
            let messages = futures::stream::iter(script.into_iter().map(Ok));
            Ok(tonic::Response::new(Box::pin(futures::StreamExt::chain(
                messages,
                futures::stream::pending(),
            ))))
        }
    }

    fn snapshot(version: u64) -> pb::ConfigMessage {
        let snapshot = pb::Snapshot { version, state: None };
        pb::ConfigMessage { kind: Some(pb::config_message::Kind::Snapshot(snapshot)) }
    }

    fn delta(from_version: u64, version: u64) -> pb::ConfigMessage {
        let delta = pb::Delta { from_version, version, changes: vec![] };
        pb::ConfigMessage { kind: Some(pb::config_message::Kind::Delta(delta)) }
    }

    struct Harness {
        state: Arc<EdgeState>,
        scripts: Arc<std::sync::Mutex<std::collections::VecDeque<Script>>>,
        seen_rx: mpsc::UnboundedReceiver<Seen>,
        seen: Vec<Seen>,
        stop: CancellationToken,
        client: tokio::task::JoinHandle<()>,
    }

    impl Harness {
        async fn start(state: Arc<EdgeState>, scripts: Vec<Script>) -> Harness {
            let (seen_tx, seen_rx) = mpsc::unbounded_channel();
            let scripts = Arc::new(std::sync::Mutex::new(scripts.into()));
            let fake =
                FakeControlPlane { scripts: scripts.clone(), sessions: Default::default(), seen: seen_tx };
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(
                tonic::transport::Server::builder()
                    .add_service(pb::config_distribution_server::ConfigDistributionServer::new(fake))
                    .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
            );
            let mut config = EdgeConfig::new(secrecy::SecretString::from("node-token-1"));
            config.control_plane_url = format!("http://{addr}");
            config.node_id = "edge-test".into();
            config.reconnect_min = Duration::from_millis(10);
            config.reconnect_max = Duration::from_millis(50);
            let stop = CancellationToken::new();
            let channel = ControlPlaneChannel::new(&config).unwrap();
            let client = ConfigClient::new(&config, channel, state.clone());
            let client = tokio::spawn(client.run(stop.clone()));
            Harness { state, scripts, seen_rx, seen: Vec::new(), stop, client }
        }

        /// Collects what the control plane sees until `done` holds.
        async fn wait_until(&mut self, done: impl Fn(&[Seen]) -> bool) {
            while !done(&self.seen) {
                let next = tokio::time::timeout(Duration::from_secs(5), self.seen_rx.recv());
                self.seen.push(next.await.expect("timed out waiting for the edge").unwrap());
            }
        }

        async fn wait_for_ack(&mut self, version: u64) {
            self.wait_until(|seen| {
                seen.iter().any(|s| matches!(s, Seen::Message { kind: pb::edge_message::Kind::Ack(a), .. } if a.version == version))
            })
            .await;
        }

        async fn wait_for_subscriptions(&mut self, count: usize) {
            self.wait_until(|seen| {
                seen.iter().filter(|s| matches!(s, Seen::Subscribe { .. })).count() >= count
            })
            .await;
        }

        /// Messages of one subscription, in order.
        fn messages(&self, session: usize) -> Vec<&pb::edge_message::Kind> {
            let of_session = |s: &'_ Seen| matches!(s, Seen::Message { session: n, .. } if *n == session);
            self.seen
                .iter()
                .filter(|s| of_session(s))
                .map(|s| match s {
                    Seen::Message { kind, .. } => kind,
                    Seen::Subscribe { .. } => unreachable!(),
                })
                .collect()
        }

        fn hello(&self, session: usize) -> &pb::Hello {
            match self.messages(session).first() {
                Some(pb::edge_message::Kind::Hello(hello)) => hello,
                other => panic!("session {session} starts with {other:?}, not a hello"),
            }
        }

        fn acks(&self, session: usize) -> Vec<u64> {
            let acks = self.messages(session).into_iter().filter_map(|kind| match kind {
                pb::edge_message::Kind::Ack(ack) => Some(ack.version),
                pb::edge_message::Kind::Hello(_) => None,
            });
            acks.collect()
        }

        fn assert_every_subscription_authenticated(&self) {
            for seen in &self.seen {
                if let Seen::Subscribe { authorization, .. } = seen {
                    assert_eq!(authorization.as_deref(), Some("Bearer node-token-1"));
                }
            }
        }

        async fn stop(self) -> Arc<EdgeState> {
            self.stop.cancel();
            tokio::time::timeout(Duration::from_secs(5), self.client).await.unwrap().unwrap();
            assert!(!self.state.is_connected());
            self.state
        }
    }

    #[tokio::test]
    async fn installs_snapshot_then_deltas_and_acks_each_version() {
        let mut h = Harness::start(EdgeState::new(), vec![Ok(vec![snapshot(3), delta(3, 4)])]).await;
        h.wait_for_ack(4).await;
        let hello = h.hello(0);
        assert_eq!((hello.node_id.as_str(), hello.have_version), ("edge-test", 0));
        assert_eq!(hello.software_version, SOFTWARE_VERSION);
        assert_eq!(h.acks(0), [3, 4]);
        h.assert_every_subscription_authenticated();
        assert_eq!(h.state.config().version(), 4);
        assert!(h.state.is_connected());
        h.stop().await;
    }

    #[tokio::test]
    async fn resubscribes_with_its_version_after_an_out_of_order_delta() {
        let scripts = vec![Ok(vec![snapshot(3), delta(5, 6)]), Ok(vec![snapshot(6)])];
        let mut h = Harness::start(EdgeState::new(), scripts).await;
        h.wait_for_ack(6).await;
        // The ack of 3 may or may not leave before the edge drops that stream; the hello says it anyway.
        assert_eq!(h.hello(1).have_version, 3, "kept version 3 and said so");
        assert_eq!(h.acks(1), [6]);
        assert_eq!(h.state.config().version(), 6);
        h.stop().await;
    }

    #[tokio::test]
    async fn keeps_the_last_config_and_retries_when_rejected() {
        let state = EdgeState::new();
        state.install(ConfigView::from_snapshot(pb::Snapshot { version: 2, state: None }));
        let rejected = tonic::Status::unauthenticated("unknown node token");
        let mut h = Harness::start(state, vec![Err(rejected)]).await;
        // Rejected once, then unavailable: still retrying, still serving version 2.
        h.wait_for_subscriptions(3).await;
        assert!(h.state.is_loaded());
        assert_eq!(h.state.config().version(), 2);
        assert!(!h.state.is_connected());

        h.scripts.lock().unwrap().push_back(Ok(vec![snapshot(5)]));
        h.wait_for_ack(5).await;
        let last = h.seen.iter().filter(|s| matches!(s, Seen::Subscribe { .. })).count() - 1;
        assert_eq!(h.hello(last).have_version, 2);
        assert!(h.state.is_connected());
        h.assert_every_subscription_authenticated();
        let state = h.stop().await;
        assert_eq!(state.config().version(), 5);
    }
}
