//! `console_key_sessions`: console sessions opened with an API key or the platform admin token.

use sea_orm::entity::prelude::*;

/// A row of `console_key_sessions`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "console_key_sessions")]
pub struct Model {
    /// Hex SHA-256 of the session cookie value.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id_hash: String,
    pub org_id: String,
    /// The org API key the session was opened with.
    pub api_key_id: Option<String>,
    /// SHA-256 of the platform admin token the session was opened with.
    #[sea_orm(column_type = "Blob", nullable)]
    pub admin_token_hash: Option<Vec<u8>>,
    pub created_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

/// No navigated relations; the store joins by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
