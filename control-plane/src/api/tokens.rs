//! `/v1/auth/tokens`: mint, list, revoke and rotate gateway tokens.
//!
//! The token text is returned once (mint, rotate) and never stored or listed.

use crate::accounts::OrgScope;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tracing::instrument;
use utoipa::{IntoParams, ToSchema};

use super::ApiState;
use crate::rest::json::{ApiJson, ApiPath, ApiQuery};
use crate::rest::{ApiError, ErrorBody};
use crate::store::{NewToken, TokenFilter, TokenRecord, TokenStatus};
use crate::tokens::{self, ExpiresInError};
use crate::validation::{self, FieldError};

/// Body of `POST /v1/auth/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintToken {
    /// Who the token is for (1-256 characters).
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub user: String,
    /// Slug of the workspace the token belongs to.
    #[schema(pattern = r"^[a-z0-9][a-z0-9-]{0,62}$", max_length = 63)]
    pub team: String,
    /// Free-form scopes.
    #[serde(default)]
    #[schema(schema_with = crate::rest::schemas::scopes)]
    pub scopes: Vec<String>,
    /// What the token may reach.
    #[serde(default)]
    pub permissions: Permissions,
    /// `<n>s|m|h|d|w` or `never`; default `30d`.
    #[serde(default, rename = "expiresIn", alias = "expires_in")]
    #[schema(
        pattern = r"^(never|[1-9][0-9]{0,7}s|[1-9][0-9]{0,5}m|[1-9][0-9]{0,3}h|[1-9][0-9]{0,2}d|[1-9][0-9]?w)$"
    )]
    pub expires_in: Option<String>,
}

/// What a token may reach.
#[derive(Debug, Default, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    /// Server slugs (empty = every server provisioned to the workspace).
    #[serde(default)]
    #[schema(schema_with = crate::rest::schemas::slugs)]
    pub servers: Vec<String>,
    /// Tool-name globs (empty = every tool).
    #[serde(default)]
    #[schema(schema_with = crate::rest::schemas::tool_globs)]
    pub tools: Vec<String>,
}

/// A gateway token as listed: never the secret, only a hint.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// Stable id (kept across rotation).
    pub id: String,
    /// `gth_abcd…wxyz`: first 8 and last 4 characters.
    pub token_hint: String,
    /// Who the token is for.
    pub user: String,
    /// Workspace slug.
    pub team: String,
    /// Free-form scopes.
    pub scopes: Vec<String>,
    /// What the token may reach.
    pub permissions: Permissions,
    /// Expiry (`null` = never).
    pub expires_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When the current secret was issued (creation or last rotation).
    pub issued_at: DateTime<Utc>,
    /// Revocation time (`null` = not revoked).
    pub revoked_at: Option<DateTime<Utc>>,
    /// `active`, `expired` or `revoked`.
    pub status: TokenStatus,
}

impl From<TokenRecord> for TokenView {
    fn from(t: TokenRecord) -> Self {
        let status = TokenStatus::at(t.revoked_at, t.expires_at, Utc::now());
        Self {
            id: t.id,
            token_hint: t.token_hint,
            user: t.user,
            team: t.team,
            scopes: t.scopes,
            permissions: Permissions { servers: t.server_permissions, tools: t.tool_permissions },
            expires_at: t.expires_at,
            created_at: t.created_at,
            issued_at: t.issued_at,
            revoked_at: t.revoked_at,
            status,
        }
    }
}

/// A newly minted or rotated token: the only response that carries the token text.
#[derive(Serialize, ToSchema)]
pub struct IssuedToken {
    /// The token text. Shown once; store it now.
    pub token: String,
    /// The token's details.
    #[serde(flatten)]
    pub details: TokenView,
}

/// Tokens list.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    /// Tokens, newest first (revoked ones included).
    pub tokens: Vec<TokenView>,
    /// Cursor of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// Filters of `GET /v1/auth/tokens`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// Workspace slug.
    pub team: Option<String>,
    /// Exact user.
    pub user: Option<String>,
    /// Only tokens in this state: `active`, `expired` or `revoked`.
    pub status: Option<TokenStatus>,
    /// Rows per page, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Mints a gateway token; the response carries the token text, once.
