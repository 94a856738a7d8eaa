//! Grants of the authorization server: pending consent requests, single-use
//! authorization codes, rotating refresh tokens and remembered consents.
//!
//! Every secret is looked up by its SHA-256 hex digest; the text never reaches the database.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};

use super::entities::{
    as_auth_code, as_consent, as_pending_request, as_refresh_token, org, provision, server,
};
use super::{
    from_json_text, now, to_json_text, AsCodeGrant, AsPendingRequest, AsRefreshGrant, RefreshOutcome, Store,
    StoreError,
};

/// A server reachable through the edge, as the authorization server resolves a `resource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsResourceServer {
    /// Server id.
    pub server_id: String,
    /// Owning org id.
    pub org_id: String,
    /// Owning org slug.
    pub org_slug: String,
    /// Owning org display name.
    pub org_name: String,
    /// Server slug (the resource is `{edge public base}/mcp/{org slug}/{slug}`).
    pub slug: String,
    /// Display name.
    pub name: String,
}

impl Store {
    /// The server `slug` of the org with slug `org_slug`, if both exist.
    pub async fn as_resource_server(
        &self,
        org_slug: &str,
        slug: &str,
    ) -> Result<Option<AsResourceServer>, StoreError> {
        let Some(org) = org::Entity::find().filter(org::Column::Slug.eq(org_slug)).one(&self.db).await?
        else {
            return Ok(None);
        };
        let row = server::Entity::find()
            .filter(server::Column::OrgId.eq(org.id.as_str()))
            .filter(server::Column::Slug.eq(slug))
            .one(&self.db)
            .await?;
        Ok(row.map(|row| AsResourceServer {
            server_id: row.id,
            org_id: row.org_id,
            org_slug: org.slug,
            org_name: org.name,
            slug: row.slug,
            name: row.name,
        }))
    }

