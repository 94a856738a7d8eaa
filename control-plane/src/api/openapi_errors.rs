//! The error responses every admin operation can give, added to each operation
//! of the OpenAPI document from one place instead of repeated per handler: the
//! extractors, the auth guard and the org prefix answer alike on every route.

use utoipa::openapi::{schema::Ref, ContentBuilder, OpenApi, RefOr, Response, ResponseBuilder};
use utoipa::Modify;

/// Adds the shared error responses (as `#/components/responses/…`) to every
/// operation that does not document that status itself.
pub(super) struct CommonErrors;

/// `(status, component name, description, applies)`.
const RESPONSES: &[(&str, &str, &str, Applies)] = &[
    (
        "400",
        "BadRequest",
        "Invalid path, query string or body (`invalid_path`, `invalid_query`, `invalid_json`, `invalid_field`)",
        Applies::WithInput,
    ),
    (
        "401",
        "Unauthorized",
        "No valid credential (`unauthorized`, with `WWW-Authenticate: Bearer`)",
        Applies::Secured,
    ),
    ("403", "Forbidden", "The credential's role or org may not do this (`forbidden`)", Applies::Secured),
    (
        "404",
        "NotFound",
        "No such resource, or no such org under `/v1/orgs/{org}` (`not_found`)",
        Applies::Secured,
    ),
    ("413", "PayloadTooLarge", "The request body is too large (`payload_too_large`)", Applies::WithBody),
    (
        "415",
        "UnsupportedMediaType",
        "The body is not `application/json` (`unsupported_media_type`)",
        Applies::WithBody,
    ),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Applies {
    /// Operations with parameters or a request body.
    WithInput,
    /// Operations that need a credential.
    Secured,
    /// Operations with a request body.
    WithBody,
}

fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
        )
        .build()
}

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (_, name, description, _) in RESPONSES {
            components.responses.insert((*name).to_owned(), RefOr::T(error_response(description)));
        }
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch]
                .into_iter()
                .flatten()
            {
                let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                let with_body = operation.request_body.is_some();
                let with_input = with_body || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
                for (status, name, _, applies) in RESPONSES {
                    let applies = match applies {
                        Applies::WithInput => with_input,
                        Applies::Secured => secured,
                        Applies::WithBody => with_body,
                    };
                    if applies {
                        operation
                            .responses
                            .responses
                            .entry((*status).to_owned())
                            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(*name)));
                    }
                }
            }
        }
    }
}
