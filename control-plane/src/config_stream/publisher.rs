//! The config publisher: follows the config outbox and broadcasts each change
//! to the subscribed edges as a delta.
//!
//! It loads the whole edge-facing state once, at start. After that, each
//! commit names the entries it touched (the outbox row of its version); the
//! publisher loads just those, turns them into changes against the state it
//! holds ([`ConfigState::changes_to`]) and broadcasts them. A change costs the
//! entries it touched, whatever the size of the state. Other replicas' commits
//! arrive through the same outbox, found by polling it.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use gatehouse_config::state::{ConfigState, NoObserver};
use gatehouse_proto::config::v1 as pb;
use tokio::sync::{broadcast, Mutex};
use tokio_util::sync::CancellationToken;

use super::scope::{scoped_snapshot, ScopedDelta};
use super::wire::to_config_state;
use crate::metrics::ControlPlaneMetrics;
use crate::store::{EdgeChanges, Store, StoreError};

/// Deltas buffered per subscriber before it counts as lagging (and gets a snapshot).
const BROADCAST_CAPACITY: usize = 1024;

/// How often entries that leave the edges' view by age (expired tokens,
/// tombstones past retention) are written to the outbox.
const EXPIRY_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Published {
    version: u64,
    state: ConfigState,
    /// The snapshot of `version`, encoded once for every edge that connects at it.
    snapshot: Option<Arc<pb::Snapshot>>,
    /// The org id of each grant tombstone in `state` (which carries ids only).
    grant_orgs: HashMap<String, String>,
}

/// Publishes config versions to subscribed edges.
pub struct Publisher {
    store: Store,
    published: Mutex<Published>,
    deltas: broadcast::Sender<Arc<ScopedDelta>>,
    /// Published version and publish durations.
    metrics: Arc<ControlPlaneMetrics>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

impl Publisher {
    /// Loads the current state; it becomes the first published version.
    pub async fn load(store: Store) -> Result<Self, StoreError> {
        let mut state = store.load_edge_state().await?;
        let version = state.version;
        let (deltas, _) = broadcast::channel(BROADCAST_CAPACITY);
        let grant_orgs = std::mem::take(&mut state.revoked_grant_orgs).into_iter().collect();
        let published = Published { version, state: to_config_state(state), snapshot: None, grant_orgs };
        store.commits().mark_published(version);
        // Until `with_metrics`, into a handle no scrape reads.
        let metrics = Arc::new(ControlPlaneMetrics::new());
        Ok(Self { store, published: Mutex::new(published), deltas, metrics })
    }

    /// The last published version.
    pub async fn version(&self) -> u64 {
        self.published.lock().await.version
    }

    /// Publishes everything committed since the last published version, as one
    /// delta. Returns the version now published.
    ///
    /// Holding the lock across the read keeps deltas in order, so each one
    /// starts where the previous one ended.
    pub async fn publish(&self) -> Result<u64, StoreError> {
        let started = std::time::Instant::now();
        let mut published = self.published.lock().await;
        let from_version = published.version;
        let (version, changes) = match self.store.edge_changes_since(from_version).await? {
            EdgeChanges::UpToDate => return Ok(from_version),
            EdgeChanges::Entries { keys, mut state } => {
                let version = state.version;
                published.grant_orgs.extend(std::mem::take(&mut state.revoked_grant_orgs));
                let loaded = to_config_state(state);
                let changes = published.state.changes_to(&keys, &loaded);
                (version, changes)
            }
            EdgeChanges::Resync(mut state) => {
                let version = state.version;
                published.grant_orgs.extend(std::mem::take(&mut state.revoked_grant_orgs));
                let next = to_config_state(state);
                (version, published.state.diff(&next))
            }
        };
        // States share their unchanged entries, so keeping the one before costs nothing.
        let before = published.state.clone();
        published.state.apply(changes.clone(), &mut NoObserver);
        published.version = version;
        published.snapshot = None;
        let delta = pb::Delta { from_version, version, changes };
        let delta = ScopedDelta::new(delta, &before, &published.state, &published.grant_orgs);
        for change in &delta.delta.changes {
            if let Some(pb::change::Kind::ForgetRevokedGrant(id)) = &change.kind {
                published.grant_orgs.remove(id);
            }
        }
        tracing::debug!(
            from_version,
            version,
            changes = delta.delta.changes.len(),
            "publishing config delta"
        );
        drop(published);
        // No receivers is fine: nobody is subscribed right now.
        let _ = self.deltas.send(Arc::new(delta));
        self.store.commits().mark_published(version);
        self.metrics.config_published(version, Some(started.elapsed()));
        Ok(version)
    }

    /// Records into `metrics` from now on (call right after [`Publisher::load`]).
    pub fn with_metrics(mut self, metrics: Arc<ControlPlaneMetrics>) -> Self {
        metrics.config_published(self.published.get_mut().version, None);
        self.metrics = metrics;
        self
    }

    /// A snapshot of the published state (only the orgs `orgs`, by slug, when
    /// given) plus a receiver of every later delta.
    ///
    /// Both are taken under the publish lock, so no delta falls between them.
    pub async fn subscribe(
        &self,
        orgs: Option<&BTreeSet<String>>,
    ) -> (Arc<pb::Snapshot>, broadcast::Receiver<Arc<ScopedDelta>>) {
        let mut published = self.published.lock().await;
        if let Some(orgs) = orgs {
            let snapshot = scoped_snapshot(published.version, &published.state, orgs, &published.grant_orgs);
            return (Arc::new(snapshot), self.deltas.subscribe());
        }
        let snapshot = match &published.snapshot {
            Some(snapshot) => snapshot.clone(),
            None => {
                let snapshot = Arc::new(pb::Snapshot {
                    version: published.version,
                    state: Some(published.state.to_wire()),
                });
                published.snapshot = Some(snapshot.clone());
                snapshot
            }
        };
        (snapshot, self.deltas.subscribe())
    }

    /// Publishes whenever this process commits, and every `interval` (for
    /// other replicas' commits), until `shutdown`; writes entries that aged out
    /// of the edges' view to the outbox every [`EXPIRY_INTERVAL`].
    pub async fn run(self: Arc<Self>, interval: Duration, shutdown: CancellationToken) {
        let mut committed = self.store.commits().committed();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut expiry = tokio::time::interval(EXPIRY_INTERVAL);
        expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut expired_until = chrono::Utc::now();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = committed.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = ticker.tick() => {}
                _ = expiry.tick() => {
                    let until = chrono::Utc::now();
                    match self.store.expire_edge_entries(expired_until, until).await {
                        Ok(_) => expired_until = until,
                        Err(error) => tracing::warn!(%error, "writing expired edge entries failed"),
                    }
                }
            }
            if let Err(error) = self.publish().await {
                tracing::error!(%error, "publishing config changes failed");
            }
        }
    }
}
