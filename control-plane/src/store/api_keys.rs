//! Org API keys: credentials for automation and an org's bootstrap, each
//! acting in one org with one role. Only their hashes are stored.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::entities::org_api_key;
use super::page::{Page, PageRequest};
use super::{new_id, now, Store, StoreError};
use crate::accounts::Role;

/// An org API key (never its text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Stable id.
    pub id: String,
    /// The org it acts in.
    pub org_id: String,
    /// What it is for.
    pub name: String,
    /// The role it acts with.
    pub role: Role,
    /// The key's last four characters.
    pub hint: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last successful use (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A key to create: its hash, never its text.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// What it is for.
    pub name: String,
    /// The role it acts with.
    pub role: Role,
    /// SHA-256 of the key text.
    pub hash: [u8; 32],
    /// The key's last four characters.
    pub hint: String,
}

impl Store {
    /// Stores a new key of `org_id`.
    pub async fn create_api_key(&self, org_id: &str, new: NewApiKey) -> Result<ApiKey, StoreError> {
        let row = org_api_key::Model {
            id: new_id(),
            org_id: org_id.to_owned(),
            name: new.name,
            role: new.role.as_str().to_owned(),
            key_hash: new.hash.to_vec(),
            hint: new.hint,
            created_at: now(),
            last_used_at: None,
        };
        // A write transaction, so the key and its audit row commit together.
        let txn = self.begin_change().await?;
        org_api_key::Entity::insert(org_api_key::ActiveModel::from(row.clone()))
            .exec_without_returning(&txn)
            .await?;
        let created = from_row(row)?;
        txn.audit_after(&created);
        txn.commit().await?;
        Ok(created)
    }

    /// A page of `org_id`'s keys, oldest first.
    pub async fn list_api_keys(&self, org_id: &str, page: &PageRequest) -> Result<Page<ApiKey>, StoreError> {
        let mut query = org_api_key::Entity::find().filter(org_api_key::Column::OrgId.eq(org_id));
        if let Some(after) = &page.after {
            query = query.filter(org_api_key::Column::Id.gt(after.as_str()));
        }
        let rows = query.order_by_asc(org_api_key::Column::Id).limit(page.fetch()).all(&self.db).await?;
        let keys = rows.into_iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(page.finish(keys, |k| k.id.clone()))
    }

    /// One key of `org_id`.
    pub async fn get_api_key(&self, org_id: &str, id: &str) -> Result<ApiKey, StoreError> {
        let row = org_api_key::Entity::find_by_id(id)
            .filter(org_api_key::Column::OrgId.eq(org_id))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound("api key"))?;
        from_row(row)
    }

    /// Deletes a key of `org_id`: it stops working at once.
    pub async fn delete_api_key(&self, org_id: &str, id: &str) -> Result<(), StoreError> {
        let txn = self.begin_change().await?;
        let row = org_api_key::Entity::find_by_id(id)
            .filter(org_api_key::Column::OrgId.eq(org_id))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound("api key"))?;
        txn.audit_before(&from_row(row)?);
        let deleted = org_api_key::Entity::delete_many()
            .filter(org_api_key::Column::Id.eq(id))
            .filter(org_api_key::Column::OrgId.eq(org_id))
            .exec(&txn)
            .await?;
        if deleted.rows_affected == 0 {
            return Err(StoreError::NotFound("api key"));
        }
        txn.commit().await
    }

    /// The key whose text hashes to `hash`, noting its use (at most once a minute).
    pub async fn api_key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiKey>, StoreError> {
        let Some(row) = org_api_key::Entity::find()
            .filter(org_api_key::Column::KeyHash.eq(hash.to_vec()))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let at = now();
        if row.last_used_at.is_none_or(|last| at - last > chrono::Duration::minutes(1)) {
            org_api_key::Entity::update_many()
                .col_expr(org_api_key::Column::LastUsedAt, sea_orm::sea_query::Expr::value(at))
                .filter(org_api_key::Column::Id.eq(&row.id))
                .exec(&self.db)
                .await?;
        }
        from_row(row).map(Some)
    }
}

fn from_row(row: org_api_key::Model) -> Result<ApiKey, StoreError> {
    let role = Role::parse(&row.role)
        .ok_or_else(|| StoreError::Corrupt(format!("org_api_keys.role {:?}", row.role)))?;
    Ok(ApiKey {
        id: row.id,
        org_id: row.org_id,
        name: row.name,
        role,
        hint: row.hint,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
    })
}

impl super::audit_views::AuditView for ApiKey {
    fn audit_view(&self) -> serde_json::Value {
        serde_json::json!({"id": self.id, "name": self.name, "role": self.role.as_str(), "hint": self.hint})
    }
}
