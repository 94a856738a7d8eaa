//! `/v1/servers`: register, list, get, update and delete upstream MCP servers.
//!
//! Header values are write-only: responses list header names, never values.

use crate::accounts::OrgScope;
use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tracing::instrument;
use utoipa::ToSchema;

use super::jwt_warning::Warnings;
use super::ApiState;
use crate::rest::json::{ApiJson, ApiPath, ApiQuery};
use crate::rest::{ApiError, ErrorBody, PageQuery};
use crate::store::oauth_clients::{preset_key, OAuthClientRecord};
use crate::store::{NewServer, Server, ServerPatch};
use crate::upstream_oauth::overrides as oauth_overrides;
use crate::validation::{self, FieldError};

/// Body of `POST /v1/servers`. Debug output redacts header values.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServer {
    /// `^[a-z0-9][a-z0-9-]{0,62}$`, unique in the org, immutable.
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
    /// Absolute http(s) URL of the upstream MCP endpoint.
    #[schema(schema_with = crate::rest::schemas::http_url)]
    pub url: String,
    /// `none`, `headers`, `oauth2` or `client_credentials`; defaults to `headers` when headers are given, else `none`.
    #[serde(default)]
    #[schema(pattern = r"^(none|headers|oauth2|client_credentials)$")]
    pub auth_type: Option<String>,
    /// Static headers injected upstream; values are sealed and never returned.
    #[serde(default)]
    #[schema(schema_with = crate::rest::schemas::upstream_headers)]
    pub headers: BTreeMap<String, SecretString>,
    /// Free-form JSON object kept for later capabilities.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub advanced_config: Option<serde_json::Value>,
    /// Provision this server to every workspace created from now on.
    #[serde(default)]
    pub auto_provision: bool,
}

/// Body of `PATCH /v1/servers/{slug}`; omitted fields are unchanged.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateServer {
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
    /// New upstream URL.
    #[serde(default)]
    #[schema(schema_with = crate::rest::schemas::nullable_http_url)]
    pub url: Option<String>,
    /// New auth type; switching to `none` clears the headers.
    #[serde(default)]
    #[schema(pattern = r"^(none|headers|oauth2|client_credentials)$")]
    pub auth_type: Option<String>,
    /// Replaces the whole header set.
    #[serde(default)]
    #[schema(schema_with = crate::rest::schemas::nullable_upstream_headers)]
    pub headers: Option<BTreeMap<String, SecretString>>,
    /// Replaces the advanced config (a JSON object).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub advanced_config: Option<serde_json::Value>,
    /// New auto-provision flag.
    #[serde(default)]
    pub auto_provision: Option<bool>,
}

/// A registered server. Only header names are shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerView {
    /// Stable id.
    pub id: String,
    /// Slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Upstream MCP endpoint.
    pub url: String,
    /// `none`, `headers`, `oauth2` or `client_credentials`.
    pub auth_type: String,
    /// Names of the static headers (values are write-only).
    pub headers: Vec<String>,
    /// Free-form JSON object.
    #[schema(value_type = Object)]
    pub advanced_config: serde_json::Value,
    /// Provisioned to every new workspace.
    pub auto_provision: bool,
    /// Slugs of the workspaces it is provisioned to (a member sees only theirs).
    pub workspaces: Vec<String>,
    /// For `oauth2` and `client_credentials` servers, whether Gatehouse's OAuth set-up
    /// (discovery and client registration) is `complete` or still `pending` (retried
    /// every 30 s and on first use); `null` for other auth types.
    #[schema(pattern = "^(complete|pending)$")]
    pub oauth_setup: Option<&'static str>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// What the saved `advanced_config` accepts that may be weaker or narrower than intended
    /// (also sent as `Warning` headers); only in the answer to a create or update.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub warnings: Vec<String>,
}

impl From<Server> for ServerView {
    fn from(s: Server) -> Self {
        Self {
            id: s.id,
            slug: s.slug,
            name: s.name,
            url: s.url,
            auth_type: s.auth_type,
            headers: s.header_names,
            advanced_config: s.advanced_config,
            auto_provision: s.auto_provision,
            workspaces: Vec::new(),
            oauth_setup: None,
            created_at: s.created_at,
            updated_at: s.updated_at,
            warnings: Vec::new(),
        }
    }
}

/// Servers list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerList {
    /// Servers by slug.
    pub servers: Vec<ServerView>,
    /// Cursor of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// Registers an upstream MCP server.
