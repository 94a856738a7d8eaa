//! `/v1/workspaces`: create, list, get, delete, and list a workspace's provisions.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::instrument;
use utoipa::ToSchema;

use super::provisions::ProvisionView;
use super::ApiState;
use crate::rest::json::ApiJson;
use crate::rest::{ApiError, ErrorBody};
use crate::store::{NewWorkspace, Workspace};
use crate::validation;

/// Body of `POST /v1/workspaces`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspace {
    /// `^[a-z0-9][a-z0-9-]{0,62}$`, unique in the org.
    pub slug: String,
    /// Display name (defaults to the slug).
    #[serde(default)]
    pub name: Option<String>,
}

/// A workspace.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceView {
    /// Stable id.
    pub id: String,
    /// Slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl From<Workspace> for WorkspaceView {
    fn from(w: Workspace) -> Self {
        Self { id: w.id, slug: w.slug, name: w.name, created_at: w.created_at }
    }
}

/// A newly created workspace and the servers auto-provisioned to it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWorkspace {
    /// The workspace.
    #[serde(flatten)]
    pub workspace: WorkspaceView,
    /// Slugs of the servers provisioned automatically.
    pub provisioned_servers: Vec<String>,
}

/// Workspaces list.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceList {
    /// Workspaces by slug.
    pub workspaces: Vec<WorkspaceView>,
}

/// A workspace's provisions.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvisionList {
    /// Provisions by server slug.
    pub servers: Vec<ProvisionView>,
}

/// Creates a workspace; servers flagged `auto_provision` are provisioned to it in the same transaction.
#[utoipa::path(post, path = "/v1/workspaces", tag = "workspaces", request_body = CreateWorkspace,
    security(("admin_token" = [])),
    responses((status = 201, body = CreatedWorkspace), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
#[instrument(skip_all, fields(slug = %body.slug))]
pub(crate) async fn create(
    State(state): State<ApiState>,
    ApiJson(body): ApiJson<CreateWorkspace>,
) -> Result<(StatusCode, Json<CreatedWorkspace>), ApiError> {
    validation::slug("slug", &body.slug)?;
    let name = validation::name("name", body.name.as_deref().unwrap_or(&body.slug))?;
    let created = state.store.create_workspace(&state.org_id, NewWorkspace { slug: body.slug, name }).await?;
    let (workspace, provisions) = created.value;
    tracing::info!(version = created.version, auto_provisioned = provisions.len(), "workspace created");
    let provisioned_servers = provisions.into_iter().map(|p| p.server_slug).collect();
    Ok((StatusCode::CREATED, Json(CreatedWorkspace { workspace: workspace.into(), provisioned_servers })))
}

/// Lists workspaces.
#[utoipa::path(get, path = "/v1/workspaces", tag = "workspaces", security(("admin_token" = [])),
    responses((status = 200, body = WorkspaceList), (status = 401, body = ErrorBody)))]
pub(crate) async fn list(State(state): State<ApiState>) -> Result<Json<WorkspaceList>, ApiError> {
    let workspaces = state.store.list_workspaces(&state.org_id).await?;
    Ok(Json(WorkspaceList { workspaces: workspaces.into_iter().map(Into::into).collect() }))
}

/// Gets one workspace.
#[utoipa::path(get, path = "/v1/workspaces/{ws}", tag = "workspaces", security(("admin_token" = [])),
    params(("ws" = String, Path, description = "Workspace slug")),
    responses((status = 200, body = WorkspaceView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<ApiState>,
    Path(ws): Path<String>,
) -> Result<Json<WorkspaceView>, ApiError> {
    Ok(Json(state.store.get_workspace(&state.org_id, &ws).await?.into()))
}

/// Deletes a workspace with its provisions and gateway tokens.
#[utoipa::path(delete, path = "/v1/workspaces/{ws}", tag = "workspaces", security(("admin_token" = [])),
    params(("ws" = String, Path, description = "Workspace slug")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[instrument(skip(state))]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    Path(ws): Path<String>,
) -> Result<StatusCode, ApiError> {
    let deleted = state.store.delete_workspace(&state.org_id, &ws).await?;
    tracing::info!(version = deleted.version, "workspace deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Lists the servers provisioned to a workspace, with their tool rules.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/servers", tag = "provisions", security(("admin_token" = [])),
    params(("ws" = String, Path, description = "Workspace slug")),
    responses((status = 200, body = ProvisionList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn list_provisions(
    State(state): State<ApiState>,
    Path(ws): Path<String>,
) -> Result<Json<ProvisionList>, ApiError> {
    let provisions = state.store.workspace_provisions(&state.org_id, &ws).await?;
    Ok(Json(ProvisionList { servers: provisions.into_iter().map(Into::into).collect() }))
}
