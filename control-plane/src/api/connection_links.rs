//! `POST /v1/connections`: an authorization link for connecting a user to an
//! `oauth2` upstream from the console, the same single-use link an edge hands
//! out in a `-32042` elicitation. Opening it starts the authorization-code
//! flow; the grant is stored for the user when the upstream answers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, TimeZone, Utc};
use gatehouse_config::grant_identity::GrantIdentity;
use serde::{Deserialize, Serialize};
use tracing::instrument;
use utoipa::ToSchema;

use super::servers::member_servers;
use super::ApiState;
use crate::accounts::OrgScope;
use crate::rest::json::ApiJson;
use crate::rest::{ApiError, ErrorBody};
use crate::store::authorization_links::AuthorizationSubject;
use crate::upstream_oauth::{authorize, OAuthError};
use crate::validation::{self, FieldError};

/// Body of `POST /v1/connections`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Connect {
    /// Slug of the `oauth2` server to connect to.
    #[schema(pattern = r"^[a-z0-9][a-z0-9-]{0,62}$", max_length = 63)]
    pub server: String,
    /// The Gatehouse user the connection is for (a user id, or an e-mail as gateway
    /// tokens name people). Default: the signed-in user. A member may name only
    /// themselves; a caller who is not a person (an API key) must name someone.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub user: Option<String>,
}

/// A single-use authorization link.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionLink {
    /// Open it in the user's browser: it redirects to the upstream's authorization
    /// page. For a user SSO knows it works only in that user's signed-in session.
    pub authorization_url: String,
    /// When the link stops working (10 minutes).
    pub expires_at: DateTime<Utc>,
    /// The server's slug.
    pub server: String,
    /// The user the connection will be stored for.
    pub user: String,
}

/// Creates an authorization link to connect a user (by default the caller) to an
/// `oauth2` server. A member may connect only themselves, to a server of their workspaces.
#[utoipa::path(post, path = "/v1/connections", tag = "connections", request_body = Connect,
    security(("admin_token" = []), ("session" = [])),
    responses((status = 201, body = ConnectionLink), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[instrument(skip_all, fields(server = %body.server))]
pub(crate) async fn connect(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiJson(body): ApiJson<Connect>,
) -> Result<(StatusCode, Json<ConnectionLink>), ApiError> {
    validation::slug("server", &body.server)?;
    let user = match (body.user, scope.user()) {
        (Some(user), _) => {
            validation::user("user", &user)?;
            if !scope.owns(&user) {
                return Err(ApiError::Forbidden("members may connect only themselves".into()));
            }
            user
        }
        (None, Some(me)) => me.user_id.clone(),
        (None, None) => {
            return Err(FieldError::new("user", "name the user to connect: the caller is not a person").into())
        }
    };
    let server = state.store.get_server(&scope.org_id, &body.server).await?;
    if member_servers(&state, &scope).await?.is_some_and(|visible| !visible.contains(&server.id)) {
        return Err(ApiError::NotFound("server"));
    }
    let subject = AuthorizationSubject {
        org_id: scope.org_id.clone(),
        identity: GrantIdentity::gatehouse(user.clone()),
        server_id: server.id.clone(),
        scopes: Vec::new(),
        session_hash: None,
        elicitation_id: None,
    };
    let link = authorize::create_link(&state.upstream_oauth, subject).await.map_err(|e| match e {
        OAuthError::NotOAuth => ApiError::Conflict {
            field: Some("server"),
            message: format!(
                "server {} uses auth_type {}; only oauth2 servers have per-user connections",
                server.slug, server.auth_type
            ),
        },
        OAuthError::ServerNotFound => ApiError::NotFound("server"),
        OAuthError::Store(e) => e.into(),
        other => {
            tracing::warn!(error = %other, "authorization link not created");
            ApiError::Internal
        }
    })?;
    let expires_at = Utc.timestamp_opt(link.expires_at, 0).single().unwrap_or_else(Utc::now);
    Ok((
        StatusCode::CREATED,
        Json(ConnectionLink { authorization_url: link.url, expires_at, server: server.slug, user }),
    ))
}
