//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{edges, health, provisions, servers, tokens, workspaces};

/// The admin API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Gatehouse admin API", description = "Manage workspaces, upstream MCP servers, provisions and gateway tokens."),
    paths(
        health::healthz,
        workspaces::create, workspaces::list, workspaces::get, workspaces::delete, workspaces::list_provisions,
        provisions::provision, provisions::unprovision,
        servers::create, servers::list, servers::get, servers::update, servers::delete,
        tokens::mint, tokens::list, tokens::revoke, tokens::rotate,
        edges::list,
    ),
    modifiers(&AdminTokenScheme),
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

/// Serves the OpenAPI document (no auth).
pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
