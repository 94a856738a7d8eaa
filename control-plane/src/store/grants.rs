//! Per-user upstream grants: tokens sealed as one record, a version bumped on
//! every change, and a refresh lease taken by compare-and-swap in SQL so that
//! exactly one edge (across every control-plane replica) refreshes a grant.

use chrono::{DateTime, Utc};
use gatehouse_config::grant_identity::{GrantIdentity, IdentitySource};
use gatehouse_config::limits::GRANT_REVOCATION_RETENTION;
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::authorization_links::ElicitationCompletion;
use super::entities::{upstream_grant, upstream_grant_revocation};
use super::{from_json_text, new_id, now, to_json_text, Store, StoreError, Versioned};
use crate::credentials::SealedRecord;

/// Status of a usable grant.
pub const GRANT_ACTIVE: &str = "active";
/// Status of a grant the upstream rejected (invalid_grant).
pub const GRANT_DEAD: &str = "dead";

pub(super) fn grant_aad(id: &str) -> Vec<u8> {
    format!("upstream_grant:{id}").into_bytes()
}

/// Upstream tokens of a grant (sealed together at rest).
#[derive(Clone)]
pub struct GrantTokens {
    /// The access token.
    pub access_token: SecretString,
    /// The refresh token, if the AS issued one.
    pub refresh_token: Option<SecretString>,
}

