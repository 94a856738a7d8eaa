//! The store: all SQL lives here (sea-orm over SQLite or PostgreSQL).
//!
//! Every mutation is one transaction that first bumps the config version
//! (see [`Store::begin_write`]), so a change and its version commit together
//! and concurrent writers are serialised. Callers get domain types from
//! [`model`], never entities.

mod entities;
pub mod model;

mod admin_tokens;
pub mod audit_events;
mod audit_exports;
pub use audit_exports::{
    ExportCredential, ExportDestination, ExportFailure, ExportJob, ExportSpec, ExportStatus, ExportView,
};
mod audit_settings;
mod audit_views;
pub use audit_events::{AdminAudit, AuditEvent, AuditFilter, AuditKind};
pub use audit_settings::{AuditSettings, DEFAULT_AUDIT_RETENTION_DAYS};
mod api_keys;
pub use api_keys::{ApiKey, NewApiKey};
mod certificate_identities;
mod console_key_sessions;
pub use console_key_sessions::{KeySession, KeySessionCredential, NewKeySession};
mod edge_state;
mod edge_tokens;
mod org_deletion;
pub use edge_tokens::{EdgeTokenRecord, NewEdgeToken};
mod outbox;
pub mod page;
mod touch;
pub use outbox::{EdgeChanges, OUTBOX_RETENTION};
mod write_txn;
pub use write_txn::CommitSignal;
pub(crate) use write_txn::WriteTxn;
mod orgs;
pub use orgs::{OrgAuthPatch, OrgAuthSettings};
mod provisions;
mod rate_limits;
pub use rate_limits::{RateLimitRecord, RateLimitSpec};
pub mod sealed_columns;
mod servers;
mod settings;
mod startup_lock;
pub use startup_lock::StartupLock;
mod tokens;
mod workspaces;

pub mod authorization_links;
pub mod elicitation_completions;
pub mod grants;
pub mod oauth_clients;

// SSO: users and memberships, sessions, providers and pending logins.
mod sessions;
mod sso_providers;
mod user_deactivation;
mod users;

// Gatehouse's own OAuth authorization server.
mod as_clients;
mod as_grants;
mod as_keys;
mod as_model;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use gatehouse_migrations::{Migrator, MigratorTrait};
use sea_orm::sea_query::Expr;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::ColumnTrait;
use sea_orm::{
    AccessMode, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction,
    DbBackend, DbErr, EntityTrait, IsolationLevel, QueryFilter, SqlErr, TransactionTrait,
};

use crate::credentials::{CredentialError, Keyring};
use crate::validation::FieldError;
use entities::config_version;

pub use as_grants::AsResourceServer;
pub use as_keys::{AS_CONTROL_PLANE_PUBLIC_URL, AS_EDGE_PUBLIC_BASE_URL, AS_ISSUER};
pub use as_model::*;
pub use model::*;
pub use sessions::{NewSession, PendingLogin};
pub use sso_providers::{NewSsoProvider, SsoProvider, SsoProviderPatch};
pub use user_deactivation::Deactivation;
pub use users::{name_denotes, User, UserLogin};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named thing does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The change conflicts with existing state (e.g. a duplicate slug).
    #[error("{message}")]
    Conflict {
        /// The field that conflicts.
        field: Option<&'static str>,
        /// What conflicts.
        message: String,
    },
    /// A field refers to something that does not exist or is inconsistent.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// A sealed secret could not be sealed or opened.
    #[error("credential store: {0}")]
    Credential(#[from] CredentialError),
    /// Stored data does not decode (e.g. invalid JSON in a text column).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

impl StoreError {
    /// Maps a unique-constraint violation to a conflict on `field`, anything else to `Db`.
    fn unique_or_db(err: DbErr, field: &'static str, message: String) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                StoreError::Conflict { field: Some(field), message }
            }
            _ => StoreError::Db(err),
        }
    }
}

/// Handle to the control-plane database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    keyring: Keyring,
    commits: Arc<CommitSignal>,
    /// Wakes this process's audit export deliverer (an event that should not wait for its tick).
    export_wake: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.db.get_database_backend()).finish_non_exhaustive()
    }
}

