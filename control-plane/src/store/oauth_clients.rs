//! Upstream OAuth client records (registrations per authorization server,
//! admin-supplied client secrets, resolved per-server settings) and the sealed
//! token-cache key the edges encrypt cached upstream tokens with.

use std::collections::BTreeMap;

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use secrecy::{ExposeSecret, SecretBox, SecretString};

use super::entities::upstream_oauth_client;
use super::{from_json_text, now, to_json_text, Store, StoreError};
use crate::credentials::{Keyring, SealedRecord};

/// Name of the setting holding the 32-byte key edges encrypt cached upstream tokens with.
pub const TOKEN_CACHE_KEY: &str = "token_cache_key";

/// Key of the admin-supplied client (from `oauth_metadata`) of a server.
pub fn preset_key(server_id: &str) -> String {
    format!("preset:{server_id}")
}

/// Key of the resolved client settings (endpoints + client) of a server.
pub fn server_key(server_id: &str) -> String {
    format!("server:{server_id}")
}

/// Key of a cached registration at an authorization server for one flow.
pub fn registration_key(issuer: &str, flow: &str) -> String {
    format!("as:{flow}:{issuer}")
}

pub(super) fn secret_aad(key: &str) -> Vec<u8> {
    format!("upstream_oauth_client:{key}").into_bytes()
}

/// An upstream OAuth client record; the secret is sealed at rest.
#[derive(Debug, Clone)]
pub struct OAuthClientRecord {
    /// `preset:…`, `as:…` or `server:…`.
    pub key: String,
    /// Authorization server issuer (empty when unknown).
    pub issuer: String,
    /// The client id at the authorization server.
    pub client_id: String,
    /// `none` | `client_secret_basic` | `client_secret_post`.
    pub auth_method: String,
    /// Free-form JSON (resolved endpoints for `server:` records).
    pub metadata: serde_json::Value,
    /// Client secret, for confidential clients.
    pub client_secret: Option<SecretString>,
}

/// What the edges need for upstream OAuth, loaded with the rest of the edge state.
#[derive(Debug, Default)]
pub struct UpstreamOAuthEdge {
    /// Resolved client settings by server id.
    pub servers: BTreeMap<String, OAuthClientRecord>,
    /// 32-byte key the edges encrypt cached upstream tokens with.
    pub token_cache_key: Option<SecretBox<[u8; 32]>>,
}

/// The resolved OAuth clients of the servers `server_ids` names, by server id,
/// inside the edge-state read transaction.
pub(super) async fn load_server_clients(
    conn: &impl ConnectionTrait,
    keyring: &Keyring,
    server_ids: &[String],
) -> Result<BTreeMap<String, OAuthClientRecord>, StoreError> {
    if server_ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let rows = upstream_oauth_client::Entity::find()
        .filter(upstream_oauth_client::Column::Key.is_in(server_ids.iter().map(|id| server_key(id))))
        .all(conn)
        .await?;
    let mut servers = BTreeMap::new();
    for row in rows {
        let record = client_from(keyring, row)?;
        let id = record.key.trim_start_matches("server:").to_owned();
        servers.insert(id, record);
    }
    Ok(servers)
}

fn client_from(
    keyring: &Keyring,
    row: upstream_oauth_client::Model,
) -> Result<OAuthClientRecord, StoreError> {
    let client_secret = match (row.secret_key_id, row.secret_wrapped_key, row.secret_ciphertext) {
        (Some(key_id), Some(wrapped_key), Some(ciphertext)) => {
            let sealed = SealedRecord { key_id, wrapped_key, ciphertext };
            Some(keyring.unseal_string(&sealed, &secret_aad(&row.key))?)
        }
        _ => None,
    };
    Ok(OAuthClientRecord {
        metadata: from_json_text("upstream_oauth_clients.metadata", &row.metadata)?,
        key: row.key,
        issuer: row.issuer,
        client_id: row.client_id,
        auth_method: row.auth_method,
        client_secret,
    })
}

impl Store {
    /// The client record stored under `key`.
    pub async fn oauth_client(&self, key: &str) -> Result<Option<OAuthClientRecord>, StoreError> {
        let row = upstream_oauth_client::Entity::find_by_id(key).one(&self.db).await?;
        row.map(|r| client_from(&self.keyring, r)).transpose()
    }

    /// Writes (inserts or replaces) a client record, sealing its secret. Bumps the
    /// config version so edges receive resolved server settings.
    pub async fn put_oauth_client(&self, record: &OAuthClientRecord) -> Result<(), StoreError> {
        let sealed = record
            .client_secret
            .as_ref()
            .map(|s| self.keyring.seal(s.expose_secret().as_bytes(), &secret_aad(&record.key)))
            .transpose()?;
        let (txn, _version) = self.begin_write().await?;
        let existing = upstream_oauth_client::Entity::find_by_id(&record.key).one(&txn).await?;
        let at = now();
        let model = upstream_oauth_client::ActiveModel {
            key: Set(record.key.clone()),
            issuer: Set(record.issuer.clone()),
            client_id: Set(record.client_id.clone()),
            auth_method: Set(record.auth_method.clone()),
            metadata: Set(to_json_text(&record.metadata)),
            secret_key_id: Set(sealed.as_ref().map(|s| s.key_id.clone())),
            secret_wrapped_key: Set(sealed.as_ref().map(|s| s.wrapped_key.clone())),
            secret_ciphertext: Set(sealed.as_ref().map(|s| s.ciphertext.clone())),
            created_at: Set(existing.as_ref().map_or(at, |e| e.created_at)),
            updated_at: Set(at),
        };
        if existing.is_some() {
            upstream_oauth_client::Entity::update(model).exec(&txn).await?;
        } else {
            upstream_oauth_client::Entity::insert(model).exec_without_returning(&txn).await?;
        }
        touch_server_of_client(&txn, &record.key);
        txn.commit().await?;
        Ok(())
    }

    /// Deletes the client record stored under `key`. Bumps the config version.
    pub async fn delete_oauth_client(&self, key: &str) -> Result<(), StoreError> {
        // Most servers have none: don't bump the config version for nothing.
        if upstream_oauth_client::Entity::find_by_id(key).one(&self.db).await?.is_none() {
            return Ok(());
        }
        let (txn, _version) = self.begin_write().await?;
        upstream_oauth_client::Entity::delete_by_id(key).exec(&txn).await?;
        touch_server_of_client(&txn, key);
        txn.commit().await?;
        Ok(())
    }

    /// Generates and stores the token-cache key unless it exists. Returns whether it was created.
    pub async fn ensure_token_cache_key(&self) -> Result<bool, StoreError> {
        self.ensure_random_key(TOKEN_CACHE_KEY).await
    }
}

/// A server's resolved client travels with the server (`Server.oauth`); preset
/// and registration records stay in the control plane.
fn touch_server_of_client(txn: &super::WriteTxn, key: &str) {
    if let Some(server_id) = key.strip_prefix("server:") {
        txn.touched().servers.insert(server_id.to_owned());
    }
}

/// Deletes the client records of a server (preset and resolved), inside the
/// caller's transaction.
pub(super) async fn delete_server_clients(
    conn: &impl ConnectionTrait,
    server_id: &str,
) -> Result<(), StoreError> {
    upstream_oauth_client::Entity::delete_many()
        .filter(upstream_oauth_client::Column::Key.is_in([preset_key(server_id), server_key(server_id)]))
        .exec(conn)
        .await?;
    Ok(())
}
