//! `upstream_authorization_links`: single-use links starting a user's upstream
//! authorization, stored by the SHA-256 of their opaque id.

use sea_orm::entity::prelude::*;

/// A row of `upstream_authorization_links`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "upstream_authorization_links")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id_hash: String,
    pub org_id: String,
    /// The identity's subject (a Gatehouse user, or a JWT `sub`).
    pub user_name: String,
    /// `gatehouse` or `jwt`.
    pub identity_source: String,
    /// The JWT issuer; empty for `gatehouse`.
    pub identity_issuer: String,
    pub server_id: String,
    /// JSON array of scopes, as text.
    #[sea_orm(column_type = "Text")]
    pub scopes: String,
    pub elicitation_id: String,
    pub expires_at_ms: i64,
    pub used_at_ms: Option<i64>,
    pub created_at: DateTimeUtc,
    /// SHA-256 (hex) of the MCP session the link was handed to, if any.
    pub session_hash: Option<String>,
}

/// No navigated relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
