//! Listing, deactivating and reactivating SSO users.
//!
//! Deactivation is one transaction that also bumps the config version: the user
//! is marked deactivated and everything they hold is revoked at once: gateway
//! tokens issued to them (their `user` is the user's id or e-mail, case-insensitive),
//! refresh tokens of Gatehouse's authorization server, remembered consents and
//! pending consent requests, console sessions and upstream grants. The edges drop
//! the tokens with the new version and, for [`DEACTIVATED_LIST_WINDOW`](gatehouse_config::limits::DEACTIVATED_LIST_WINDOW) (longer than
//! any Gatehouse access token is accepted), refuse access tokens already issued to the user.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use super::entities::{
    as_consent, as_pending_request, as_refresh_token, certificate_identity, gateway_token, session,
    upstream_grant, user,
};
use super::users::user_from;
use super::{now, Store, StoreError, User, Versioned};

/// What deactivating a user revoked.
#[derive(Debug, Clone)]
pub struct Deactivation {
    /// The user, now deactivated.
    pub user: User,
    /// Gateway tokens revoked.
    pub gateway_tokens: u64,
    /// Authorization-server refresh tokens revoked.
    pub refresh_tokens: u64,
    /// Remembered consents and pending consent requests removed.
    pub consents: u64,
    /// Console sessions ended.
    pub sessions: u64,
    /// Upstream grants deleted.
    pub upstream_grants: u64,
    /// Certificate identities naming the user, disabled.
    pub certificate_identities: u64,
}

/// Whether a gateway token's or grant's `user` names `u`.
fn names_user(name: &str, u: &user::Model) -> bool {
    super::users::name_denotes(name, &u.id, &u.email)
}

use super::audit_views::AuditView;

