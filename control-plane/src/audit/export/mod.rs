//! The audit export deliverer: one task per control-plane process sends each
//! org's new audit events to its webhook ([`webhook`]) and OTLP logs endpoint
//! ([`otlp`]).
//!
//! Each destination keeps a cursor in the database (the last event `seq` its
//! receiver acknowledged), so a restart resumes where delivery stopped, and a
//! lease row (`lease_owner`, `lease_until`), so with several replicas on one
//! database exactly one delivers a destination at a time; a replica that dies
//! loses its leases when they expire. Delivery is at least once: a batch whose
//! acknowledgement was lost is sent again, and events carry their ids for
//! receivers to drop duplicates.
//!
//! A failed batch (5xx, 408, 429, timeout, connection error) is retried with
//! exponential backoff and jitter up to [`AuditExportTiming::retry_max`]; any
//! other refusal pauses the destination with the error recorded, until its
//! owner saves it again.

mod otlp;
mod webhook;

use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::config::AuditExportTiming;
use crate::metrics::ControlPlaneMetrics;
use crate::store::{AuditEvent, ExportDestination, ExportFailure, ExportJob, Store, StoreError};
use crate::upstream_oauth::ssrf::SsrfPolicy;

/// The `User-Agent` of deliveries.
const USER_AGENT: &str = concat!("gatehouse/", env!("CARGO_PKG_VERSION"));
/// Events per delivered batch.
pub const BATCH_SIZE: u64 = 200;
/// Batches one destination gets per round, so one busy org cannot hold the others up.
const BATCHES_PER_ROUND: usize = 25;
/// Longest error text recorded (a receiver's body can be anything).
const MAX_ERROR_LEN: usize = 300;

/// What a delivery attempt came to.
#[derive(Debug)]
enum SendError {
    /// Worth retrying later: 5xx, 408, 429, a timeout or a connection error.
    Retry(String),
    /// The destination refused the batch: retrying the same batch cannot help.
    Refused(String),
}

impl SendError {
    /// Classifies a non-success HTTP status.
    fn from_status(status: reqwest::StatusCode) -> Self {
        let text = format!("HTTP {status}");
        if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
            Self::Retry(text)
        } else {
            Self::Refused(text)
        }
    }

    /// Classifies a transport error (without the URL, which may carry a token in its query).
    fn from_transport(error: &reqwest::Error) -> Self {
        let what = if error.is_timeout() {
            "timed out"
        } else if error.is_connect() {
            "connection failed"
        } else {
            "request failed"
        };
        let detail = std::error::Error::source(error).map(|s| format!(": {s}")).unwrap_or_default();
        let mut text = format!("{what}{detail}");
        text.truncate(MAX_ERROR_LEN);
        Self::Retry(text)
    }
}

/// How the deliverer reaches destinations.
struct Deliverer {
    store: Store,
    metrics: std::sync::Arc<ControlPlaneMetrics>,
    timing: AuditExportTiming,
    policy: SsrfPolicy,
    client: reqwest::Client,
    /// This process's lease owner id.
    owner: String,
}

/// Runs the deliverer until `cancel`: a round every `timing.interval`, sooner when a
/// retry falls due or the store's export wake fires (a failed-authentication burst).
/// On the way out it gives its leases back, so a restarted or surviving replica
/// takes over at once rather than when they expire.
pub async fn run_exports(
    store: Store,
    metrics: std::sync::Arc<ControlPlaneMetrics>,
    timing: AuditExportTiming,
    policy: SsrfPolicy,
    cancel: CancellationToken,
) {
    let deliverer = Deliverer {
        client: policy.delivery_client(timing.request_timeout),
        owner: uuid::Uuid::new_v4().to_string(),
        store,
        metrics,
        timing,
        policy,
    };
    let wake = deliverer.store.audit_export_wake().clone();
    loop {
        let round = tokio::select! {
            // A round in flight is dropped: its batch was not acknowledged, so it is sent again.
            () = cancel.cancelled() => break,
            round = deliverer.round() => round,
        };
        let next = round.unwrap_or_else(|error| {
            tracing::error!(%error, "audit export round failed");
            timing.interval
        });
        tokio::select! {
            () = cancel.cancelled() => break,
            () = wake.notified() => {}
            // A little past the retry time, so the retry is due when the round reads it.
            () = tokio::time::sleep(next + Duration::from_millis(5)) => {}
        }
    }
    if let Err(error) = deliverer.store.release_audit_export_leases(&deliverer.owner).await {
        tracing::warn!(%error, "releasing the audit export leases failed; they expire on their own");
    }
}

impl Deliverer {
    /// Delivers every due destination it can lease; returns how long to wait before the next round.
    async fn round(&self) -> Result<Duration, StoreError> {
        let mut next = self.timing.interval;
        let mut backlog = [0u64; 2];
        for job in self.store.due_audit_exports(&self.owner).await? {
            let (left, retry) = self.deliver(job.clone()).await?;
            backlog[usize::from(job.destination == ExportDestination::Otlp)] += left;
            if let Some(retry) = retry {
                next = next.min(retry);
            }
        }
        for (i, destination) in ExportDestination::ALL.into_iter().enumerate() {
            self.metrics.audit_export_backlog(destination.as_str(), backlog[i]);
        }
        Ok(next)
    }

