//! The lock control-plane replicas take around start-up's schema migrations and
//! first-start writes, so replicas started at once on a fresh PostgreSQL
//! database do not race to create the same tables and rows: the first migrates
//! and bootstraps, the others wait and then find everything in place.

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

use super::StoreError;

/// The advisory lock's key: "gatehous" in ASCII, unlikely to collide with an application's.
const LOCK_KEY: i64 = 0x6761_7465_686f_7573;

/// A held start-up lock: a PostgreSQL session-level advisory lock on a
/// connection of its own (SQLite needs none: one process owns the file, and its
/// writers are serialised anyway).
pub struct StartupLock {
    connection: Option<DatabaseConnection>,
}

impl StartupLock {
    /// Waits for the lock on `database_url`'s database.
    pub async fn acquire(database_url: &str) -> Result<Self, StoreError> {
        if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            return Ok(Self { connection: None });
        }
        let mut options = ConnectOptions::new(database_url.to_owned());
        // The lock belongs to one session: a pool of exactly one connection holds it.
        options
            .sqlx_logging(false)
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10));
        let connection = Database::connect(options).await?;
        let lock = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_lock($1)",
            [LOCK_KEY.into()],
        );
        connection.execute(lock).await?;
        Ok(Self { connection: Some(connection) })
    }

    /// Releases the lock (closing its session releases it too, e.g. when start-up fails).
    pub async fn release(self) -> Result<(), StoreError> {
        if let Some(connection) = self.connection {
            let unlock = Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_unlock($1)",
                [LOCK_KEY.into()],
            );
            connection.execute(unlock).await?;
            connection.close().await?;
        }
        Ok(())
    }
}
