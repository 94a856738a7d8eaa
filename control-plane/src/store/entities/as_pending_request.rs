//! `as_pending_requests`: authorization requests awaiting the user's consent decision.

use sea_orm::entity::prelude::*;

/// A row of `as_pending_requests`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "as_pending_requests")]
pub struct Model {
    /// SHA-256 hex of the request id (the form's CSRF token).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id_hash: String,
    pub user_id: String,
    /// The validated request and subject, as JSON text.
    #[sea_orm(column_type = "Text")]
    pub request: String,
    pub expires_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
