//! Console sessions opened with an org API key or the platform admin token
//! (`POST /v1/console/session`): the same cookie as an SSO session, but the
//! caller is the credential, not a person. Only the hash of the cookie value is
//! stored, and of the credential only which API key it was or the hash the
//! admin token is compared by, so the session ends with the key or the token.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::entities::{console_key_session, org_api_key};
use super::{now, Store, StoreError};
use crate::accounts::Role;

/// Refresh `last_seen_at` at most this often, so reads don't all write.
const TOUCH_INTERVAL: chrono::Duration = chrono::Duration::seconds(60);

/// What a key session was opened with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySessionCredential {
    /// An org API key, by id.
    ApiKey(String),
    /// The platform admin token, by the SHA-256 it is compared by.
    Platform([u8; 32]),
}

/// A key session to create.
#[derive(Debug, Clone)]
pub struct NewKeySession {
    /// Hex SHA-256 of the cookie value.
    pub id_hash: String,
    /// The org the session acts in.
    pub org_id: String,
    /// What it was opened with.
    pub credential: KeySessionCredential,
    /// Absolute expiry.
    pub expires_at: DateTime<Utc>,
}

/// A live key session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySession {
    /// Opened with an org API key that still exists.
    ApiKey {
        /// The key's id.
        id: String,
        /// The key's org.
        org_id: String,
        /// The key's role.
        role: Role,
    },
    /// Opened with the platform admin token whose hash this is (the caller checks it is still valid).
    Platform {
        /// The org the session was opened for.
        org_id: String,
        /// SHA-256 of the admin token.
        admin_token_hash: [u8; 32],
    },
}

impl Store {
    /// Stores a key session.
    pub async fn create_key_session(&self, new: NewKeySession) -> Result<(), StoreError> {
        let at = now();
        let (api_key_id, admin_token_hash) = match new.credential {
            KeySessionCredential::ApiKey(id) => (Some(id), None),
            KeySessionCredential::Platform(hash) => (None, Some(hash.to_vec())),
        };
        console_key_session::Entity::insert(console_key_session::ActiveModel {
            id_hash: Set(new.id_hash),
            org_id: Set(new.org_id),
            api_key_id: Set(api_key_id),
            admin_token_hash: Set(admin_token_hash),
            created_at: Set(at),
            last_seen_at: Set(at),
            expires_at: Set(new.expires_at),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    /// The key session of a cookie hash, if it is live and its API key still
    /// exists; an expired, idle or orphaned session is deleted and yields `None`.
    pub async fn key_session(
        &self,
        id_hash: &str,
        at: DateTime<Utc>,
        idle_timeout: chrono::Duration,
    ) -> Result<Option<KeySession>, StoreError> {
        let Some(row) = console_key_session::Entity::find_by_id(id_hash).one(&self.db).await? else {
            return Ok(None);
        };
        let live = row.expires_at > at && row.last_seen_at + idle_timeout > at;
        let session = match (live, &row.api_key_id, &row.admin_token_hash) {
            (false, _, _) => None,
            (true, Some(key_id), _) => org_api_key::Entity::find_by_id(key_id.as_str())
                .filter(org_api_key::Column::OrgId.eq(&row.org_id))
                .one(&self.db)
                .await?
                .and_then(|key| Role::parse(&key.role).map(|role| (key.id, role)))
                .map(|(id, role)| KeySession::ApiKey { id, org_id: row.org_id.clone(), role }),
            (true, None, Some(hash)) => <[u8; 32]>::try_from(hash.as_slice()).ok().map(|admin_token_hash| {
                KeySession::Platform { org_id: row.org_id.clone(), admin_token_hash }
            }),
            (true, None, None) => None,
        };
        if session.is_none() {
            self.delete_key_session(id_hash).await?;
            return Ok(None);
        }
        if at - row.last_seen_at >= TOUCH_INTERVAL {
            console_key_session::Entity::update_many()
                .col_expr(console_key_session::Column::LastSeenAt, sea_orm::sea_query::Expr::value(now()))
                .filter(console_key_session::Column::IdHash.eq(id_hash))
                .exec(&self.db)
                .await?;
        }
        Ok(session)
    }

    /// Deletes a key session; `true` when one existed.
    pub async fn delete_key_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        Ok(console_key_session::Entity::delete_by_id(id_hash).exec(&self.db).await?.rows_affected > 0)
    }
}