    /// Servers of `org_id` provisioned to any of `workspace_ids`, by slug: what a
    /// user may pick when a client names no resource.
    pub async fn as_servers_provisioned_to(
        &self,
        org_id: &str,
        workspace_ids: &[String],
    ) -> Result<Vec<AsResourceServer>, StoreError> {
        if workspace_ids.is_empty() {
            return Ok(Vec::new());
        }
        let server_ids: Vec<String> = provision::Entity::find()
            .filter(provision::Column::WorkspaceId.is_in(workspace_ids.iter().cloned()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|p| p.server_id)
            .collect();
        if server_ids.is_empty() {
            return Ok(Vec::new());
        }
        let (org_slug, org_name) = org::Entity::find_by_id(org_id)
            .one(&self.db)
            .await?
            .map(|o| (o.slug, o.name))
            .unwrap_or_default();
        let rows = server::Entity::find()
            .filter(server::Column::OrgId.eq(org_id))
            .filter(server::Column::Id.is_in(server_ids))
            .order_by_asc(server::Column::Slug)
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| AsResourceServer {
                server_id: row.id,
                org_id: row.org_id,
                org_slug: org_slug.clone(),
                org_name: org_name.clone(),
                slug: row.slug,
                name: row.name,
            })
            .collect())
    }

    /// Whether `server_id` is provisioned to any of `workspace_ids`.
    pub async fn as_server_provisioned_to(
        &self,
        server_id: &str,
        workspace_ids: &[String],
    ) -> Result<bool, StoreError> {
        if workspace_ids.is_empty() {
            return Ok(false);
        }
        let found = provision::Entity::find()
            .filter(provision::Column::ServerId.eq(server_id))
            .filter(provision::Column::WorkspaceId.is_in(workspace_ids.iter().cloned()))
            .one(&self.db)
            .await?;
        Ok(found.is_some())
    }

    /// Stores a pending request under the hash of its id.
    pub async fn insert_as_pending(
        &self,
        id_hash: &str,
        request: &AsPendingRequest,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Expired leftovers are cleaned up as new requests arrive.
        as_pending_request::Entity::delete_many()
            .filter(as_pending_request::Column::ExpiresAt.lt(now()))
            .exec(&self.db)
            .await?;
        as_pending_request::Entity::insert(as_pending_request::ActiveModel {
            id_hash: Set(id_hash.to_owned()),
            user_id: Set(request.subject.sub.clone()),
            request: Set(to_json_text(request)),
            expires_at: Set(expires_at),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    /// Takes (deletes and returns) a live pending request of `user_id`.
    pub async fn take_as_pending(
        &self,
        id_hash: &str,
        user_id: &str,
    ) -> Result<Option<AsPendingRequest>, StoreError> {
        let Some(row) = as_pending_request::Entity::find_by_id(id_hash).one(&self.db).await? else {
            return Ok(None);
        };
        if row.user_id != user_id {
            return Ok(None);
        }
        let deleted = as_pending_request::Entity::delete_by_id(id_hash).exec(&self.db).await?;
        if deleted.rows_affected != 1 || row.expires_at <= now() {
            return Ok(None);
        }
        Ok(Some(from_json_text("as_pending_requests.request", &row.request)?))
    }

    /// Whether the user already consented to this exact (client, resource, scope).
    pub async fn has_as_consent(
        &self,
        user_id: &str,
        client_id: &str,
        resource: &str,
        scope: &str,
    ) -> Result<bool, StoreError> {
        let key = (user_id.to_owned(), client_id.to_owned(), resource.to_owned(), scope.to_owned());
        Ok(as_consent::Entity::find_by_id(key).one(&self.db).await?.is_some())
    }

    /// Remembers the user's consent.
    pub async fn remember_as_consent(
        &self,
        user_id: &str,
        client_id: &str,
        resource: &str,
        scope: &str,
    ) -> Result<(), StoreError> {
        if self.has_as_consent(user_id, client_id, resource, scope).await? {
            return Ok(());
        }
        let inserted = as_consent::Entity::insert(as_consent::ActiveModel {
            user_id: Set(user_id.to_owned()),
            client_id: Set(client_id.to_owned()),
            resource: Set(resource.to_owned()),
            scope: Set(scope.to_owned()),
            created_at: Set(now()),
        })
        .exec_without_returning(&self.db)
        .await;
        match inserted {
            // A concurrent approval stored the same consent.
            Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => Ok(()),
            other => other.map(|_| ()).map_err(StoreError::from),
        }
    }

    /// Stores an authorization code under its hash.
    pub async fn insert_as_code(&self, code_hash: &str, grant: &AsCodeGrant) -> Result<(), StoreError> {
        // Spent and expired codes are kept an hour for replay detection, then dropped.
        as_auth_code::Entity::delete_many()
            .filter(as_auth_code::Column::ExpiresAt.lt(now() - chrono::Duration::hours(1)))
            .exec(&self.db)
            .await?;
        as_auth_code::Entity::insert(as_auth_code::ActiveModel {
            code_hash: Set(code_hash.to_owned()),
            family_id: Set(grant.family_id.clone()),
            client_id: Set(grant.client_id.clone()),
            redirect_uri: Set(grant.redirect_uri.clone()),
            code_challenge: Set(grant.code_challenge.clone()),
            resource: Set(grant.resource.clone()),
            scope: Set(grant.scope.clone()),
            subject: Set(to_json_text(&grant.subject)),
            expires_at: Set(grant.expires_at),
            used_at: Set(None),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    /// Spends a code: returns its grant the first time, `Err(family)` when it was
    /// already used (the caller revokes that family), `Ok(None)` when unknown.
    pub async fn spend_as_code(
        &self,
        code_hash: &str,
    ) -> Result<Result<Option<AsCodeGrant>, String>, StoreError> {
        let Some(row) = as_auth_code::Entity::find_by_id(code_hash).one(&self.db).await? else {
            return Ok(Ok(None));
        };
        let spent = as_auth_code::Entity::update_many()
            .col_expr(as_auth_code::Column::UsedAt, Some(now()).into())
            .filter(as_auth_code::Column::CodeHash.eq(code_hash))
            .filter(as_auth_code::Column::UsedAt.is_null())
            .exec(&self.db)
            .await?;
        if spent.rows_affected != 1 {
            return Ok(Err(row.family_id));
        }
        Ok(Ok(Some(AsCodeGrant {
            subject: from_json_text("as_auth_codes.subject", &row.subject)?,
            family_id: row.family_id,
            client_id: row.client_id,
            redirect_uri: row.redirect_uri,
            code_challenge: row.code_challenge,
            resource: row.resource,
            scope: row.scope,
            expires_at: row.expires_at,
        })))
    }

    /// Stores a refresh token under its hash.
    pub async fn insert_as_refresh(
        &self,
        token_hash: &str,
        grant: &AsRefreshGrant,
    ) -> Result<(), StoreError> {
        // Refresh tokens past their expiry can never be used again.
        as_refresh_token::Entity::delete_many()
            .filter(as_refresh_token::Column::ExpiresAt.lt(now()))
            .exec(&self.db)
            .await?;
        insert_refresh(&self.db, token_hash, grant).await
    }

    /// Rotates a refresh token of `client_id`: the presented one is spent and
    /// `next_hash` continues the grant. A replayed (already rotated) token revokes its family.
    pub async fn rotate_as_refresh(
        &self,
        token_hash: &str,
        client_id: &str,
        next_hash: &str,
        next_expires_at: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError> {
        let txn = self.db.begin().await?;
        let Some(row) = as_refresh_token::Entity::find_by_id(token_hash).one(&txn).await? else {
            return Ok(RefreshOutcome::Invalid);
        };
        // Families written before their deadline was stored end with their current token.
        let family_expires_at = row.family_expires_at.unwrap_or(row.expires_at);
        if row.client_id != client_id
            || row.revoked_at.is_some()
            || row.expires_at <= now()
            || family_expires_at <= now()
        {
            return Ok(RefreshOutcome::Invalid);
        }
        let spent = as_refresh_token::Entity::update_many()
            .col_expr(as_refresh_token::Column::RotatedAt, Some(now()).into())
            .filter(as_refresh_token::Column::TokenHash.eq(token_hash))
            .filter(as_refresh_token::Column::RotatedAt.is_null())
            .exec(&txn)
            .await?;
        if spent.rows_affected != 1 {
            txn.rollback().await?;
            self.revoke_as_family(&row.family_id).await?;
            return Ok(RefreshOutcome::Reused);
        }
        let grant = AsRefreshGrant {
            subject: from_json_text("as_refresh_tokens.subject", &row.subject)?,
            family_id: row.family_id,
            client_id: row.client_id,
            resource: row.resource,
            scope: row.scope,
            expires_at: next_expires_at.min(family_expires_at),
            family_expires_at,
        };
        insert_refresh(&txn, next_hash, &grant).await?;
        txn.commit().await?;
        Ok(RefreshOutcome::Rotated(Box::new(grant)))
    }

    /// Revokes every refresh token of a family.
    pub async fn revoke_as_family(&self, family_id: &str) -> Result<u64, StoreError> {
        let done = as_refresh_token::Entity::update_many()
            .col_expr(as_refresh_token::Column::RevokedAt, Some(now()).into())
            .filter(as_refresh_token::Column::FamilyId.eq(family_id))
            .filter(as_refresh_token::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(done.rows_affected)
    }

    /// Revokes the family of a refresh token of `client_id` (RFC 7009); unknown tokens are ignored.
    pub async fn revoke_as_refresh(&self, token_hash: &str, client_id: &str) -> Result<bool, StoreError> {
        let Some(row) = as_refresh_token::Entity::find_by_id(token_hash).one(&self.db).await? else {
            return Ok(false);
        };
        if row.client_id != client_id {
            return Ok(false);
        }
        self.revoke_as_family(&row.family_id).await?;
        Ok(true)
    }

    /// Revokes every refresh token of a user (e.g. on deactivation).
    pub async fn revoke_as_refresh_for_user(&self, user_id: &str) -> Result<u64, StoreError> {
        let done = as_refresh_token::Entity::update_many()
            .col_expr(as_refresh_token::Column::RevokedAt, Some(now()).into())
            .filter(as_refresh_token::Column::UserId.eq(user_id))
            .filter(as_refresh_token::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(done.rows_affected)
    }
}

async fn insert_refresh(
    conn: &impl sea_orm::ConnectionTrait,
    token_hash: &str,
    grant: &AsRefreshGrant,
) -> Result<(), StoreError> {
    as_refresh_token::Entity::insert(as_refresh_token::ActiveModel {
        token_hash: Set(token_hash.to_owned()),
        family_id: Set(grant.family_id.clone()),
        client_id: Set(grant.client_id.clone()),
        user_id: Set(grant.subject.sub.clone()),
        resource: Set(grant.resource.clone()),
        scope: Set(grant.scope.clone()),
        subject: Set(to_json_text(&grant.subject)),
        created_at: Set(now()),
        expires_at: Set(grant.expires_at.min(grant.family_expires_at)),
        family_expires_at: Set(Some(grant.family_expires_at)),
        rotated_at: Set(None),
        revoked_at: Set(None),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}
