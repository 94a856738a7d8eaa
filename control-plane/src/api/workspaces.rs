//! `/v1/workspaces`: create, list, get, delete, and list a workspace's provisions.

use crate::accounts::OrgScope;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::instrument;
use utoipa::ToSchema;

use super::provisions::ProvisionView;
use super::ApiState;
use crate::rest::json::{ApiJson, ApiPath, ApiQuery};
use crate::rest::{ApiError, ErrorBody, PageQuery};
use crate::store::{NewWorkspace, Workspace};
use crate::validation;

/// Body of `POST /v1/workspaces`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspace {
    /// `^[a-z0-9][a-z0-9-]{0,62}$`, unique in the org.
    #[schema(pattern = r"^[a-z0-9][a-z0-9-]{0,62}$", max_length = 63)]
    pub slug: String,
    /// Display name (defaults to the slug).
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
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
    /// Cursor of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// A workspace's provisions.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvisionList {
    /// Provisions by server slug.
    pub servers: Vec<ProvisionView>,
    /// Cursor of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// Creates a workspace; servers flagged `auto_provision` are provisioned to it in the same transaction.
#[utoipa::path(post, path = "/v1/workspaces", tag = "workspaces", request_body = CreateWorkspace,
    security(("admin_token" = [])),
    responses((status = 201, body = CreatedWorkspace), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
#[instrument(skip_all, fields(slug = %body.slug))]
pub(crate) async fn create(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiJson(body): ApiJson<CreateWorkspace>,
) -> Result<(StatusCode, Json<CreatedWorkspace>), ApiError> {
    validation::slug("slug", &body.slug)?;
    let name = validation::name("name", body.name.as_deref().unwrap_or(&body.slug))?;
    let created = state.store.create_workspace(&scope.org_id, NewWorkspace { slug: body.slug, name }).await?;
    let (workspace, provisions) = created.value;
    tracing::info!(version = created.version, auto_provisioned = provisions.len(), "workspace created");
    let provisioned_servers = provisions.into_iter().map(|p| p.server_slug).collect();
    Ok((StatusCode::CREATED, Json(CreatedWorkspace { workspace: workspace.into(), provisioned_servers })))
}

/// Lists workspaces (a member: the workspaces they belong to).
#[utoipa::path(get, path = "/v1/workspaces", tag = "workspaces", params(PageQuery), security(("admin_token" = [])),
    responses((status = 200, body = WorkspaceList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<WorkspaceList>, ApiError> {
    let page = query.page()?;
    let mut workspaces = state.store.list_workspaces(&scope.org_id).await?;
    if let Some(mine) = scope.member_workspaces() {
        workspaces.retain(|w| mine.contains(&w.id));
    }
    let page = page.slice(workspaces, |w| w.slug.clone());
    Ok(Json(WorkspaceList {
        workspaces: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// The workspace `ws` if the caller may see it (a member: only their own; others are 404).
pub(super) async fn visible_workspace(
    state: &ApiState,
    scope: &OrgScope,
    ws: &str,
) -> Result<Workspace, ApiError> {
    let workspace = state.store.get_workspace(&scope.org_id, ws).await?;
    if scope.member_workspaces().is_some_and(|mine| !mine.contains(&workspace.id)) {
        return Err(ApiError::NotFound("workspace"));
    }
    Ok(workspace)
}

/// Gets one workspace.
#[utoipa::path(get, path = "/v1/workspaces/{ws}", tag = "workspaces", security(("admin_token" = [])),
    params(("ws" = String, Path, description = "Workspace slug")),
    responses((status = 200, body = WorkspaceView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiPath(ws): ApiPath<String>,
) -> Result<Json<WorkspaceView>, ApiError> {
    Ok(Json(visible_workspace(&state, &scope, &ws).await?.into()))
}

/// Deletes a workspace with its provisions and gateway tokens.
#[utoipa::path(delete, path = "/v1/workspaces/{ws}", tag = "workspaces", security(("admin_token" = [])),
    params(("ws" = String, Path, description = "Workspace slug")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[instrument(skip(state))]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiPath(ws): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let deleted = state.store.delete_workspace(&scope.org_id, &ws).await?;
    tracing::info!(version = deleted.version, "workspace deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Lists the servers provisioned to a workspace, with their tool rules.
#[utoipa::path(get, path = "/v1/workspaces/{ws}/servers", tag = "provisions", security(("admin_token" = [])),
    params(("ws" = String, Path, description = "Workspace slug"), PageQuery),
    responses((status = 200, body = ProvisionList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn list_provisions(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiPath(ws): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<ProvisionList>, ApiError> {
    let page = query.page()?;
    visible_workspace(&state, &scope, &ws).await?;
    let provisions = state.store.workspace_provisions(&scope.org_id, &ws).await?;
    let page = page.slice(provisions, |p| p.server_slug.clone());
    Ok(Json(ProvisionList {
        servers: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}
