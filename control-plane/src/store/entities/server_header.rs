//! `server_headers`: static upstream headers; the value is sealed.

use sea_orm::entity::prelude::*;

/// A row of `server_headers`.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "server_headers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub server_id: String,
    /// Lower-case header name (not secret).
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub key_id: String,
    #[sea_orm(column_type = "Blob")]
    pub wrapped_key: Vec<u8>,
    #[sea_orm(column_type = "Blob")]
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHeader").field("server_id", &self.server_id).field("name", &self.name).finish()
    }
}

/// No navigated relations; the store joins by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
