//! `audit_exports`: an org's audit export destination (webhook or OTLP logs), its
//! sealed secret, its cursor, lease and delivery status.

use sea_orm::entity::prelude::*;

/// A row of `audit_exports`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_exports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub org_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub destination: String,
    pub enabled: bool,
    pub url: String,
    pub kinds: Option<String>,
    pub header_names: Option<String>,
    pub key_id: Option<String>,
    pub wrapped_key: Option<Vec<u8>>,
    pub ciphertext: Option<Vec<u8>>,
    pub cursor: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTimeUtc>,
    pub paused: bool,
    pub last_success_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

/// No navigated relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
