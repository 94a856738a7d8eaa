//! `upstream_grants`: a user's upstream OAuth grant for one server; tokens sealed.

use sea_orm::entity::prelude::*;

/// A row of `upstream_grants`; unique `(org_id, identity_source, identity_issuer, user_name, server_id)`.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "upstream_grants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    /// The identity's subject (a Gatehouse user, or a JWT `sub`).
    pub user_name: String,
    /// `gatehouse` or `jwt`.
    pub identity_source: String,
    /// The JWT issuer; empty for `gatehouse`.
    pub identity_issuer: String,
    pub server_id: String,
    pub status: String,
    pub version: i64,
    /// JSON array of scopes, as text.
    #[sea_orm(column_type = "Text")]
    pub scopes: String,
    pub key_id: String,
    #[sea_orm(column_type = "Blob")]
    pub wrapped_key: Vec<u8>,
    #[sea_orm(column_type = "Blob")]
    pub ciphertext: Vec<u8>,
    /// Unix seconds; 0 = unknown.
    pub access_expires_at: i64,
    pub lease_holder: Option<String>,
    pub lease_until_ms: Option<i64>,
    pub fencing: i64,
    pub created_at: DateTimeUtc,
    pub refreshed_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamGrant").field("id", &self.id).finish_non_exhaustive()
    }
}

/// No navigated relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
