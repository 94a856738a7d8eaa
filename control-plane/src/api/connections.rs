//! `/v1/connections`: users' upstream OAuth grants (never the tokens), and
//! disconnecting them (revoked at the upstream AS when it supports RFC 7009).

use crate::accounts::OrgScope;
use crate::rest::json::{ApiPath, ApiQuery};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use tracing::instrument;
use utoipa::{IntoParams, ToSchema};

use super::ApiState;
use crate::rest::forbidden;
use crate::rest::{ApiError, ErrorBody};
use crate::store::grants::Grant;
use crate::validation;

/// Query of `GET /v1/connections`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConnectionsQuery {
    /// Only this user's connections (default: everyone in the org).
    #[serde(default)]
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub user: Option<String>,
    /// Rows per page, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A user's connection to an upstream OAuth server.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionView {
    /// Connection (grant) id.
    pub id: String,
    /// The Gatehouse user (`source` `gatehouse`), or the JWT subject (`jwt`).
    pub user: String,
    /// Where the identity comes from: `gatehouse` (users Gatehouse knows) or
    /// `jwt` (a bring-your-own JWT of the org's IdP).
    pub source: &'static str,
    /// The JWT issuer (`jwt`); empty for `gatehouse`.
    pub issuer: String,
    /// Upstream server id.
    pub server_id: String,
    /// Upstream server slug (empty if the server is gone).
    pub server: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// `active` | `dead` (re-authorization needed).
    pub status: String,
    /// When the user connected.
    pub created_at: DateTime<Utc>,
    /// Last token change (authorization or refresh).
    pub refreshed_at: DateTime<Utc>,
    /// When the current access token expires, if known.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Connections list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionList {
    /// Connections, oldest first.
    pub connections: Vec<ConnectionView>,
    /// Cursor of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

fn view(grant: Grant, server: String) -> ConnectionView {
    ConnectionView {
        id: grant.id,
        user: grant.user,
        source: grant.identity_source.as_str(),
        issuer: grant.issuer,
        server_id: grant.server_id,
        server,
        scopes: grant.scopes,
        status: grant.status,
        created_at: grant.created_at,
        refreshed_at: grant.refreshed_at,
        expires_at: (grant.access_expires_at > 0)
            .then(|| Utc.timestamp_opt(grant.access_expires_at, 0).single())
            .flatten(),
    }
}

/// Lists upstream connections of the org, or of one user. A member sees only their own.
#[utoipa::path(get, path = "/v1/connections", tag = "connections", params(ConnectionsQuery),
    security(("admin_token" = []), ("session" = [])),
    responses((status = 200, body = ConnectionList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiQuery(query): ApiQuery<ConnectionsQuery>,
) -> Result<Response, ApiError> {
    let page = crate::store::page::PageRequest::parse(query.limit, query.cursor.as_deref())?;
    if let Some(user) = &query.user {
        validation::user("user", user)?;
        if !scope.owns(user) && !scope.role.reads_everything() {
            return Ok(forbidden("forbidden", "members may only list their own connections"));
        }
    }
    let grants = state.store.list_grants(&scope.org_id, query.user.as_deref()).await?;
    let slugs: std::collections::HashMap<String, String> =
        state.store.list_servers(&scope.org_id).await?.into_iter().map(|s| (s.id, s.slug)).collect();
    let mut grants: Vec<Grant> =
        // A JWT subject is not the Gatehouse user of the same text.
        grants
            .into_iter()
            .filter(|g| scope.role.reads_everything() || g.gatehouse_user().is_some_and(|u| scope.owns(u)))
            .collect();
    // Ids are time-ordered, so by id is oldest first.
    grants.sort_by(|a, b| a.id.cmp(&b.id));
    let page = page.slice(grants, |g| g.id.clone());
    let connections = page
        .items
        .into_iter()
        .map(|g| {
            let slug = slugs.get(&g.server_id).cloned().unwrap_or_default();
            view(g, slug)
        })
        .collect();
    Ok(Json(ConnectionList { connections, next_cursor: page.next_cursor }).into_response())
}

/// Disconnects: deletes the grant and revokes it at the upstream AS (best
/// effort). A member may disconnect only their own; anyone else's is 404.
#[utoipa::path(delete, path = "/v1/connections/{id}", tag = "connections",
    security(("admin_token" = []), ("session" = [])),
    params(("id" = String, Path, description = "Connection id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[instrument(skip(state, scope))]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    if !scope.role.manages_everyone() {
        // Not found, rather than forbidden, so members can't probe other people's ids.
        let grant = state.store.grant(&id).await?;
        let own = |g: &Grant| g.gatehouse_user().is_some_and(|u| scope.owns(u));
        if !grant.is_some_and(|g| g.org_id == scope.org_id && own(&g)) {
            return Err(ApiError::NotFound("connection"));
        }
    }
    let deleted = state.store.delete_grant(&scope.org_id, &id).await?;
    // Edges drop cached access tokens of the grant once they see this version.
    let grant = deleted.value;
    tracing::info!(server_id = %grant.server_id, user = %grant.user, version = deleted.version, "upstream connection deleted");
    let ctx = state.upstream_oauth.clone();
    tokio::spawn(async move { crate::upstream_oauth::revoke_grant(&ctx, grant).await });
    Ok(StatusCode::NO_CONTENT)
}
