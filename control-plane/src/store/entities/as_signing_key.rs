//! `as_signing_keys`: ES256 keys of the authorization server; the PKCS#8 private key is sealed.

use sea_orm::entity::prelude::*;

/// A row of `as_signing_keys`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "as_signing_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub kid: String,
    /// `access_token` | `identity`.
    pub purpose: String,
    /// Public JWK (JSON text).
    #[sea_orm(column_type = "Text")]
    pub public_jwk: String,
    pub key_id: String,
    #[sea_orm(column_type = "Blob")]
    pub wrapped_key: Vec<u8>,
    #[sea_orm(column_type = "Blob")]
    pub ciphertext: Vec<u8>,
    pub created_at: DateTimeUtc,
    /// When a newer key replaced this one; it stays published until its tokens expire.
    pub retired_at: Option<DateTimeUtc>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
