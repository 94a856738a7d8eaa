//! The one registry of every sealed column, and the one re-wrap over it.
//!
//! A sealed value is three columns, `{prefix}key_id`, `{prefix}wrapped_key` and
//! `{prefix}ciphertext`, plus associated data built from its row's key. A master-key
//! rotation re-wraps the data key of every such value under the primary key, so the
//! previous key can be dropped: a column missing here would stop opening then. The
//! storage suite scans the schema for sealed columns and fails on any not listed.

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::ConnectionTrait;

use super::{Store, StoreError};
use crate::credentials::SealedRecord;

/// One sealed value per row of `table`.
pub struct SealedColumn {
    /// The table.
    pub table: &'static str,
    /// Prefix of the three columns (`""` or e.g. `"secret_"`).
    pub prefix: &'static str,
    /// The row's key columns (all text), in the order `aad` takes them.
    pub key_columns: &'static [&'static str],
    /// The associated data the value was sealed with, from the key column values.
    aad: fn(&[String]) -> Vec<u8>,
}

/// Every sealed column of the schema.
pub const SEALED_COLUMNS: &[SealedColumn] = &[
    SealedColumn {
        table: "server_headers",
        prefix: "",
        key_columns: &["server_id", "name"],
        aad: |k| super::servers::header_aad(&k[0], &k[1]),
    },
    SealedColumn {
        table: "settings",
        prefix: "",
        key_columns: &["name"],
        aad: |k| super::settings::setting_aad(&k[0]),
    },
    SealedColumn {
        table: "as_signing_keys",
        prefix: "",
        key_columns: &["kid"],
        aad: |k| super::as_keys::key_aad(&k[0]),
    },
    SealedColumn {
        table: "upstream_oauth_clients",
        prefix: "secret_",
        key_columns: &["key"],
        aad: |k| super::oauth_clients::secret_aad(&k[0]),
    },
    SealedColumn {
        table: "upstream_grants",
        prefix: "",
        key_columns: &["id"],
        aad: |k| super::grants::grant_aad(&k[0]),
    },
    SealedColumn {
        table: "upstream_pending_authorizations",
        prefix: "",
        key_columns: &["state_hash"],
        aad: |k| super::authorization_links::pending_aad(&k[0]),
    },
    SealedColumn {
        table: "sso_providers",
        prefix: "secret_",
        key_columns: &["id"],
        aad: |k| super::sso_providers::secret_aad(&k[0]),
    },
    SealedColumn {
        table: "sso_login_states",
        prefix: "",
        key_columns: &["state_hash"],
        aad: |k| super::sessions::login_aad(&k[0]),
    },
    SealedColumn {
        table: "audit_exports",
        prefix: "",
        key_columns: &["org_id", "destination"],
        aad: |k| super::audit_exports::export_aad(&k[0], &k[1]),
    },
];

impl Store {
    /// Opens every sealed value of every registered column (failing if the keyring
    /// cannot) and re-wraps those sealed under a non-primary master key. Returns how
    /// many were re-wrapped.
    pub async fn rewrap_all(&self) -> Result<usize, StoreError> {
        let mut rewrapped = 0;
        for column in SEALED_COLUMNS {
            rewrapped += self.rewrap_column(column).await?;
        }
        Ok(rewrapped)
    }

    async fn rewrap_column(&self, column: &SealedColumn) -> Result<usize, StoreError> {
        let table = Alias::new(column.table);
        let key_id = format!("{}key_id", column.prefix);
        let wrapped_key = format!("{}wrapped_key", column.prefix);
        let ciphertext = format!("{}ciphertext", column.prefix);
        let mut select = Query::select();
        select.from(table.clone());
        for key in column.key_columns {
            select.column(Alias::new(*key));
        }
        select
            .column(Alias::new(&key_id))
            .column(Alias::new(&wrapped_key))
            .column(Alias::new(&ciphertext))
            .and_where(Expr::col(Alias::new(&key_id)).is_not_null());
        let backend = self.db.get_database_backend();
        let mut rewrapped = 0;
        for row in self.db.query_all(backend.build(&select)).await? {
            let keys = column
                .key_columns
                .iter()
                .map(|key| row.try_get::<String>("", key))
                .collect::<Result<Vec<_>, _>>()?;
            let sealed = SealedRecord {
                key_id: row.try_get("", &key_id)?,
                wrapped_key: row.try_get("", &wrapped_key)?,
                ciphertext: row.try_get("", &ciphertext)?,
            };
            let aad = (column.aad)(&keys);
            self.keyring.unseal(&sealed, &aad)?;
            if self.keyring.is_primary(&sealed.key_id) {
                continue;
            }
            let new = self.keyring.rewrap(&sealed, &aad)?;
            let mut update = Query::update();
            update
                .table(table.clone())
                .value(Alias::new(&key_id), new.key_id)
                .value(Alias::new(&wrapped_key), new.wrapped_key);
            for (key, value) in column.key_columns.iter().zip(keys) {
                update.and_where(Expr::col(Alias::new(*key)).eq(value));
            }
            // Only the value read: a concurrent rewrite or a new value is never clobbered.
            update
                .and_where(Expr::col(Alias::new(&key_id)).eq(sealed.key_id))
                .and_where(Expr::col(Alias::new(&ciphertext)).eq(sealed.ciphertext));
            self.db.execute(backend.build(&update)).await?;
            rewrapped += 1;
        }
        Ok(rewrapped)
    }
}
