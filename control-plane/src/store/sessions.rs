//! Console sessions and pending SSO logins. Both are keyed by hashes; the
//! secrets of a pending login (nonce, PKCE verifier) are sealed.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use secrecy::{ExposeSecret, SecretString};

use super::entities::{console_key_session, session, sso_login_state};
use super::users::authenticated_user;
use super::{now, Store, StoreError};
use crate::accounts::AuthenticatedUser;
use crate::credentials::SealedRecord;

/// Refresh `last_seen_at` at most this often, so reads don't all write.
const TOUCH_INTERVAL: chrono::Duration = chrono::Duration::seconds(60);

/// A session to create.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Hex SHA-256 of the cookie value.
    pub id_hash: String,
    /// The signed-in user.
    pub user_id: String,
    /// The browser's `User-Agent` (truncated).
    pub user_agent: String,
    /// Absolute expiry.
    pub expires_at: DateTime<Utc>,
}

/// A login in flight, waiting for the provider's callback.
#[derive(Debug)]
pub struct PendingLogin {
    /// The org being logged into.
    pub org_id: String,
    /// The provider used.
    pub provider_id: String,
    /// Where to send the browser afterwards (already validated).
    pub return_to: String,
    /// Sealed at rest: the nonce and PKCE verifier (JSON).
    pub secret: SecretString,
    /// When the login stops being accepted.
    pub expires_at: DateTime<Utc>,
}

pub(super) fn login_aad(state_hash: &str) -> Vec<u8> {
    format!("sso_login_state:{state_hash}").into_bytes()
}

impl Store {
    /// Stores a session.
    pub async fn create_session(&self, new: NewSession) -> Result<(), StoreError> {
        let at = now();
        session::Entity::insert(session::ActiveModel {
            id_hash: Set(new.id_hash),
            user_id: Set(new.user_id),
            user_agent: Set(new.user_agent),
            created_at: Set(at),
            last_seen_at: Set(at),
            expires_at: Set(new.expires_at),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    /// The user of a live session; an expired or idle session is deleted and yields `None`.
    pub async fn session_user(
        &self,
        id_hash: &str,
        at: DateTime<Utc>,
        idle_timeout: chrono::Duration,
    ) -> Result<Option<AuthenticatedUser>, StoreError> {
        let Some(row) = session::Entity::find_by_id(id_hash).one(&self.db).await? else {
            return Ok(None);
        };
        if row.expires_at <= at || row.last_seen_at + idle_timeout <= at {
            session::Entity::delete_by_id(id_hash).exec(&self.db).await?;
            return Ok(None);
        }
        if at - row.last_seen_at >= TOUCH_INTERVAL {
            session::Entity::update_many()
                .col_expr(session::Column::LastSeenAt, sea_orm::sea_query::Expr::value(now()))
                .filter(session::Column::IdHash.eq(id_hash))
                .exec(&self.db)
                .await?;
        }
        authenticated_user(&self.db, &row.user_id).await
    }

    /// Deletes a session; `true` when one existed.
    pub async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        Ok(session::Entity::delete_by_id(id_hash).exec(&self.db).await?.rows_affected > 0)
    }

    /// Deletes expired sessions and login states; returns how many rows went.
    pub async fn purge_expired_sessions(&self, at: DateTime<Utc>) -> Result<u64, StoreError> {
        let sessions =
            session::Entity::delete_many().filter(session::Column::ExpiresAt.lte(at)).exec(&self.db).await?;
        let key_sessions = console_key_session::Entity::delete_many()
            .filter(console_key_session::Column::ExpiresAt.lte(at))
            .exec(&self.db)
            .await?;
        let logins = sso_login_state::Entity::delete_many()
            .filter(sso_login_state::Column::ExpiresAt.lte(at))
            .exec(&self.db)
            .await?;
        Ok(sessions.rows_affected + key_sessions.rows_affected + logins.rows_affected)
    }

    /// Stores a pending login under the hash of its `state`, sealing its secret.
    pub async fn create_login_state(&self, state_hash: &str, login: PendingLogin) -> Result<(), StoreError> {
        let sealed = self.keyring.seal(login.secret.expose_secret().as_bytes(), &login_aad(state_hash))?;
        sso_login_state::Entity::insert(sso_login_state::ActiveModel {
            state_hash: Set(state_hash.to_owned()),
            org_id: Set(login.org_id),
            provider_id: Set(login.provider_id),
            return_to: Set(login.return_to),
            key_id: Set(sealed.key_id),
            wrapped_key: Set(sealed.wrapped_key),
            ciphertext: Set(sealed.ciphertext),
            created_at: Set(now()),
            expires_at: Set(login.expires_at),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    /// Takes (reads and deletes) the pending login for a `state` hash: each
    /// state is usable once, even when two callbacks race.
    pub async fn take_login_state(&self, state_hash: &str) -> Result<Option<PendingLogin>, StoreError> {
        let Some(row) = sso_login_state::Entity::find_by_id(state_hash).one(&self.db).await? else {
            return Ok(None);
        };
        let deleted = sso_login_state::Entity::delete_by_id(state_hash).exec(&self.db).await?;
        if deleted.rows_affected != 1 {
            return Ok(None);
        }
        let sealed =
            SealedRecord { key_id: row.key_id, wrapped_key: row.wrapped_key, ciphertext: row.ciphertext };
        let secret = self.keyring.unseal_string(&sealed, &login_aad(state_hash))?;
        Ok(Some(PendingLogin {
            org_id: row.org_id,
            provider_id: row.provider_id,
            return_to: row.return_to,
            secret,
            expires_at: row.expires_at,
        }))
    }
}
