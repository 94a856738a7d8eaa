//! `PUT/DELETE /v1/workspaces/{ws}/servers/{slug}`: provision a server to a workspace.

use crate::accounts::OrgScope;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::instrument;
use utoipa::ToSchema;

use super::ApiState;
use crate::rest::json::{ApiPath, OptionalJson};
use crate::rest::{ApiError, ErrorBody};
use crate::store::{Provision, ToolRules};
use crate::validation;

/// Body of the provision `PUT` (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvisionBody {
    /// Tool globs; omitted = every tool allowed.
    #[serde(default)]
    pub tools: Option<ToolsBody>,
}

/// Tool globs (`*` any run, `?` one character).
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolsBody {
    /// A tool must match one of these (empty = all).
    #[serde(default)]
    #[schema(schema_with = crate::rest::schemas::tool_globs)]
    pub allow: Vec<String>,
    /// A tool matching one of these is always denied.
    #[serde(default)]
    #[schema(schema_with = crate::rest::schemas::tool_globs)]
    pub deny: Vec<String>,
}

/// A server provisioned to a workspace.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvisionView {
    /// Workspace slug.
    pub workspace: String,
    /// Server slug.
    pub server: String,
    /// Tool globs.
    pub tools: ToolsBody,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<Provision> for ProvisionView {
    fn from(p: Provision) -> Self {
        Self {
            workspace: p.workspace_slug,
            server: p.server_slug,
            tools: ToolsBody { allow: p.tools.allow, deny: p.tools.deny },
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// Provisions a server to a workspace or replaces its tool rules (201 created, 200 updated).
#[utoipa::path(put, path = "/v1/workspaces/{ws}/servers/{slug}", tag = "provisions", request_body = Option<ProvisionBody>,
    security(("admin_token" = [])),
    params(("ws" = String, Path, description = "Workspace slug"), ("slug" = String, Path, description = "Server slug")),
    responses((status = 201, body = ProvisionView), (status = 200, body = ProvisionView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[instrument(skip(state, body))]
pub(crate) async fn provision(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiPath((ws, slug)): ApiPath<(String, String)>,
    OptionalJson(body): OptionalJson<ProvisionBody>,
) -> Result<(StatusCode, Json<ProvisionView>), ApiError> {
    let tools = body.tools.unwrap_or_default();
    validation::tool_globs("tools.allow", &tools.allow)?;
    validation::tool_globs("tools.deny", &tools.deny)?;
    let rules = ToolRules { allow: tools.allow, deny: tools.deny };
    let result = state.store.provision(&scope.org_id, &ws, &slug, rules).await?;
    let (provision, created) = result.value;
    tracing::info!(version = result.version, created, "server provisioned");
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(provision.into())))
}

/// Removes a server from a workspace.
#[utoipa::path(delete, path = "/v1/workspaces/{ws}/servers/{slug}", tag = "provisions", security(("admin_token" = [])),
    params(("ws" = String, Path, description = "Workspace slug"), ("slug" = String, Path, description = "Server slug")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[instrument(skip(state))]
pub(crate) async fn unprovision(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiPath((ws, slug)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let result = state.store.unprovision(&scope.org_id, &ws, &slug).await?;
    tracing::info!(version = result.version, "server unprovisioned");
    Ok(StatusCode::NO_CONTENT)
}
