//! Gateway tokens: minting, listing, revocation and rotation. Only hashes are stored.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::entities::{gateway_token, workspace};
use super::page::{Page, PageRequest};
use super::servers::find_server;
use super::workspaces::find_workspace;
use super::{
    from_json_text, new_id, now, to_json_text, NewToken, Store, StoreError, TokenFilter, TokenRecord,
    TokenStatus, Versioned,
};
use crate::validation::FieldError;

impl Store {
    /// Stores a new gateway token. `team` and every server slug must exist in the org.
    pub async fn create_token(
        &self,
        org_id: &str,
        new: NewToken,
    ) -> Result<Versioned<TokenRecord>, StoreError> {
        let (txn, version) = self.begin_write().await?;
        let ws = find_team(&txn, org_id, &new.team).await?;
        check_server_permissions(&txn, org_id, &new.server_permissions).await?;
        super::users::refuse_deactivated(&txn, org_id, &new.user).await?;
        let at = now();
        let row = gateway_token::Model {
            id: new_id(),
            org_id: org_id.to_owned(),
            workspace_id: ws.id,
            user_name: new.user,
            token_hash: new.hash.to_vec(),
            token_hint: new.hint,
            scopes: to_json_text(&new.scopes),
            server_permissions: to_json_text(&new.server_permissions),
            tool_permissions: to_json_text(&new.tool_permissions),
            expires_at: new.lifetime.expires_at(at),
            created_at: at,
            issued_at: at,
            revoked_at: None,
        };
        gateway_token::Entity::insert(gateway_token::ActiveModel::from(row.clone()))
            .exec_without_returning(&txn)
            .await
            .map_err(|e| StoreError::unique_or_db(e, "token", "token collision, retry".into()))?;
        txn.touched().tokens.insert(row.id.clone());
        let created = token_from(row, ws.slug)?;
        txn.audit_after(&created);
        txn.commit().await?;
        Ok(Versioned { value: created, version })
    }

