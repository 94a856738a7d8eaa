//! Organisations.

use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::entities::org;
use super::{new_id, now, Org, Store, StoreError};

impl Store {
    /// Returns the org with `slug`, creating it if missing (safe to race with other replicas).
    pub async fn ensure_org(&self, slug: &str, name: &str) -> Result<Org, StoreError> {
        if let Some(org) = self.org_by_slug(slug).await? {
            return Ok(org);
        }
        let row = org::ActiveModel {
            id: Set(new_id()),
            slug: Set(slug.to_owned()),
            name: Set(name.to_owned()),
            created_at: Set(now()),
        };
        match org::Entity::insert(row).exec_without_returning(&self.db).await {
            Ok(_) => {}
            // Another replica created it first.
            Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => {}
            Err(e) => return Err(e.into()),
        }
        self.org_by_slug(slug).await?.ok_or(StoreError::NotFound("org"))
    }

    /// The org with `slug`, if any.
    pub async fn org_by_slug(&self, slug: &str) -> Result<Option<Org>, StoreError> {
        let row = org::Entity::find().filter(org::Column::Slug.eq(slug)).one(&self.db).await?;
        Ok(row.map(|r| Org { id: r.id, slug: r.slug, name: r.name }))
    }
}
