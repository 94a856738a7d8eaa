//! `/v1/orgs`: the platform operator's tenants (create, list, get, rename,
//! delete), and `DELETE /v1/org`, an owner deleting their own org.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tracing::instrument;
use utoipa::ToSchema;

use super::ApiState;
use crate::accounts::{OrgScope, DEFAULT_ORG_SLUG};
use crate::rest::json::{ApiJson, ApiPath, ApiQuery};
use crate::rest::{ApiError, ErrorBody, PageQuery};
use crate::store::Org;
use crate::validation;

/// Body of `POST /v1/orgs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    /// `^[a-z0-9][a-z0-9-]{0,62}$`, unique, immutable: it is part of every edge URL (`/mcp/{org}/{server}`).
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

/// Body of `PATCH /v1/orgs/{org}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrg {
    /// Must equal the current slug if given (slugs are immutable).
    #[serde(default)]
    #[schema(read_only)]
    pub slug: Option<String>,
    /// New display name.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: Option<String>,
}

/// An org (tenant).
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgView {
    /// Stable id.
    pub id: String,
    /// Slug, as in `/v1/orgs/{org}` and `/mcp/{org}/{server}`.
    pub slug: String,
    /// Display name.
    pub name: String,
}

impl From<Org> for OrgView {
    fn from(o: Org) -> Self {
        Self { id: o.id, slug: o.slug, name: o.name }
    }
}

/// A page of orgs.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgList {
    /// Orgs by slug.
    pub orgs: Vec<OrgView>,
    /// Cursor of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// Creates an org. Bootstrap it with an owner API key (`POST /v1/orgs/{org}/api-keys`).
#[utoipa::path(post, path = "/v1/orgs", tag = "orgs", request_body = CreateOrg, security(("admin_token" = [])),
    responses((status = 201, body = OrgView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[instrument(skip_all, fields(slug = %body.slug))]
pub(crate) async fn create(
    State(state): State<ApiState>,
    ApiJson(body): ApiJson<CreateOrg>,
) -> Result<(StatusCode, Json<OrgView>), ApiError> {
    validation::slug("slug", &body.slug)?;
    let name = validation::name("name", body.name.as_deref().unwrap_or(&body.slug))?;
    let created = state.store.create_org(&body.slug, &name).await?;
    tracing::info!(version = created.version, org_id = %created.value.id, "org created");
    Ok((StatusCode::CREATED, Json(created.value.into())))
}

/// Lists orgs.
#[utoipa::path(get, path = "/v1/orgs", tag = "orgs", params(PageQuery), security(("admin_token" = [])),
    responses((status = 200, body = OrgList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<OrgList>, ApiError> {
    let page = state.store.list_orgs(&query.page()?).await?;
    Ok(Json(OrgList {
        orgs: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Gets one org.
#[utoipa::path(get, path = "/v1/orgs/{org}", tag = "orgs", security(("admin_token" = [])),
    params(("org" = String, Path, description = "Org slug")),
    responses((status = 200, body = OrgView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<ApiState>,
    ApiPath(org): ApiPath<String>,
) -> Result<Json<OrgView>, ApiError> {
    let org = state.store.org_by_slug(&org).await?.ok_or(ApiError::NotFound("org"))?;
    Ok(Json(org.into()))
}

/// Renames an org (the slug is immutable).
#[utoipa::path(patch, path = "/v1/orgs/{org}", tag = "orgs", request_body = UpdateOrg, security(("admin_token" = [])),
    params(("org" = String, Path, description = "Org slug")),
    responses((status = 200, body = OrgView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[instrument(skip(state, body))]
pub(crate) async fn update(
    State(state): State<ApiState>,
    ApiPath(org): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateOrg>,
) -> Result<Json<OrgView>, ApiError> {
    let current = state.store.org_by_slug(&org).await?.ok_or(ApiError::NotFound("org"))?;
    if body.slug.as_ref().is_some_and(|s| *s != current.slug) {
        return Err(validation::FieldError::new("slug", "is immutable: it is part of every edge URL").into());
    }
    let Some(name) = body.name else { return Ok(Json(current.into())) };
    let name = validation::name("name", &name)?;
    let renamed = state.store.rename_org(&current.id, &name).await?;
    Ok(Json(renamed.value.into()))
}

/// Deletes an org and everything of it, in one transaction; its tokens stop working at every edge.
#[utoipa::path(delete, path = "/v1/orgs/{org}", tag = "orgs", security(("admin_token" = [])),
    params(("org" = String, Path, description = "Org slug")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[instrument(skip(state))]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    ApiPath(org): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let org = state.store.org_by_slug(&org).await?.ok_or(ApiError::NotFound("org"))?;
    delete_org(&state, &org.id, &org.slug).await
}

/// Deletes the caller's own org and everything of it (owners; not the default org).
#[utoipa::path(delete, path = "/v1/org", tag = "org", security(("admin_token" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
#[instrument(skip_all, fields(org = %scope.org_slug))]
pub(crate) async fn delete_own(
    State(state): State<ApiState>,
    scope: OrgScope,
) -> Result<StatusCode, ApiError> {
    delete_org(&state, &scope.org_id, &scope.org_slug).await
}

async fn delete_org(state: &ApiState, org_id: &str, slug: &str) -> Result<StatusCode, ApiError> {
    if slug == DEFAULT_ORG_SLUG {
        return Err(ApiError::Conflict {
            field: None,
            message: "the default org cannot be deleted: single-org installs and plain /v1 routes act on it"
                .into(),
        });
    }
    let deleted = state.store.delete_org(org_id).await?;
    tracing::info!(version = deleted.version, org_id, "org deleted");
    Ok(StatusCode::NO_CONTENT)
}
