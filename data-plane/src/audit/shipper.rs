//! Ships buffered audit events to the control plane's `AuditSink`: one stream,
//! one batch in flight, each batch kept (encoded, [`super::wire`]) until its ack arrives. When the stream
//! fails the batch is re-sent on the next stream with the same event ids, which
//! the control plane stores once; meanwhile new events wait in the bounded
//! queue. A batch the control plane refuses outright (another org's events, a
//! malformed event) is dropped and counted, so one bad batch cannot stall the rest.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gatehouse_proto::audit::v1 as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::Code;

use super::wire::{self, EncodedBatch};
use super::AuditQueue;
use crate::control_plane::ControlPlaneChannel;
use crate::metrics::EdgeMetrics;

/// How long a batch waits for its ack before the stream is considered dead.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait between reconnects.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long events may gather before a partial batch is shipped.
const LINGER: Duration = Duration::from_millis(200);

/// How long a stopping edge waits for its buffered events to ship.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// A running shipper and its queue.
#[derive(Debug)]
pub struct ShipperHandle {
    queue: Arc<AuditQueue>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl ShipperHandle {
    /// The queue the request path records into.
    pub fn queue(&self) -> Arc<AuditQueue> {
        self.queue.clone()
    }

    /// Gives the buffered events a moment to ship, then stops.
    pub async fn stop(self) {
        let flushed = tokio::time::timeout(FLUSH_TIMEOUT, async {
            while !self.queue.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        if flushed.is_err() {
            tracing::warn!(buffered = self.queue.len(), "audit events not shipped before shutdown");
        }
        self.cancel.cancel();
        let _ = self.task.await;
    }
}

/// Starts shipping `config`'s audit events over `channel`.
pub fn spawn(
    config: &crate::config::EdgeConfig,
    channel: &ControlPlaneChannel,
    metrics: Arc<EdgeMetrics>,
) -> ShipperHandle {
    let queue = Arc::new(AuditQueue::new(config.audit.buffer));
    let cancel = CancellationToken::new();
    let shipper = Shipper {
        batch: config.audit.batch,
        node_id: config.node_id.clone(),
        reconnect_min: config.reconnect_min,
        metrics,
        drops_counted: AtomicU64::new(0),
    };
    let task = tokio::spawn(shipper.run(queue.clone(), channel.clone(), cancel.clone()));
    ShipperHandle { queue, cancel, task }
}

/// The shipper's settings.
#[derive(Debug)]
pub struct Shipper {
    /// Events per batch.
    pub batch: usize,
    /// This edge's node id, named in each batch.
    pub node_id: String,
    /// First reconnect delay.
    pub reconnect_min: Duration,
    /// Where shipped and dropped events are counted.
    pub metrics: Arc<EdgeMetrics>,
    /// The queue's drops already counted in `metrics`.
    pub drops_counted: AtomicU64,
}

enum StreamEnd {
    Cancelled,
    Failed,
}

impl Shipper {
    /// Ships events from `queue` until `cancel`.
    pub async fn run(self, queue: Arc<AuditQueue>, channel: ControlPlaneChannel, cancel: CancellationToken) {
        let mut pending: Option<EncodedBatch> = None;
        let mut seq = 0u64;
        let mut backoff = self.reconnect_min;
        loop {
            match self.stream(&queue, &channel, &cancel, &mut pending, &mut seq).await {
                StreamEnd::Cancelled => return,
                StreamEnd::Failed => {}
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One `Ship` stream: sends batches one at a time until it fails or `cancel`.
    async fn stream(
        &self,
        queue: &AuditQueue,
        channel: &ControlPlaneChannel,
        cancel: &CancellationToken,
        pending: &mut Option<EncodedBatch>,
        seq: &mut u64,
    ) -> StreamEnd {
        let (tx, rx) = mpsc::channel(1);
        let mut request = tonic::Request::new(ReceiverStream::new(rx));
        request.metadata_mut().insert("authorization", channel.authorization().clone());
        let mut acks = match ship(channel, request).await {
            Ok(acks) => acks,
            Err(status) => {
                tracing::debug!(%status, "audit sink unavailable");
                return StreamEnd::Failed;
            }
        };
        loop {
            if pending.is_none() {
                let events = loop {
                    let events = queue.take(self.batch);
                    if !events.is_empty() {
                        break events;
                    }
                    tokio::select! {
                        () = cancel.cancelled() => return StreamEnd::Cancelled,
                        () = queue.ready() => {}
                    }
                    // Let a burst gather into one batch.
                    if queue.len() < self.batch {
                        tokio::time::sleep(LINGER).await;
                    }
                };
                *seq += 1;
                let dropped = queue.dropped();
                let counted = self.drops_counted.swap(dropped, Ordering::Relaxed);
                self.metrics.audit_events_dropped(dropped.saturating_sub(counted));
                *pending = Some(wire::encode(*seq, &self.node_id, &events, dropped));
            }
            let Some(batch) = pending.as_ref() else { continue };
            // Shared bytes: a clone is a reference count.
            if tx.send(batch.clone()).await.is_err() {
                return StreamEnd::Failed;
            }
            let ack = tokio::select! {
                () = cancel.cancelled() => return StreamEnd::Cancelled,
                ack = tokio::time::timeout(ACK_TIMEOUT, acks.message()) => ack,
            };
            match ack {
                Ok(Ok(Some(ack))) if ack.seq == batch.seq => {
                    self.metrics.audit_events_shipped(batch.events as u64);
                    *pending = None;
                }
                Ok(Ok(Some(ack))) => {
                    tracing::warn!(
                        expected = batch.seq,
                        got = ack.seq,
                        "audit sink acknowledged another batch"
                    );
                    return StreamEnd::Failed;
                }
                Ok(Err(status))
                    if matches!(status.code(), Code::PermissionDenied | Code::InvalidArgument) =>
                {
                    tracing::error!(%status, events = batch.events, "audit sink refused a batch; dropped");
                    self.metrics.audit_events_dropped(batch.events as u64);
                    *pending = None;
                    return StreamEnd::Failed;
                }
                Ok(Err(status)) => {
                    tracing::debug!(%status, "audit stream failed");
                    return StreamEnd::Failed;
                }
                Ok(Ok(None)) | Err(_) => return StreamEnd::Failed,
            }
        }
    }
}

/// Opens the `AuditSink.Ship` stream, sending batches as the bytes [`wire`] encoded.
async fn ship(
    channel: &ControlPlaneChannel,
    request: tonic::Request<ReceiverStream<EncodedBatch>>,
) -> Result<tonic::codec::Streaming<pb::AuditAck>, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel.channel());
    grpc.ready().await.map_err(|e| tonic::Status::unavailable(format!("audit sink not ready: {e}")))?;
    let path = http::uri::PathAndQuery::from_static("/gatehouse.audit.v1.AuditSink/Ship");
    let codec = tonic_prost::ProstCodec::<EncodedBatch, pb::AuditAck>::default();
    Ok(grpc.streaming(request, path, codec).await?.into_inner())
}