impl Store {
    /// The org's users, oldest first.
    pub async fn list_users(&self, org_id: &str) -> Result<Vec<User>, StoreError> {
        Ok(user::Entity::find()
            .filter(user::Column::OrgId.eq(org_id))
            .order_by_asc(user::Column::CreatedAt)
            .order_by_asc(user::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(user_from)
            .collect())
    }

    /// Deactivates a user of `org_id` and revokes everything they hold (see the module docs).
    /// Deactivating a deactivated user revokes whatever was issued to them since.
    pub async fn deactivate_user(
        &self,
        org_id: &str,
        user_id: &str,
    ) -> Result<Versioned<Deactivation>, StoreError> {
        let (txn, version) = self.begin_write().await?;
        let row = find_user(&txn, org_id, user_id).await?;
        txn.audit_before(&user_from(row.clone()));
        let at = now();
        let row = match row.deactivated_at {
            Some(_) => row,
            None => {
                user::Entity::update_many()
                    .col_expr(user::Column::DeactivatedAt, Expr::value(at))
                    .col_expr(user::Column::UpdatedAt, Expr::value(at))
                    .filter(user::Column::Id.eq(&row.id))
                    .exec(&txn)
                    .await?;
                user::Model { deactivated_at: Some(at), updated_at: at, ..row }
            }
        };

        let token_ids: Vec<String> = gateway_token::Entity::find()
            .filter(gateway_token::Column::OrgId.eq(org_id))
            .filter(gateway_token::Column::RevokedAt.is_null())
            .all(&txn)
            .await?
            .into_iter()
            .filter(|t| names_user(&t.user_name, &row))
            .map(|t| t.id)
            .collect();
        let identity_ids: Vec<String> = certificate_identity::Entity::find()
            .filter(certificate_identity::Column::OrgId.eq(org_id))
            .filter(certificate_identity::Column::DisabledAt.is_null())
            .all(&txn)
            .await?
            .into_iter()
            .filter(|c| names_user(&c.user_name, &row))
            .map(|c| c.id)
            .collect();
        {
            let mut touched = txn.touched();
            touched.tokens.extend(token_ids.iter().cloned());
            touched.certificate_identities.extend(identity_ids.iter().cloned());
            // The deactivated list travels in the edge settings.
            touched.settings = true;
        }
        let gateway_tokens = if token_ids.is_empty() {
            0
        } else {
            gateway_token::Entity::update_many()
                .col_expr(gateway_token::Column::RevokedAt, Expr::value(Some(at)))
                .filter(gateway_token::Column::Id.is_in(token_ids))
                .exec(&txn)
                .await?
                .rows_affected
        };
        let certificate_identities = if identity_ids.is_empty() {
            0
        } else {
            certificate_identity::Entity::update_many()
                .col_expr(certificate_identity::Column::DisabledAt, Expr::value(Some(at)))
                .filter(certificate_identity::Column::Id.is_in(identity_ids))
                .exec(&txn)
                .await?
                .rows_affected
        };
        let refresh_tokens = as_refresh_token::Entity::update_many()
            .col_expr(as_refresh_token::Column::RevokedAt, Expr::value(Some(at)))
            .filter(as_refresh_token::Column::UserId.eq(&row.id))
            .filter(as_refresh_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected;
        let consents = as_consent::Entity::delete_many()
            .filter(as_consent::Column::UserId.eq(&row.id))
            .exec(&txn)
            .await?
            .rows_affected
            + as_pending_request::Entity::delete_many()
                .filter(as_pending_request::Column::UserId.eq(&row.id))
                .exec(&txn)
                .await?
                .rows_affected;
        let sessions =
            session::Entity::delete_many().filter(session::Column::UserId.eq(&row.id)).exec(&txn).await?;
        let grants: Vec<upstream_grant::Model> = upstream_grant::Entity::find()
            .filter(upstream_grant::Column::OrgId.eq(org_id))
            .all(&txn)
            .await?
            .into_iter()
            // Only Gatehouse users' grants: a JWT subject of the same text is someone else.
            .filter(|g| {
                g.identity_source == gatehouse_config::grant_identity::IdentitySource::Gatehouse.as_str()
            })
            .filter(|g| names_user(&g.user_name, &row))
            .collect();
        // Tombstoned like a disconnect, so no edge uses a token it cached for them.
        let upstream_grants = super::grants::revoke_grants(&txn, grants, at).await?;
        let mut after = user_from(row.clone()).audit_view();
        after["revoked"] = serde_json::json!({"gateway_tokens": gateway_tokens, "refresh_tokens": refresh_tokens,
            "consents": consents, "sessions": sessions.rows_affected, "upstream_grants": upstream_grants,
            "certificate_identities": certificate_identities});
        txn.audit_after(&after);
        txn.commit().await?;
        let value = Deactivation {
            user: user_from(row),
            gateway_tokens,
            refresh_tokens,
            consents,
            sessions: sessions.rows_affected,
            upstream_grants,
            certificate_identities,
        };
        Ok(Versioned { value, version })
    }

    /// Lets a deactivated user sign in again; nothing revoked comes back.
    pub async fn reactivate_user(&self, org_id: &str, user_id: &str) -> Result<Versioned<User>, StoreError> {
        let (txn, version) = self.begin_write().await?;
        let row = find_user(&txn, org_id, user_id).await?;
        txn.audit_before(&user_from(row.clone()));
        let at = now();
        user::Entity::update(user::ActiveModel {
            id: Set(row.id.clone()),
            deactivated_at: Set(None),
            updated_at: Set(at),
            ..Default::default()
        })
        .exec(&txn)
        .await?;
        txn.touched().settings = true;
        let reactivated = user_from(user::Model { deactivated_at: None, updated_at: at, ..row });
        txn.audit_after(&reactivated);
        txn.commit().await?;
        Ok(Versioned { value: reactivated, version })
    }
}

async fn find_user(
    conn: &impl ConnectionTrait,
    org_id: &str,
    user_id: &str,
) -> Result<user::Model, StoreError> {
    user::Entity::find_by_id(user_id)
        .filter(user::Column::OrgId.eq(org_id))
        .one(conn)
        .await?
        .ok_or(StoreError::NotFound("user"))
}

/// Ids of users deactivated after `since` (for the edge state).
pub(super) async fn deactivated_since(
    conn: &impl ConnectionTrait,
    since: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    Ok(user::Entity::find()
        .filter(user::Column::DeactivatedAt.gt(since))
        .order_by_asc(user::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect())
}
