//! The admin REST API (axum): workspaces, servers, provisions, gateway tokens
//! and edges under `/v1` (admin token required), plus `/healthz`,
//! `/v1/openapi.json` and the console page at `/`.
//!
//! Handlers validate input, call one store mutation (one transaction), then
//! ask the publisher to push the change to the edges.

mod auth;
mod edges;
mod error;
mod health;
mod json;
mod openapi;
mod provisions;
mod servers;
mod tokens;
mod workspaces;

use std::sync::Arc;

use axum::middleware;
use axum::routing::{get, post, put};
use axum::Router;
use tower_http::trace::TraceLayer;

pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use openapi::ApiDoc;

use crate::config_stream::{EdgeRegistry, Publisher};
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
}

impl AppState {
    /// Pushes committed changes to the edges. A failure is logged, not returned:
    /// the change is committed and the version poller publishes it shortly.
    pub async fn publish(&self) {
        if let Err(error) = self.publisher.publish().await {
            tracing::error!(%error, "publishing config change failed; the poller will retry");
        }
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
        .route("/v1/edges", get(edges::list))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_admin));

    Router::new()
        .route("/", get(health::console))
        .route("/healthz", get(health::healthz))
        .route("/v1/openapi.json", get(openapi::document))
        .merge(admin)
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
