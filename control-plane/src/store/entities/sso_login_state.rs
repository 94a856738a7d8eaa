//! `sso_login_states`: pending SSO logins, single-use; nonce and PKCE verifier are sealed.

use sea_orm::entity::prelude::*;

/// A row of `sso_login_states`.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sso_login_states")]
pub struct Model {
    /// Hex SHA-256 of the `state` parameter.
    #[sea_orm(primary_key, auto_increment = false)]
    pub state_hash: String,
    pub org_id: String,
    pub provider_id: String,
    #[sea_orm(column_type = "Text")]
    pub return_to: String,
    pub key_id: String,
    #[sea_orm(column_type = "Blob")]
    pub wrapped_key: Vec<u8>,
    #[sea_orm(column_type = "Blob")]
    pub ciphertext: Vec<u8>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoLoginState").field("provider_id", &self.provider_id).finish_non_exhaustive()
    }
}

/// No navigated relations; the store joins by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
