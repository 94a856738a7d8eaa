//! The admin REST API (axum): workspaces, servers, provisions, gateway tokens,
//! certificate identities and edges under `/v1` (admin token required), plus `/healthz`,
//! `/v1/openapi.json` and the console page at `/`.
//!
//! Handlers validate input, call one store mutation (one transaction), then
//! ask the publisher to push the change to the edges.

mod auth;
mod certificate_identities;
mod connections;
mod edges;
mod error;
mod health;
pub(crate) mod json;
mod openapi;
mod org_settings;
mod provisions;
mod servers;
mod tokens;
mod users;
mod workspaces;

use std::sync::Arc;

use axum::middleware;
use axum::routing::{get, post, put};
use axum::Router;
use tower_http::trace::TraceLayer;

pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use openapi::ApiDoc;

use crate::config_stream::{EdgeRegistry, Publisher};
use crate::sso;
use crate::store::Store;

/// Shared state of the admin API.
#[derive(Clone)]
pub(crate) struct AppState {
    pub store: Store,
    /// The org every admin request acts on (the default org, for now).
    pub org_id: Arc<str>,
    pub admin_token_hashes: Arc<[[u8; 32]]>,
    pub publisher: Arc<Publisher>,
    pub edges: Arc<EdgeRegistry>,
    /// SSO providers, logins and sessions.
    pub sso: crate::sso::SsoContext,
    /// Upstream OAuth client machinery (connections, resolution on server changes).
    pub upstream_oauth: crate::upstream_oauth::UpstreamOAuth,
    /// Gatehouse's own OAuth authorization server for MCP clients.
    pub oauth_server: Arc<crate::oauth_server::AuthServer>,
}

impl axum::extract::FromRef<AppState> for crate::sso::SsoContext {
    fn from_ref(state: &AppState) -> Self {
        state.sso.clone()
    }
}

/// Builds the admin API router.
pub(crate) fn router(state: AppState) -> Router {
    let admin = Router::new()
        .route("/v1/workspaces", post(workspaces::create).get(workspaces::list))
        .route("/v1/workspaces/{ws}", get(workspaces::get).delete(workspaces::delete))
        .route("/v1/workspaces/{ws}/servers", get(workspaces::list_provisions))
        .route(
            "/v1/workspaces/{ws}/servers/{slug}",
            put(provisions::provision).delete(provisions::unprovision),
        )
        .route("/v1/servers", post(servers::create).get(servers::list))
        .route("/v1/servers/{slug}", get(servers::get).patch(servers::update).delete(servers::delete))
        .route("/v1/auth/tokens", post(tokens::mint).get(tokens::list))
        .route("/v1/auth/tokens/{id}", axum::routing::delete(tokens::revoke))
        .route("/v1/auth/tokens/{id}/rotate", post(tokens::rotate))
        .route(
            "/v1/auth/certificate-identities",
            post(certificate_identities::register).get(certificate_identities::list),
        )
        .route(
            "/v1/auth/certificate-identities/{id}",
            get(certificate_identities::get).delete(certificate_identities::delete),
        )
        .route("/v1/org", get(org_settings::get).patch(org_settings::update))
        .route("/v1/users", get(users::list))
        .route("/v1/users/{id}/deactivate", post(users::deactivate))
        .route("/v1/users/{id}/reactivate", post(users::reactivate))
        .route("/v1/edges", get(edges::list))
        .route("/v1/sso/providers", post(sso::api::create_provider).get(sso::api::list_providers))
        .route(
            "/v1/sso/providers/{id}",
            get(sso::api::get_provider).patch(sso::api::update_provider).delete(sso::api::delete_provider),
        )
        // Gatehouse's own OAuth authorization server: machine clients and key rotation.
        .route(
            "/v1/oauth/clients",
            post(crate::oauth_server::admin::create_client).get(crate::oauth_server::admin::list_clients),
        )
        .route("/v1/oauth/clients/{id}", axum::routing::delete(crate::oauth_server::admin::delete_client))
        .route("/v1/oauth/signing-keys/rotate", post(crate::oauth_server::admin::rotate_signing_key))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_admin));
    // Any member of the org: their own upstream connections (admins: everyone's).
    let member = Router::new()
        .route("/v1/connections", get(connections::list))
        .route("/v1/connections/{id}", axum::routing::delete(connections::delete))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_member));

    Router::new()
        .route("/", get(health::console))
        .route("/healthz", get(health::healthz))
        .route("/v1/openapi.json", get(openapi::document))
        // SSO: login, callback, logout and the session caller (no admin auth).
        .route(sso::LOGIN_PATH, get(sso::login))
        .route(sso::CALLBACK_PATH, get(sso::callback))
        .route(sso::LOGOUT_PATH, post(sso::api::logout))
        .route("/v1/me", get(sso::api::me))
        .merge(admin)
        .merge(member)
        .merge(crate::oauth_server::routes())
        .merge(crate::upstream_oauth::routes::router(state.upstream_oauth.clone(), state.sso.clone()))
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        // Spans name the path, never the query: SSO callbacks carry one-time codes and state there.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::extract::Request| {
            tracing::debug_span!("request", method = %req.method(), path = req.uri().path(), version = ?req.version())
        }))
        .with_state(state)
}
