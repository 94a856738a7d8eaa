//! Sealed settings (the session-binding key) and master-key rotation of stored secrets.

use rand::rngs::OsRng;
use rand::RngCore;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use secrecy::SecretBox;
use zeroize::Zeroizing;

use super::entities::{server_header, setting};
use super::servers::header_aad;
use super::{now, Store, StoreError};
use crate::credentials::{CredentialError, Keyring, SealedRecord};

/// Name of the setting holding the 32-byte MCP session-binding key.
pub const SESSION_BINDING_KEY: &str = "session_binding_key";

/// AAD binding a sealed setting to its name.
pub(super) fn setting_aad(name: &str) -> Vec<u8> {
    format!("setting:{name}").into_bytes()
}

impl Store {
    /// Generates and stores the session-binding key unless it exists. Returns whether it was created.
    pub async fn ensure_session_binding_key(&self) -> Result<bool, StoreError> {
        self.ensure_random_key(SESSION_BINDING_KEY).await
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

    /// Opens every sealed record (failing if the keyring cannot) and re-wraps the
    /// data keys of records sealed under a non-primary key. Returns how many were re-wrapped.
    pub async fn rewrap_secrets(&self) -> Result<usize, StoreError> {
        let mut rewrapped = 0;
        for row in server_header::Entity::find().all(&self.db).await? {
            let aad = header_aad(&row.server_id, &row.name);
            let sealed =
                SealedRecord { key_id: row.key_id, wrapped_key: row.wrapped_key, ciphertext: row.ciphertext };
            self.keyring.unseal(&sealed, &aad)?;
            if self.keyring.is_primary(&sealed.key_id) {
                continue;
            }
            let new = self.keyring.rewrap(&sealed, &aad)?;
            // Conditional on the old key id, so a concurrent rewrite is never clobbered.
            server_header::Entity::update_many()
                .col_expr(server_header::Column::KeyId, new.key_id.into())
                .col_expr(server_header::Column::WrappedKey, new.wrapped_key.into())
                .filter(server_header::Column::ServerId.eq(&row.server_id))
                .filter(server_header::Column::Name.eq(&row.name))
                .filter(server_header::Column::KeyId.eq(&sealed.key_id))
                .exec(&self.db)
                .await?;
            rewrapped += 1;
        }
        for row in setting::Entity::find().all(&self.db).await? {
            let aad = setting_aad(&row.name);
            let sealed =
                SealedRecord { key_id: row.key_id, wrapped_key: row.wrapped_key, ciphertext: row.ciphertext };
            self.keyring.unseal(&sealed, &aad)?;
            if self.keyring.is_primary(&sealed.key_id) {
                continue;
            }
            let new = self.keyring.rewrap(&sealed, &aad)?;
            setting::Entity::update_many()
                .col_expr(setting::Column::KeyId, new.key_id.into())
                .col_expr(setting::Column::WrappedKey, new.wrapped_key.into())
                .filter(setting::Column::Name.eq(&row.name))
                .filter(setting::Column::KeyId.eq(&sealed.key_id))
                .exec(&self.db)
                .await?;
            rewrapped += 1;
        }
        // Signing keys of the OAuth authorization server.
        rewrapped += super::as_keys::rewrap_as_signing_keys(&self.db, &self.keyring).await?;
        Ok(rewrapped)
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
