//! Single-use authorization links (stored by hash) and pending authorizations
//! at upstream authorization servers (stored by state hash, secrets sealed).
//!
//! Both are consumed with one conditional UPDATE, so each is used at most once
//! even with several control-plane replicas.

use gatehouse_config::grant_identity::GrantIdentity;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::entities::{upstream_authorization_link, upstream_pending_authorization};
use super::{from_json_text, now, to_json_text, Store, StoreError};
use crate::credentials::SealedRecord;

pub(super) fn pending_aad(state_hash: &str) -> Vec<u8> {
    format!("upstream_pending_authorization:{state_hash}").into_bytes()
}

/// Who a link or pending authorization is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationSubject {
    /// Org.
    pub org_id: String,
    /// The identity the grant is stored for.
    pub identity: GrantIdentity,
    /// Upstream server id.
    pub server_id: String,
    /// Scopes requested (step-up), possibly empty.
    pub scopes: Vec<String>,
    /// SHA-256 (hex) of the MCP session the link was handed to, if any: the
    /// elicitation is reported complete to that session only.
    pub session_hash: Option<String>,
    /// The elicitation id the link was handed out under (read back from a
    /// stored link or pending authorization; ignored on creation).
    pub elicitation_id: Option<String>,
}

impl AuthorizationSubject {
    /// The elicitation to report complete once this authorization stores its
    /// grant: only one started from a link handed to an MCP session.
    pub fn completion(&self) -> Option<ElicitationCompletion> {
        Some(ElicitationCompletion {
            elicitation_id: self.elicitation_id.clone()?,
            org_id: self.org_id.clone(),
            user: self.identity.subject.clone(),
            server_id: self.server_id.clone(),
            session_hash: self.session_hash.clone()?,
        })
    }
}

/// A URL elicitation whose authorization completed: edges send
/// `notifications/elicitation/complete` to the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElicitationCompletion {
    /// The elicitation id the client was given.
    pub elicitation_id: String,
    /// Org.
    pub org_id: String,
    /// The subject of the identity that authorized (the session is bound to it).
    pub user: String,
    /// Upstream server id.
    pub server_id: String,
    /// SHA-256 (hex) of the MCP session id to notify.
    pub session_hash: String,
}

/// Why a link or state could not be consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConsumeError {
    /// No such link or state.
    #[error("unknown")]
    Unknown,
    /// Already used once.
    #[error("already used")]
    Used,
    /// Past its expiry.
    #[error("expired")]
    Expired,
}

impl ConsumeError {
    /// Why a row that the conditional UPDATE did not take was refused.
    fn of(used_at_ms: Option<i64>, expires_at_ms: i64, now_ms: i64) -> Self {
        if used_at_ms.is_some() && expires_at_ms > now_ms {
            ConsumeError::Used
        } else {
            ConsumeError::Expired
        }
    }
}

/// The subject a link row is bound to.
fn link_subject(row: upstream_authorization_link::Model) -> Result<AuthorizationSubject, StoreError> {
    Ok(AuthorizationSubject {
        scopes: from_json_text("upstream_authorization_links.scopes", &row.scopes)?,
        identity: super::identity_of(&row.identity_source, &row.identity_issuer, &row.user_name)?,
        org_id: row.org_id,
        server_id: row.server_id,
        session_hash: row.session_hash,
        elicitation_id: Some(row.elicitation_id),
    })
}

/// The secret half of a pending authorization.
#[derive(Clone)]
pub struct PendingSecrets {
    /// PKCE code verifier.
    pub code_verifier: SecretString,
    /// The redirect URI sent on the authorization request.
    pub redirect_uri: String,
}

#[derive(Serialize, Deserialize)]
struct SealedPending {
    code_verifier: String,
    redirect_uri: String,
}

impl Store {
    /// Stores a link under the hash of its opaque id. Asked for through the admin
    /// API (an admin may ask on a bot's behalf), the link is audited with its change:
    /// who may connect which server, never the link itself.
    pub async fn create_authorization_link(
        &self,
        id_hash: &str,
        subject: &AuthorizationSubject,
        elicitation_id: &str,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        let txn = self.begin_change().await?;
        txn.set_audit_change(
            None,
            Some(serde_json::json!({
                "server_id": subject.server_id,
                "user": subject.identity.subject,
                "identity_source": subject.identity.source.as_str(),
                "expires_at_ms": expires_at_ms,
            })),
        );
        upstream_authorization_link::Entity::insert(upstream_authorization_link::ActiveModel {
            id_hash: Set(id_hash.to_owned()),
            org_id: Set(subject.org_id.clone()),
            user_name: Set(subject.identity.subject.clone()),
            identity_source: Set(subject.identity.source.as_str().to_owned()),
            identity_issuer: Set(subject.identity.issuer.clone()),
            server_id: Set(subject.server_id.clone()),
            scopes: Set(to_json_text(&subject.scopes)),
            elicitation_id: Set(elicitation_id.to_owned()),
            expires_at_ms: Set(expires_at_ms),
            used_at_ms: Set(None),
            created_at: Set(now()),
            session_hash: Set(subject.session_hash.clone()),
        })
        .exec_without_returning(&txn)
        .await?;
        txn.commit().await
    }