impl Store {
    /// Connects to `database_url` (`sqlite://…` or `postgres://…`) and runs pending migrations.
    pub async fn connect(database_url: &str, keyring: Keyring) -> Result<Self, StoreError> {
        let mut options = ConnectOptions::new(database_url.to_owned());
        options.sqlx_logging(false).acquire_timeout(Duration::from_secs(10)).map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
        let db = Database::connect(options).await?;
        Migrator::up(&db, None).await?;
        Ok(Self { db, keyring, commits: Arc::default(), export_wake: Arc::default() })
    }

    /// The keyring secrets are sealed with.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Commits of this process, for the config publisher to follow.
    pub fn commits(&self) -> &Arc<CommitSignal> {
        &self.commits
    }

    /// Wakes this process's audit export deliverer (e.g. after a failed-authentication
    /// burst, which should reach the webhook before the next tick).
    pub fn audit_export_wake(&self) -> &Arc<tokio::sync::Notify> {
        &self.export_wake
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        Ok(self.db.ping().await?)
    }

    /// Closes the connection pool.
    pub async fn close(self) -> Result<(), StoreError> {
        Ok(self.db.close().await?)
    }

    /// The current config version.
    pub async fn config_version(&self) -> Result<u64, StoreError> {
        read_version(&self.db).await
    }

    /// Begins a mutation: bumps the config version as the transaction's first
    /// statement and returns the new version. The mutation names the edge-config
    /// entries it touches ([`WriteTxn::touched`]); its commit writes them as the
    /// version's outbox row, which is how the change reaches the edges.
    ///
    /// Writing first takes the write lock up front: PostgreSQL serialises
    /// writers on the counter row, and SQLite waits (busy timeout) instead of
    /// failing a read-then-write upgrade.
    async fn begin_write(&self) -> Result<(WriteTxn, u64), StoreError> {
        let txn = self.db.begin().await?;
        config_version::Entity::update_many()
            .col_expr(config_version::Column::Version, Expr::col(config_version::Column::Version).add(1))
            .filter(config_version::Column::Id.eq(1))
            .exec(&txn)
            .await?;
        let version = read_version(&txn).await?;
        Ok((WriteTxn::new(txn, Some(version), self.commits.clone()), version))
    }

    /// Begins a mutation of state the edges never see (API keys, SSO providers, edge
    /// tokens, audit settings): no config version, no outbox row, but its commit
    /// writes the admin audit row inside the transaction like every other mutation.
    async fn begin_change(&self) -> Result<WriteTxn, StoreError> {
        let txn = self.db.begin().await?;
        Ok(WriteTxn::new(txn, None, self.commits.clone()))
    }

    /// Begins a read-only transaction that sees one consistent snapshot.
    async fn begin_read(&self) -> Result<DatabaseTransaction, StoreError> {
        let txn = match self.db.get_database_backend() {
            DbBackend::Postgres => {
                self.db
                    .begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly))
                    .await?
            }
            // SQLite transactions are serialisable; a WAL reader keeps its snapshot.
            _ => self.db.begin().await?,
        };
        Ok(txn)
    }
}

async fn read_version(conn: &impl ConnectionTrait) -> Result<u64, StoreError> {
    let row = config_version::Entity::find_by_id(1)
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::Corrupt("config_version row is missing".into()))?;
    u64::try_from(row.version).map_err(|_| StoreError::Corrupt("negative config version".into()))
}

/// Now, truncated to microseconds so it round-trips through both backends.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A new sortable unique id.
fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The identity stored in a row's `identity_source`, `identity_issuer` and `user_name` columns.
fn identity_of(
    source: &str,
    issuer: &str,
    subject: &str,
) -> Result<gatehouse_config::grant_identity::GrantIdentity, StoreError> {
    let source = gatehouse_config::grant_identity::IdentitySource::parse(source)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown identity source {source:?}")))?;
    Ok(gatehouse_config::grant_identity::GrantIdentity {
        source,
        issuer: issuer.to_owned(),
        subject: subject.to_owned(),
    })
}

fn to_json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serialising plain data to JSON cannot fail")
}

fn from_json_text<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}
