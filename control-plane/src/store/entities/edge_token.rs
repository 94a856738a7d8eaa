//! `edge_tokens`: the credentials edges present to the control plane, stored as SHA-256.

use sea_orm::entity::prelude::*;

/// A row of `edge_tokens`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "edge_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    /// SHA-256 of the token text.
    #[sea_orm(column_type = "Blob", unique)]
    pub token_hash: Vec<u8>,
    pub token_hint: String,
    /// JSON array of org slugs, as text; `None` = every org.
    #[sea_orm(column_type = "Text", nullable)]
    pub orgs: Option<String>,
    pub created_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    pub last_used_at: Option<DateTimeUtc>,
}

/// No navigated relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
