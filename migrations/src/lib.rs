//! Database schema migrations for the Gatehouse control plane.
//!
//! The schema changes only through these migrations; the control plane runs
//! [`Migrator::up`](sea_orm_migration::MigratorTrait::up) at start. Every
//! migration must work on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20250801_000001_initial;

/// All migrations, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20250801_000001_initial::Migration)]
    }
}
