//! `/v1/servers/{slug}/tools`: a server's live tool list, fetched from the
//! upstream with the credential an edge would inject (per-user OAuth: the
//! signed-in person's own connection), and which tools each workspace's
//! provisioning lets through, judged by the edges' own globs
//! (`gatehouse_config::tool_glob`). A caller without the connection a per-user
//! OAuth server needs is told to ask `POST /v1/connections` for a link.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use gatehouse_config::tool_glob::rules_allow;
use serde::Serialize;
use tracing::instrument;
use utoipa::ToSchema;

use super::servers::visible_server;
use super::ApiState;
use crate::accounts::OrgScope;
use crate::rest::json::ApiPath;
use crate::rest::{ApiError, ErrorBody};
use crate::upstream_oauth::OAuthError;
use crate::upstream_tools::{fetch_tools, Tool, ToolsError, FETCH_TIMEOUT};

/// A server's live tools and what each workspace's provisioning lets through.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerTools {
    /// The upstream's tools, as its `tools/list` gave them (every page).
    pub tools: Vec<Tool>,
    /// When the list was fetched.
    pub fetched_at: DateTime<Utc>,
    /// Every workspace the server is provisioned to (a member: only theirs), by slug.
    pub workspaces: Vec<WorkspaceTools>,
}

/// Which of the server's tools one workspace's provisioning lets through.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceTools {
    /// Workspace slug.
    pub workspace: String,
    /// The provisioning's allow globs (empty = every tool).
    pub allow: Vec<String>,
    /// Its deny globs.
    pub deny: Vec<String>,
    /// Tools that pass, in the list's order.
    pub allowed: Vec<String>,
    /// Tools that do not.
    pub denied: Vec<String>,
}

/// Fetches the server's live tool list from the upstream, as an edge would call it.
#[utoipa::path(get, path = "/v1/servers/{slug}/tools", tag = "servers", security(("admin_token" = [])),
    params(("slug" = String, Path, description = "Server slug")),
    responses((status = 200, body = ServerTools), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Per-user OAuth and the caller has no connection to the server (`connection_required`)"),
        (status = 502, body = ErrorBody, description = "The upstream (or its authorization server) failed; the message names the problem"),
        (status = 504, body = ErrorBody, description = "The upstream did not answer in time")))]
#[instrument(skip(state, scope))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<ServerTools>, ApiError> {
    let server = visible_server(&state, &scope, &slug).await?;
    let tools = fetch_tools(&state.upstream_oauth, &server, scope.user())
        .await
        .map_err(|error| tools_error(error, &slug))?;
    let member_workspaces = scope.member_workspaces();
    let workspaces = state
        .store
        .org_provisions(&scope.org_id)
        .await?
        .into_iter()
        .filter(|p| p.server_id == server.id)
        .filter(|p| member_workspaces.is_none_or(|mine| mine.contains(&p.workspace_id)))
        .map(|p| {
            let (allowed, denied) = tools
                .iter()
                .map(|t| t.name.clone())
                .partition(|name| rules_allow(&p.tools.allow, &p.tools.deny, name));
            WorkspaceTools {
                workspace: p.workspace_slug,
                allow: p.tools.allow,
                deny: p.tools.deny,
                allowed,
                denied,
            }
        })
        .collect();
    Ok(Json(ServerTools { tools, fetched_at: Utc::now(), workspaces }))
}

/// How to connect: the route that gives the signed-in person a link.
fn connect_hint(slug: &str) -> String {
    format!(
        "connect first: POST /v1/connections {{\"server\": \"{slug}\"}} gives a link to open in this browser (the console's Connect button does it), then retry"
    )
}

/// The one mapping of a failed upstream exchange to the admin API's errors.
pub(super) fn tools_error(error: ToolsError, slug: &str) -> ApiError {
    match error {
        ToolsError::Store(e) => e.into(),
        ToolsError::OAuth(OAuthError::Store(e)) => e.into(),
        ToolsError::OAuth(e) => ApiError::Upstream(format!("the OAuth set-up of server {slug} failed: {e}")),
        ToolsError::Mcp(e) => ApiError::Upstream(format!("the upstream MCP server of {slug} failed: {e}")),
        ToolsError::NoPerson => ApiError::ConnectionRequired(format!(
            "server {slug} uses per-user OAuth: it is reached with the signed-in person's own connection, and an API key or the admin token has none; sign in to the console with SSO"
        )),
        ToolsError::NotConnected { expired: false } => {
            ApiError::ConnectionRequired(format!("you have not connected server {slug}: {}", connect_hint(slug)))
        }
        ToolsError::NotConnected { expired: true } => ApiError::ConnectionRequired(format!(
            "your connection to server {slug} has expired or was revoked: {}",
            connect_hint(slug)
        )),
        ToolsError::Busy => ApiError::Conflict {
            field: None,
            message: format!("your connection to server {slug} is being refreshed; retry in a few seconds"),
        },
        ToolsError::Timeout => ApiError::UpstreamTimeout(format!(
            "the upstream MCP server of {slug} did not answer within {} s",
            FETCH_TIMEOUT.as_secs()
        )),
    }
}
