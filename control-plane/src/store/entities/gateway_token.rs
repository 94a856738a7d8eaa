//! `gateway_tokens`: tokens people and agents present to the edge, stored as SHA-256.

use sea_orm::entity::prelude::*;

/// A row of `gateway_tokens`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "gateway_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub workspace_id: String,
    pub user_name: String,
    /// SHA-256 of the token text.
    #[sea_orm(column_type = "Blob", unique)]
    pub token_hash: Vec<u8>,
    pub token_hint: String,
    /// JSON arrays, as text.
    #[sea_orm(column_type = "Text")]
    pub scopes: String,
    #[sea_orm(column_type = "Text")]
    pub server_permissions: String,
    #[sea_orm(column_type = "Text")]
    pub tool_permissions: String,
    pub expires_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    /// When the current secret was issued (creation or last rotation).
    pub issued_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
}

/// No navigated relations; the store joins by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
