//! `upstream_pending_authorizations`: an authorization in flight at an upstream
//! AS, keyed by the SHA-256 of its `state`; the PKCE verifier is sealed.

use sea_orm::entity::prelude::*;

/// A row of `upstream_pending_authorizations`.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "upstream_pending_authorizations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub state_hash: String,
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
    pub key_id: String,
    #[sea_orm(column_type = "Blob")]
    pub wrapped_key: Vec<u8>,
    #[sea_orm(column_type = "Blob")]
    pub ciphertext: Vec<u8>,
    pub expires_at_ms: i64,
    pub used_at_ms: Option<i64>,
    pub created_at: DateTimeUtc,
    /// Elicitation id of the link this authorization started from.
    pub elicitation_id: Option<String>,
    /// SHA-256 (hex) of the MCP session to notify on completion.
    pub session_hash: Option<String>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamPendingAuthorization")
            .field("server_id", &self.server_id)
            .finish_non_exhaustive()
    }
}

/// No navigated relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