impl std::fmt::Debug for GrantTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantTokens")
            .field("refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct SealedTokens {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// An identity's grant for one upstream server.
#[derive(Debug, Clone)]
pub struct Grant {
    /// Stable id.
    pub id: String,
    /// Owning org.
    pub org_id: String,
    /// The subject it belongs to: a Gatehouse user, or a JWT `sub` (see `identity_source`).
    pub user: String,
    /// Where the identity comes from.
    pub identity_source: IdentitySource,
    /// The JWT issuer (`jwt`); empty for `gatehouse`.
    pub issuer: String,
    /// The upstream server.
    pub server_id: String,
    /// `active` | `dead`.
    pub status: String,
    /// Bumped on every change.
    pub version: u64,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Unix seconds; 0 = unknown.
    pub access_expires_at: i64,
    /// When the user connected.
    pub created_at: DateTime<Utc>,
    /// Last token change.
    pub refreshed_at: DateTime<Utc>,
    /// The tokens.
    pub tokens: GrantTokens,
}

/// Fresh tokens from a token endpoint.
#[derive(Debug, Clone)]
pub struct NewTokens {
    /// The tokens (a `None` refresh token keeps the stored one on refresh).
    pub tokens: GrantTokens,
    /// Unix seconds; 0 = unknown.
    pub access_expires_at: i64,
    /// Granted scopes.
    pub scopes: Vec<String>,
}

/// Outcome of asking for a refresh lease.
#[derive(Debug, Clone)]
pub struct Lease {
    /// Whether the caller holds the lease.
    pub granted: bool,
    /// Fencing token to present on commit (0 when not granted).
    pub fencing_token: u64,
    /// Unix milliseconds the lease ends (0 when not granted).
    pub lease_until_ms: i64,
    /// The grant as it is now.
    pub current: Option<Grant>,
}

impl Grant {
    /// The identity the grant belongs to.
    pub fn identity(&self) -> GrantIdentity {
        GrantIdentity {
            source: self.identity_source,
            issuer: self.issuer.clone(),
            subject: self.user.clone(),
        }
    }

    /// The Gatehouse user the grant belongs to; `None` for a JWT subject.
    pub fn gatehouse_user(&self) -> Option<&str> {
        (self.identity_source == IdentitySource::Gatehouse).then_some(self.user.as_str())
    }
}

impl Store {
    /// Stores tokens for (org, identity, server) after an authorization: creates the
    /// grant or replaces its tokens, reactivates it and bumps its version.
    ///
    /// With a `completion` (the authorization started from a URL elicitation
    /// handed to an MCP session) the same transaction records it and bumps the
    /// config version, so that publishing tells the edges.
    pub async fn store_grant(
        &self,
        org_id: &str,
        identity: impl Into<GrantIdentity>,
        server_id: &str,
        new: NewTokens,
        completion: Option<&ElicitationCompletion>,
    ) -> Result<Grant, StoreError> {
        let identity = identity.into();
        let at = now();
        let id = match completion {
            Some(completion) => {
                let (txn, _version) = self.begin_write().await?;
                let id = self.upsert_grant(&txn, org_id, &identity, server_id, &new, at).await?;
                super::elicitation_completions::record(&txn, completion, at).await?;
                txn.touched().completed_elicitations.insert(completion.elicitation_id.clone());
                txn.commit().await?;
                id
            }
            None => {
                let txn = self.db.begin().await?;
                let id = self.upsert_grant(&txn, org_id, &identity, server_id, &new, at).await?;
                txn.commit().await?;
                id
            }
        };
        self.grant(&id).await?.ok_or(StoreError::NotFound("grant"))
    }

    /// Creates the grant of (org, identity, server) or replaces its tokens; returns its id.
    async fn upsert_grant(
        &self,
        txn: &impl ConnectionTrait,
        org_id: &str,
        identity: &GrantIdentity,
        server_id: &str,
        new: &NewTokens,
        at: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        let existing = upstream_grant::Entity::find()
            .filter(identity_filter(org_id, identity, server_id))
            .one(txn)
            .await?;
        let id = existing.as_ref().map_or_else(new_id, |e| e.id.clone());
        let sealed = self.seal_tokens(&id, &new.tokens)?;
        let model = upstream_grant::ActiveModel {
            id: Set(id.clone()),
            org_id: Set(org_id.to_owned()),
            user_name: Set(identity.subject.clone()),
            identity_source: Set(identity.source.as_str().to_owned()),
            identity_issuer: Set(identity.issuer.clone()),
            server_id: Set(server_id.to_owned()),
            status: Set(GRANT_ACTIVE.to_owned()),
            version: Set(existing.as_ref().map_or(1, |e| e.version + 1)),
            scopes: Set(to_json_text(&new.scopes)),
            key_id: Set(sealed.key_id),
            wrapped_key: Set(sealed.wrapped_key),
            ciphertext: Set(sealed.ciphertext),
            access_expires_at: Set(new.access_expires_at),
            lease_holder: Set(None),
            lease_until_ms: Set(None),
            fencing: Set(existing.as_ref().map_or(0, |e| e.fencing)),
            created_at: Set(existing.as_ref().map_or(at, |e| e.created_at)),
            refreshed_at: Set(at),
        };
        if existing.is_some() {
            upstream_grant::Entity::update(model).exec(txn).await?;
        } else {
            upstream_grant::Entity::insert(model).exec_without_returning(txn).await?;
        }
        Ok(id)
    }

    /// The grant of (org, identity, server).
    pub async fn find_grant(
        &self,
        org_id: &str,
        identity: impl Into<GrantIdentity>,
        server_id: &str,
    ) -> Result<Option<Grant>, StoreError> {
        let row = upstream_grant::Entity::find()
            .filter(identity_filter(org_id, &identity.into(), server_id))
            .one(&self.db)
            .await?;
        row.map(|r| self.grant_from(r)).transpose()
    }

    /// The grant with `id`.
    pub async fn grant(&self, id: &str) -> Result<Option<Grant>, StoreError> {
        let row = upstream_grant::Entity::find_by_id(id).one(&self.db).await?;
        row.map(|r| self.grant_from(r)).transpose()
    }

    /// The grants of an org, optionally of one Gatehouse user, oldest first.
    pub async fn list_grants(&self, org_id: &str, user: Option<&str>) -> Result<Vec<Grant>, StoreError> {
        let mut query = upstream_grant::Entity::find().filter(upstream_grant::Column::OrgId.eq(org_id));
        if let Some(user) = user {
            query = query
                .filter(upstream_grant::Column::IdentitySource.eq(IdentitySource::Gatehouse.as_str()))
                .filter(upstream_grant::Column::UserName.eq(user));
        }
        let rows = query.order_by_asc(upstream_grant::Column::CreatedAt).all(&self.db).await?;
        rows.into_iter().map(|r| self.grant_from(r)).collect()
    }

    /// Deletes the grant `id` of the org and returns it, with the config
    /// version that publishes its revocation to the edges.
    ///
    /// One transaction: the version bump, the delete and its tombstone (see
    /// [`revoke_grants`]).
    pub async fn delete_grant(&self, org_id: &str, id: &str) -> Result<Versioned<Grant>, StoreError> {
        let (txn, version) = self.begin_write().await?;
        let row = upstream_grant::Entity::find_by_id(id)
            .filter(upstream_grant::Column::OrgId.eq(org_id))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound("connection"))?;
        let grant = self.grant_from(row.clone())?;
        txn.audit_before(&grant);
        revoke_grants(&txn, vec![row], now()).await?;
        txn.commit().await?;
        Ok(Versioned { value: grant, version })
    }

    /// Deletes every grant of a server (its authorization server changed), with
    /// tombstones and a config version bump. Returns how many.
    pub async fn delete_server_grants(&self, server_id: &str) -> Result<u64, StoreError> {
        let (txn, _version) = self.begin_write().await?;
        let deleted = revoke_server_grants(&txn, server_id, now()).await?;
        txn.commit().await?;
        Ok(deleted)
    }

    /// Takes the refresh lease of grant `id` at `version` for `holder` iff no
    /// live lease exists (one conditional UPDATE, so it holds across replicas).
    pub async fn acquire_refresh_lease(
        &self,
        id: &str,
        version: u64,
        holder: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Lease, StoreError> {
        let until = now_ms + lease_ms;
        let updated = upstream_grant::Entity::update_many()
            .col_expr(upstream_grant::Column::LeaseHolder, Expr::value(holder))
            .col_expr(upstream_grant::Column::LeaseUntilMs, Expr::value(until))
            .col_expr(upstream_grant::Column::Fencing, Expr::col(upstream_grant::Column::Fencing).add(1))
            .filter(upstream_grant::Column::Id.eq(id))
            .filter(upstream_grant::Column::Version.eq(to_i64(version)))
            .filter(upstream_grant::Column::Status.eq(GRANT_ACTIVE))
            .filter(
                Condition::any()
                    .add(upstream_grant::Column::LeaseUntilMs.is_null())
                    .add(upstream_grant::Column::LeaseUntilMs.lt(now_ms)),
            )
            .exec(&self.db)
            .await?;
        let current = self.grant_row(id).await?;
        let granted = updated.rows_affected == 1;
        let (fencing_token, lease_until_ms) = match (&current, granted) {
            (Some(row), true) => (u64::try_from(row.fencing).unwrap_or(0), until),
            _ => (0, 0),
        };
        Ok(Lease {
            granted,
            fencing_token,
            lease_until_ms,
            current: current.map(|r| self.grant_from(r)).transpose()?,
        })
    }

    /// Stores refreshed tokens iff the grant is still at `expected_version` and
    /// `fencing_token` holds its lease; bumps the version and releases the lease.
    /// A `None` refresh token keeps the stored one.
    pub async fn commit_refresh(
        &self,
        id: &str,
        expected_version: u64,
        fencing_token: u64,
        new: NewTokens,
    ) -> Result<Grant, StoreError> {
        let stale = || StoreError::Conflict {
            field: Some("expected_version"),
            message: "the grant moved on or the lease is no longer held".into(),
        };
        let txn = self.db.begin().await?;
        let row =
            upstream_grant::Entity::find_by_id(id).one(&txn).await?.ok_or(StoreError::NotFound("grant"))?;
        if row.version != to_i64(expected_version)
            || row.fencing != to_i64(fencing_token)
            || row.lease_holder.is_none()
        {
            return Err(stale());
        }
        let old = self.open_tokens(&row)?;
        let tokens = GrantTokens {
            access_token: new.tokens.access_token,
            refresh_token: new.tokens.refresh_token.or(old.refresh_token),
        };
        let sealed = self.seal_tokens(id, &tokens)?;
        let scopes = if new.scopes.is_empty() { row.scopes.clone() } else { to_json_text(&new.scopes) };
        let updated = upstream_grant::Entity::update_many()
            .col_expr(upstream_grant::Column::KeyId, Expr::value(sealed.key_id))
            .col_expr(upstream_grant::Column::WrappedKey, Expr::value(sealed.wrapped_key))
            .col_expr(upstream_grant::Column::Ciphertext, Expr::value(sealed.ciphertext))
            .col_expr(upstream_grant::Column::AccessExpiresAt, Expr::value(new.access_expires_at))
            .col_expr(upstream_grant::Column::Scopes, Expr::value(scopes))
            .col_expr(upstream_grant::Column::Version, Expr::col(upstream_grant::Column::Version).add(1))
            .col_expr(upstream_grant::Column::LeaseHolder, Expr::value(Option::<String>::None))
            .col_expr(upstream_grant::Column::LeaseUntilMs, Expr::value(Option::<i64>::None))
            .col_expr(upstream_grant::Column::RefreshedAt, Expr::value(now()))
            .filter(upstream_grant::Column::Id.eq(id))
            .filter(upstream_grant::Column::Version.eq(row.version))
            .filter(upstream_grant::Column::Fencing.eq(row.fencing))
            .exec(&txn)
            .await?;
        if updated.rows_affected != 1 {
            return Err(stale());
        }
        txn.commit().await?;
        self.grant(id).await?.ok_or(StoreError::NotFound("grant"))
    }

    /// Marks the grant dead iff it is still at `expected_version` (0 = any);
    /// returns the grant as it is afterwards.
    pub async fn mark_grant_dead(
        &self,
        id: &str,
        expected_version: u64,
    ) -> Result<Option<Grant>, StoreError> {
        let mut update = upstream_grant::Entity::update_many()
            .col_expr(upstream_grant::Column::Status, Expr::value(GRANT_DEAD))
            .col_expr(upstream_grant::Column::Version, Expr::col(upstream_grant::Column::Version).add(1))
            .col_expr(upstream_grant::Column::LeaseHolder, Expr::value(Option::<String>::None))
            .col_expr(upstream_grant::Column::LeaseUntilMs, Expr::value(Option::<i64>::None))
            .filter(upstream_grant::Column::Id.eq(id))
            .filter(upstream_grant::Column::Status.eq(GRANT_ACTIVE));
        if expected_version != 0 {
            update = update.filter(upstream_grant::Column::Version.eq(to_i64(expected_version)));
        }
        update.exec(&self.db).await?;
        self.grant(id).await
    }

    async fn grant_row(&self, id: &str) -> Result<Option<upstream_grant::Model>, StoreError> {
        Ok(upstream_grant::Entity::find_by_id(id).one(&self.db).await?)
    }

    fn seal_tokens(&self, id: &str, tokens: &GrantTokens) -> Result<SealedRecord, StoreError> {
        let plain = SealedTokens {
            access_token: tokens.access_token.expose_secret().to_owned(),
            refresh_token: tokens.refresh_token.as_ref().map(|t| t.expose_secret().to_owned()),
        };
        let bytes = Zeroizing::new(serde_json::to_vec(&plain).expect("serialising tokens cannot fail"));
        Ok(self.keyring.seal(&bytes, &grant_aad(id))?)
    }

    fn open_tokens(&self, row: &upstream_grant::Model) -> Result<GrantTokens, StoreError> {
        let sealed = SealedRecord {
            key_id: row.key_id.clone(),
            wrapped_key: row.wrapped_key.clone(),
            ciphertext: row.ciphertext.clone(),
        };
        let bytes = self.keyring.unseal(&sealed, &grant_aad(&row.id))?;
        let plain: SealedTokens = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("upstream_grants tokens: {e}")))?;
        Ok(GrantTokens {
            access_token: SecretString::from(plain.access_token),
            refresh_token: plain.refresh_token.map(SecretString::from),
        })
    }

    fn grant_from(&self, row: upstream_grant::Model) -> Result<Grant, StoreError> {
        let tokens = self.open_tokens(&row)?;
        let identity_source = IdentitySource::parse(&row.identity_source).ok_or_else(|| {
            StoreError::Corrupt(format!("unknown identity source {:?}", row.identity_source))
        })?;
        Ok(Grant {
            identity_source,
            issuer: row.identity_issuer,
            scopes: from_json_text("upstream_grants.scopes", &row.scopes)?,
            version: u64::try_from(row.version)
                .map_err(|_| StoreError::Corrupt("negative grant version".into()))?,
            id: row.id,
            org_id: row.org_id,
            user: row.user_name,
            server_id: row.server_id,
            status: row.status,
            access_expires_at: row.access_expires_at,
            created_at: row.created_at,
            refreshed_at: row.refreshed_at,
            tokens,
        })
    }
}