    /// The subject of the link iff it is unused and unexpired, without using it.
    pub async fn peek_authorization_link(
        &self,
        id_hash: &str,
        now_ms: i64,
    ) -> Result<Option<AuthorizationSubject>, StoreError> {
        use upstream_authorization_link::{Column, Entity};
        let row = Entity::find_by_id(id_hash)
            .filter(Column::UsedAtMs.is_null())
            .filter(Column::ExpiresAtMs.gt(now_ms))
            .one(&self.db)
            .await?;
        row.map(link_subject).transpose()
    }

    /// Marks the link used iff it is unused and unexpired; returns its subject.
    pub async fn consume_authorization_link(
        &self,
        id_hash: &str,
        now_ms: i64,
    ) -> Result<Result<AuthorizationSubject, ConsumeError>, StoreError> {
        use upstream_authorization_link::{Column, Entity};
        let updated = Entity::update_many()
            .col_expr(Column::UsedAtMs, Expr::value(now_ms))
            .filter(Column::IdHash.eq(id_hash))
            .filter(Column::UsedAtMs.is_null())
            .filter(Column::ExpiresAtMs.gt(now_ms))
            .exec(&self.db)
            .await?;
        let Some(row) = Entity::find_by_id(id_hash).one(&self.db).await? else {
            return Ok(Err(ConsumeError::Unknown));
        };
        if updated.rows_affected != 1 {
            return Ok(Err(ConsumeError::of(row.used_at_ms, row.expires_at_ms, now_ms)));
        }
        Ok(Ok(link_subject(row)?))
    }

    /// Deletes links and pending authorizations that expired before `before_ms`.
    pub async fn purge_authorizations(&self, before_ms: i64) -> Result<u64, StoreError> {
        let links = upstream_authorization_link::Entity::delete_many()
            .filter(upstream_authorization_link::Column::ExpiresAtMs.lt(before_ms))
            .exec(&self.db)
            .await?;
        let pending = upstream_pending_authorization::Entity::delete_many()
            .filter(upstream_pending_authorization::Column::ExpiresAtMs.lt(before_ms))
            .exec(&self.db)
            .await?;
        Ok(links.rows_affected + pending.rows_affected)
    }

    /// Stores a pending authorization under the hash of its `state`.
    pub async fn create_pending_authorization(
        &self,
        state_hash: &str,
        subject: &AuthorizationSubject,
        secrets: &PendingSecrets,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        let plain = SealedPending {
            code_verifier: secrets.code_verifier.expose_secret().to_owned(),
            redirect_uri: secrets.redirect_uri.clone(),
        };
        let bytes = Zeroizing::new(serde_json::to_vec(&plain).expect("serialising plain data cannot fail"));
        let sealed = self.keyring.seal(&bytes, &pending_aad(state_hash))?;
        upstream_pending_authorization::Entity::insert(upstream_pending_authorization::ActiveModel {
            state_hash: Set(state_hash.to_owned()),
            org_id: Set(subject.org_id.clone()),
            user_name: Set(subject.identity.subject.clone()),
            identity_source: Set(subject.identity.source.as_str().to_owned()),
            identity_issuer: Set(subject.identity.issuer.clone()),
            server_id: Set(subject.server_id.clone()),
            scopes: Set(to_json_text(&subject.scopes)),
            key_id: Set(sealed.key_id),
            wrapped_key: Set(sealed.wrapped_key),
            ciphertext: Set(sealed.ciphertext),
            expires_at_ms: Set(expires_at_ms),
            used_at_ms: Set(None),
            created_at: Set(now()),
            elicitation_id: Set(subject.elicitation_id.clone()),
            session_hash: Set(subject.session_hash.clone()),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    /// Marks the pending authorization used iff it is unused and unexpired;
    /// returns its subject and secrets.
    pub async fn consume_pending_authorization(
        &self,
        state_hash: &str,
        now_ms: i64,
    ) -> Result<Result<(AuthorizationSubject, PendingSecrets), ConsumeError>, StoreError> {
        use upstream_pending_authorization::{Column, Entity};
        let updated = Entity::update_many()
            .col_expr(Column::UsedAtMs, Expr::value(now_ms))
            .filter(Column::StateHash.eq(state_hash))
            .filter(Column::UsedAtMs.is_null())
            .filter(Column::ExpiresAtMs.gt(now_ms))
            .exec(&self.db)
            .await?;
        let Some(row) = Entity::find_by_id(state_hash).one(&self.db).await? else {
            return Ok(Err(ConsumeError::Unknown));
        };
        if updated.rows_affected != 1 {
            return Ok(Err(ConsumeError::of(row.used_at_ms, row.expires_at_ms, now_ms)));
        }
        let sealed =
            SealedRecord { key_id: row.key_id, wrapped_key: row.wrapped_key, ciphertext: row.ciphertext };
        let bytes = self.keyring.unseal(&sealed, &pending_aad(state_hash))?;
        let plain: SealedPending = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("upstream_pending_authorizations: {e}")))?;
        let subject = AuthorizationSubject {
            scopes: from_json_text("upstream_pending_authorizations.scopes", &row.scopes)?,
            identity: super::identity_of(&row.identity_source, &row.identity_issuer, &row.user_name)?,
            org_id: row.org_id,
            server_id: row.server_id,
            session_hash: row.session_hash,
            elicitation_id: row.elicitation_id,
        };
        Ok(Ok((
            subject,
            PendingSecrets {
                code_verifier: SecretString::from(plain.code_verifier),
                redirect_uri: plain.redirect_uri,
            },
        )))
    }
}
