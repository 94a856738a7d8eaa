//! `servers`: registered upstream MCP servers; unique `(org_id, slug)`.

use sea_orm::entity::prelude::*;

/// A row of `servers`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "servers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub slug: String,
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub url: String,
    pub auth_type: String,
    /// JSON object, as text.
    #[sea_orm(column_type = "Text")]
    pub advanced_config: String,
    pub auto_provision: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No navigated relations; the store joins by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
