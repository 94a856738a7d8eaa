//! `org_api_keys`: an org's API keys, as SHA-256 hashes with their role.

use sea_orm::entity::prelude::*;

/// A row of `org_api_keys`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "org_api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub name: String,
    /// `owner`, `admin`, `auditor`, `viewer` or `member`.
    pub role: String,
    /// SHA-256 of the key text.
    #[sea_orm(column_type = "Blob")]
    pub key_hash: Vec<u8>,
    /// The last four characters of the key, to tell keys apart.
    pub hint: String,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
}

/// No navigated relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
