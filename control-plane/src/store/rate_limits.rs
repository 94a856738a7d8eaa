//! Rate limits and budgets of an org. Creating, changing and deleting one bumps
//! the config version like any edge-facing change; the counters live at the
//! edges (Redis), never here.

use chrono::{DateTime, Utc};
use gatehouse_config::rate_limit::{LimitKind, Period};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    Set,
};

use super::entities::rate_limit;
use super::servers::find_server;
use super::workspaces::find_workspace;
use super::{new_id, now, Store, StoreError, Versioned};
use crate::validation::FieldError;

/// What a rate limit is, as validated by the API (references are checked here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSpec {
    /// Unique in the org.
    pub name: String,
    /// Workspace slug the request is routed through (`None` = any); must exist.
    pub workspace: Option<String>,
    /// The caller's user (`None` = any).
    pub user: Option<String>,
    /// Server slug (`None` = any); must exist.
    pub server: Option<String>,
    /// Tool-name glob (`None` = any request; set = only matching `tools/call`).
    pub tool: Option<String>,
    /// One counter per caller instead of one for everyone matched.
    pub per_caller: bool,
    /// A request rate or a tool-call budget.
    pub kind: LimitKind,
    /// Requests or calls per period.
    pub amount: u64,
    /// The period.
    pub period: Period,
    /// Requests let through at once (limits only; `None` = `amount`).
    pub burst: Option<u64>,
}

