//! Operation ids and links of the OpenAPI document: every operation gets an id
//! unique in the document (the handlers' function names repeat across
//! resources), and each create operation links to the operations that read,
//! change and delete what it created, so clients and stateful API testers can
//! chain create → get → delete.

use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::{OpenApi, RefOr};
use utoipa::Modify;

/// Sets unique operation ids: `{resource}_{handler}`, the resource being the
/// path's fixed segments after `/v1` (`/v1/auth/tokens/{id}` → `auth_tokens`).
pub(super) struct OperationIds;

impl Modify for OperationIds {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let segments: Vec<&str> = path
                .trim_start_matches("/v1")
                .split('/')
                .filter(|s| !s.is_empty() && !s.starts_with('{'))
                .collect();
            for operation in [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch]
                .into_iter()
                .flatten()
            {
                let Some(handler) = operation.operation_id.take() else { continue };
                let mut resource = segments.clone();
                if resource.last() == Some(&handler.as_str()) && resource.len() > 1 {
                    resource.pop();
                }
                let resource = resource.join("_").replace('-', "_");
                operation.operation_id = Some(format!("{resource}_{handler}"));
            }
        }
    }
}

/// `(path, method, status, link name, target operation id, [(parameter, expression)])`.
type LinkSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const LINKS: &[LinkSpec] = &[
    ("/v1/servers", "post", "201", "GetServer", "servers_get", &[("slug", "$response.body#/slug")]),
    ("/v1/servers", "post", "201", "UpdateServer", "servers_update", &[("slug", "$response.body#/slug")]),
    ("/v1/servers", "post", "201", "DeleteServer", "servers_delete", &[("slug", "$response.body#/slug")]),
    ("/v1/workspaces", "post", "201", "GetWorkspace", "workspaces_get", &[("ws", "$response.body#/slug")]),
    (
        "/v1/workspaces",
        "post",
        "201",
        "ListWorkspaceServers",
        "workspaces_servers_list_provisions",
        &[("ws", "$response.body#/slug")],
    ),
    (
        "/v1/workspaces",
        "post",
        "201",
        "DeleteWorkspace",
        "workspaces_delete",
        &[("ws", "$response.body#/slug")],
    ),
    (
        "/v1/workspaces/{ws}/servers/{slug}",
        "put",
        "201",
        "Unprovision",
        "workspaces_servers_unprovision",
        &[("ws", "$request.path.ws"), ("slug", "$request.path.slug")],
    ),
    ("/v1/auth/tokens", "post", "201", "RotateToken", "auth_tokens_rotate", &[("id", "$response.body#/id")]),
    ("/v1/auth/tokens", "post", "201", "RevokeToken", "auth_tokens_revoke", &[("id", "$response.body#/id")]),
    (
        "/v1/auth/certificate-identities",
        "post",
        "201",
        "GetCertificateIdentity",
        "auth_certificate_identities_get",
        &[("id", "$response.body#/id")],
    ),
    (
        "/v1/auth/certificate-identities",
        "post",
        "201",
        "DeleteCertificateIdentity",
        "auth_certificate_identities_delete",
        &[("id", "$response.body#/id")],
    ),
    ("/v1/rate-limits", "post", "201", "GetRateLimit", "rate_limits_get", &[("id", "$response.body#/id")]),
    (
        "/v1/rate-limits",
        "post",
        "201",
        "UpdateRateLimit",
        "rate_limits_update",
        &[("id", "$response.body#/id")],
    ),
    (
        "/v1/rate-limits",
        "post",
        "201",
        "DeleteRateLimit",
        "rate_limits_delete",
        &[("id", "$response.body#/id")],
    ),
    ("/v1/api-keys", "post", "201", "GetApiKey", "api_keys_get", &[("id", "$response.body#/id")]),
    ("/v1/api-keys", "post", "201", "DeleteApiKey", "api_keys_delete", &[("id", "$response.body#/id")]),
    ("/v1/orgs", "post", "201", "GetOrg", "orgs_get", &[("org", "$response.body#/slug")]),
    ("/v1/orgs", "post", "201", "UpdateOrg", "orgs_update", &[("org", "$response.body#/slug")]),
    ("/v1/orgs", "post", "201", "DeleteOrg", "orgs_delete", &[("org", "$response.body#/slug")]),
    (
        "/v1/edges/tokens",
        "post",
        "201",
        "RevokeEdgeToken",
        "edges_tokens_revoke",
        &[("id", "$response.body#/id")],
    ),
    (
        "/v1/sso/providers",
        "post",
        "201",
        "GetSsoProvider",
        "sso_providers_get_provider",
        &[("id", "$response.body#/id")],
    ),
    (
        "/v1/sso/providers",
        "post",
        "201",
        "UpdateSsoProvider",
        "sso_providers_update_provider",
        &[("id", "$response.body#/id")],
    ),
    (
        "/v1/sso/providers",
        "post",
        "201",
        "DeleteSsoProvider",
        "sso_providers_delete_provider",
        &[("id", "$response.body#/id")],
    ),
    (
        "/v1/oauth/clients",
        "post",
        "201",
        "DeleteMachineClient",
        "oauth_clients_delete_client",
        &[("id", "$response.body#/client_id")],
    ),
];

