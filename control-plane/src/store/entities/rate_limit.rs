//! `rate_limits`: per-org rate limits and budgets; unique `(org_id, name)`.

use sea_orm::entity::prelude::*;

/// A row of `rate_limits`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rate_limits")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub name: String,
    /// Workspace slug; `None` matches every workspace.
    pub workspace: Option<String>,
    pub user_name: Option<String>,
    /// Server slug.
    pub server: Option<String>,
    /// Tool-name glob.
    pub tool: Option<String>,
    pub per_caller: bool,
    /// `limit` | `budget`.
    pub kind: String,
    pub amount: i64,
    pub period: String,
    pub burst: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No navigated relations; the store joins by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
