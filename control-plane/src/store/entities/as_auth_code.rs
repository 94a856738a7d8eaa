//! `as_auth_codes`: single-use authorization codes, stored as SHA-256 hex.

use sea_orm::entity::prelude::*;

/// A row of `as_auth_codes`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "as_auth_codes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub code_hash: String,
    /// Refresh-token family the code's exchange starts (revoked if the code is replayed).
    pub family_id: String,
    pub client_id: String,
    #[sea_orm(column_type = "Text")]
    pub redirect_uri: String,
    pub code_challenge: String,
    #[sea_orm(column_type = "Text")]
    pub resource: String,
    #[sea_orm(column_type = "Text")]
    pub scope: String,
    /// The subject's claims, as JSON text.
    #[sea_orm(column_type = "Text")]
    pub subject: String,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
