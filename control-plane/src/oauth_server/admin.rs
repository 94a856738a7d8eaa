//! Admin API of the authorization server: machine clients (client
//! credentials) under `/v1/oauth/clients` and signing-key rotation.

use crate::accounts::OrgScope;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tracing::instrument;
use utoipa::ToSchema;

use super::{secrets, AuthServerState, SCOPES_SUPPORTED};
use crate::rest::json::{ApiJson, ApiPath, ApiQuery};
use crate::rest::{ApiError, ErrorBody, PageQuery};
use crate::store::{AsClient, AsClientKind, KeyPurpose};
use crate::validation::{self, FieldError};

/// Body of `POST /v1/oauth/clients`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMachineClient {
    /// Display name of the machine identity.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// Workspace slug the machine identity acts in.
    #[schema(pattern = r"^[a-z0-9][a-z0-9-]{0,62}$", max_length = 63)]
    pub workspace: String,
    /// Scopes it may get (default `["mcp"]`).
    #[serde(default)]
    #[schema(schema_with = crate::rest::schemas::machine_scopes)]
    pub scopes: Vec<String>,
}

/// A machine client as listed (never the secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct MachineClientView {
    /// `client_id`; also the `sub` of its tokens.
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// Workspace id.
    pub workspace_id: String,
    /// Scopes it may get.
    pub scopes: Vec<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A created machine client with its secret, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedMachineClient {
    /// The client secret. Shown once; store it now.
    pub client_secret: String,
    /// The client's details.
    #[serde(flatten)]
    pub client: MachineClientView,
}

/// Machine clients.
#[derive(Debug, Serialize, ToSchema)]
pub struct MachineClientList {
    /// Clients, oldest first.
    pub clients: Vec<MachineClientView>,
    /// Cursor of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// The newly active signing key.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedKey {
    /// Key id of the new active key.
    pub kid: String,
}

fn view(client: AsClient) -> MachineClientView {
    MachineClientView {
        client_id: client.client_id,
        name: client.name,
        workspace_id: client.workspace_id.unwrap_or_default(),
        scopes: client.scopes,
        created_at: client.created_at,
    }
}

/// Creates a machine client for the client credentials grant; the secret is returned once.
#[utoipa::path(post, path = "/v1/oauth/clients", tag = "oauth", request_body = CreateMachineClient, security(("admin_token" = [])),
    responses((status = 201, body = IssuedMachineClient), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
#[instrument(skip_all, fields(workspace = %body.workspace))]
pub(crate) async fn create_client(
    State(state): State<AuthServerState>,
    scope: OrgScope,
    ApiJson(body): ApiJson<CreateMachineClient>,
) -> Result<(StatusCode, Json<IssuedMachineClient>), ApiError> {
    let name = validation::name("name", &body.name)?;
    validation::slug("workspace", &body.workspace)?;
    let mut scopes = if body.scopes.is_empty() { vec!["mcp".to_owned()] } else { body.scopes };
    scopes.sort();
    scopes.dedup();
    if let Some(bad) = scopes.iter().find(|s| !SCOPES_SUPPORTED.contains(&s.as_str())) {
        return Err(FieldError::new(
            "scopes",
            format!("unknown scope {bad:?}; supported: {}", SCOPES_SUPPORTED.join(", ")),
        )
        .into());
    }
    let workspace = state.server.store.get_workspace(&scope.org_id, &body.workspace).await?;
    let secret = secrets::generate("ghcs_");
    let client = AsClient {
        client_id: format!("ghm_{}", uuid::Uuid::new_v4().simple()),
        kind: AsClientKind::Machine,
        name,
        redirect_uris: Vec::new(),
        grant_types: vec!["client_credentials".to_owned()],
        auth_method: "client_secret_basic".to_owned(),
        secret_hash: Some(secrets::digest(secret.expose_secret())),
        logo_uri: None,
        scopes,
        org_id: Some(scope.org_id.clone()),
        workspace_id: Some(workspace.id),
        created_at: chrono::Utc::now(),
    };
    state.server.store.insert_as_client(&client).await?;
    tracing::info!(client_id = %client.client_id, "created machine oauth client");
    Ok((
        StatusCode::CREATED,
        Json(IssuedMachineClient { client_secret: secret.expose_secret().to_owned(), client: view(client) }),
    ))
}

/// Lists the org's machine clients.
#[utoipa::path(get, path = "/v1/oauth/clients", tag = "oauth", params(PageQuery), security(("admin_token" = [])),
    responses((status = 200, body = MachineClientList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn list_clients(
    State(state): State<AuthServerState>,
    scope: OrgScope,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<MachineClientList>, ApiError> {
    let page = query.page()?;
    let mut clients = state.server.store.list_as_machine_clients(&scope.org_id).await?;
    clients.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    let page = page.slice(clients, |c| c.client_id.clone());
    Ok(Json(MachineClientList {
        clients: page.items.into_iter().map(view).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Deletes a machine client; its tokens stop being renewable at once.
#[utoipa::path(delete, path = "/v1/oauth/clients/{id}", tag = "oauth", security(("admin_token" = [])),
    params(("id" = String, Path, description = "client_id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn delete_client(
    State(state): State<AuthServerState>,
    scope: OrgScope,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.server.store.delete_as_machine_client(&scope.org_id, &id).await?;
    tracing::info!(client_id = %id, "deleted machine oauth client");
    Ok(StatusCode::NO_CONTENT)
}

/// Rotates the access-token signing key; the old key stays in the JWKS until its tokens expire.
#[utoipa::path(post, path = "/v1/oauth/signing-keys/rotate", tag = "oauth", security(("admin_token" = [])),
    responses((status = 200, body = RotatedKey), (status = 401, body = ErrorBody)))]
pub(crate) async fn rotate_signing_key(
    State(state): State<AuthServerState>,
) -> Result<Json<RotatedKey>, ApiError> {
    let kid = state.server.rotate_key(KeyPurpose::AccessToken).await.map_err(|error| {
        tracing::error!(%error, "rotating the signing key failed");
        ApiError::Internal
    })?;
    Ok(Json(RotatedKey { kid }))
}

/// Rotates the key edges sign identity assertions (`X-User-JWT`) with; the old key stays
/// in the public JWKS until assertions signed with it expire.
#[utoipa::path(post, path = "/v1/identity/signing-keys/rotate", tag = "oauth", security(("admin_token" = [])),
    responses((status = 200, body = RotatedKey), (status = 401, body = ErrorBody)))]
pub(crate) async fn rotate_identity_signing_key(
    State(state): State<AuthServerState>,
) -> Result<Json<RotatedKey>, ApiError> {
    let kid = state.server.rotate_key(KeyPurpose::Identity).await.map_err(|error| {
        tracing::error!(%error, "rotating the identity signing key failed");
        ApiError::Internal
    })?;
    Ok(Json(RotatedKey { kid }))
}
