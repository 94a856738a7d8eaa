//! Failed-authentication bursts: when one client address fails to authenticate
//! to an org `auth_failure_burst_threshold` times within the org's window, one
//! `auth_failure_burst` event is recorded (and logged for alerting); no second
//! one for that address until the window has passed. Each burst counts in
//! `gatehouse_auth_failure_bursts_total` and wakes the audit export deliverer, so
//! a webhook hears of it without waiting for the next delivery tick.

use std::collections::BTreeSet;

use chrono::{Duration, Utc};

use crate::metrics::ControlPlaneMetrics;
use crate::store::{AuditEvent, AuditKind, Store};

/// Where the failures of a burst happened (the metric's `source` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BurstSource {
    /// The admin API refused the credentials.
    Admin,
    /// An edge refused them.
    Edge,
}

impl BurstSource {
    fn label(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Edge => "edge",
        }
    }
}

/// Stores authentication failures (edge- or API-side), then records a burst for
/// every (org, address) among them that crossed its org's threshold.
pub async fn record_auth_failures(
    store: &Store,
    metrics: &ControlPlaneMetrics,
    source: BurstSource,
    events: Vec<AuditEvent>,
) {
    let sources: BTreeSet<(String, String)> = events
        .iter()
        .filter(|e| e.kind == AuditKind::AuthFailure.as_str())
        .filter_map(|e| Some((e.org_id.clone(), e.client_address.clone().filter(|a| !a.is_empty())?)))
        .collect();
    if let Err(error) = store.insert_edge_audit_events(events).await {
        tracing::error!(%error, "storing authentication failures failed");
        return;
    }
    for (org_id, address) in sources {
        match check_burst(store, &org_id, &address).await {
            Ok(false) => {}
            Ok(true) => {
                metrics.auth_failure_burst(source.label());
                store.audit_export_wake().notify_one();
            }
            Err(error) => tracing::error!(%error, "checking for an authentication failure burst failed"),
        }
    }
}

/// Records a burst for the address if it crossed the threshold; returns whether it did.
async fn check_burst(store: &Store, org_id: &str, address: &str) -> Result<bool, crate::store::StoreError> {
    let settings = store.audit_settings(org_id).await?;
    let since = Utc::now() - Duration::seconds(i64::from(settings.auth_failure_burst_window_secs));
    let failures = store.count_auth_failures_since(org_id, address, since).await?;
    if failures < u64::from(settings.auth_failure_burst_threshold)
        || store.burst_recorded_since(org_id, address, since).await?
    {
        return Ok(false);
    }
    tracing::warn!(
        org_id,
        client_address = address,
        failures,
        window_secs = settings.auth_failure_burst_window_secs,
        "authentication failure burst"
    );
    let event = AuditEvent {
        id: uuid::Uuid::now_v7().to_string(),
        org_id: org_id.to_owned(),
        kind: AuditKind::AuthFailureBurst.as_str().to_owned(),
        occurred_at: Utc::now(),
        decision: Some("deny".into()),
        reason: Some(format!(
            "{failures} authentication failures within {} s",
            settings.auth_failure_burst_window_secs
        )),
        client_address: Some(address.to_owned()),
        ..AuditEvent::default()
    };
    store.insert_edge_audit_events(vec![event]).await?;
    Ok(true)
}
