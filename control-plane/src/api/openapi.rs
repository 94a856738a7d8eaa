//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::console::session as console_session;
use crate::oauth_server::admin as oauth_admin;
use crate::sso::api as sso_api;

use super::access;
#[cfg(test)]
use super::access::ROUTES;
use super::openapi_errors::CommonErrors;
use super::openapi_links::{links_in_org, Links, OperationIds};
use super::{
    api_keys, audit, audit_exports, certificate_identities, connection_links, connections, edge_tokens,
    edges, health, org_settings, orgs, provisions, rate_limit_usage, rate_limits, server_tools, servers,
    tokens, try_tool, users, workspaces,
};
use crate::accounts::Access;

/// The admin API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Gatehouse admin API", description = "Manage orgs, workspaces, upstream MCP servers, provisions, gateway tokens, certificate identities, and rate limits and budgets. Every org route also exists under `/v1/orgs/{org}`; each operation's `x-gatehouse-access` names the role it needs."),
    paths(
        health::healthz,
        orgs::create, orgs::list, orgs::get, orgs::update, orgs::delete, orgs::delete_own,
        api_keys::create, api_keys::list, api_keys::get, api_keys::delete,
        workspaces::create, workspaces::list, workspaces::get, workspaces::delete, workspaces::list_provisions,
        provisions::provision, provisions::unprovision,
        servers::create, servers::list, servers::get, servers::update, servers::delete,
        server_tools::list, try_tool::call,
        tokens::mint, tokens::list, tokens::revoke, tokens::rotate,
        certificate_identities::register, certificate_identities::list, certificate_identities::get,
        certificate_identities::delete,
        rate_limits::create, rate_limits::list, rate_limits::get, rate_limits::update, rate_limits::delete,
        rate_limit_usage::usage,
        edges::list, edge_tokens::create, edge_tokens::list, edge_tokens::revoke,
        org_settings::get, org_settings::update,
        users::list, users::deactivate, users::reactivate,
        connections::list, connection_links::connect, connections::delete,
        audit::list, audit::export, audit::usage_report, audit::get_settings, audit::put_settings,
        audit_exports::get_exports, audit_exports::put_exports,
        sso_api::create_provider, sso_api::list_providers, sso_api::get_provider, sso_api::update_provider,
        sso_api::delete_provider, sso_api::me, sso_api::logout,
        console_session::sign_in, console_session::current, console_session::sign_out,
        console_session::sign_in_options,
        oauth_admin::create_client, oauth_admin::list_clients, oauth_admin::delete_client,
        oauth_admin::rotate_signing_key,
        oauth_admin::rotate_identity_signing_key,
    ),
    modifiers(&AdminTokenScheme, &SessionScheme, &OperationIds, &Links, &AccessRules, &CommonErrors),
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

/// Each admin operation's access rule as `x-gatehouse-access` (and in its
/// description), and every org route's copy under `/v1/orgs/{org}`.
struct AccessRules;

impl Modify for AccessRules {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
        use utoipa::openapi::{extensions::ExtensionsBuilder, Required};

        let org_param: Parameter = ParameterBuilder::new()
            .name("org")
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .description(Some("Org slug: act in this org (the platform admin, or a credential of that org)"))
            .schema(Some(utoipa::openapi::schema::Object::with_type(utoipa::openapi::schema::Type::String)))
            .build();
        let mut prefixed = Vec::new();
        for (path, item) in openapi.paths.paths.iter_mut() {
            let mut org_route = false;
            for (method, operation) in operations(item) {
                let Some(access) = access::lookup(&method, path) else { continue };
                org_route |= access != Access::Platform;
                let rule = ExtensionsBuilder::new()
                    .add(
                        "x-gatehouse-access",
                        serde_json::json!({"access": access, "needs": access.describe()}),
                    )
                    .build();
                operation.extensions.get_or_insert_with(Default::default).merge(rule);
                let needs = format!("Needs {}.", access.describe());
                operation.description = Some(match operation.description.take() {
                    Some(d) if !d.is_empty() => format!("{d}\n\n{needs}"),
                    _ => needs,
                });
            }
            if org_route {
                let mut copy = item.clone();
                for (method, operation) in operations(&mut copy) {
                    if access::lookup(&method, path).is_none_or(|a| a == Access::Platform) {
                        *operation = Default::default();
                        continue;
                    }
                    operation.operation_id = operation.operation_id.take().map(|id| format!("{id}_in_org"));
                    operation.parameters.get_or_insert_with(Vec::new).insert(0, org_param.clone());
                    links_in_org(operation);
                }
                clear_empty(&mut copy);
                prefixed.push((format!("/v1/orgs/{{org}}/{}", &path["/v1/".len()..]), copy));
            }
        }
        openapi.paths.paths.extend(prefixed);
    }
}

