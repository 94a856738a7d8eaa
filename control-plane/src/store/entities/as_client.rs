//! `as_clients`: OAuth clients registered dynamically (RFC 7591) or by an admin (machine identities).

use sea_orm::entity::prelude::*;

/// A row of `as_clients`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "as_clients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    /// `dynamic` | `machine`.
    pub kind: String,
    pub name: String,
    /// JSON array, as text.
    #[sea_orm(column_type = "Text")]
    pub redirect_uris: String,
    /// JSON array, as text.
    #[sea_orm(column_type = "Text")]
    pub grant_types: String,
    pub auth_method: String,
    /// SHA-256 hex of the client secret (confidential clients only).
    pub secret_hash: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub logo_uri: Option<String>,
    /// JSON array, as text.
    #[sea_orm(column_type = "Text")]
    pub scopes: String,
    pub org_id: Option<String>,
    pub workspace_id: Option<String>,
    pub created_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
