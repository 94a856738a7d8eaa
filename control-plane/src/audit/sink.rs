//! The tonic `AuditSink` service: edges ship batches of audit events over one
//! stream and get each stored batch acknowledged. Authenticated with the edge
//! token like the config stream; an edge scoped to some orgs has a batch naming
//! another org refused (`PERMISSION_DENIED`). Event ids come from the edge and
//! are stored once, so a batch re-sent after a lost ack is not stored twice.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::Stream;
use gatehouse_proto::audit::v1 as pb;
use gatehouse_proto::audit::v1::audit_sink_server::AuditSink;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

use crate::config_stream::{EdgeAuth, EdgeCredential};
use crate::metrics::ControlPlaneMetrics;
use crate::store::{AuditEvent, AuditKind, Store};

/// Most events one batch may carry.
pub const MAX_BATCH_EVENTS: usize = 1000;
/// Longest text field of an event.
const MAX_FIELD_LEN: usize = 1024;

/// Serves `AuditSink` to authenticated edges.
#[derive(Clone)]
pub struct AuditSinkService {
    store: Store,
    auth: EdgeAuth,
    /// Ends every open stream at shutdown, so the server drains.
    shutdown: CancellationToken,
    /// Where stored events are counted.
    metrics: Arc<ControlPlaneMetrics>,
}

impl std::fmt::Debug for AuditSinkService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSinkService").finish_non_exhaustive()
    }
}

impl AuditSinkService {
    /// A service accepting the edge tokens `auth` accepts; its streams end at `shutdown`.
    pub fn new(
        store: Store,
        auth: EdgeAuth,
        metrics: Arc<ControlPlaneMetrics>,
        shutdown: CancellationToken,
    ) -> Self {
        Self { store, auth, metrics, shutdown }
    }
}

type AckStream = Pin<Box<dyn Stream<Item = Result<pb::AuditAck, Status>> + Send>>;

#[tonic::async_trait]
impl AuditSink for AuditSinkService {
    type ShipStream = AckStream;

