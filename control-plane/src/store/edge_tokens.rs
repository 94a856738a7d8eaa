//! Edge tokens: what edges present on the config stream and the credential
//! broker. Stored only as SHA-256; an optional list of org slugs scopes the
//! edges using a token to those orgs. Not edge config, so no version bump.

use chrono::{DateTime, Utc};
use gatehouse_config::token_hash::TokenHash;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::entities::edge_token;
use super::{from_json_text, new_id, now, to_json_text, Store, StoreError};
use crate::validation::FieldError;

/// An edge token to create.
#[derive(Debug, Clone)]
pub struct NewEdgeToken {
    /// Display name.
    pub name: String,
    /// Org slugs the token is scoped to (`None` = every org); each must exist.
    pub orgs: Option<Vec<String>>,
    /// SHA-256 of the token text.
    pub hash: TokenHash,
    /// Non-secret hint for listings.
    pub hint: String,
}

/// An edge token as stored (never its text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeTokenRecord {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `ghn_abcd…wxyz`.
    pub token_hint: String,
    /// Org slugs the token is scoped to (`None` = every org).
    pub orgs: Option<Vec<String>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Revocation time.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When an edge last opened a config stream with it.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Creates an edge token; an unknown org slug is an invalid `orgs[i]`.
    pub async fn create_edge_token(&self, new: NewEdgeToken) -> Result<EdgeTokenRecord, StoreError> {
        if let Some(orgs) = &new.orgs {
            for (i, slug) in orgs.iter().enumerate() {
                if self.org_by_slug(slug).await?.is_none() {
                    return Err(FieldError::new(
                        format!("orgs[{i}]"),
                        format!("no org has the slug {slug:?}"),
                    )
                    .into());
                }
            }
        }
        let row = edge_token::Model {
            id: new_id(),
            name: new.name,
            token_hash: new.hash.to_vec(),
            token_hint: new.hint,
            orgs: new.orgs.as_ref().map(to_json_text),
            created_at: now(),
            revoked_at: None,
            last_used_at: None,
        };
        let active: edge_token::ActiveModel = row.clone().into();
        let txn = self.begin_change().await?;
        edge_token::Entity::insert(active).exec_without_returning(&txn).await.map_err(|e| {
            StoreError::unique_or_db(e, "token", "an edge token with this hash exists".to_owned())
        })?;
        let created = record(row)?;
        txn.audit_after(&created);
        txn.commit().await?;
        Ok(created)
    }

    /// Edge tokens ordered by id (creation order), revoked ones included: at
    /// most `limit`, after the id `after`.
    pub async fn list_edge_tokens(
        &self,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<EdgeTokenRecord>, StoreError> {
        let mut query = edge_token::Entity::find().order_by_asc(edge_token::Column::Id).limit(limit);
        if let Some(after) = after {
            query = query.filter(edge_token::Column::Id.gt(after));
        }
        query.all(&self.db).await?.into_iter().map(record).collect()
    }

    /// The edge token with `id`.
    pub async fn edge_token(&self, id: &str) -> Result<Option<EdgeTokenRecord>, StoreError> {
        edge_token::Entity::find_by_id(id).one(&self.db).await?.map(record).transpose()
    }

    /// Revokes the edge token `id` (revoking a revoked token changes nothing).
    pub async fn revoke_edge_token(&self, id: &str) -> Result<EdgeTokenRecord, StoreError> {
        let txn = self.begin_change().await?;
        // Unknown: nothing is committed, so no audit row either.
        let row =
            edge_token::Entity::find_by_id(id).one(&txn).await?.ok_or(StoreError::NotFound("edge token"))?;
        let before = record(row)?;
        if before.revoked_at.is_some() {
            txn.rollback().await?;
            return Ok(before);
        }
        let revoked_at = now();
        edge_token::Entity::update_many()
            .col_expr(edge_token::Column::RevokedAt, Expr::value(revoked_at))
            .filter(edge_token::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        let after = EdgeTokenRecord { revoked_at: Some(revoked_at), ..before.clone() };
        txn.audit_before(&before);
        txn.audit_after(&after);
        txn.commit().await?;
        Ok(after)
    }

    /// The unrevoked edge token whose text hashes to `hash`.
    pub async fn active_edge_token(&self, hash: &TokenHash) -> Result<Option<EdgeTokenRecord>, StoreError> {
        let row = edge_token::Entity::find()
            .filter(edge_token::Column::TokenHash.eq(hash.to_vec()))
            .filter(edge_token::Column::RevokedAt.is_null())
            .one(&self.db)
            .await?;
        row.map(record).transpose()
    }

    /// Records that an edge used the token `id` at `at`.
    pub async fn touch_edge_token(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        edge_token::Entity::update_many()
            .col_expr(edge_token::Column::LastUsedAt, Expr::value(at))
            .filter(edge_token::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

fn record(row: edge_token::Model) -> Result<EdgeTokenRecord, StoreError> {
    let orgs = row.orgs.as_deref().map(|t| from_json_text("edge_tokens.orgs", t)).transpose()?;
    Ok(EdgeTokenRecord {
        id: row.id,
        name: row.name,
        token_hint: row.token_hint,
        orgs,
        created_at: row.created_at,
        revoked_at: row.revoked_at,
        last_used_at: row.last_used_at,
    })
}

impl super::audit_views::AuditView for EdgeTokenRecord {
    fn audit_view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "token_hint": self.token_hint,
            "orgs": self.orgs,
            "revoked_at": self.revoked_at,
        })
    }
}
