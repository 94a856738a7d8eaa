//! SSO users and their workspace memberships.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};

use super::entities::{membership, user, workspace};
use super::{new_id, now, Store, StoreError};
use crate::accounts::AuthenticatedUser;

/// Whether the Gatehouse user name `name` (as gateway tokens and upstream
/// grants carry it) denotes the SSO user with `user_id` and `email`: their id,
/// or their e-mail in any case.
pub use crate::accounts::names_user as name_denotes;

/// A user created by SSO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable id.
    pub id: String,
    /// Owning org.
    pub org_id: String,
    /// Issuer that vouched for the user.
    pub issuer: String,
    /// Subject at that issuer.
    pub subject: String,
    /// Email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// `admin` or `member`.
    pub role: String,
    /// First login.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Last successful login.
    pub last_login_at: Option<DateTime<Utc>>,
    /// When an admin deactivated the user; `None` = active.
    pub deactivated_at: Option<DateTime<Utc>>,
}

/// A successful login, mapped from claims: the user to create or update.
#[derive(Debug, Clone)]
pub struct UserLogin {
    /// The org logged into.
    pub org_id: String,
    /// ID token issuer.
    pub issuer: String,
    /// ID token subject (or the configured user claim).
    pub subject: String,
    /// Email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// `admin` or `member`.
    pub role: String,
    /// Workspace slugs granted by the claims (unknown slugs are skipped).
    pub workspace_slugs: Vec<String>,
}

impl Store {
    /// Creates or updates the user of a login and replaces their memberships, in one transaction.
    /// A deactivated user is returned unchanged (`deactivated_at` set): the caller refuses the login.
    pub async fn record_login(&self, login: UserLogin) -> Result<User, StoreError> {
        let txn = self.db.begin().await?;
        let at = now();
        let existing = user::Entity::find()
            .filter(user::Column::OrgId.eq(&login.org_id))
            .filter(user::Column::Issuer.eq(&login.issuer))
            .filter(user::Column::Subject.eq(&login.subject))
            .one(&txn)
            .await?;
        let row = match existing {
            Some(row) if row.deactivated_at.is_some() => {
                txn.rollback().await?;
                return Ok(user_from(row));
            }
            Some(mut row) => {
                row.email = login.email;
                row.name = login.name;
                row.role = login.role;
                row.updated_at = at;
                row.last_login_at = Some(at);
                user::Entity::update(user::ActiveModel::from(row.clone()).reset_all()).exec(&txn).await?;
                row
            }
            None => {
                let row = user::Model {
                    id: new_id(),
                    org_id: login.org_id.clone(),
                    issuer: login.issuer,
                    subject: login.subject,
                    email: login.email,
                    name: login.name,
                    role: login.role,
                    created_at: at,
                    updated_at: at,
                    last_login_at: Some(at),
                    deactivated_at: None,
                };
                user::Entity::insert(user::ActiveModel::from(row.clone()))
                    .exec_without_returning(&txn)
                    .await?;
                row
            }
        };

        membership::Entity::delete_many().filter(membership::Column::UserId.eq(&row.id)).exec(&txn).await?;
        if !login.workspace_slugs.is_empty() {
            let workspaces = workspace::Entity::find()
                .filter(workspace::Column::OrgId.eq(&login.org_id))
                .filter(workspace::Column::Slug.is_in(login.workspace_slugs.clone()))
                .all(&txn)
                .await?;
            for ws in &workspaces {
                membership::Entity::insert(membership::ActiveModel {
                    user_id: Set(row.id.clone()),
                    workspace_id: Set(ws.id.clone()),
                    created_at: Set(at),
                })
                .exec_without_returning(&txn)
                .await?;
            }
            if workspaces.len() < login.workspace_slugs.len() {
                tracing::warn!(
                    user_id = %row.id,
                    mapped = login.workspace_slugs.len(),
                    found = workspaces.len(),
                    "claims map to workspaces that do not exist; skipped them"
                );
            }
        }
        txn.commit().await?;
        Ok(user_from(row))
    }

