//! The control plane's HTTP surface: the one place the subsystems' routers
//! are merged. Each subsystem builds its routes from its own state and knows
//! nothing of the others; admin authentication is put in front of their admin
//! routes here, and unmatched requests get the JSON error envelope.

use std::sync::Arc;

use axum::Router;
use tower_http::trace::TraceLayer;

use crate::api::{self, auth::AdminAuth, ApiState};
use crate::console::{self, ConsoleState};
use crate::metrics::{self, ControlPlaneMetrics};
use crate::oauth_server::{self, AuthServerState};
use crate::rest::ApiError;
use crate::sso::{self, SsoState};
use crate::upstream_oauth::{self, UpstreamOAuthState};

/// The state of every subsystem served over HTTP.
pub(crate) struct HttpStates {
    /// Admin authentication, for every subsystem's admin routes.
    pub admin_auth: AdminAuth,
    /// The admin REST API.
    pub api: ApiState,
    /// SSO logins, sessions and providers.
    pub sso: SsoState,
    /// Gatehouse's own OAuth authorization server for MCP clients.
    pub oauth_server: AuthServerState,
    /// Upstream OAuth links and callbacks.
    pub upstream_oauth: UpstreamOAuthState,
    /// Requests counted by route template and status.
    pub metrics: Arc<ControlPlaneMetrics>,
}

/// Builds the router of the admin API listener. Requests to
/// `/v1/orgs/{org}/<org route>` are rewritten to the org route before routing
/// (remembering the org), so every org route exists for every org.
pub(crate) fn router(states: HttpStates) -> Router {
    let rewrite = axum::middleware::map_request(|request: axum::extract::Request| async move {
        api::auth::rewrite_org_prefix(request)
    });
    Router::new().fallback_service(tower::Layer::layer(&rewrite, routes(states)))
}

fn routes(states: HttpStates) -> Router {
    let HttpStates { admin_auth, api, sso, oauth_server, upstream_oauth, metrics } = states;
    let console = ConsoleState {
        store: admin_auth.store.clone(),
        sso: admin_auth.sso.clone(),
        admin_token_hashes: admin_auth.admin_token_hashes.clone(),
        edge_public_url: oauth_server.server.edge_public_url().into(),
    };
    Router::new()
        .merge(console::routes(console))
        .merge(api::routes(api, &admin_auth))
        .merge(sso::routes(sso, |routes| admin_auth.guard(routes)))
        .merge(oauth_server::routes(oauth_server, |routes| admin_auth.guard(routes)))
        .merge(upstream_oauth::routes(upstream_oauth))
        // A browser navigating to a console URL gets the console; anything else the JSON 404.
        .fallback(console::fallback)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        // Inside the org-prefix rewrite: an org route counts under its one template, whichever URL reached it.
        .layer(axum::middleware::from_fn_with_state(metrics, metrics::track_api_requests))
        // Spans name the path, never the query: SSO callbacks carry one-time codes and state there.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::extract::Request| {
            tracing::debug_span!("request", method = %req.method(), path = req.uri().path(), version = ?req.version())
        }))
}
