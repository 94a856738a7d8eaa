//! `orgs`: tenants.

use sea_orm::entity::prelude::*;

/// A row of `orgs`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orgs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub slug: String,
    pub name: String,
    pub created_at: DateTimeUtc,
    /// Org-wide `jwt_validation` JSON (NULL = none).
    pub jwt_validation: Option<String>,
    /// `external_auth_config` JSON (NULL = Gatehouse's authorization server).
    pub external_auth_config: Option<String>,
}

/// No navigated relations; the store joins by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
