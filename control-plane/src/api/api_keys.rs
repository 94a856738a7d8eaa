//! `/v1/api-keys`: an org's API keys, for automation and bootstrap. The key
//! text is returned once; only its hash is stored. Admins manage keys up to
//! their own role; only owners create or delete owner keys, so no key can
//! grant more than its creator holds.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tracing::instrument;
use utoipa::ToSchema;

use super::ApiState;
use crate::accounts::{OrgScope, Role};
use crate::rest::json::{ApiJson, ApiPath, ApiQuery};
use crate::rest::{ApiError, ErrorBody, PageQuery};
use crate::store::{ApiKey, NewApiKey};
use crate::{tokens, validation};

/// Body of `POST /v1/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// What the key is for.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// `owner`, `admin`, `auditor`, `viewer` or `member`.
    pub role: Role,
}

/// An API key (never its text).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    /// Stable id.
    pub id: String,
    /// What the key is for.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// The role it acts with.
    pub role: Role,
    /// Slug of the org it acts in.
    pub org: String,
    /// The key's first 8 and last 4 characters.
    pub hint: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last use (to the minute), if any.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiKeyView {
    fn of(key: ApiKey, org: &str) -> Self {
        Self {
            id: key.id,
            name: key.name,
            role: key.role,
            org: org.to_owned(),
            hint: key.hint,
            created_at: key.created_at,
            last_used_at: key.last_used_at,
        }
    }
}

/// A new key: the only response carrying its text.
#[derive(Serialize, ToSchema)]
pub struct IssuedApiKey {
    /// The key (`gak_…`). Shown once; store it now. Use it as `Authorization: Bearer <key>`.
    pub key: String,
    /// The key's details.
    #[serde(flatten)]
    pub details: ApiKeyView,
}

/// A page of API keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    /// Keys, oldest first.
    pub api_keys: Vec<ApiKeyView>,
    /// Cursor of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// Creates an API key of the org; the response carries the key text, once.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", request_body = CreateApiKey,
    security(("admin_token" = [])),
    responses((status = 201, body = IssuedApiKey), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
#[instrument(skip_all, fields(org = %scope.org_slug, role = %body.role))]
pub(crate) async fn create(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiJson(body): ApiJson<CreateApiKey>,
) -> Result<(StatusCode, Json<IssuedApiKey>), ApiError> {
    let name = validation::name("name", &body.name)?;
    may_manage(&scope, body.role)?;
    let generated = tokens::generate_api_key();
    let new = NewApiKey { name, role: body.role, hash: generated.hash, hint: generated.hint };
    let key = state.store.create_api_key(&scope.org_id, new).await?;
    tracing::info!(key_id = %key.id, "api key created");
    let issued = IssuedApiKey {
        key: generated.token.expose_secret().to_owned(),
        details: ApiKeyView::of(key, &scope.org_slug),
    };
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Lists the org's API keys (never their text).
#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys", params(PageQuery), security(("admin_token" = [])),
    responses((status = 200, body = ApiKeyList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<ApiKeyList>, ApiError> {
    let page = state.store.list_api_keys(&scope.org_id, &query.page()?).await?;
    Ok(Json(ApiKeyList {
        api_keys: page.items.into_iter().map(|k| ApiKeyView::of(k, &scope.org_slug)).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Gets one API key (never its text).
#[utoipa::path(get, path = "/v1/api-keys/{id}", tag = "api-keys", security(("admin_token" = [])),
    params(("id" = String, Path, description = "API key id")),
    responses((status = 200, body = ApiKeyView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ApiKeyView>, ApiError> {
    let key = state.store.get_api_key(&scope.org_id, &id).await?;
    Ok(Json(ApiKeyView::of(key, &scope.org_slug)))
}

/// Deletes an API key: it stops working at once.
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "api-keys", security(("admin_token" = [])),
    params(("id" = String, Path, description = "API key id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
#[instrument(skip(state, scope))]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let key = state.store.get_api_key(&scope.org_id, &id).await?;
    may_manage(&scope, key.role)?;
    state.store.delete_api_key(&scope.org_id, &id).await?;
    tracing::info!("api key deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Admins manage keys up to `admin`; owner keys need an owner.
fn may_manage(scope: &OrgScope, role: Role) -> Result<(), ApiError> {
    if role > scope.role {
        return Err(ApiError::Forbidden(format!(
            "only an owner can create or delete keys with the {role} role; the caller's role is {}",
            scope.role
        )));
    }
    Ok(())
}