    /// The user with `user_id`, if any.
    pub async fn get_user(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        Ok(user::Entity::find_by_id(user_id).one(&self.db).await?.map(user_from))
    }

    /// The SSO user of `org_id` that the Gatehouse user name `name` denotes:
    /// the user with that id, else the one with that email (case-insensitive).
    /// Grants and gateway tokens name users this way.
    pub async fn org_user_named(&self, org_id: &str, name: &str) -> Result<Option<User>, StoreError> {
        org_user_named(&self.db, org_id, name).await
    }

    /// The active user with `user_id` as the rest of the control plane sees them (roles and
    /// workspaces); `None` for an unknown or deactivated user.
    pub async fn authenticated_user(&self, user_id: &str) -> Result<Option<AuthenticatedUser>, StoreError> {
        authenticated_user(&self.db, user_id).await
    }
}

pub(super) async fn authenticated_user(
    conn: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Option<AuthenticatedUser>, StoreError> {
    let Some(row) = user::Entity::find_by_id(user_id).one(conn).await? else {
        return Ok(None);
    };
    if row.deactivated_at.is_some() {
        return Ok(None);
    }
    let workspace_ids = membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .order_by_asc(membership::Column::WorkspaceId)
        .all(conn)
        .await?
        .into_iter()
        .map(|m| m.workspace_id)
        .collect();
    Ok(Some(AuthenticatedUser {
        user_id: row.id,
        org_id: row.org_id,
        email: row.email,
        name: row.name,
        roles: vec![row.role],
        workspace_ids,
    }))
}

pub(super) fn user_from(m: user::Model) -> User {
    User {
        id: m.id,
        org_id: m.org_id,
        issuer: m.issuer,
        subject: m.subject,
        email: m.email,
        name: m.name,
        role: m.role,
        created_at: m.created_at,
        updated_at: m.updated_at,
        last_login_at: m.last_login_at,
        deactivated_at: m.deactivated_at,
    }
}

impl Store {
    /// The org with `org_id`, for showing a signed-in user their org.
    pub async fn sso_org(&self, org_id: &str) -> Result<Option<super::Org>, StoreError> {
        let row = super::entities::org::Entity::find_by_id(org_id).one(&self.db).await?;
        Ok(row.map(|r| super::Org { id: r.id, slug: r.slug, name: r.name }))
    }
}

/// Refuses (409, `field: "user"`) a credential for `name` when it names a deactivated user
/// of `org_id`. Called inside the transaction holding the version lock, so a credential
/// cannot slip past a deactivation running at the same time.
pub(super) async fn refuse_deactivated(
    conn: &impl ConnectionTrait,
    org_id: &str,
    name: &str,
) -> Result<(), StoreError> {
    match org_user_named(conn, org_id, name).await? {
        Some(user) if user.deactivated_at.is_some() => Err(StoreError::Conflict {
            field: Some("user"),
            message: format!("user {name} is deactivated; reactivate them first"),
        }),
        _ => Ok(()),
    }
}

/// [`Store::org_user_named`] inside the caller's transaction.
pub(super) async fn org_user_named(
    conn: &impl ConnectionTrait,
    org_id: &str,
    name: &str,
) -> Result<Option<User>, StoreError> {
    let by_id = user::Entity::find_by_id(name).filter(user::Column::OrgId.eq(org_id)).one(conn).await?;
    if by_id.is_some() {
        return Ok(by_id.map(user_from));
    }
    let lower = sea_orm::sea_query::Func::lower(sea_orm::sea_query::Expr::col(user::Column::Email));
    let by_email = user::Entity::find()
        .filter(user::Column::OrgId.eq(org_id))
        .filter(sea_orm::sea_query::Expr::expr(lower).eq(name.to_lowercase()))
        .order_by_asc(user::Column::CreatedAt)
        .one(conn)
        .await?;
    Ok(by_email.map(user_from))
}

impl super::audit_views::AuditView for User {
    fn audit_view(&self) -> serde_json::Value {
        serde_json::json!({"id": self.id, "email": self.email, "name": self.name, "role": self.role, "issuer": self.issuer,
            "deactivated_at": self.deactivated_at})
    }
}
