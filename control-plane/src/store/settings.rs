//! Sealed settings (the session-binding key) and master-key rotation of stored secrets.

use rand::rngs::OsRng;
use rand::RngCore;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use secrecy::SecretBox;
use zeroize::Zeroizing;

use super::entities::setting;
use super::{now, Store, StoreError};
use crate::credentials::{CredentialError, Keyring, SealedRecord};

/// Name of the setting holding the 32-byte MCP session-binding key.
pub const SESSION_BINDING_KEY: &str = "session_binding_key";

/// Name of the setting holding the 32-byte key that binds an upstream OAuth flow to
/// the browser that started it (the HMAC of its `state` in a cookie).
pub const UPSTREAM_OAUTH_BROWSER_KEY: &str = "upstream_oauth_browser_key";

/// AAD binding a sealed setting to its name.
pub(super) fn setting_aad(name: &str) -> Vec<u8> {
    format!("setting:{name}").into_bytes()
}

impl Store {
    /// Generates and stores the session-binding key unless it exists. Returns whether it was created.
    pub async fn ensure_session_binding_key(&self) -> Result<bool, StoreError> {
        self.ensure_random_key(SESSION_BINDING_KEY).await
    }

    /// The upstream OAuth browser-binding key, created on first use.
    pub async fn upstream_oauth_browser_key(&self) -> Result<SecretBox<[u8; 32]>, StoreError> {
        self.ensure_random_key(UPSTREAM_OAUTH_BROWSER_KEY).await?;
        load_random_key(&self.db, &self.keyring, UPSTREAM_OAUTH_BROWSER_KEY)
            .await?
            .ok_or(StoreError::Credential(CredentialError::Malformed))
    }

    /// Generates and stores a random 32-byte key as the sealed setting `name`,
    /// unless it exists. Returns whether it was created.
    pub(super) async fn ensure_random_key(&self, name: &str) -> Result<bool, StoreError> {
        if setting::Entity::find_by_id(name).one(&self.db).await?.is_some() {
            return Ok(false);
        }
        let (txn, _version) = self.begin_write().await?;
        // Re-check under the write lock: another replica may have won the race.
        if setting::Entity::find_by_id(name).one(&txn).await?.is_some() {
            txn.rollback().await?;
            return Ok(false);
        }
        let mut key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(key.as_mut());
        let sealed = self.keyring.seal(key.as_ref(), &setting_aad(name))?;
        setting::Entity::insert(setting::ActiveModel {
            name: Set(name.to_owned()),
            key_id: Set(sealed.key_id),
            wrapped_key: Set(sealed.wrapped_key),
            ciphertext: Set(sealed.ciphertext),
            created_at: Set(now()),
        })
        .exec_without_returning(&txn)
        .await?;
        txn.touched().settings = true;
        txn.commit().await?;
        Ok(true)
    }
}

/// Loads and unseals the random 32-byte key stored as setting `name`, if any.
pub(super) async fn load_random_key(
    conn: &impl ConnectionTrait,
    keyring: &Keyring,
    name: &str,
) -> Result<Option<SecretBox<[u8; 32]>>, StoreError> {
    let Some(row) = setting::Entity::find_by_id(name).one(conn).await? else {
        return Ok(None);
    };
    let sealed =
        SealedRecord { key_id: row.key_id, wrapped_key: row.wrapped_key, ciphertext: row.ciphertext };
    let bytes = keyring.unseal(&sealed, &setting_aad(name))?;
    let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| CredentialError::Malformed)?;
    Ok(Some(SecretBox::new(Box::new(key))))
}

/// The key the edges encrypt cached upstream tokens with, inside the edge-state read transaction.
pub(super) async fn load_token_cache_key(
    conn: &impl ConnectionTrait,
    keyring: &Keyring,
) -> Result<Option<SecretBox<[u8; 32]>>, StoreError> {
    load_random_key(conn, keyring, super::oauth_clients::TOKEN_CACHE_KEY).await
}
