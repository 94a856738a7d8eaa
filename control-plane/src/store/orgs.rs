//! Organisations.

use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::Value;

use super::entities::org;
use super::page::{Page, PageRequest};
use super::{new_id, now, Org, Store, StoreError, Versioned};

/// An org's edge authentication settings (JSON as validated by the API; no secrets).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrgAuthSettings {
    /// Org-wide bring-your-own-JWT validation (same shape as a server's `jwt_validation`).
    pub jwt_validation: Option<Value>,
    /// The org's own authorization server, advertised instead of Gatehouse's.
    pub external_auth_config: Option<Value>,
}

/// A change to [`OrgAuthSettings`]: `None` = unchanged, `Some(None)` = cleared.
#[derive(Debug, Clone, Default)]
pub struct OrgAuthPatch {
    /// New `jwt_validation`.
    pub jwt_validation: Option<Option<Value>>,
    /// New `external_auth_config`.
    pub external_auth_config: Option<Option<Value>>,
}

/// The settings stored on an org row.
pub(crate) fn org_auth_from(row: &org::Model) -> Result<OrgAuthSettings, StoreError> {
    let parse = |column: &str, text: &Option<String>| -> Result<Option<Value>, StoreError> {
        text.as_deref().map(|t| super::from_json_text(column, t)).transpose()
    };
    Ok(OrgAuthSettings {
        jwt_validation: parse("orgs.jwt_validation", &row.jwt_validation)?,
        external_auth_config: parse("orgs.external_auth_config", &row.external_auth_config)?,
    })
}

impl Store {
    /// Returns the org with `slug`, creating it if missing (safe to race with other replicas).
    pub async fn ensure_org(&self, slug: &str, name: &str) -> Result<Org, StoreError> {
        if let Some(org) = self.org_by_slug(slug).await? {
            return Ok(org);
        }
        let (txn, _version) = self.begin_write().await?;
        // Re-checked under the write lock: another replica may have created it first.
        if org::Entity::find().filter(org::Column::Slug.eq(slug)).one(&txn).await?.is_none() {
            insert_org(&txn, slug, name).await?;
        }
        txn.commit().await?;
        self.org_by_slug(slug).await?.ok_or(StoreError::NotFound("org"))
    }

    /// The edge authentication settings of `org_id`.
    pub async fn org_auth_settings(&self, org_id: &str) -> Result<OrgAuthSettings, StoreError> {
        let row = org::Entity::find_by_id(org_id).one(&self.db).await?.ok_or(StoreError::NotFound("org"))?;
        org_auth_from(&row)
    }

    /// Changes the edge authentication settings of `org_id` (bumps the config version).
    pub async fn update_org_auth_settings(
        &self,
        org_id: &str,
        patch: OrgAuthPatch,
    ) -> Result<Versioned<OrgAuthSettings>, StoreError> {
        let (txn, version) = self.begin_write().await?;
        let row = org::Entity::find_by_id(org_id).one(&txn).await?.ok_or(StoreError::NotFound("org"))?;
        txn.audit_before(&org_auth_from(&row)?);
        let mut active: org::ActiveModel = row.into();
        if let Some(v) = patch.jwt_validation {
            active.jwt_validation = Set(v.as_ref().map(super::to_json_text));
        }
        if let Some(v) = patch.external_auth_config {
            active.external_auth_config = Set(v.as_ref().map(super::to_json_text));
        }
        let row = active.update(&txn).await?;
        txn.touched().orgs.insert(row.id.clone());
        let updated = org_auth_from(&row)?;
        txn.audit_after(&updated);
        txn.commit().await?;
        Ok(Versioned { value: updated, version })
    }

    /// The org with `id`, if any.
    pub async fn org_by_id(&self, id: &str) -> Result<Option<Org>, StoreError> {
        let row = org::Entity::find_by_id(id).one(&self.db).await?;
        Ok(row.map(|r| Org { id: r.id, slug: r.slug, name: r.name }))
    }

    /// The org with `slug`, if any.
    pub async fn org_by_slug(&self, slug: &str) -> Result<Option<Org>, StoreError> {
        let row = org::Entity::find().filter(org::Column::Slug.eq(slug)).one(&self.db).await?;
        Ok(row.map(|r| Org { id: r.id, slug: r.slug, name: r.name }))
    }
}

impl Store {
    /// Creates an org (a tenant); `slug` must be unused.
    pub async fn create_org(&self, slug: &str, name: &str) -> Result<Versioned<Org>, StoreError> {
        let (txn, version) = self.begin_write().await?;
        let id = insert_org(&txn, slug, name).await.map_err(|e| {
            StoreError::unique_or_db(e, "slug", format!("an org with slug {slug:?} already exists"))
        })?;
        let created = Org { id, slug: slug.to_owned(), name: name.to_owned() };
        txn.audit_after(&created);
        txn.commit().await?;
        Ok(Versioned { value: created, version })
    }

    /// A page of every org, by slug.
    pub async fn list_orgs(&self, page: &PageRequest) -> Result<Page<Org>, StoreError> {
        let mut query = org::Entity::find();
        if let Some(after) = &page.after {
            query = query.filter(org::Column::Slug.gt(after.as_str()));
        }
        let rows = query.order_by_asc(org::Column::Slug).limit(page.fetch()).all(&self.db).await?;
        let orgs = rows.into_iter().map(|r| Org { id: r.id, slug: r.slug, name: r.name }).collect();
        Ok(page.finish(orgs, |o: &Org| o.slug.clone()))
    }

    /// Renames an org (its slug never changes: it is part of every edge URL).
    pub async fn rename_org(&self, org_id: &str, name: &str) -> Result<Versioned<Org>, StoreError> {
        let (txn, version) = self.begin_write().await?;
        let row = org::Entity::find_by_id(org_id).one(&txn).await?.ok_or(StoreError::NotFound("org"))?;
        txn.audit_before(&Org { id: row.id.clone(), slug: row.slug.clone(), name: row.name.clone() });
        let mut active: org::ActiveModel = row.into();
        active.name = Set(name.to_owned());
        let row = active.update(&txn).await?;
        txn.touched().orgs.insert(row.id.clone());
        let renamed = Org { id: row.id, slug: row.slug, name: row.name };
        txn.audit_after(&renamed);
        txn.commit().await?;
        Ok(Versioned { value: renamed, version })
    }
}

/// Inserts a new org with no identity settings and names it for the edges; returns its id.
async fn insert_org(txn: &super::WriteTxn, slug: &str, name: &str) -> Result<String, sea_orm::DbErr> {
    let id = new_id();
    let row = org::ActiveModel {
        id: Set(id.clone()),
        slug: Set(slug.to_owned()),
        name: Set(name.to_owned()),
        created_at: Set(now()),
        jwt_validation: Set(None),
        external_auth_config: Set(None),
    };
    org::Entity::insert(row).exec_without_returning(txn).await?;
    txn.touched().orgs.insert(id.clone());
    Ok(id)
}

impl super::audit_views::AuditView for OrgAuthSettings {
    fn audit_view(&self) -> serde_json::Value {
        serde_json::json!({"jwt_validation": self.jwt_validation, "external_auth_config": self.external_auth_config})
    }
}
