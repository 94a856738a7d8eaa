//! `upstream_oauth_clients`: upstream OAuth client registrations and resolved
//! per-server client settings, keyed `preset:{server}`, `as:{issuer}:{flow}`
//! or `server:{server}`; the client secret is sealed.

use sea_orm::entity::prelude::*;

/// A row of `upstream_oauth_clients`.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "upstream_oauth_clients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub issuer: String,
    #[sea_orm(column_type = "Text")]
    pub client_id: String,
    pub auth_method: String,
    /// JSON object (resolved endpoints), as text.
    #[sea_orm(column_type = "Text")]
    pub metadata: String,
    pub secret_key_id: Option<String>,
    #[sea_orm(column_type = "Blob", nullable)]
    pub secret_wrapped_key: Option<Vec<u8>>,
    #[sea_orm(column_type = "Blob", nullable)]
    pub secret_ciphertext: Option<Vec<u8>>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamOauthClient").field("key", &self.key).finish_non_exhaustive()
    }
}

/// No navigated relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
