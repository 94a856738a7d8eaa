//! `upstream_grant_revocations`: tombstones of recently disconnected grants,
//! published to edges so they drop cached access tokens of those grants.

use sea_orm::entity::prelude::*;

/// A row of `upstream_grant_revocations`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "upstream_grant_revocations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub grant_id: String,
    pub org_id: String,
    pub revoked_at: DateTimeUtc,
}

/// No navigated relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