/// The row of (org, identity, server).
fn identity_filter(org_id: &str, identity: &GrantIdentity, server_id: &str) -> Condition {
    Condition::all()
        .add(upstream_grant::Column::OrgId.eq(org_id))
        .add(upstream_grant::Column::IdentitySource.eq(identity.source.as_str()))
        .add(upstream_grant::Column::IdentityIssuer.eq(identity.issuer.as_str()))
        .add(upstream_grant::Column::UserName.eq(identity.subject.as_str()))
        .add(upstream_grant::Column::ServerId.eq(server_id))
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Deletes `rows` and writes their tombstones, inside the caller's transaction
/// (which must bump the config version): edges drop access tokens they cached
/// for these grants as soon as they apply that version. Tombstones older than
/// [`GRANT_REVOCATION_RETENTION`] are pruned on the way. Returns how many grants.
///
/// Every deletion of a grant goes through here.
pub(super) async fn revoke_grants(
    conn: &super::WriteTxn,
    rows: Vec<upstream_grant::Model>,
    at: DateTime<Utc>,
) -> Result<u64, StoreError> {
    upstream_grant_revocation::Entity::delete_many()
        .filter(upstream_grant_revocation::Column::RevokedAt.lt(at - GRANT_REVOCATION_RETENTION))
        .exec(conn)
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    conn.touched().revoked_grants.extend(ids.iter().cloned());
    let deleted = upstream_grant::Entity::delete_many()
        .filter(upstream_grant::Column::Id.is_in(ids))
        .exec(conn)
        .await?
        .rows_affected;
    let tombstones = rows.into_iter().map(|r| upstream_grant_revocation::ActiveModel {
        grant_id: Set(r.id),
        org_id: Set(r.org_id),
        revoked_at: Set(at),
    });
    upstream_grant_revocation::Entity::insert_many(tombstones).exec_without_returning(conn).await?;
    Ok(deleted)
}

/// [`revoke_grants`] of every grant of `server_id`.
pub(super) async fn revoke_server_grants(
    conn: &super::WriteTxn,
    server_id: &str,
    at: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let rows = upstream_grant::Entity::find()
        .filter(upstream_grant::Column::ServerId.eq(server_id))
        .all(conn)
        .await?;
    revoke_grants(conn, rows, at).await
}

impl super::audit_views::AuditView for Grant {
    fn audit_view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "user": self.user,
            "identity_source": self.identity_source.as_str(),
            "issuer": self.issuer,
            "server_id": self.server_id,
            "status": self.status,
            "scopes": self.scopes,
        })
    }
}
