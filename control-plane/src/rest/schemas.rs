//! Schemas of the request fields whose rules the derive cannot state (lists
//! whose items have a pattern), so the document says what the validators in
//! `crate::validation` enforce and generated clients and API fuzzers agree.

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaFormat, SchemaType, Type};
use utoipa::openapi::Schema;

/// A slug: `^[a-z0-9][a-z0-9-]{0,62}$` (`validation::slug`).
pub const SLUG: &str = "^[a-z0-9][a-z0-9-]{0,62}$";
/// A tool glob: 1-256 characters, no whitespace or control characters (`validation::tool_globs`).
const TOOL_GLOB: &str = r"^[^\s\x00-\x1f\x7f-\x9f]+$";
/// A scope: 1-128 visible ASCII characters (`validation::scopes`).
const SCOPE: &str = "^[!-~]{1,128}$";

fn string(pattern: &str, max_length: usize) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .min_length(Some(1))
        .max_length(Some(max_length))
}

fn array(items: ObjectBuilder, max_items: Option<usize>, nullable: bool) -> Schema {
    let kind = if nullable { SchemaType::from_iter([Type::Array, Type::Null]) } else { Type::Array.into() };
    ArrayBuilder::new().schema_type(kind).items(items).max_items(max_items).into()
}

/// Audit event kinds to export, or `null` (every kind): 1-5 of `admin`, `tool_call`,
/// `mcp_request`, `auth_failure`, `auth_failure_burst`.
pub fn nullable_audit_kinds() -> Schema {
    let kind = ObjectBuilder::new().schema_type(Type::String).enum_values(Some([
        "admin",
        "tool_call",
        "mcp_request",
        "auth_failure",
        "auth_failure_burst",
    ]));
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(kind)
        .min_items(Some(1))
        .max_items(Some(5))
        .into()
}

/// Tool globs (at most 256).
pub fn tool_globs() -> Schema {
    array(string(TOOL_GLOB, 256), Some(256), false)
}

/// Scopes (at most 64).
pub fn scopes() -> Schema {
    array(string(SCOPE, 128), Some(64), false)
}

/// Scopes, or `null` (the default).
pub fn nullable_scopes() -> Schema {
    array(string(SCOPE, 128), Some(64), true)
}

/// Server slugs.
pub fn slugs() -> Schema {
    array(string(SLUG, 63), None, false)
}

/// Org slugs, or `null` for every org.
pub fn nullable_slugs() -> Schema {
    array(string(SLUG, 63), None, true)
}

/// An absolute http(s) URL, as `validation::upstream_url` accepts it: a DNS
/// name or IPv4 address, an optional port, no credentials, no fragment.
pub fn http_url() -> Schema {
    url("^https?://", false, Some(2048))
}

/// An absolute http(s) URL, or `null` (unchanged).
pub fn nullable_http_url() -> Schema {
    url("^https?://", true, Some(2048))
}

/// An absolute https URL.
pub fn https_url() -> Schema {
    url("^https://", false, None)
}

/// An absolute https URL, or `null` (unchanged).
pub fn nullable_https_url() -> Schema {
    url("^https://", true, None)
}

fn url(scheme: &str, nullable: bool, max_length: Option<usize>) -> Schema {
    // A DNS name (the RFC 3986 host characters URL parsers accept, the last label starting
    // with a letter so it never reads as an IPv4 number) or an IPv4 address.
    const LABEL: &str = "[A-Za-z0-9!$&'()*+,;=_~-]";
    let host = format!(
        r"(({LABEL}+\.)*[A-Za-z]{LABEL}*|((25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\.){{3}}(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9]))"
    );
    const PORT: &str =
        "(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?";
    // Path and query: URI characters and complete percent-escapes.
    const PATH: &str = "([/?]([A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?";
    let kind = if nullable { SchemaType::from_iter([Type::String, Type::Null]) } else { Type::String.into() };
    ObjectBuilder::new()
        .schema_type(kind)
        .format(Some(SchemaFormat::Custom("uri".into())))
        .max_length(max_length)
        .pattern(Some(format!("{scheme}{host}{PORT}{PATH}$")))
        .into()
}

/// Static upstream headers: at most 32, names HTTP tokens, values 1-8192
/// visible ASCII characters, spaces or tabs (`validation::upstream_headers`).
pub fn upstream_headers() -> Schema {
    headers(false)
}

/// Upstream headers, or `null` (unchanged).
pub fn nullable_upstream_headers() -> Schema {
    headers(true)
}

fn headers(nullable: bool) -> Schema {
    let kind = if nullable { SchemaType::from_iter([Type::Object, Type::Null]) } else { Type::Object.into() };
    ObjectBuilder::new()
        .schema_type(kind)
        .property_names(Some(
            ObjectBuilder::new().schema_type(Type::String).pattern(Some("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")),
        ))
        .additional_properties(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(8192))
                .pattern(Some(r"^[\t\x20-\x7e]+$")),
        ))
        .max_properties(Some(32))
        .into()
}

/// Scopes of a machine client: the ones Gatehouse's authorization server issues.
pub fn machine_scopes() -> Schema {
    array(
        ObjectBuilder::new().schema_type(Type::String).enum_values(Some([
            gatehouse_config::mcp_scopes::MCP,
            gatehouse_config::mcp_scopes::MCP_READ,
            gatehouse_config::mcp_scopes::MCP_WRITE,
            "offline_access",
        ])),
        None,
        false,
    )
}
