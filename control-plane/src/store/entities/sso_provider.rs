//! `sso_providers`: per-org OIDC providers; the client secret is sealed.

use sea_orm::entity::prelude::*;

/// A row of `sso_providers`.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sso_providers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub kind: String,
    #[sea_orm(column_type = "Text")]
    pub issuer: String,
    pub client_id: String,
    pub secret_key_id: Option<String>,
    #[sea_orm(column_type = "Blob", nullable)]
    pub secret_wrapped_key: Option<Vec<u8>>,
    #[sea_orm(column_type = "Blob", nullable)]
    pub secret_ciphertext: Option<Vec<u8>>,
    /// JSON array, as text.
    #[sea_orm(column_type = "Text")]
    pub scopes: String,
    /// JSON object, as text.
    #[sea_orm(column_type = "Text")]
    pub claim_mappings: String,
    pub enabled: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoProvider")
            .field("id", &self.id)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// No navigated relations; the store joins by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
