//! A fresh database per test: SQLite in a temp dir always, PostgreSQL when
//! `GATEHOUSE_TEST_DATABASE_URL` points at a server (e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`).
//!
//! ```ignore
//! for db in TestDb::all().await {
//!     // the same test body runs against every available backend
//! }
//! ```

use std::path::PathBuf;

use sea_orm::{ConnectionTrait, Database};

pub use crate::backends::POSTGRES_URL_VAR;

/// A database owned by one test, removed when dropped.
#[derive(Debug)]
pub enum TestDb {
    /// A SQLite file in a temporary directory.
    Sqlite {
        /// Keeps the directory (and the file) alive.
        dir: tempfile::TempDir,
        /// The database file.
        path: PathBuf,
    },
    /// A uniquely named database on the server from `GATEHOUSE_TEST_DATABASE_URL`.
    Postgres {
        /// URL of the server's admin database (used to create and drop).
        admin_url: String,
        /// Name of this test's database.
        name: String,
        /// URL of this test's database.
        url: String,
    },
}

impl TestDb {
    /// A new SQLite database file in a temporary directory.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("creating a temp dir");
        let path = dir.path().join("gatehouse.db");
        TestDb::Sqlite { dir, path }
    }

    /// A new PostgreSQL database, or `None` when `GATEHOUSE_TEST_DATABASE_URL` is unset
    /// outside CI (under CI that fails the test: `crate::backends`).
    pub async fn postgres() -> Option<TestDb> {
        let admin_url = crate::backends::postgres_url()?;
        Some(Self::postgres_on(admin_url, POSTGRES_URL_VAR).await)
    }

    /// A new PostgreSQL database on the server `admin_url` connects to; `var` names
    /// the setting `admin_url` came from, for error messages.
    pub async fn postgres_on(admin_url: String, var: &str) -> TestDb {
        let name = format!("gatehouse_test_{}", uuid::Uuid::new_v4().simple());
        let admin =
            Database::connect(&admin_url).await.unwrap_or_else(|e| panic!("connecting to {var}: {e}"));
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
        let _ = admin.close().await;
        let url = replace_database(&admin_url, &name);
        TestDb::Postgres { admin_url, name, url }
    }

    /// SQLite, plus PostgreSQL when configured: run the same test body on each.
    pub async fn all() -> Vec<TestDb> {
        let mut dbs = vec![TestDb::sqlite().await];
        dbs.extend(TestDb::postgres().await);
        dbs
    }

    /// The URL to hand to the control plane.
    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite { path, .. } => format!("sqlite://{}?mode=rwc", path.display()),
            TestDb::Postgres { url, .. } => url.clone(),
        }
    }

    /// The SQLite file, for tests that inspect the bytes on disk.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        match self {
            TestDb::Sqlite { path, .. } => Some(path.clone()),
            TestDb::Postgres { .. } => None,
        }
    }

    /// `sqlite` or `postgres`, for assertion messages.
    pub fn backend(&self) -> &'static str {
        match self {
            TestDb::Sqlite { .. } => "sqlite",
            TestDb::Postgres { .. } => "postgres",
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let TestDb::Postgres { admin_url, name, .. } = self else {
            return;
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Drop may run inside a runtime: do the async clean-up on a thread of its own.
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async {
                if let Ok(admin) = Database::connect(&admin_url).await {
                    let _ = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// `scheme://user@host:port/db?query` with the database replaced by `name`.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Every row of every table as text, one `table: row` line each, for tests
/// that must show something is (or is not) in the database at all. SQLite
/// quotes each column (`quote()`, so blobs are hex); PostgreSQL renders rows
/// as JSON (`row_to_json`).
pub async fn dump_tables(db: &TestDb) -> std::collections::BTreeMap<String, Vec<String>> {
    let conn = Database::connect(db.url()).await.expect("connecting to dump the database");
    let backend = conn.get_database_backend();
    let tables_sql = match db {
        TestDb::Sqlite { .. } => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        TestDb::Postgres { .. } => {
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name"
        }
    };
    let tables: Vec<String> = conn
        .query_all(sea_orm::Statement::from_string(backend, tables_sql))
        .await
        .expect("listing tables")
        .iter()
        .map(|r| r.try_get::<String>("", "name").expect("table name"))
        .collect();
    let mut rows = std::collections::BTreeMap::new();
    for table in tables {
        let select = match db {
            TestDb::Sqlite { .. } => {
                let columns: Vec<String> = conn
                    .query_all(sea_orm::Statement::from_string(
                        backend,
                        format!("PRAGMA table_info(\"{table}\")"),
                    ))
                    .await
                    .expect("table columns")
                    .iter()
                    .map(|r| format!("quote(\"{}\")", r.try_get::<String>("", "name").expect("column name")))
                    .collect();
                format!("SELECT {} AS row FROM \"{table}\"", columns.join(" || ',' || "))
            }
            TestDb::Postgres { .. } => format!("SELECT row_to_json(t)::text AS row FROM \"{table}\" t"),
        };
        let found =
            conn.query_all(sea_orm::Statement::from_string(backend, select)).await.expect("dumping a table");
        rows.insert(
            table,
            found.iter().map(|r| r.try_get::<String>("", "row").unwrap_or_default()).collect(),
        );
    }
    conn.close().await.ok();
    rows
}

/// [`dump_tables`] as one string.
pub async fn dump_text(db: &TestDb) -> String {
    let mut text = String::new();
    for (table, rows) in dump_tables(db).await {
        for row in rows {
            text.push_str(&format!("{table}: {row}\n"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(replace_database("postgres://u@h:5432/postgres", "t"), "postgres://u@h:5432/t");
        assert_eq!(replace_database("postgres://u@h:5432", "t"), "postgres://u@h:5432/t");
        assert_eq!(
            replace_database("postgres://u@h/postgres?sslmode=disable", "t"),
            "postgres://u@h/t?sslmode=disable"
        );
    }
}