#[utoipa::path(post, path = "/v1/servers", tag = "servers", request_body = CreateServer, security(("admin_token" = [])),
    responses((status = 201, body = ServerView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
#[instrument(skip_all, fields(slug = %body.slug))]
pub(crate) async fn create(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiJson(body): ApiJson<CreateServer>,
) -> Result<(StatusCode, HeaderMap, Json<ServerView>), ApiError> {
    validation::slug("slug", &body.slug)?;
    let name = validation::name("name", body.name.as_deref().unwrap_or(&body.slug))?;
    let url = validation::upstream_url("url", &body.url)?;
    let headers = validation::upstream_headers(&body.headers)?;
    let auth_type =
        body.auth_type.unwrap_or_else(|| if headers.is_empty() { "none" } else { "headers" }.to_owned());
    validation::auth_type("auth_type", &auth_type)?;
    let mut advanced_config = body.advanced_config.unwrap_or_else(|| serde_json::json!({}));
    validation::advanced_config("advanced_config", &advanced_config)?;
    let client_secret = oauth_overrides::take_secret(&auth_type, &mut advanced_config)?;
    if matches!(client_secret, oauth_overrides::SecretChange::Keep) {
        return Err(FieldError::new(
            "advanced_config.oauth_metadata.client_secret",
            "must be the secret itself",
        )
        .into());
    }
    let new = NewServer {
        slug: body.slug,
        name,
        url,
        auth_type,
        headers,
        advanced_config,
        auto_provision: body.auto_provision,
    };
    let warnings = Warnings::for_advanced_config(Some(&new.advanced_config));
    let created = state.store.create_server(&scope.org_id, new).await?;
    store_client_secret(&state, &created.value.id, client_secret).await?;
    state.upstream_oauth.server_changed(created.value.clone()).await;
    tracing::info!(version = created.version, "server registered");
    let view = with_details(&state, &scope, vec![created.value]).await?.remove(0);
    let view = ServerView { warnings: warnings.texts(), ..view };
    Ok((StatusCode::CREATED, warnings.headers(), Json(view)))
}

/// Lists servers (a member: the servers provisioned to their workspaces).
#[utoipa::path(get, path = "/v1/servers", tag = "servers", params(PageQuery), security(("admin_token" = [])),
    responses((status = 200, body = ServerList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<ServerList>, ApiError> {
    let page = query.page()?;
    let mut servers = state.store.list_servers(&scope.org_id).await?;
    if let Some(visible) = member_servers(&state, &scope).await? {
        servers.retain(|s| visible.contains(&s.id));
    }
    let page = page.slice(servers, |s| s.slug.clone());
    Ok(Json(ServerList {
        servers: with_details(&state, &scope, page.items).await?,
        next_cursor: page.next_cursor,
    }))
}

/// For a member, the ids of the servers provisioned to their workspaces; `None` for roles that see all.
pub(super) async fn member_servers(
    state: &ApiState,
    scope: &OrgScope,
) -> Result<Option<std::collections::HashSet<String>>, ApiError> {
    let Some(mine) = scope.member_workspaces() else { return Ok(None) };
    let mut visible = std::collections::HashSet::new();
    for workspace in state.store.list_workspaces(&scope.org_id).await? {
        if mine.contains(&workspace.id) {
            let provisions = state.store.workspace_provisions(&scope.org_id, &workspace.slug).await?;
            visible.extend(provisions.into_iter().map(|p| p.server_id));
        }
    }
    Ok(Some(visible))
}

/// Gets one server.
#[utoipa::path(get, path = "/v1/servers/{slug}", tag = "servers", security(("admin_token" = [])),
    params(("slug" = String, Path, description = "Server slug")),
    responses((status = 200, body = ServerView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<ServerView>, ApiError> {
    let server = visible_server(&state, &scope, &slug).await?;
    Ok(Json(with_details(&state, &scope, vec![server]).await?.remove(0)))
}

/// The views of `servers` with the workspaces each is provisioned to (those the
/// caller may see) and, for OAuth servers, whether their set-up is complete.
async fn with_details(
    state: &ApiState,
    scope: &OrgScope,
    servers: Vec<Server>,
) -> Result<Vec<ServerView>, ApiError> {
    let provisions = state.store.org_provisions(&scope.org_id).await?;
    let resolved = if servers.iter().any(|s| is_oauth(&s.auth_type)) {
        state.store.oauth_resolved_server_ids(&scope.org_id).await?
    } else {
        Default::default()
    };
    let mine = scope.member_workspaces();
    Ok(servers
        .into_iter()
        .map(|server| {
            let workspaces = provisions
                .iter()
                .filter(|p| p.server_id == server.id)
                .filter(|p| mine.is_none_or(|mine| mine.contains(&p.workspace_id)))
                .map(|p| p.workspace_slug.clone())
                .collect();
            let oauth_setup = is_oauth(&server.auth_type).then(|| {
                if resolved.contains(&server.id) {
                    "complete"
                } else {
                    "pending"
                }
            });
            ServerView { workspaces, oauth_setup, ..server.into() }
        })
        .collect())
}

fn is_oauth(auth_type: &str) -> bool {
    matches!(auth_type, "oauth2" | "client_credentials")
}

/// The server `slug` of the scope's org, as far as the caller may see it (a
/// member: only servers provisioned to their workspaces; others are 404).
pub(super) async fn visible_server(
    state: &ApiState,
    scope: &OrgScope,
    slug: &str,
) -> Result<Server, ApiError> {
    let server = state.store.get_server(&scope.org_id, slug).await?;
    if member_servers(state, scope).await?.is_some_and(|visible| !visible.contains(&server.id)) {
        return Err(ApiError::NotFound("server"));
    }
    Ok(server)
}

/// Updates a server; `headers` replaces the whole set.
#[utoipa::path(patch, path = "/v1/servers/{slug}", tag = "servers", request_body = UpdateServer,
    security(("admin_token" = [])), params(("slug" = String, Path, description = "Server slug")),
    responses((status = 200, body = ServerView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
#[instrument(skip(state, body))]
pub(crate) async fn update(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiPath(slug): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateServer>,
) -> Result<(HeaderMap, Json<ServerView>), ApiError> {
    if body.slug.as_ref().is_some_and(|s| *s != slug) {
        return Err(FieldError::new("slug", "is immutable; create a new server instead").into());
    }
    let mut advanced_config = body.advanced_config;
    let mut client_secret = None;
    if let Some(config) = advanced_config.as_mut() {
        validation::advanced_config("advanced_config", config)?;
        let auth_type = match &body.auth_type {
            Some(a) => a.clone(),
            None => state.store.get_server(&scope.org_id, &slug).await?.auth_type,
        };
        client_secret = Some(oauth_overrides::take_secret(&auth_type, config)?);
    }
    let patch = ServerPatch {
        name: body.name.as_deref().map(|n| validation::name("name", n)).transpose()?,
        url: body.url.as_deref().map(|u| validation::upstream_url("url", u)).transpose()?,
        auth_type: match body.auth_type {
            Some(a) => {
                validation::auth_type("auth_type", &a)?;
                Some(a)
            }
            None => None,
        },
        headers: body.headers.as_ref().map(validation::upstream_headers).transpose()?,
        advanced_config,
        auto_provision: body.auto_provision,
    };
    let warnings = Warnings::for_advanced_config(patch.advanced_config.as_ref());
    let updated = state.store.update_server(&scope.org_id, &slug, patch).await?;
    if let Some(change) = client_secret {
        store_client_secret(&state, &updated.value.id, change).await?;
    }
    state.upstream_oauth.server_changed(updated.value.clone()).await;
    tracing::info!(version = updated.version, "server updated");
    let view = with_details(&state, &scope, vec![updated.value]).await?.remove(0);
    let view = ServerView { warnings: warnings.texts(), ..view };
    Ok((warnings.headers(), Json(view)))
}

/// Deletes a server and every provision of it.
#[utoipa::path(delete, path = "/v1/servers/{slug}", tag = "servers", security(("admin_token" = [])),
    params(("slug" = String, Path, description = "Server slug")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[instrument(skip(state))]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiPath(slug): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let deleted = state.store.delete_server(&scope.org_id, &slug).await?;
    tracing::info!(version = deleted.version, "server deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Seals (or removes) the admin-supplied upstream OAuth client secret of a server.
async fn store_client_secret(
    state: &ApiState,
    server_id: &str,
    change: oauth_overrides::SecretChange,
) -> Result<(), ApiError> {
    match change {
        oauth_overrides::SecretChange::Keep => Ok(()),
        oauth_overrides::SecretChange::Clear => {
            Ok(state.store.delete_oauth_client(&preset_key(server_id)).await?)
        }
        oauth_overrides::SecretChange::Set(secret) => Ok(state
            .store
            .put_oauth_client(&OAuthClientRecord {
                key: preset_key(server_id),
                issuer: String::new(),
                client_id: String::new(),
                auth_method: String::new(),
                metadata: serde_json::json!({}),
                client_secret: Some(secret),
            })
            .await?),
    }
}
