//! The admin REST API (axum): workspaces, servers, provisions, gateway tokens,
//! certificate identities, org settings, users, connections and edges under
//! `/v1`, plus `/healthz` and `/v1/openapi.json`;
//! and admin authentication ([`AdminAuth`]), which also guards the admin
//! routes of SSO and the authorization server.
//!
//! Handlers validate input, call one store mutation (one transaction), then
//! ask the publisher to push the change to the edges.

pub(crate) mod access;
mod api_keys;
mod audit;
mod audit_exports;
mod audit_trail;
pub(crate) mod auth;
mod certificate_identities;
mod connection_links;
mod connections;
mod edge_tokens;
mod edges;
mod health;
mod jwt_warning;
mod openapi;
mod openapi_errors;
mod openapi_links;
mod org_settings;
mod orgs;
mod provisions;
mod rate_limit_usage;
mod rate_limits;
mod server_tools;
mod servers;
mod tokens;
mod try_tool;
mod users;
mod workspaces;

use std::sync::Arc;

use axum::routing::{get, post, put};
use axum::Router;

pub use openapi::{document_json, ApiDoc};
pub use rate_limits::validate_create_body as validate_rate_limit;

use crate::config_stream::{EdgeRegistry, Publisher};
use crate::store::Store;
use auth::AdminAuth;

/// Shared state of the admin API.
#[derive(Clone)]
pub(crate) struct ApiState {
    pub store: Store,
    pub publisher: Arc<Publisher>,
    pub edges: Arc<EdgeRegistry>,
    /// Upstream OAuth client machinery (connections, resolution on server changes).
    pub upstream_oauth: crate::upstream_oauth::UpstreamOAuth,
    /// The edges' rate-limit counters in Redis (`None`: no `GATEHOUSE_REDIS_URL`).
    pub rate_limit_counters: Option<Arc<crate::rate_limit_counters::RateLimitCounters>>,
    /// The edges' public base URL ("Try a tool" calls tools through it).
    pub edge_public_url: String,
    /// Which addresses admin-set delivery URLs (the audit export's) may name.
    pub egress: crate::upstream_oauth::ssrf::SsrfPolicy,
}

/// The admin API's routes with their own state: its resources behind `auth`
/// (each route's access is in [`access::ROUTES`]),
/// health and the OpenAPI document open to anyone.
pub(crate) fn routes(state: ApiState, auth: &AdminAuth) -> Router {
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
        .route("/v1/servers/{slug}/tools", get(server_tools::list))
        .route("/v1/servers/{slug}/tools/{tool}/call", post(try_tool::call))
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
        .route("/v1/rate-limits", post(rate_limits::create).get(rate_limits::list))
        .route(
            "/v1/rate-limits/{id}",
            get(rate_limits::get).patch(rate_limits::update).delete(rate_limits::delete),
        )
        .route("/v1/rate-limits/{id}/usage", get(rate_limit_usage::usage))
        .route("/v1/org", get(org_settings::get).patch(org_settings::update).delete(orgs::delete_own))
        .route("/v1/orgs", post(orgs::create).get(orgs::list))
        .route("/v1/orgs/{org}", get(orgs::get).patch(orgs::update).delete(orgs::delete))
        .route("/v1/api-keys", post(api_keys::create).get(api_keys::list))
        .route("/v1/api-keys/{id}", get(api_keys::get).delete(api_keys::delete))
        .route("/v1/users", get(users::list))
        .route("/v1/users/{id}/deactivate", post(users::deactivate))
        .route("/v1/users/{id}/reactivate", post(users::reactivate))
        .route("/v1/edges", get(edges::list))
        .route("/v1/connections", get(connections::list).post(connection_links::connect))
        .route("/v1/connections/{id}", axum::routing::delete(connections::delete))
        .merge(edge_tokens::routes())
        .merge(audit::routes())
        .merge(audit_exports::routes());

    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/v1/openapi.json", get(openapi::document))
        .merge(auth.guard(admin))
        .with_state(state)
}
