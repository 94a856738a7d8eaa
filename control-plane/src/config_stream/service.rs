//! The tonic `ConfigDistribution` service: authenticates edges by edge token,
//! sends a snapshot after `Hello`, then every delta (only the orgs the token
//! is scoped to), records acks, and closes the stream when the token is revoked.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_proto::config::v1 as pb;
use gatehouse_proto::config::v1::config_distribution_server::ConfigDistribution;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument;

use super::{EdgeAuth, EdgeCredential, EdgeRegistry, Publisher, ScopedDelta, StreamToken};

/// How long an edge has to send its `Hello` after opening the stream.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Outbound messages buffered per edge.
const OUTBOUND_BUFFER: usize = 16;
const MAX_NODE_ID_LEN: usize = 256;
/// How often an open stream checks that its edge token is still valid (a
/// revocation on this replica closes its streams at once; this catches other
/// replicas' revocations).
const TOKEN_RECHECK_INTERVAL: Duration = Duration::from_secs(10);

type Outbound = mpsc::Sender<Result<pb::ConfigMessage, Status>>;

/// Streams config to edges.
#[derive(Clone)]
pub struct ConfigService {
    publisher: Arc<Publisher>,
    edges: Arc<EdgeRegistry>,
    auth: EdgeAuth,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for ConfigService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigService").finish_non_exhaustive()
    }
}

impl ConfigService {
    /// A service accepting the edge tokens `auth` accepts; every stream ends
    /// when `shutdown` is cancelled.
    pub fn new(
        publisher: Arc<Publisher>,
        edges: Arc<EdgeRegistry>,
        auth: EdgeAuth,
        shutdown: CancellationToken,
    ) -> Self {
        Self { publisher, edges, auth, shutdown }
    }
}

#[tonic::async_trait]
impl ConfigDistribution for ConfigService {
    type SubscribeStream = ReceiverStream<Result<pb::ConfigMessage, Status>>;

