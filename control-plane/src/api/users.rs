//! `/v1/users`: the org's SSO users; deactivation (which revokes everything the
//! user holds, see `store::user_deactivation`) and reactivation.

use crate::accounts::OrgScope;
use axum::extract::State;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::instrument;
use utoipa::ToSchema;

use super::ApiState;
use crate::rest::json::{ApiPath, ApiQuery};
use crate::rest::{ApiError, ErrorBody, PageQuery};
use crate::sso::CurrentUser;
use crate::store::User;

/// A user as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Stable id (the `sub` of the user's access tokens).
    pub id: String,
    /// E-mail from the identity provider.
    pub email: String,
    /// Display name.
    pub name: String,
    /// `admin` or `member`.
    pub role: String,
    /// `active` or `deactivated`.
    pub status: &'static str,
    /// First login.
    pub created_at: DateTime<Utc>,
    /// Last successful login.
    pub last_login_at: Option<DateTime<Utc>>,
    /// When the user was deactivated.
    pub deactivated_at: Option<DateTime<Utc>>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            status: if u.deactivated_at.is_some() { "deactivated" } else { "active" },
            id: u.id,
            email: u.email,
            name: u.name,
            role: u.role,
            created_at: u.created_at,
            last_login_at: u.last_login_at,
            deactivated_at: u.deactivated_at,
        }
    }
}

/// Users list.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    /// Users, oldest first.
    pub users: Vec<UserView>,
    /// Cursor of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// What a deactivation revoked.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedCounts {
    /// Gateway tokens whose `user` is the user's id or e-mail.
    pub gateway_tokens: u64,
    /// Refresh tokens of Gatehouse's authorization server.
    pub refresh_tokens: u64,
    /// Remembered consents and pending consent requests.
    pub consents: u64,
    /// Console sessions.
    pub sessions: u64,
    /// Upstream OAuth grants.
    pub upstream_grants: u64,
    /// Certificate identities naming the user (disabled, kept listed).
    pub certificate_identities: u64,
}

/// A deactivated user and what was revoked.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeactivatedUser {
    /// The user.
    pub user: UserView,
    /// What was revoked.
    pub revoked: RevokedCounts,
}

/// Lists the org's users.
#[utoipa::path(get, path = "/v1/users", tag = "users", params(PageQuery), security(("admin_token" = []), ("session" = [])),
    responses((status = 200, body = UserList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<UserList>, ApiError> {
    let page = query.page()?;
    let mut users = state.store.list_users(&scope.org_id).await?;
    users.sort_by(|a, b| a.id.cmp(&b.id));
    let page = page.slice(users, |u| u.id.clone());
    Ok(Json(UserList {
        users: page.items.into_iter().map(UserView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Deactivates a user: they cannot sign in, and their gateway tokens, refresh
/// tokens, consents, sessions and upstream grants are revoked in one change that
/// every edge applies (their unexpired access tokens are refused too).
#[utoipa::path(post, path = "/v1/users/{id}/deactivate", tag = "users", security(("admin_token" = []), ("session" = [])),
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = DeactivatedUser), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[instrument(skip(state, caller))]
pub(crate) async fn deactivate(
    State(state): State<ApiState>,
    scope: OrgScope,
    caller: Option<Extension<CurrentUser>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DeactivatedUser>, ApiError> {
    let own = caller.and_then(|Extension(CurrentUser(user))| user).is_some_and(|u| u.user_id == id);
    if own {
        return Err(ApiError::Conflict { field: None, message: "you cannot deactivate yourself".into() });
    }
    let done = state.store.deactivate_user(&scope.org_id, &id).await?;
    let d = done.value;
    tracing::info!(
        user_id = %d.user.id,
        version = done.version,
        gateway_tokens = d.gateway_tokens,
        refresh_tokens = d.refresh_tokens,
        sessions = d.sessions,
        upstream_grants = d.upstream_grants,
        "user deactivated"
    );
    Ok(Json(DeactivatedUser {
        revoked: RevokedCounts {
            gateway_tokens: d.gateway_tokens,
            refresh_tokens: d.refresh_tokens,
            consents: d.consents,
            sessions: d.sessions,
            upstream_grants: d.upstream_grants,
            certificate_identities: d.certificate_identities,
        },
        user: d.user.into(),
    }))
}

/// Lets a deactivated user sign in again; nothing revoked comes back.
#[utoipa::path(post, path = "/v1/users/{id}/reactivate", tag = "users", security(("admin_token" = []), ("session" = [])),
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[instrument(skip(state))]
pub(crate) async fn reactivate(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<UserView>, ApiError> {
    let done = state.store.reactivate_user(&scope.org_id, &id).await?;
    tracing::info!(user_id = %id, version = done.version, "user reactivated");
    Ok(Json(done.value.into()))
}