#[utoipa::path(post, path = "/v1/auth/tokens", tag = "tokens", request_body = MintToken, security(("admin_token" = [])),
    responses((status = 201, body = IssuedToken), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
#[instrument(skip_all, fields(team = %body.team))]
pub(crate) async fn mint(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiJson(body): ApiJson<MintToken>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    validate_grant(&body.user, &body.team, &body.scopes, &body.permissions)?;
    member_may_mint(&state, &scope, &body.user, &body.team).await?;
    let lifetime = tokens::parse_expires_in(body.expires_in.as_deref()).map_err(expires_in_error)?;

    let generated = tokens::generate();
    let new = NewToken {
        team: body.team,
        user: body.user,
        scopes: body.scopes,
        server_permissions: body.permissions.servers,
        tool_permissions: body.permissions.tools,
        lifetime,
        hash: generated.hash,
        hint: generated.hint,
    };
    let created = state.store.create_token(&scope.org_id, new).await?;
    tracing::info!(version = created.version, token_id = %created.value.id, "gateway token minted");
    let issued =
        IssuedToken { token: generated.token.expose_secret().to_owned(), details: created.value.into() };
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Lists gateway tokens (never their text), optionally by team and user.
#[utoipa::path(get, path = "/v1/auth/tokens", tag = "tokens", params(TokenQuery), security(("admin_token" = [])),
    responses((status = 200, body = TokenList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiQuery(query): ApiQuery<TokenQuery>,
) -> Result<Json<TokenList>, ApiError> {
    let page = crate::store::page::PageRequest::parse(query.limit, query.cursor.as_deref())?;
    // Members see the tokens naming them; an API key with the member role is nobody.
    let owned_by = match (scope.role.reads_everything(), scope.user()) {
        (true, _) => None,
        (false, Some(me)) => Some((me.user_id.clone(), me.email.clone())),
        (false, None) => return Ok(Json(TokenList { tokens: Vec::new(), next_cursor: None })),
    };
    let filter = TokenFilter { team: query.team, user: query.user, owned_by, status: query.status };
    let page = state.store.list_tokens(&scope.org_id, &filter, &page).await?;
    Ok(Json(TokenList {
        tokens: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Revokes a token: it stops working at once and stays listed with `revoked_at`.
#[utoipa::path(delete, path = "/v1/auth/tokens/{id}", tag = "tokens", security(("admin_token" = [])),
    params(("id" = String, Path, description = "Token id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[instrument(skip(state))]
pub(crate) async fn revoke(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    own_token(&state, &scope, &id).await?;
    let revoked = state.store.revoke_token(&scope.org_id, &id).await?;
    tracing::info!(version = revoked.version, "gateway token revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// Issues a new secret for the same token id; the old secret stops working at once.
#[utoipa::path(post, path = "/v1/auth/tokens/{id}/rotate", tag = "tokens", security(("admin_token" = [])),
    params(("id" = String, Path, description = "Token id")),
    responses((status = 200, body = IssuedToken), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
#[instrument(skip(state))]
pub(crate) async fn rotate(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<IssuedToken>, ApiError> {
    own_token(&state, &scope, &id).await?;
    let generated = tokens::generate();
    let rotated = state.store.rotate_token(&scope.org_id, &id, generated.hash, generated.hint).await?;
    tracing::info!(version = rotated.version, "gateway token rotated");
    Ok(Json(IssuedToken { token: generated.token.expose_secret().to_owned(), details: rotated.value.into() }))
}

/// A member mints tokens only for themselves, in a workspace they belong to.
async fn member_may_mint(state: &ApiState, scope: &OrgScope, user: &str, team: &str) -> Result<(), ApiError> {
    if scope.role.manages_everyone() {
        return Ok(());
    }
    let Some(me) = scope.user() else {
        return Err(ApiError::Forbidden(
            "an API key with the member role acts for nobody and cannot mint tokens; use an admin key".into(),
        ));
    };
    if !scope.owns(user) {
        return Err(FieldError::new(
            "user",
            "members may mint tokens only for themselves (their id or e-mail)",
        )
        .into());
    }
    let workspace = state.store.get_workspace(&scope.org_id, team).await.ok();
    if !workspace.is_some_and(|w| me.workspace_ids.contains(&w.id)) {
        return Err(
            FieldError::new("team", "members may mint tokens only in a workspace they belong to").into()
        );
    }
    Ok(())
}

/// A member may revoke or rotate only tokens naming them; anyone else's is 404.
async fn own_token(state: &ApiState, scope: &OrgScope, id: &str) -> Result<(), ApiError> {
    if scope.role.manages_everyone() {
        return Ok(());
    }
    let token = state.store.get_token(&scope.org_id, id).await?;
    if !scope.owns(&token.user) {
        return Err(ApiError::NotFound("token"));
    }
    Ok(())
}

/// Checks what a credential grants (`user`, `team`, `scopes`, `permissions`), naming the field at fault.
pub(super) fn validate_grant(
    user: &str,
    team: &str,
    scopes: &[String],
    permissions: &Permissions,
) -> Result<(), FieldError> {
    validation::user("user", user)?;
    validation::slug("team", team)?;
    validation::scopes("scopes", scopes)?;
    for (i, slug) in permissions.servers.iter().enumerate() {
        validation::slug(&format!("permissions.servers[{i}]"), slug)?;
    }
    validation::tool_globs("permissions.tools", &permissions.tools)
}

fn expires_in_error(e: ExpiresInError) -> ApiError {
    FieldError::new("expiresIn", e.to_string()).into()
}
