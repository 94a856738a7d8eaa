//! `audit_events`: one row per admin mutation, MCP request decided at an edge, or
//! authentication failure.

use sea_orm::entity::prelude::*;

/// A row of `audit_events`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub kind: String,
    pub occurred_at: DateTimeUtc,
    pub actor: Option<String>,
    pub user_name: Option<String>,
    pub identity_source: Option<String>,
    pub workspace: Option<String>,
    pub server: Option<String>,
    pub method: Option<String>,
    pub tool: Option<String>,
    pub decision: Option<String>,
    pub reason: Option<String>,
    pub jsonrpc_code: Option<i32>,
    pub upstream_status: Option<i32>,
    pub latency_ms: Option<i64>,
    pub request_bytes: Option<i64>,
    pub response_bytes: Option<i64>,
    pub trace_id: Option<String>,
    pub session_hash: Option<String>,
    pub client_address: Option<String>,
    pub request_id: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub edge: Option<String>,
    /// Kind-specific JSON, as text.
    #[sea_orm(column_type = "Text", nullable)]
    pub detail: Option<String>,
    /// Per-org storage order, for export (null: stored before export existed).
    pub seq: Option<i64>,
}

/// No navigated relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
