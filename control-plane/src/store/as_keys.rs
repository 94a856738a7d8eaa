//! Authorization-server settings (issuer, public URLs) and signing keys.
//!
//! Both reach the edges, so every change goes through [`Store::begin_write`]
//! and bumps the config version.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use secrecy::ExposeSecret;

use super::entities::{as_setting, as_signing_key};
use super::{
    now, ActiveSigningKey, AsEdgeSettings, AsSigningKey, KeyPurpose, NewSigningKey, Store, StoreError,
};
use crate::credentials::{Keyring, SealedRecord};

/// Setting: the issuer of access tokens.
pub const AS_ISSUER: &str = "issuer";
/// Setting: the edges' public base URL.
pub const AS_EDGE_PUBLIC_BASE_URL: &str = "edge_public_base_url";
/// Setting: the control plane's public base URL.
pub const AS_CONTROL_PLANE_PUBLIC_URL: &str = "control_plane_public_url";

pub(super) fn key_aad(kid: &str) -> Vec<u8> {
    format!("as_signing_key:{kid}").into_bytes()
}

impl Store {
    /// Stores the settings the edges need; bumps the config version only if one changed.
    pub async fn set_as_settings(&self, values: &[(&str, &str)]) -> Result<bool, StoreError> {
        let current = as_setting::Entity::find().all(&self.db).await?;
        let unchanged =
            values.iter().all(|(name, value)| current.iter().any(|r| r.name == *name && r.value == *value));
        if unchanged {
            return Ok(false);
        }
        let (txn, _version) = self.begin_write().await?;
        let at = now();
        for (name, value) in values {
            as_setting::Entity::delete_by_id(*name).exec(&txn).await?;
            as_setting::Entity::insert(as_setting::ActiveModel {
                name: Set((*name).to_owned()),
                value: Set((*value).to_owned()),
                updated_at: Set(at),
            })
            .exec_without_returning(&txn)
            .await?;
        }
        // Issuer, URLs and keys travel in the edge settings.
        txn.touched().settings = true;
        txn.commit().await?;
        Ok(true)
    }

    /// Every stored signing key (public parts), oldest first.
    pub async fn as_signing_keys(&self) -> Result<Vec<AsSigningKey>, StoreError> {
        let rows = as_signing_key::Entity::find()
            .order_by_asc(as_signing_key::Column::CreatedAt)
            .all(&self.db)
            .await?;
        rows.into_iter().map(key_from).collect()
    }

    /// The active key for `purpose`, with its private JWK opened.
    pub async fn active_as_signing_key(
        &self,
        purpose: KeyPurpose,
    ) -> Result<Option<ActiveSigningKey>, StoreError> {
        active_key(&self.db, &self.keyring, purpose).await
    }

    /// Stores `key` as the active key for its purpose unless one exists (start-up). Returns whether it was stored.
    pub async fn ensure_as_signing_key(&self, key: NewSigningKey) -> Result<bool, StoreError> {
        if active_row(&self.db, key.purpose).await?.is_some() {
            return Ok(false);
        }
        let (txn, _version) = self.begin_write().await?;
        // Re-check under the write lock: another replica may have won the race.
        if active_row(&txn, key.purpose).await?.is_some() {
            txn.rollback().await?;
            return Ok(false);
        }
        insert_key(&self.keyring, key)?.exec_without_returning(&txn).await?;
        // Issuer, URLs and keys travel in the edge settings.
        txn.touched().settings = true;
        txn.commit().await?;
        Ok(true)
    }

    /// Makes `key` the active key for its purpose: the previous one is retired
    /// (still published) and keys retired before `prune_retired_before` are deleted.
    pub async fn rotate_as_signing_key(
        &self,
        key: NewSigningKey,
        prune_retired_before: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (txn, _version) = self.begin_write().await?;
        as_signing_key::Entity::delete_many()
            .filter(as_signing_key::Column::RetiredAt.lt(prune_retired_before))
            .exec(&txn)
            .await?;
        as_signing_key::Entity::update_many()
            .col_expr(as_signing_key::Column::RetiredAt, Some(now()).into())
            .filter(as_signing_key::Column::Purpose.eq(key.purpose.as_str()))
            .filter(as_signing_key::Column::RetiredAt.is_null())
            .exec(&txn)
            .await?;
        // The new key as its audit row shows it: the public half only.
        txn.audit_after(&serde_json::json!({"kid": key.kid, "purpose": key.purpose.as_str()}));
        insert_key(&self.keyring, key)?.exec_without_returning(&txn).await?;
        // Issuer, URLs and keys travel in the edge settings.
        txn.touched().settings = true;
        txn.commit().await?;
        Ok(())
    }
}

