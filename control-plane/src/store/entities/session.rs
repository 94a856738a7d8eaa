//! `sessions`: server-side console sessions, keyed by the hash of the cookie value.

use sea_orm::entity::prelude::*;

/// A row of `sessions`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// Hex SHA-256 of the session cookie value.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id_hash: String,
    pub user_id: String,
    #[sea_orm(column_type = "Text")]
    pub user_agent: String,
    pub created_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

/// No navigated relations; the store joins by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
