//! `admin_tokens`: hashes of generated bootstrap admin tokens.

use sea_orm::entity::prelude::*;

/// A row of `admin_tokens`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "admin_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// SHA-256 of the admin token text.
    #[sea_orm(column_type = "Blob")]
    pub token_hash: Vec<u8>,
    pub created_at: DateTimeUtc,
}

/// No navigated relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
