//! `audit_settings`: an org's audit retention and failed-auth burst threshold.

use sea_orm::entity::prelude::*;

/// A row of `audit_settings`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub org_id: String,
    pub retention_days: i32,
    pub burst_threshold: i32,
    pub burst_window_secs: i32,
    pub updated_at: DateTimeUtc,
}

/// No navigated relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