/// The operations of a path item with their methods.
fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = (axum::http::Method, &mut utoipa::openapi::path::Operation)> {
    use axum::http::Method;
    [
        (Method::GET, item.get.as_mut()),
        (Method::PUT, item.put.as_mut()),
        (Method::POST, item.post.as_mut()),
        (Method::DELETE, item.delete.as_mut()),
        (Method::PATCH, item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|op| (m, op)))
}

/// Drops the operations [`AccessRules`] emptied from a prefixed copy.
fn clear_empty(item: &mut utoipa::openapi::PathItem) {
    for slot in [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch] {
        if slot.as_ref().is_some_and(|op| op.responses.responses.is_empty()) {
            *slot = None;
        }
    }
}

/// Serves the OpenAPI document (no auth).
pub(crate) async fn document() -> Json<serde_json::Value> {
    Json(document_json())
}

/// The OpenAPI document as served.
pub fn document_json() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    super::openapi_links::fix_link_field_names(&mut doc);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Admin operations that need no admin credential.
    const PUBLIC: &[(&str, &str)] = &[
        ("GET", "/healthz"),
        ("GET", "/v1/me"),
        ("POST", "/auth/logout"),
        ("POST", "/v1/console/session"),
        ("GET", "/v1/console/session"),
        ("DELETE", "/v1/console/session"),
        ("GET", "/v1/console/sign-in-options"),
    ];

    #[test]
    fn the_document_and_the_access_table_name_the_same_routes() {
        let mut doc = ApiDoc::openapi();
        let mut documented = std::collections::BTreeSet::new();
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, _) in operations(item) {
                documented.insert((method.to_string(), path.clone()));
            }
        }
        let mut expected = std::collections::BTreeSet::new();
        for r in ROUTES {
            expected.insert((r.method.to_owned(), r.path.to_owned()));
            if r.access != Access::Platform {
                expected
                    .insert((r.method.to_owned(), format!("/v1/orgs/{{org}}/{}", &r.path["/v1/".len()..])));
            }
        }
        for (m, p) in PUBLIC {
            expected.insert(((*m).to_owned(), (*p).to_owned()));
        }
        let missing: Vec<_> = expected.difference(&documented).collect();
        let unlisted: Vec<_> = documented.difference(&expected).collect();
        assert!(missing.is_empty(), "in the access table but not documented: {missing:?}");
        assert!(unlisted.is_empty(), "documented without an access rule: {unlisted:?}");
    }

    #[test]
    fn operations_name_their_access() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let op = &doc["paths"]["/v1/orgs/{org}/servers"]["post"];
        assert_eq!(op["x-gatehouse-access"]["access"], "admin");
        assert_eq!(op["parameters"][0]["name"], "org");
        assert_eq!(doc["paths"]["/v1/orgs"]["post"]["x-gatehouse-access"]["access"], "platform");
        assert!(doc["paths"].get("/v1/orgs/{org}/edges").is_none());
    }

    /// The try-a-tool route states its tool name's rule exactly: a name its schema admits is one the
    /// handler accepts, and the other way round.
    #[test]
    fn the_documented_tool_name_is_the_one_accepted() {
        let doc = document_json();
        let params = &doc["paths"]["/v1/servers/{slug}/tools/{tool}/call"]["post"]["parameters"];
        let tool = params.as_array().unwrap().iter().find(|p| p["name"] == "tool").unwrap();
        let schema = &tool["schema"];
        let pattern = regex::Regex::new(schema["pattern"].as_str().unwrap()).unwrap();
        let (min, max) = (schema["minLength"].as_u64().unwrap(), schema["maxLength"].as_u64().unwrap());
        let long = "x".repeat(256);
        let too_long = "é".repeat(257);
        let samples = [
            "echo",
            "get_weather",
            "ns.tool-1",
            "ünïcödé",
            "日本語",
            "\u{feff}bom",
            long.as_str(),
            too_long.as_str(),
            "",
            "two words",
            "tab\there",
            "line\n",
            "nb\u{a0}sp",
            "ideo\u{3000}space",
            "ctl\u{85}",
            "del\u{7f}",
            "nul\u{0}",
            "get_*",
            "what?",
            "\u{2028}",
        ];
        for name in samples {
            let chars = name.chars().count() as u64;
            let documented = pattern.is_match(name) && (min..=max).contains(&chars);
            assert_eq!(documented, super::super::try_tool::tool_name(name).is_ok(), "{name:?}");
        }
    }
}
