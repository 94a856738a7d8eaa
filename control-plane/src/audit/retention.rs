//! The retention job: each org's audit events older than its
//! `audit_retention_days` (default 30) are deleted, at start and every hour.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::store::{Store, StoreError, DEFAULT_AUDIT_RETENTION_DAYS};

/// How often the job runs.
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);

/// Deletes every org's events older than its retention as of `now`; returns how many.
pub async fn enforce_retention(store: &Store, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let settings = store.all_audit_settings().await?;
    let mut deleted = 0;
    for (org_id, s) in &settings {
        let cutoff = now - chrono::Duration::days(i64::from(s.audit_retention_days));
        deleted += store.delete_audit_events_before(org_id, cutoff).await?;
    }
    let cutoff = now - chrono::Duration::days(i64::from(DEFAULT_AUDIT_RETENTION_DAYS));
    let own = settings.into_iter().map(|(org, _)| org).collect();
    deleted += store.delete_default_retention_audit_events(cutoff, own).await?;
    Ok(deleted)
}

/// Runs [`enforce_retention`] now and every [`RETENTION_INTERVAL`] until `cancel`.
pub async fn run_retention(store: Store, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(RETENTION_INTERVAL);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        match enforce_retention(&store, Utc::now()).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "audit events past retention deleted"),
            Err(error) => tracing::error!(%error, "audit retention failed"),
        }
    }
}