    async fn subscribe(
        &self,
        request: Request<Streaming<pb::EdgeMessage>>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let credential = match self.auth.authenticate(request.metadata()).await {
            Ok(credential) => credential,
            Err(status) => {
                tracing::warn!(remote_addr = ?request.remote_addr(), "config stream rejected: bad node token");
                return Err(status);
            }
        };
        self.auth.used(&credential).await;
        let remote_addr = request.remote_addr().map(|a| a.to_string());
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(OUTBOUND_BUFFER);
        let revoked = self.edges.revocation_of(&credential.token_id);
        let span = tracing::info_span!(
            "config_stream",
            remote_addr = remote_addr.as_deref().unwrap_or("?"),
            edge_token = %credential.token_name,
            node_id = tracing::field::Empty
        );
        let session = Session {
            service: self.clone(),
            inbound,
            tx,
            remote_addr: remote_addr.clone(),
            credential,
            revoked,
        };
        tokio::spawn(session.run().instrument(span));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// One edge's stream.
struct Session {
    service: ConfigService,
    inbound: Streaming<pb::EdgeMessage>,
    tx: Outbound,
    remote_addr: Option<String>,
    credential: EdgeCredential,
    /// Cancelled when the edge token is revoked.
    revoked: CancellationToken,
}

impl Session {
    async fn run(mut self) {
        let revoked = self.revoked.clone();
        self.serve().await;
        // Lets the registry forget this stream.
        revoked.cancel();
    }

    async fn serve(&mut self) {
        let shutdown = self.service.shutdown.clone();
        let hello = tokio::select! {
            () = shutdown.cancelled() => return,
            hello = tokio::time::timeout(HELLO_TIMEOUT, self.inbound.next()) => hello,
        };
        let hello = match hello {
            Ok(Some(Ok(pb::EdgeMessage { kind: Some(pb::edge_message::Kind::Hello(hello)) }))) => hello,
            Ok(Some(Ok(_))) => {
                return self.fail(Status::invalid_argument("the first message must be Hello")).await
            }
            Ok(Some(Err(status))) => {
                tracing::debug!(%status, "edge stream failed before hello");
                return;
            }
            Ok(None) => return,
            Err(_) => return self.fail(Status::deadline_exceeded("no Hello received in time")).await,
        };
        if hello.node_id.is_empty() || hello.node_id.len() > MAX_NODE_ID_LEN {
            return self.fail(Status::invalid_argument("node_id must be 1-256 bytes")).await;
        }
        let node_id = hello.node_id.clone();
        tracing::Span::current().record("node_id", node_id.as_str());
        let edges = self.service.edges.clone();
        let token = StreamToken { id: &self.credential.token_id, name: &self.credential.token_name };
        edges.connected(
            &node_id,
            &hello.software_version,
            hello.have_version,
            self.remote_addr.take(),
            token,
        );
        tracing::info!(node_id = %node_id, have_version = hello.have_version, software_version = %hello.software_version, "edge subscribed");
        self.stream(&node_id, &shutdown).await;
        edges.disconnected(&node_id);
        tracing::info!(node_id = %node_id, "edge stream closed");
    }

    /// Sends the snapshot, then deltas until the edge leaves or the control plane stops.
    async fn stream(&mut self, node_id: &str, shutdown: &CancellationToken) {
        if self.revoked.is_cancelled() {
            return self.token_revoked(node_id).await;
        }
        let mut deltas = match self.send_snapshot().await {
            Some(rx) => rx,
            None => return,
        };
        let mut recheck = tokio::time::interval(TOKEN_RECHECK_INTERVAL);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        recheck.tick().await;
        let revoked = self.revoked.clone();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.tx.closed() => return,
                () = revoked.cancelled() => return self.token_revoked(node_id).await,
                _ = recheck.tick() => match self.service.auth.still_valid(&self.credential).await {
                    Ok(true) => {}
                    Ok(false) => return self.token_revoked(node_id).await,
                    Err(error) => tracing::warn!(node_id, %error, "checking the edge token failed"),
                },
                message = self.inbound.next() => match message {
                    Some(Ok(pb::EdgeMessage { kind: Some(pb::edge_message::Kind::Ack(ack)) })) => {
                        tracing::debug!(node_id, version = ack.version, "edge acked");
                        self.service.edges.acked(node_id, ack.version);
                    }
                    Some(Ok(_)) => {
                        tracing::debug!(node_id, "ignoring unexpected edge message");
                    }
                    Some(Err(status)) => {
                        tracing::debug!(node_id, %status, "edge stream error");
                        return;
                    }
                    None => return,
                },
                delta = deltas.recv() => match delta {
                    Ok(delta) => {
                        let delta = delta.for_orgs(self.credential.orgs.as_deref());
                        let message = pb::ConfigMessage { kind: Some(pb::config_message::Kind::Delta(delta)) };
                        if self.tx.send(Ok(message)).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        tracing::warn!(node_id, skipped, "edge lagged behind; sending a fresh snapshot");
                        match self.send_snapshot().await {
                            Some(rx) => deltas = rx,
                            None => return,
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }

    async fn send_snapshot(&self) -> Option<broadcast::Receiver<Arc<ScopedDelta>>> {
        let (snapshot, rx) = self.service.publisher.subscribe(self.credential.orgs.as_deref()).await;
        let message =
            pb::ConfigMessage { kind: Some(pb::config_message::Kind::Snapshot((*snapshot).clone())) };
        self.tx.send(Ok(message)).await.ok()?;
        Some(rx)
    }

    async fn token_revoked(&self, node_id: &str) {
        tracing::info!(node_id, token_id = %self.credential.token_id, "edge token revoked; closing its stream");
        let _ = self.tx.send(Err(Status::unauthenticated("edge token revoked"))).await;
    }

    async fn fail(&self, status: Status) {
        tracing::warn!(code = ?status.code(), message = status.message(), "rejecting config stream");
        let _ = self.tx.send(Err(status)).await;
    }
}
