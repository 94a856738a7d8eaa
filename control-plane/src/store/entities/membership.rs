//! `memberships`: user × workspace, rewritten from claims on every login.

use sea_orm::entity::prelude::*;

/// A row of `memberships`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "memberships")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub workspace_id: String,
    pub created_at: DateTimeUtc,
}

/// No navigated relations; the store joins by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
