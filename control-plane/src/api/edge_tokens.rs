//! `/v1/edges/tokens`: the edge tokens edges present on the config stream and
//! the credential broker. Platform-wide (not one org's): a token may be scoped
//! to orgs, and its edges then receive only those orgs' config and grants.
//!
//! The token text is returned once, at creation, and only its SHA-256 is stored.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tracing::instrument;
use utoipa::{IntoParams, ToSchema};

use super::ApiState;
use crate::rest::json::{ApiJson, ApiPath, ApiQuery};
use crate::rest::{ApiError, ErrorBody};
use crate::store::{EdgeTokenRecord, NewEdgeToken};
use crate::tokens;
use crate::validation::{self, FieldError};

/// Page size of `GET /v1/edges/tokens` when `limit` is omitted.
const DEFAULT_LIMIT: u64 = 100;
/// Largest page `GET /v1/edges/tokens` returns.
const MAX_LIMIT: u64 = 1000;
/// Most orgs one edge token may be scoped to.
const MAX_ORGS: usize = 1000;

/// The edge-token routes (paths included).
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/edges/tokens", post(create).get(list))
        .route("/v1/edges/tokens/{id}", delete(revoke))
}

/// Body of `POST /v1/edges/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEdgeToken {
    /// Display name (1-200 characters), shown in `GET /v1/edges`.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// Slugs of the orgs the token's edges serve; omitted = every org.
    #[serde(default)]
    #[schema(schema_with = crate::rest::schemas::nullable_slugs)]
    pub orgs: Option<Vec<String>>,
}

/// An edge token as listed: never the token text.
#[derive(Debug, Serialize, ToSchema)]
pub struct EdgeTokenView {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `ghn_abcd…wxyz`: first 8 and last 4 characters.
    pub token_hint: String,
    /// Slugs of the orgs the token's edges serve (`null` = every org).
    pub orgs: Option<Vec<String>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Revocation time (`null` = not revoked).
    pub revoked_at: Option<DateTime<Utc>>,
    /// When an edge last opened a config stream with it.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<EdgeTokenRecord> for EdgeTokenView {
    fn from(t: EdgeTokenRecord) -> Self {
        Self {
            id: t.id,
            name: t.name,
            token_hint: t.token_hint,
            orgs: t.orgs,
            created_at: t.created_at,
            revoked_at: t.revoked_at,
            last_used_at: t.last_used_at,
        }
    }
}

/// A newly created edge token: the only response carrying the token text.
#[derive(Serialize, ToSchema)]
pub struct IssuedEdgeToken {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The token text (`ghn_…`), for `GATEHOUSE_NODE_TOKEN` on the edge. Shown once; store it now.
    pub token: String,
    /// Slugs of the orgs the token's edges serve (`null` = every org).
    pub orgs: Option<Vec<String>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// One page of edge tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct EdgeTokenList {
    /// Tokens in creation order, revoked ones included.
    pub tokens: Vec<EdgeTokenView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Paging of `GET /v1/edges/tokens`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EdgeTokenQuery {
    /// Page size, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Creates an edge token; the response carries the token text, once.
#[utoipa::path(post, path = "/v1/edges/tokens", tag = "edges", request_body = CreateEdgeToken,
    security(("admin_token" = [])),
    responses((status = 201, body = IssuedEdgeToken), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
#[instrument(skip_all)]
pub(crate) async fn create(
    State(state): State<ApiState>,
    ApiJson(body): ApiJson<CreateEdgeToken>,
) -> Result<(StatusCode, Json<IssuedEdgeToken>), ApiError> {
    let name = validation::name("name", &body.name)?;
    if let Some(orgs) = &body.orgs {
        if orgs.is_empty() || orgs.len() > MAX_ORGS {
            return Err(FieldError::new(
                "orgs",
                format!("must name 1-{MAX_ORGS} orgs, or be omitted for every org"),
            )
            .into());
        }
        for (i, slug) in orgs.iter().enumerate() {
            validation::slug(&format!("orgs[{i}]"), slug)?;
        }
    }
    let orgs = body.orgs.map(|orgs| {
        let mut seen = std::collections::HashSet::new();
        orgs.into_iter().filter(|slug| seen.insert(slug.clone())).collect::<Vec<_>>()
    });
    let generated = tokens::generate_edge_token();
    let new = NewEdgeToken { name, orgs, hash: generated.hash, hint: generated.hint };
    let created = state.store.create_edge_token(new).await?;
    tracing::info!(token_id = %created.id, scoped = created.orgs.is_some(), "edge token created");
    let issued = IssuedEdgeToken {
        id: created.id,
        name: created.name,
        token: generated.token.expose_secret().to_owned(),
        orgs: created.orgs,
        created_at: created.created_at,
    };
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Lists edge tokens (never their text), a page at a time.
#[utoipa::path(get, path = "/v1/edges/tokens", tag = "edges", params(EdgeTokenQuery), security(("admin_token" = [])),
    responses((status = 200, body = EdgeTokenList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<EdgeTokenQuery>,
) -> Result<Json<EdgeTokenList>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(FieldError::new("limit", format!("must be 1-{MAX_LIMIT}")).into());
    }
    let mut page = state.store.list_edge_tokens(query.cursor.as_deref(), limit + 1).await?;
    let more = page.len() as u64 > limit;
    page.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = if more { page.last().map(|t| t.id.clone()) } else { None };
    Ok(Json(EdgeTokenList { tokens: page.into_iter().map(Into::into).collect(), next_cursor }))
}

/// Revokes an edge token: new streams and credential-broker calls with it are
/// refused at once, and the streams open with it are closed.
#[utoipa::path(delete, path = "/v1/edges/tokens/{id}", tag = "edges", security(("admin_token" = [])),
    params(("id" = String, Path, description = "Edge token id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[instrument(skip(state))]
pub(crate) async fn revoke(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.store.revoke_edge_token(&id).await?;
    let closed = state.edges.revoke_token(&id);
    tracing::info!(closed_streams = closed, "edge token revoked");
    Ok(StatusCode::NO_CONTENT)
}
