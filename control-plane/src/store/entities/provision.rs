//! `provisions`: a server made available to a workspace, with tool globs.

use sea_orm::entity::prelude::*;

/// A row of `provisions`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "provisions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub workspace_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub server_id: String,
    /// JSON array of globs, as text.
    #[sea_orm(column_type = "Text")]
    pub tool_allow: String,
    /// JSON array of globs, as text.
    #[sea_orm(column_type = "Text")]
    pub tool_deny: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No navigated relations; the store joins by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
