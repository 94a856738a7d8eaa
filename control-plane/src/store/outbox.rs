//! The config outbox: each config version's row names the edge-config entries
//! its transaction touched. Publishers read the rows after the version they
//! published and load just those entries, so a change costs the change, not
//! the whole state; replicas follow the same rows in the same order.
//!
//! Rows hold keys, never values: the values are loaded (and secrets decrypted)
//! at the version being published, so the outbox holds no second copy of a secret.

use chrono::{DateTime, Utc};
use gatehouse_config::limits::{DEACTIVATED_LIST_WINDOW, GRANT_REVOCATION_RETENTION};
use gatehouse_config::state::KeySet;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::edge_state::{load, Selection};
use super::entities::{
    config_outbox, gateway_token, upstream_elicitation_completion, upstream_grant_revocation, user,
};
use super::write_txn::to_i64;
use super::{from_json_text, read_version, EdgeState, Store, StoreError};

/// Beyond this many versions behind, one full load is cheaper than following the outbox.
const MAX_FOLLOW: u64 = 10_000;

/// How long outbox rows are kept. A publisher further behind than this reloads
/// the whole state instead (it finds a gap).
pub const OUTBOX_RETENTION: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// What moved in the database since a published version.
pub enum EdgeChanges {
    /// Nothing was committed since.
    UpToDate,
    /// The entries `keys` names changed; `state` holds those of them that the
    /// edges may see at `state.version` (a named entry missing from it is gone).
    Entries {
        /// Every entry touched since (boxed: a key set per collection is as large as a state).
        keys: Box<KeySet>,
        /// The touched entries that exist, at the current version.
        state: EdgeState,
    },
    /// The outbox does not reach back to that version: here is everything.
    Resync(EdgeState),
}

// The loaded state holds decrypted secrets: show only its shape.
impl std::fmt::Debug for EdgeChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EdgeChanges::UpToDate => f.write_str("UpToDate"),
            EdgeChanges::Entries { keys, state } => {
                f.debug_struct("Entries").field("keys", &keys.len()).field("version", &state.version).finish()
            }
            EdgeChanges::Resync(state) => f.debug_tuple("Resync").field(&state.version).finish(),
        }
    }
}

impl Store {
    /// The changes committed after version `from`, read in one transaction.
    pub async fn edge_changes_since(&self, from: u64) -> Result<EdgeChanges, StoreError> {
        let txn = self.begin_read().await?;
        let version = read_version(&txn).await?;
        if version <= from {
            txn.commit().await?;
            return Ok(EdgeChanges::UpToDate);
        }
        let rows = if version - from > MAX_FOLLOW {
            Vec::new()
        } else {
            config_outbox::Entity::find()
                .filter(config_outbox::Column::Version.gt(to_i64(from)?))
                .filter(config_outbox::Column::Version.lte(to_i64(version)?))
                .order_by_asc(config_outbox::Column::Version)
                .all(&txn)
                .await?
        };
        // Versions are consecutive and each commits with its row, so a short
        // count means rows were pruned or predate the outbox.
        if rows.len() as u64 != version - from {
            tracing::info!(from, version, rows = rows.len(), "outbox does not cover the versions; reloading");
            let state = load(&txn, &self.keyring, Selection::All).await?;
            txn.commit().await?;
            return Ok(EdgeChanges::Resync(state));
        }
        let mut keys = KeySet::default();
        for row in rows {
            keys.merge(from_json_text("config_outbox.keys", &row.keys)?);
        }
        let state = load(&txn, &self.keyring, Selection::Keys(&keys)).await?;
        txn.commit().await?;
        Ok(EdgeChanges::Entries { keys: Box::new(keys), state })
    }

    /// Writes a version naming the entries that left the edges' view by age
    /// between `since` and `until` (tokens expiring, tombstones and completions
    /// past their retention, deactivations past the list window), and prunes
    /// outbox rows past [`OUTBOX_RETENTION`]. Returns the number of entries named.
    pub async fn expire_edge_entries(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        config_outbox::Entity::delete_many()
            .filter(config_outbox::Column::CreatedAt.lt(until - OUTBOX_RETENTION))
            .exec(&self.db)
            .await?;
        let mut keys = KeySet::default();
        use gateway_token::Column as Token;
        keys.tokens.extend(
            ids_between::<gateway_token::Entity>(&self.db, Token::Id, Token::ExpiresAt, since, until).await?,
        );
        let (from, to) = (since - GRANT_REVOCATION_RETENTION, until - GRANT_REVOCATION_RETENTION);
        use upstream_grant_revocation::Column as Tombstone;
        keys.revoked_grants.extend(
            ids_between::<upstream_grant_revocation::Entity>(
                &self.db,
                Tombstone::GrantId,
                Tombstone::RevokedAt,
                from,
                to,
            )
            .await?,
        );
        let retention = super::elicitation_completions::ELICITATION_COMPLETION_RETENTION;
        use upstream_elicitation_completion::Column as Completion;
        keys.completed_elicitations.extend(
            ids_between::<upstream_elicitation_completion::Entity>(
                &self.db,
                Completion::ElicitationId,
                Completion::CompletedAt,
                since - retention,
                until - retention,
            )
            .await?,
        );
        let window = DEACTIVATED_LIST_WINDOW;
        keys.settings = user::Entity::find()
            .filter(user::Column::DeactivatedAt.gt(since - window))
            .filter(user::Column::DeactivatedAt.lte(until - window))
            .one(&self.db)
            .await?
            .is_some();
        if keys.is_empty() {
            return Ok(0);
        }
        let named = keys.len();
        let (txn, _version) = self.begin_write().await?;
        txn.touched().merge(keys);
        txn.commit().await?;
        Ok(named)
    }
}

/// The `id` column of the rows whose `at` lies in `(from, to]`.
async fn ids_between<E: EntityTrait>(
    db: &impl ConnectionTrait,
    id: E::Column,
    at: E::Column,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    Ok(E::find().select_only().column(id).filter(at.gt(from)).filter(at.lte(to)).into_tuple().all(db).await?)
}