    /// A page of the org's tokens (revoked ones included, for audit), newest first.
    pub async fn list_tokens(
        &self,
        org_id: &str,
        filter: &TokenFilter,
        page: &PageRequest,
    ) -> Result<Page<TokenRecord>, StoreError> {
        let mut query = gateway_token::Entity::find().filter(gateway_token::Column::OrgId.eq(org_id));
        if let Some(team) = &filter.team {
            let Some(ws) = find_workspace(&self.db, org_id, team).await? else {
                return Ok(Page { items: Vec::new(), next_cursor: None });
            };
            query = query.filter(gateway_token::Column::WorkspaceId.eq(ws.id));
        }
        if let Some(user) = &filter.user {
            query = query.filter(gateway_token::Column::UserName.eq(user));
        }
        if let Some((user_id, email)) = &filter.owned_by {
            // The names a person goes by: their id, or their e-mail in any case.
            let mut names = Condition::any().add(gateway_token::Column::UserName.eq(user_id.as_str()));
            if !email.is_empty() {
                names = names.add(
                    Expr::expr(Func::lower(Expr::col(gateway_token::Column::UserName)))
                        .eq(email.to_lowercase()),
                );
            }
            query = query.filter(names);
        }
        if let Some(status) = filter.status {
            use gateway_token::Column::{ExpiresAt, RevokedAt};
            let now = Utc::now();
            query = query.filter(match status {
                TokenStatus::Revoked => Condition::all().add(RevokedAt.is_not_null()),
                TokenStatus::Expired => Condition::all().add(RevokedAt.is_null()).add(ExpiresAt.lte(now)),
                TokenStatus::Active => Condition::all()
                    .add(RevokedAt.is_null())
                    .add(Condition::any().add(ExpiresAt.is_null()).add(ExpiresAt.gt(now))),
            });
        }
        if let Some(after) = &page.after {
            query = query.filter(gateway_token::Column::Id.lt(after.as_str()));
        }
        // Ids are time-ordered: by id descending is newest first, and a stable cursor.
        let rows = query.order_by_desc(gateway_token::Column::Id).limit(page.fetch()).all(&self.db).await?;
        let slugs = workspace_slugs(&self.db, Some(org_id)).await?;
        let tokens = rows
            .into_iter()
            .map(|r| {
                let team = slugs.get(&r.workspace_id).cloned().unwrap_or_default();
                token_from(r, team)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page.finish(tokens, |t| t.id.clone()))
    }

    /// One token by id.
    pub async fn get_token(&self, org_id: &str, id: &str) -> Result<TokenRecord, StoreError> {
        let row = find_token(&self.db, org_id, id).await?.ok_or(StoreError::NotFound("token"))?;
        let team =
            workspace::Entity::find_by_id(row.workspace_id.clone()).one(&self.db).await?.map(|w| w.slug);
        token_from(row, team.unwrap_or_default())
    }

    /// Revokes a token: it stays listed with `revoked_at` but leaves the edge config.
    /// Revoking a revoked token changes nothing.
    pub async fn revoke_token(&self, org_id: &str, id: &str) -> Result<Versioned<TokenRecord>, StoreError> {
        let (txn, version) = self.begin_write().await?;
        let row = find_token(&txn, org_id, id).await?.ok_or(StoreError::NotFound("token"))?;
        let team = workspace::Entity::find_by_id(row.workspace_id.clone()).one(&txn).await?.map(|w| w.slug);
        if row.revoked_at.is_some() {
            txn.rollback().await?;
            let version = self.config_version().await?;
            return Ok(Versioned { value: token_from(row, team.unwrap_or_default())?, version });
        }
        let revoked_at = now();
        gateway_token::Entity::update(gateway_token::ActiveModel {
            id: Set(row.id.clone()),
            revoked_at: Set(Some(revoked_at)),
            ..Default::default()
        })
        .exec(&txn)
        .await?;
        txn.touched().tokens.insert(row.id.clone());
        let team = team.unwrap_or_default();
        txn.audit_before(&token_from(row.clone(), team.clone())?);
        let record = token_from(gateway_token::Model { revoked_at: Some(revoked_at), ..row }, team)?;
        txn.audit_after(&record);
        txn.commit().await?;
        Ok(Versioned { value: record, version })
    }

    /// Replaces a token's secret, keeping its id, grants and lifetime; the old secret stops working.
    pub async fn rotate_token(
        &self,
        org_id: &str,
        id: &str,
        hash: [u8; 32],
        hint: String,
    ) -> Result<Versioned<TokenRecord>, StoreError> {
        let (txn, version) = self.begin_write().await?;
        let row = find_token(&txn, org_id, id).await?.ok_or(StoreError::NotFound("token"))?;
        if row.revoked_at.is_some() {
            return Err(StoreError::Conflict {
                field: None,
                message: "a revoked token cannot be rotated".into(),
            });
        }
        let team = workspace::Entity::find_by_id(row.workspace_id.clone()).one(&txn).await?.map(|w| w.slug);
        let team = team.unwrap_or_default();
        txn.audit_before(&token_from(row.clone(), team.clone())?);
        let at = now();
        // The new secret lives as long as the old one did when it was issued.
        let expires_at: Option<DateTime<Utc>> = row.expires_at.map(|exp| at + (exp - row.issued_at));
        let updated = gateway_token::Model {
            token_hash: hash.to_vec(),
            token_hint: hint,
            issued_at: at,
            expires_at,
            ..row
        };
        gateway_token::Entity::update(gateway_token::ActiveModel::from(updated.clone()).reset_all())
            .exec(&txn)
            .await
            .map_err(|e| StoreError::unique_or_db(e, "token", "token collision, retry".into()))?;
        txn.touched().tokens.insert(updated.id.clone());
        let rotated = token_from(updated, team)?;
        txn.audit_after(&rotated);
        txn.commit().await?;
        Ok(Versioned { value: rotated, version })
    }
}

/// The workspace `team` names, or a 400 on `team`.
pub(super) async fn find_team(
    conn: &impl ConnectionTrait,
    org_id: &str,
    team: &str,
) -> Result<workspace::Model, StoreError> {
    Ok(find_workspace(conn, org_id, team)
        .await?
        .ok_or_else(|| FieldError::new("team", format!("unknown workspace {team:?}")))?)
}

/// Every slug of `permissions.servers` names a server of the org, or a 400 naming the first that doesn't.
pub(super) async fn check_server_permissions(
    conn: &impl ConnectionTrait,
    org_id: &str,
    slugs: &[String],
) -> Result<(), StoreError> {
    for (i, slug) in slugs.iter().enumerate() {
        if find_server(conn, org_id, slug).await?.is_none() {
            return Err(FieldError::new(
                format!("permissions.servers[{i}]"),
                format!("unknown server {slug:?}"),
            )
            .into());
        }
    }
    Ok(())
}

async fn find_token(
    conn: &impl ConnectionTrait,
    org_id: &str,
    id: &str,
) -> Result<Option<gateway_token::Model>, StoreError> {
    Ok(gateway_token::Entity::find_by_id(id.to_owned())
        .filter(gateway_token::Column::OrgId.eq(org_id))
        .one(conn)
        .await?)
}

/// Workspace slug by id (optionally of one org).
pub(super) async fn workspace_slugs(
    conn: &impl ConnectionTrait,
    org_id: Option<&str>,
) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
    let mut query = workspace::Entity::find();
    if let Some(org_id) = org_id {
        query = query.filter(workspace::Column::OrgId.eq(org_id));
    }
    Ok(query.all(conn).await?.into_iter().map(|w| (w.id, w.slug)).collect())
}

pub(super) fn token_from(m: gateway_token::Model, team: String) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        scopes: from_json_text("gateway_tokens.scopes", &m.scopes)?,
        server_permissions: from_json_text("gateway_tokens.server_permissions", &m.server_permissions)?,
        tool_permissions: from_json_text("gateway_tokens.tool_permissions", &m.tool_permissions)?,
        id: m.id,
        org_id: m.org_id,
        workspace_id: m.workspace_id,
        team,
        user: m.user_name,
        token_hint: m.token_hint,
        expires_at: m.expires_at,
        created_at: m.created_at,
        issued_at: m.issued_at,
        revoked_at: m.revoked_at,
    })
}