    async fn ship(
        &self,
        request: Request<Streaming<pb::AuditBatch>>,
    ) -> Result<Response<Self::ShipStream>, Status> {
        let credential = self.auth.authenticate(request.metadata()).await?;
        let mut batches = request.into_inner();
        let (tx, rx) = mpsc::channel(4);
        let this = self.clone();
        tokio::spawn(async move {
            // Orgs this stream may write: checked once per org.
            let mut orgs: HashMap<String, bool> = HashMap::new();
            loop {
                let next = tokio::select! {
                    () = this.shutdown.cancelled() => return,
                    next = batches.message() => next,
                };
                let batch = match next {
                    Ok(Some(batch)) => batch,
                    Ok(None) => return,
                    Err(status) => {
                        tracing::debug!(%status, "audit stream ended");
                        return;
                    }
                };
                let answer = this.store_batch(&credential, &mut orgs, batch).await;
                let failed = answer.is_err();
                if tx.send(answer).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

impl AuditSinkService {
    async fn store_batch(
        &self,
        credential: &EdgeCredential,
        orgs: &mut HashMap<String, bool>,
        batch: pb::AuditBatch,
    ) -> Result<pb::AuditAck, Status> {
        if batch.events.len() > MAX_BATCH_EVENTS {
            return Err(Status::invalid_argument(format!(
                "a batch carries at most {MAX_BATCH_EVENTS} events"
            )));
        }
        if !self
            .auth
            .still_valid(credential)
            .await
            .map_err(|_| Status::unavailable("edge token check failed"))?
        {
            return Err(Status::unauthenticated("the edge token was revoked"));
        }
        let edge = clip(batch.edge);
        let mut events = Vec::with_capacity(batch.events.len());
        let mut failures = Vec::new();
        for event in batch.events {
            let event = from_wire(event, &edge)?;
            if !self.org_allowed(credential, orgs, &event.org_id).await? {
                continue;
            }
            if event.kind == AuditKind::AuthFailure.as_str() {
                failures.push(event);
            } else {
                events.push(event);
            }
        }
        let stored = self.store.insert_edge_audit_events(events).await.map_err(|error| {
            tracing::error!(%error, "storing audit events failed");
            Status::unavailable("storing audit events failed")
        })?;
        self.metrics.edge_audit_events_written(stored);
        if !failures.is_empty() {
            crate::audit::record_auth_failures(
                &self.store,
                &self.metrics,
                crate::audit::BurstSource::Edge,
                failures,
            )
            .await;
        }
        if batch.dropped_total > 0 {
            tracing::warn!(
                edge,
                dropped_total = batch.dropped_total,
                "edge dropped audit events (buffer full)"
            );
        }
        Ok(pb::AuditAck { seq: batch.seq, stored })
    }

    /// Whether the stream may write events of `org_id`: a scoped edge only its
    /// orgs' (else the batch is refused); an org that does not exist is skipped.
    async fn org_allowed(
        &self,
        credential: &EdgeCredential,
        orgs: &mut HashMap<String, bool>,
        org_id: &str,
    ) -> Result<bool, Status> {
        if let Some(known) = orgs.get(org_id) {
            return if *known { Ok(true) } else { Ok(false) };
        }
        let org = self.store.org_by_id(org_id).await.map_err(|_| Status::unavailable("org lookup failed"))?;
        let allowed = match org {
            Some(org) if credential.allows(&org.slug) => true,
            Some(_) => return Err(Status::permission_denied("this edge token is not scoped to that org")),
            None => false,
        };
        orgs.insert(org_id.to_owned(), allowed);
        Ok(allowed)
    }
}

fn clip(mut text: String) -> String {
    if text.len() > MAX_FIELD_LEN {
        let mut end = MAX_FIELD_LEN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then(|| clip(text))
}

/// An edge's event as stored; only the kinds edges record are accepted.
fn from_wire(e: pb::AuditEvent, edge: &str) -> Result<AuditEvent, Status> {
    let kind = AuditKind::parse(&e.kind)
        .filter(|k| matches!(k, AuditKind::ToolCall | AuditKind::McpRequest | AuditKind::AuthFailure))
        .ok_or_else(|| Status::invalid_argument("kind must be tool_call, mcp_request or auth_failure"))?;
    if uuid::Uuid::parse_str(&e.id).is_err() {
        return Err(Status::invalid_argument("event ids are UUIDs"));
    }
    if !matches!(e.decision.as_str(), "allow" | "deny") {
        return Err(Status::invalid_argument("decision must be allow or deny"));
    }
    let occurred_at = DateTime::<Utc>::from_timestamp_millis(e.occurred_at_ms)
        .ok_or_else(|| Status::invalid_argument("occurred_at_ms is out of range"))?;
    let big = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let detail = captured_detail(e.arguments, e.result);
    Ok(AuditEvent {
        id: e.id,
        org_id: clip(e.org_id),
        seq: None,
        kind: kind.as_str().to_owned(),
        occurred_at,
        actor: None,
        user: non_empty(e.user),
        identity_source: non_empty(e.identity_source),
        workspace: non_empty(e.workspace),
        server: non_empty(e.server),
        method: non_empty(e.method),
        tool: non_empty(e.tool),
        decision: Some(e.decision),
        reason: non_empty(e.reason),
        jsonrpc_code: e.jsonrpc_code,
        upstream_status: e.upstream_status.and_then(|s| i32::try_from(s).ok()),
        latency_ms: Some(big(e.latency_ms)),
        request_bytes: Some(big(e.request_bytes)),
        response_bytes: e.response_bytes.map(big),
        trace_id: non_empty(e.trace_id),
        session_hash: non_empty(e.session_hash),
        client_address: non_empty(e.client_address),
        request_id: None,
        action: None,
        target: None,
        edge: non_empty(edge.to_owned()),
        detail,
    })
}

/// The largest recorded arguments or result accepted from an edge: the edges
/// cut each to at most `MAX_MAX_BYTES` of text, plus the record's own framing.
const MAX_CAPTURE_LEN: usize = gatehouse_config::audit::capture::MAX_MAX_BYTES as usize + 1024;

/// The `detail` of a tool call whose server opted in to recording its arguments
/// or result: `{arguments, result}`, each as the edge recorded it. The edge
/// redacted them; the control plane applies the same rule again, so an edge of
/// an older release cannot store a secret either. Oversized or unparsable parts
/// are left out.
fn captured_detail(arguments: Option<String>, result: Option<String>) -> Option<serde_json::Value> {
    let parse = |text: Option<String>| {
        let text = text.filter(|t| t.len() <= MAX_CAPTURE_LEN)?;
        let value =
            serde_json::from_str::<serde_json::Value>(&text).ok().filter(serde_json::Value::is_object)?;
        Some(gatehouse_config::audit::redaction::redact_value(value))
    };
    let mut detail = serde_json::Map::new();
    if let Some(arguments) = parse(arguments) {
        detail.insert("arguments".into(), arguments);
    }
    if let Some(result) = parse(result) {
        detail.insert("result".into(), result);
    }
    (!detail.is_empty()).then_some(serde_json::Value::Object(detail))
}
