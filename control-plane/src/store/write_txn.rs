//! A mutation's transaction: it bumps the config version first, records which
//! edge-config entries it touches, and commits them as that version's outbox
//! row together with the change itself.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use gatehouse_config::state::KeySet;
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, ExecResult,
    QueryResult, Statement,
};
use tokio::sync::watch;

use super::audit_events::{self, AuditChange};
use super::audit_views::AuditView;
use super::entities::config_outbox;
use super::{now, to_json_text, StoreError};

/// How long a committing mutation waits for the publisher to push its version
/// before returning anyway (the publisher catches up on its own).
const PUBLISH_WAIT: Duration = Duration::from_secs(5);

/// Connects committing mutations with the config publisher of this process.
#[derive(Debug)]
pub struct CommitSignal {
    committed: watch::Sender<u64>,
    published: watch::Sender<u64>,
}

impl Default for CommitSignal {
    fn default() -> Self {
        Self { committed: watch::Sender::new(0), published: watch::Sender::new(0) }
    }
}

impl CommitSignal {
    /// Wakes whenever a mutation of this process commits a version.
    pub fn committed(&self) -> watch::Receiver<u64> {
        self.committed.subscribe()
    }

    /// Called by the publisher once `version` is published.
    pub fn mark_published(&self, version: u64) {
        raise(&self.published, version);
    }

    /// Waits (bounded) until a publisher in this process published `version`,
    /// so a caller that got a response sees its change on the config stream.
    /// Returns at once when no publisher is running.
    async fn wait_published(&self, version: u64) {
        raise(&self.committed, version);
        if self.committed.receiver_count() == 0 {
            return;
        }
        let mut published = self.published.subscribe();
        let reached = tokio::time::timeout(PUBLISH_WAIT, published.wait_for(|v| *v >= version)).await;
        if reached.is_err() {
            tracing::warn!(version, "config version not published in time; the publisher will catch up");
        }
    }
}

/// Raises `watch` to `version`, waking receivers only when it moves up.
fn raise(watch: &watch::Sender<u64>, version: u64) {
    watch.send_if_modified(|v| {
        let moved = version > *v;
        *v = (*v).max(version);
        moved
    });
}

/// An open mutation. Dropping it without [`WriteTxn::commit`] rolls it back.
pub(crate) struct WriteTxn {
    txn: DatabaseTransaction,
    /// The config version it bumped; `None` for a change the edges never see (no outbox row).
    version: Option<u64>,
    touched: Mutex<KeySet>,
    change: Mutex<AuditChange>,
    signal: Arc<CommitSignal>,
}

impl WriteTxn {
    pub(super) fn new(txn: DatabaseTransaction, version: Option<u64>, signal: Arc<CommitSignal>) -> Self {
        Self { txn, version, touched: Mutex::new(KeySet::default()), change: Mutex::default(), signal }
    }

    /// The edge-config keys this transaction has touched so far; insert the
    /// key of every entry the edges hold that the mutation creates, changes
    /// or deletes (and, for deletions, capture children before they go).
    pub(crate) fn touched(&self) -> MutexGuard<'_, KeySet> {
        // A poisoned lock only means a panic elsewhere; the key set itself is intact.
        self.touched.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What the mutation changed, for its audit row (values already redacted).
    pub(crate) fn set_audit_change(
        &self,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) {
        let mut change = self.change_mut();
        change.before = before;
        change.after = after;
    }

    /// The record as it was before the mutation, for its audit row (redacted here).
    pub(crate) fn audit_before(&self, before: &dyn AuditView) {
        self.change_mut().before = Some(audit_events::redacted(before.audit_view()));
    }

    /// The record as the mutation left it, for its audit row (redacted here).
    pub(crate) fn audit_after(&self, after: &dyn AuditView) {
        self.change_mut().after = Some(audit_events::redacted(after.audit_view()));
    }

    /// Records the audit row of this transaction in `org_id` instead of the
    /// request's org: deleting an org deletes its rows, so the row of the deletion
    /// goes to the default org, where the platform admin reads it.
    pub(crate) fn audit_in_org(&self, org_id: String) {
        self.change_mut().org_id = Some(org_id);
    }

    fn change_mut(&self) -> MutexGuard<'_, AuditChange> {
        self.change.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes the admin audit row (when an admin request is being served) and the
    /// outbox row, commits, and waits (bounded) for the version to be published.
    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        let keys = self.touched.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        let change = self.change.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        let audited = audit_events::record_admin(&self.txn, change).await?;
        if let Some(version) = self.version {
            insert_outbox_row(&self.txn, version, &keys).await?;
        }
        self.txn.commit().await?;
        audit_events::committed(audited);
        if let Some(version) = self.version {
            self.signal.wait_published(version).await;
        }
        Ok(())
    }

    /// Rolls back a mutation that found nothing to change: neither a change nor its version
    /// happen, and the admin request's audit context learns that committing no row was right.
    /// (An error rolls back by dropping the transaction, and fails the request.)
    pub(crate) async fn rollback(self) -> Result<(), StoreError> {
        self.txn.rollback().await?;
        audit_events::nothing_changed();
        Ok(())
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one(stmt).await
    }

    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}

/// Writes `version`'s outbox row, inside its transaction.
async fn insert_outbox_row(
    conn: &impl ConnectionTrait,
    version: u64,
    keys: &KeySet,
) -> Result<(), StoreError> {
    config_outbox::Entity::insert(config_outbox::ActiveModel {
        version: Set(to_i64(version)?),
        keys: Set(to_json_text(keys)),
        created_at: Set(now()),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

pub(super) fn to_i64(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version).map_err(|_| StoreError::Corrupt("config version out of range".into()))
}