/// A stored rate limit or budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitRecord {
    /// Stable id.
    pub id: String,
    /// Owning org.
    pub org_id: String,
    /// The definition.
    pub spec: RateLimitSpec,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Store {
    /// Creates a rate limit; the workspace and server it names must exist in the org
    /// and its name must be new there.
    pub async fn create_rate_limit(
        &self,
        org_id: &str,
        spec: RateLimitSpec,
    ) -> Result<Versioned<RateLimitRecord>, StoreError> {
        let (txn, version) = self.begin_write().await?;
        check_references(&txn, org_id, &spec).await?;
        let at = now();
        let row = to_row(new_id(), org_id, &spec, at, at);
        rate_limit::Entity::insert(rate_limit::ActiveModel::from(row.clone()))
            .exec_without_returning(&txn)
            .await
            .map_err(|e| name_taken(e, &spec.name))?;
        txn.touched().rate_limits.insert(row.id.clone());
        let created = record_from(row)?;
        txn.audit_after(&created);
        txn.commit().await?;
        Ok(Versioned { value: created, version })
    }

    /// The org's rate limits, oldest first.
    pub async fn list_rate_limits(&self, org_id: &str) -> Result<Vec<RateLimitRecord>, StoreError> {
        rate_limit::Entity::find()
            .filter(rate_limit::Column::OrgId.eq(org_id))
            .order_by_asc(rate_limit::Column::CreatedAt)
            .order_by_asc(rate_limit::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(record_from)
            .collect()
    }

    /// One rate limit by id.
    pub async fn get_rate_limit(&self, org_id: &str, id: &str) -> Result<RateLimitRecord, StoreError> {
        record_from(find(&self.db, org_id, id).await?.ok_or(StoreError::NotFound("rate limit"))?)
    }

    /// Replaces a rate limit's definition (the API merges a patch into the current one).
    pub async fn update_rate_limit(
        &self,
        org_id: &str,
        id: &str,
        spec: RateLimitSpec,
    ) -> Result<Versioned<RateLimitRecord>, StoreError> {
        let (txn, version) = self.begin_write().await?;
        let current = find(&txn, org_id, id).await?.ok_or(StoreError::NotFound("rate limit"))?;
        check_references(&txn, org_id, &spec).await?;
        txn.audit_before(&record_from(current.clone())?);
        let row = to_row(current.id.clone(), org_id, &spec, current.created_at, now());
        let mut active = current.into_active_model();
        active.name = Set(row.name.clone());
        active.workspace = Set(row.workspace.clone());
        active.user_name = Set(row.user_name.clone());
        active.server = Set(row.server.clone());
        active.tool = Set(row.tool.clone());
        active.per_caller = Set(row.per_caller);
        active.kind = Set(row.kind.clone());
        active.amount = Set(row.amount);
        active.period = Set(row.period.clone());
        active.burst = Set(row.burst);
        active.updated_at = Set(row.updated_at);
        active.update(&txn).await.map_err(|e| name_taken(e, &spec.name))?;
        txn.touched().rate_limits.insert(row.id.clone());
        let updated = record_from(row)?;
        txn.audit_after(&updated);
        txn.commit().await?;
        Ok(Versioned { value: updated, version })
    }

    /// Deletes a rate limit: edges stop counting it with the next config version.
    pub async fn delete_rate_limit(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<Versioned<RateLimitRecord>, StoreError> {
        let (txn, version) = self.begin_write().await?;
        let row = find(&txn, org_id, id).await?.ok_or(StoreError::NotFound("rate limit"))?;
        rate_limit::Entity::delete_by_id(row.id.clone()).exec(&txn).await?;
        txn.touched().rate_limits.insert(row.id.clone());
        let deleted = record_from(row)?;
        txn.audit_before(&deleted);
        txn.commit().await?;
        Ok(Versioned { value: deleted, version })
    }
}

/// Every rate limit of every org (only those `ids` names, when given) for the edges.
pub(super) async fn load_rate_limits(
    conn: &impl ConnectionTrait,
    ids: Option<&std::collections::BTreeSet<String>>,
) -> Result<Vec<RateLimitRecord>, StoreError> {
    let mut query = rate_limit::Entity::find();
    if let Some(ids) = ids {
        query = query.filter(rate_limit::Column::Id.is_in(ids.iter().cloned()));
    }
    query.all(conn).await?.into_iter().map(record_from).collect()
}

/// The ids of the org's rate limits (an org deletion touches them all).
pub(super) async fn org_rate_limit_ids(
    conn: &impl ConnectionTrait,
    org_id: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(rate_limit::Entity::find()
        .filter(rate_limit::Column::OrgId.eq(org_id))
        .all(conn)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect())
}

async fn check_references(
    conn: &impl ConnectionTrait,
    org_id: &str,
    spec: &RateLimitSpec,
) -> Result<(), StoreError> {
    if let Some(ws) = &spec.workspace {
        if find_workspace(conn, org_id, ws).await?.is_none() {
            return Err(FieldError::new("match.workspace", format!("unknown workspace {ws:?}")).into());
        }
    }
    if let Some(server) = &spec.server {
        if find_server(conn, org_id, server).await?.is_none() {
            return Err(FieldError::new("match.server", format!("unknown server {server:?}")).into());
        }
    }
    Ok(())
}

fn name_taken(e: sea_orm::DbErr, name: &str) -> StoreError {
    StoreError::unique_or_db(e, "name", format!("a rate limit named {name:?} already exists"))
}

async fn find(
    conn: &impl ConnectionTrait,
    org_id: &str,
    id: &str,
) -> Result<Option<rate_limit::Model>, StoreError> {
    Ok(rate_limit::Entity::find_by_id(id.to_owned())
        .filter(rate_limit::Column::OrgId.eq(org_id))
        .one(conn)
        .await?)
}

fn to_row(
    id: String,
    org_id: &str,
    spec: &RateLimitSpec,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> rate_limit::Model {
    // The API caps amounts far below i64::MAX.
    let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    rate_limit::Model {
        id,
        org_id: org_id.to_owned(),
        name: spec.name.clone(),
        workspace: spec.workspace.clone(),
        user_name: spec.user.clone(),
        server: spec.server.clone(),
        tool: spec.tool.clone(),
        per_caller: spec.per_caller,
        kind: spec.kind.as_str().to_owned(),
        amount: int(spec.amount),
        period: spec.period.as_str().to_owned(),
        burst: spec.burst.map(int),
        created_at,
        updated_at,
    }
}

fn record_from(m: rate_limit::Model) -> Result<RateLimitRecord, StoreError> {
    let corrupt = |what: &str, value: &str| StoreError::Corrupt(format!("rate_limits.{what} {value:?}"));
    let kind = LimitKind::parse(&m.kind).ok_or_else(|| corrupt("kind", &m.kind))?;
    let period = Period::parse(kind, &m.period).ok_or_else(|| corrupt("period", &m.period))?;
    let count = |what: &str, n: i64| u64::try_from(n).map_err(|_| corrupt(what, &n.to_string()));
    Ok(RateLimitRecord {
        spec: RateLimitSpec {
            name: m.name,
            workspace: m.workspace,
            user: m.user_name,
            server: m.server,
            tool: m.tool,
            per_caller: m.per_caller,
            kind,
            amount: count("amount", m.amount)?,
            period,
            burst: m.burst.map(|b| count("burst", b)).transpose()?,
        },
        id: m.id,
        org_id: m.org_id,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

impl super::audit_views::AuditView for RateLimitRecord {
    fn audit_view(&self) -> serde_json::Value {
        let s = &self.spec;
        serde_json::json!({
            "id": self.id,
            "name": s.name,
            "match": {"workspace": s.workspace, "user": s.user, "server": s.server, "tool": s.tool,
                "per_caller": s.per_caller},
            "kind": s.kind.as_str(),
            "amount": s.amount,
            "per": s.period.as_str(),
            "burst": s.burst,
        })
    }
}