/// Adds [`LINKS`] to the create operations' success responses. Runs before
/// the org copies are made, so `/v1/orgs/{org}/…` creates link to their
/// `_in_org` twins (which take `org` from the request path).
pub(super) struct Links;

impl Modify for Links {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, method, status, name, target, parameters) in LINKS {
            let Some(item) = openapi.paths.paths.get_mut(*path) else { continue };
            let operation = match *method {
                "post" => item.post.as_mut(),
                "put" => item.put.as_mut(),
                _ => None,
            };
            let Some(operation) = operation else { continue };
            let Some(RefOr::T(response)) = operation.responses.responses.get_mut(*status) else { continue };
            let mut link = LinkBuilder::new().operation_id(*target);
            for (parameter, expression) in *parameters {
                link = link.parameter(*parameter, *expression);
            }
            response.links.insert((*name).to_owned(), RefOr::T(link.build()));
        }
    }
}

/// Rewrites the links of an org copy (`/v1/orgs/{org}/…`) to the copies of their
/// targets, passing the org on.
pub(super) fn links_in_org(operation: &mut utoipa::openapi::path::Operation) {
    for response in operation.responses.responses.values_mut() {
        let RefOr::T(response) = response else { continue };
        for link in response.links.values_mut() {
            let RefOr::T(link) = link else { continue };
            if !link.operation_id.is_empty() {
                link.operation_id = format!("{}_in_org", link.operation_id);
            }
            link.parameters.insert("org".to_owned(), serde_json::json!("$request.path.org"));
        }
    }
}

/// utoipa writes a link's `operationId` and `requestBody` in snake case, which
/// no OpenAPI reader knows; renames them in the serialized document.
pub(super) fn fix_link_field_names(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else { return };
    for item in paths.values_mut().filter_map(|i| i.as_object_mut()) {
        for operation in item.values_mut() {
            let Some(responses) = operation.get_mut("responses").and_then(|r| r.as_object_mut()) else {
                continue;
            };
            for response in responses.values_mut() {
                let Some(links) = response.get_mut("links").and_then(|l| l.as_object_mut()) else {
                    continue;
                };
                for link in links.values_mut().filter_map(|l| l.as_object_mut()) {
                    for (from, to) in [
                        ("operation_id", "operationId"),
                        ("operation_ref", "operationRef"),
                        ("request_body", "requestBody"),
                    ] {
                        if let Some(value) = link.remove(from) {
                            link.insert(to.to_owned(), value);
                        }
                    }
                }
            }
        }
    }
}
