//! `as_refresh_tokens`: opaque refresh tokens (SHA-256 hex), rotated on use, grouped in families.

use sea_orm::entity::prelude::*;

/// A row of `as_refresh_tokens`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "as_refresh_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    #[sea_orm(column_type = "Text")]
    pub resource: String,
    #[sea_orm(column_type = "Text")]
    pub scope: String,
    /// The subject's claims, as JSON text.
    #[sea_orm(column_type = "Text")]
    pub subject: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// When the family ends, however often it is refreshed (NULL: at this token's expiry).
    pub family_expires_at: Option<DateTimeUtc>,
    /// Set when exchanged for a successor; presenting it again revokes the family.
    pub rotated_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
