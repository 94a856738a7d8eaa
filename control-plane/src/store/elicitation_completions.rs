//! Completed URL elicitations, kept for [`ELICITATION_COMPLETION_RETENTION`]
//! and published to the edges, which send `notifications/elicitation/complete`
//! to the MCP session the elicitation was handed to.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::authorization_links::ElicitationCompletion;
use super::entities::upstream_elicitation_completion::{ActiveModel, Column, Entity, Model};
use super::StoreError;

/// How long a completion is published. An edge connected to the control plane
/// sees it within a poll interval; one that reconnects later gets it in its
/// snapshot. The authorization link itself lives 10 minutes.
pub const ELICITATION_COMPLETION_RETENTION: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// Records `completion` at `at` and prunes completions past the retention.
/// Each elicitation id is recorded once: its link and the pending
/// authorization started from it are both single-use.
pub(super) async fn record(
    conn: &impl ConnectionTrait,
    completion: &ElicitationCompletion,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    Entity::delete_many()
        .filter(Column::CompletedAt.lt(at - ELICITATION_COMPLETION_RETENTION))
        .exec(conn)
        .await?;
    Entity::insert(ActiveModel {
        elicitation_id: Set(completion.elicitation_id.clone()),
        org_id: Set(completion.org_id.clone()),
        user_name: Set(completion.user.clone()),
        server_id: Set(completion.server_id.clone()),
        session_hash: Set(completion.session_hash.clone()),
        completed_at: Set(at),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Completions recorded within the retention before `at` (only those `ids`
/// names, when given), oldest first.
pub(super) async fn recent(
    conn: &impl ConnectionTrait,
    at: DateTime<Utc>,
    ids: Option<&std::collections::BTreeSet<String>>,
) -> Result<Vec<ElicitationCompletion>, StoreError> {
    use sea_orm::QueryOrder as _;
    let mut query = Entity::find().filter(Column::CompletedAt.gt(at - ELICITATION_COMPLETION_RETENTION));
    if let Some(ids) = ids {
        query = query.filter(Column::ElicitationId.is_in(ids.iter().cloned()));
    }
    let rows = query.order_by_asc(Column::CompletedAt).all(conn).await?;
    Ok(rows.into_iter().map(from_row).collect())
}

fn from_row(row: Model) -> ElicitationCompletion {
    ElicitationCompletion {
        elicitation_id: row.elicitation_id,
        org_id: row.org_id,
        user: row.user_name,
        server_id: row.server_id,
        session_hash: row.session_hash,
    }
}