    /// Takes or renews the lease on `job`'s destination for one batch: long enough for
    /// the request to time out and the acknowledgement to be written, with room to spare.
    async fn lease(&self, job: &ExportJob) -> Result<bool, StoreError> {
        let length = self.timing.request_timeout * 2 + Duration::from_secs(30);
        let until = Utc::now() + chrono::Duration::from_std(length).unwrap_or(chrono::Duration::seconds(60));
        self.store.lease_audit_export(&job.org_id, job.destination, &self.owner, until).await
    }

    /// Sends the destination's batches until none is left, one fails, or the round's
    /// share is used. Returns the backlog left and, after a retryable failure, the retry delay.
    async fn deliver(&self, mut job: ExportJob) -> Result<(u64, Option<Duration>), StoreError> {
        let label = job.destination.as_str();
        for _ in 0..BATCHES_PER_ROUND {
            if !self.lease(&job).await? {
                // Another replica delivers this destination.
                return Ok((0, None));
            }
            let events = self
                .store
                .audit_events_after(&job.org_id, job.cursor, job.kinds.as_ref(), BATCH_SIZE)
                .await?;
            let Some(last) = events.last().and_then(|e| e.seq) else { break };
            match self.send(&job, &events).await {
                Ok(()) => {
                    self.metrics.audit_export_delivered(label, events.len() as u64);
                    if !self
                        .store
                        .audit_export_acknowledged(
                            &job.org_id,
                            job.destination,
                            &self.owner,
                            job.settings_at,
                            last,
                        )
                        .await?
                    {
                        // Another replica took the lease (ours expired) and delivers from here, or
                        // an owner saved new settings meanwhile: the batch goes again to those.
                        return Ok((0, None));
                    }
                    job.cursor = last;
                    job.attempts = 0;
                }
                Err(error) => {
                    self.metrics.audit_export_failed(label);
                    let attempts = job.attempts.saturating_add(1);
                    let (text, delay) = match error {
                        SendError::Retry(text) => (text, Some(self.backoff(attempts))),
                        SendError::Refused(text) => (text, None),
                    };
                    let retry_at =
                        delay.map(|d| Utc::now() + chrono::Duration::from_std(d).unwrap_or_default());
                    tracing::warn!(
                        org_id = %job.org_id,
                        destination = label,
                        attempts,
                        error = %text,
                        paused = delay.is_none(),
                        "audit export delivery failed"
                    );
                    let failure = ExportFailure { error: text, attempts, retry_at };
                    if !self
                        .store
                        .audit_export_failed(
                            &job.org_id,
                            job.destination,
                            &self.owner,
                            job.settings_at,
                            &failure,
                        )
                        .await?
                    {
                        // The settings this attempt used were replaced: the next round uses the new ones.
                        return Ok((0, None));
                    }
                    let left = self.store.export_backlog(&job.org_id, job.cursor, job.kinds.as_ref()).await?;
                    return Ok((left, delay));
                }
            }
        }
        let left = self.store.export_backlog(&job.org_id, job.cursor, job.kinds.as_ref()).await?;
        // A full round's share sent and more waiting: come back at once rather than after the interval.
        Ok((left, (left > 0).then_some(Duration::ZERO)))
    }

    /// The delay before retry `attempts` (1 = the first retry): doubling from
    /// `retry_min`, capped at `retry_max`, then a random point in its upper half so
    /// replicas and orgs that failed together do not retry together.
    fn backoff(&self, attempts: u32) -> Duration {
        let doubled = self.timing.retry_min.saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
        let capped = doubled.min(self.timing.retry_max);
        let half = capped / 2;
        half + capped.saturating_sub(half).mul_f64(rand::thread_rng().gen_range(0.0..=1.0))
    }

    async fn send(&self, job: &ExportJob, events: &[AuditEvent]) -> Result<(), SendError> {
        let url =
            url::Url::parse(&job.url).map_err(|_| SendError::Refused("the URL no longer parses".into()))?;
        // Names are checked as they resolve; an address literal is checked here.
        self.policy.check_url(&url).map_err(|e| SendError::Refused(e.to_string()))?;
        let post = self.client.post(url).header(reqwest::header::USER_AGENT, USER_AGENT);
        let request = match job.destination {
            ExportDestination::Webhook => webhook::request(post, job, events),
            ExportDestination::Otlp => otlp::request(post, job, events),
        }?;
        let response = request.send().await.map_err(|e| SendError::from_transport(&e))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(SendError::from_status(response.status()))
        }
    }
}

/// The id of one batch, the same on every retry of it: a hash of the org, the
/// destination and the first and last event ids.
fn delivery_id(job: &ExportJob, events: &[AuditEvent]) -> String {
    use sha2::{Digest, Sha256};
    let first = events.first().map_or("", |e| e.id.as_str());
    let last = events.last().map_or("", |e| e.id.as_str());
    let digest = Sha256::digest(format!("{}\n{}\n{first}\n{last}", job.org_id, job.destination.as_str()));
    uuid::Builder::from_random_bytes(digest[..16].try_into().unwrap_or_default()).into_uuid().to_string()
}
