//! The tonic `ConfigDistribution` service: authenticates edges by node token,
//! sends a snapshot after `Hello`, then every delta, and records acks.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_proto::config::v1 as pb;
use gatehouse_proto::config::v1::config_distribution_server::ConfigDistribution;
use subtle::ConstantTimeEq;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument;

use super::{EdgeRegistry, Publisher};

/// How long an edge has to send its `Hello` after opening the stream.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Outbound messages buffered per edge.
const OUTBOUND_BUFFER: usize = 16;
const MAX_NODE_ID_LEN: usize = 256;

type Outbound = mpsc::Sender<Result<pb::ConfigMessage, Status>>;

/// Streams config to edges.
#[derive(Clone)]
pub struct ConfigService {
    publisher: Arc<Publisher>,
    edges: Arc<EdgeRegistry>,
    node_token_hashes: Arc<[[u8; 32]]>,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for ConfigService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigService").finish_non_exhaustive()
    }
}

impl ConfigService {
    /// A service accepting the node tokens whose SHA-256 is in `node_token_hashes`;
    /// every stream ends when `shutdown` is cancelled.
    pub fn new(
        publisher: Arc<Publisher>,
        edges: Arc<EdgeRegistry>,
        node_token_hashes: Vec<[u8; 32]>,
        shutdown: CancellationToken,
    ) -> Self {
        Self { publisher, edges, node_token_hashes: node_token_hashes.into(), shutdown }
    }

    fn authenticate(&self, metadata: &tonic::metadata::MetadataMap) -> Result<(), Status> {
        check_node_token(&self.node_token_hashes, metadata)
    }
}

/// Checks the `authorization: Bearer <node token>` metadata against the known
/// node-token hashes (shared by every edge-facing gRPC service).
pub(crate) fn check_node_token(
    node_token_hashes: &[[u8; 32]],
    metadata: &tonic::metadata::MetadataMap,
) -> Result<(), Status> {
    let presented = metadata
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or_else(|| Status::unauthenticated("missing node token"))?;
    let hash = gatehouse_config::token_hash::hash_token(presented);
    // Check every configured token so timing does not reveal which one matched.
    let matched =
        node_token_hashes.iter().fold(subtle::Choice::from(0), |acc, known| acc | known.ct_eq(&hash));
    if bool::from(matched) {
        Ok(())
    } else {
        Err(Status::unauthenticated("invalid node token"))
    }
}

#[tonic::async_trait]
impl ConfigDistribution for ConfigService {
    type SubscribeStream = ReceiverStream<Result<pb::ConfigMessage, Status>>;

    async fn subscribe(
        &self,
        request: Request<Streaming<pb::EdgeMessage>>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        if let Err(status) = self.authenticate(request.metadata()) {
            tracing::warn!(remote_addr = ?request.remote_addr(), "config stream rejected: bad node token");
            return Err(status);
        }
        let remote_addr = request.remote_addr().map(|a| a.to_string());
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(OUTBOUND_BUFFER);
        let session = Session { service: self.clone(), inbound, tx, remote_addr: remote_addr.clone() };
        let span = tracing::info_span!(
            "config_stream",
            remote_addr = remote_addr.as_deref().unwrap_or("?"),
            node_id = tracing::field::Empty
        );
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
}

impl Session {
    async fn run(mut self) {
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
        edges.connected(&node_id, &hello.software_version, hello.have_version, self.remote_addr.take());
        tracing::info!(node_id = %node_id, have_version = hello.have_version, software_version = %hello.software_version, "edge subscribed");
        self.stream(&node_id, &shutdown).await;
        edges.disconnected(&node_id);
        tracing::info!(node_id = %node_id, "edge stream closed");
    }

    /// Sends the snapshot, then deltas until the edge leaves or the control plane stops.
    async fn stream(&mut self, node_id: &str, shutdown: &CancellationToken) {
        let mut deltas = match self.send_snapshot().await {
            Some(rx) => rx,
            None => return,
        };
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.tx.closed() => return,
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
                        let message = pb::ConfigMessage { kind: Some(pb::config_message::Kind::Delta((*delta).clone())) };
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

    async fn send_snapshot(&self) -> Option<broadcast::Receiver<Arc<pb::Delta>>> {
        let (snapshot, rx) = self.service.publisher.subscribe().await;
        let message =
            pb::ConfigMessage { kind: Some(pb::config_message::Kind::Snapshot((*snapshot).clone())) };
        self.tx.send(Ok(message)).await.ok()?;
        Some(rx)
    }

    async fn fail(&self, status: Status) {
        tracing::warn!(code = ?status.code(), message = status.message(), "rejecting config stream");
        let _ = self.tx.send(Err(status)).await;
    }
}
