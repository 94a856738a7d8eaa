//! `upstream_elicitation_completions`: URL elicitations whose authorization
//! completed recently, published to edges so they notify the MCP session.

use sea_orm::entity::prelude::*;

/// A row of `upstream_elicitation_completions`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "upstream_elicitation_completions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub elicitation_id: String,
    pub org_id: String,
    pub user_name: String,
    pub server_id: String,
    /// SHA-256 (hex) of the MCP session id to notify.
    pub session_hash: String,
    pub completed_at: DateTimeUtc,
}

/// No navigated relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
