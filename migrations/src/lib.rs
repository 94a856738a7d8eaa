//! Database schema migrations for the Gatehouse control plane.
//!
//! The schema changes only through these migrations; the control plane runs
//! [`Migrator::up`](sea_orm_migration::MigratorTrait::up) at start. Every
//! migration must work on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20250801_000001_initial;
mod m20261122_000001_upstream_oauth;
mod m20261122_000002_sso_users;
mod m20261122_000003_oauth_server;
mod m20261122_000004_org_auth_settings;
mod m20261122_000005_grant_revocations;
mod m20261122_000006_certificate_identities;
mod m20261201_000001_user_deactivation;
mod m20261202_000001_elicitation_completions;
mod m20261206_000001_config_outbox;
mod m20261207_000001_org_api_keys;
mod m20261207_000002_edge_tokens;
mod m20261207_000003_grant_identities;
mod m20261207_000010_refresh_family_deadline;
mod m20261207_000011_certificate_identity_disabled;
mod m20261208_000101_certificate_identity_issuer;
mod m20261208_000301_audit_events;
mod m20261208_000401_rate_limits;
mod m20261208_000601_console_key_sessions;
mod m20261209_000301_audit_exports;

/// All migrations, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20250801_000001_initial::Migration),
            Box::new(m20261122_000001_upstream_oauth::Migration),
            Box::new(m20261122_000002_sso_users::Migration),
            Box::new(m20261122_000003_oauth_server::Migration),
            Box::new(m20261122_000004_org_auth_settings::Migration),
            Box::new(m20261122_000005_grant_revocations::Migration),
            Box::new(m20261122_000006_certificate_identities::Migration),
            Box::new(m20261201_000001_user_deactivation::Migration),
            Box::new(m20261202_000001_elicitation_completions::Migration),
            Box::new(m20261206_000001_config_outbox::Migration),
            Box::new(m20261207_000001_org_api_keys::Migration),
            Box::new(m20261207_000002_edge_tokens::Migration),
            Box::new(m20261207_000003_grant_identities::Migration),
            Box::new(m20261207_000010_refresh_family_deadline::Migration),
            Box::new(m20261207_000011_certificate_identity_disabled::Migration),
            Box::new(m20261208_000101_certificate_identity_issuer::Migration),
            Box::new(m20261208_000401_rate_limits::Migration),
            Box::new(m20261208_000301_audit_events::Migration),
            Box::new(m20261208_000601_console_key_sessions::Migration),
            Box::new(m20261209_000301_audit_exports::Migration),
        ]
    }
}
