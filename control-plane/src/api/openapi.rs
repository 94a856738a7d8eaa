//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::oauth_server::admin as oauth_admin;
use crate::sso::api as sso_api;

use super::{
    certificate_identities, connections, edge_tokens, edges, health, org_settings, provisions, servers,
    tokens, users, workspaces,
};

/// The admin API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Gatehouse admin API", description = "Manage workspaces, upstream MCP servers, provisions, gateway tokens and certificate identities."),
    paths(
        health::healthz,
        workspaces::create, workspaces::list, workspaces::get, workspaces::delete, workspaces::list_provisions,
        provisions::provision, provisions::unprovision,
        servers::create, servers::list, servers::get, servers::update, servers::delete,
        tokens::mint, tokens::list, tokens::revoke, tokens::rotate,
        certificate_identities::register, certificate_identities::list, certificate_identities::get,
        certificate_identities::delete,
        edges::list, edge_tokens::create, edge_tokens::list, edge_tokens::revoke,
        org_settings::get, org_settings::update,
        users::list, users::deactivate, users::reactivate,
        connections::list, connections::delete,
        sso_api::create_provider, sso_api::list_providers, sso_api::get_provider, sso_api::update_provider,
        sso_api::delete_provider, sso_api::me, sso_api::logout,
        oauth_admin::create_client, oauth_admin::list_clients, oauth_admin::delete_client,
        oauth_admin::rotate_signing_key,
    ),
    modifiers(&AdminTokenScheme, &SessionScheme),
)]
pub struct ApiDoc;

struct AdminTokenScheme;

impl Modify for AdminTokenScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .add_security_scheme("admin_token", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// SSO console sessions: the session cookie (`__Host-gatehouse_session` over https).
struct SessionScheme;

impl Modify for SessionScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("__Host-gatehouse_session"))),
        );
    }
}

/// Serves the OpenAPI document (no auth).
pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