/// Loads what the edges need from the authorization server, inside the edge-state transaction.
pub(super) async fn load_as_edge_settings(
    conn: &impl ConnectionTrait,
    keyring: &Keyring,
) -> Result<AsEdgeSettings, StoreError> {
    let mut settings = AsEdgeSettings::default();
    for row in as_setting::Entity::find().all(conn).await? {
        match row.name.as_str() {
            AS_ISSUER => settings.issuer = row.value,
            AS_EDGE_PUBLIC_BASE_URL => settings.edge_public_base_url = row.value,
            AS_CONTROL_PLANE_PUBLIC_URL => settings.control_plane_public_url = row.value,
            _ => {}
        }
    }
    let keys = as_signing_key::Entity::find()
        .order_by_asc(as_signing_key::Column::CreatedAt)
        .all(conn)
        .await?
        .into_iter()
        .map(key_from)
        .collect::<Result<Vec<_>, _>>()?;
    // Only access-token keys: the identity key is held by every edge, so an edge that
    // accepted its signatures as access tokens could mint them.
    let access_keys: Vec<_> =
        keys.into_iter().filter(|k| k.purpose == KeyPurpose::AccessToken.as_str()).collect();
    if !access_keys.is_empty() {
        let jwks: Vec<_> = access_keys.into_iter().map(|k| k.public_jwk).collect();
        settings.jwks_json = serde_json::json!({ "keys": jwks }).to_string();
    }
    settings.identity_signing_jwk =
        active_key(conn, keyring, KeyPurpose::Identity).await?.map(|k| k.private_jwk);
    Ok(settings)
}

async fn active_row(
    conn: &impl ConnectionTrait,
    purpose: KeyPurpose,
) -> Result<Option<as_signing_key::Model>, StoreError> {
    Ok(as_signing_key::Entity::find()
        .filter(as_signing_key::Column::Purpose.eq(purpose.as_str()))
        .filter(as_signing_key::Column::RetiredAt.is_null())
        .order_by_desc(as_signing_key::Column::CreatedAt)
        .one(conn)
        .await?)
}

async fn active_key(
    conn: &impl ConnectionTrait,
    keyring: &Keyring,
    purpose: KeyPurpose,
) -> Result<Option<ActiveSigningKey>, StoreError> {
    let Some(row) = active_row(conn, purpose).await? else {
        return Ok(None);
    };
    let sealed =
        SealedRecord { key_id: row.key_id, wrapped_key: row.wrapped_key, ciphertext: row.ciphertext };
    let private_jwk = keyring.unseal_string(&sealed, &key_aad(&row.kid))?;
    Ok(Some(ActiveSigningKey { kid: row.kid, private_jwk }))
}

fn insert_key(
    keyring: &Keyring,
    key: NewSigningKey,
) -> Result<sea_orm::Insert<as_signing_key::ActiveModel>, StoreError> {
    let sealed = keyring.seal(key.private_jwk.expose_secret().as_bytes(), &key_aad(&key.kid))?;
    Ok(as_signing_key::Entity::insert(as_signing_key::ActiveModel {
        kid: Set(key.kid),
        purpose: Set(key.purpose.as_str().to_owned()),
        public_jwk: Set(key.public_jwk.to_string()),
        key_id: Set(sealed.key_id),
        wrapped_key: Set(sealed.wrapped_key),
        ciphertext: Set(sealed.ciphertext),
        created_at: Set(now()),
        retired_at: Set(None),
    }))
}

fn key_from(row: as_signing_key::Model) -> Result<AsSigningKey, StoreError> {
    Ok(AsSigningKey {
        public_jwk: super::from_json_text("as_signing_keys.public_jwk", &row.public_jwk)?,
        kid: row.kid,
        purpose: row.purpose,
        created_at: row.created_at,
        retired_at: row.retired_at,
    })
}
