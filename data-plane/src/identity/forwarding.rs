//! What the upstream learns, as configured in `gatehouse-config`:
//! `user_identity_forwarding` ([`IdentityForwarding`]: identity headers,
//! `X-User-Claims`, `X-User-JWT`, opt-in bearer passthrough) and
//! `forward_headers` ([`ForwardHeaders`]: client headers passed through).
//!
//! Header priority, lowest to highest: forwarded client headers < static
//! headers < upstream credential < identity headers. Protected headers
//! ([`is_protected`]) are never forwarded from the client nor renamed onto.

use gatehouse_config::identity::claims_match::lookup;
use gatehouse_config::identity::forward_headers::{is_protected, ForwardHeaders};
use gatehouse_config::identity::user_identity_forwarding::{
    ForwardingMethod, IdentityForwarding, PlainHeader,
};
use http::{HeaderMap, HeaderName, HeaderValue};
use secrecy::ExposeSecret as _;
use serde_json::{Map, Value};

use super::caller::Caller;
use super::identity_jwt::{IdentityJwtCache, IdentitySigner};
use crate::proxy::headers::is_forwarded_request_header;

/// `X-User-Email`.
pub const X_USER_EMAIL: HeaderName = HeaderName::from_static("x-user-email");
/// `X-User-Name`.
pub const X_USER_NAME: HeaderName = HeaderName::from_static("x-user-name");
/// `X-User-Team` (the workspace slug).
pub const X_USER_TEAM: HeaderName = HeaderName::from_static("x-user-team");
/// `X-User-Roles` (comma-separated).
pub const X_USER_ROLES: HeaderName = HeaderName::from_static("x-user-roles");
/// `X-Organization-Id`.
pub const X_ORGANIZATION_ID: HeaderName = HeaderName::from_static("x-organization-id");
/// `X-User-Claims` (JSON object).
pub const X_USER_CLAIMS: HeaderName = HeaderName::from_static("x-user-claims");
/// `X-User-JWT` (signed identity assertion).
pub const X_USER_JWT: HeaderName = HeaderName::from_static("x-user-jwt");

/// What identity headers are built from, besides the caller.
pub struct IdentityContext<'a> {
    /// Slug of the workspace the request is authorised in.
    pub workspace_slug: &'a str,
    /// Upstream URL (default `X-User-JWT` audience).
    pub upstream_url: &'a str,
    /// Gatehouse issuer (`X-User-JWT` `iss`).
    pub issuer: &'a str,
    /// The signing key, if the control plane sent one.
    pub signer: Option<&'a IdentitySigner>,
    /// Cache of signed assertions.
    pub jwt_cache: &'a IdentityJwtCache,
    /// Now, unix seconds.
    pub now_unix: i64,
}

/// The claims `include` selects for `caller`.
pub fn selected_claims(caller: &Caller, include: &[String], workspace_slug: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for name in include {
        let value = match name.as_str() {
            "sub" => Some(Value::from(caller.user.clone())),
            "email" => caller.email.clone().map(Value::from),
            "name" => caller.name.clone().map(Value::from),
            "workspace" => Some(Value::from(workspace_slug)),
            "org" => Some(Value::from(caller.org_id.clone())),
            "roles" => Some(Value::from(caller.roles.clone())),
            "scopes" => Some(Value::from(caller.scopes.clone())),
            other => lookup(&caller.claims, other).cloned(),
        };
        if let Some(value) = value {
            out.insert(name.clone(), value);
        }
    }
    out
}

fn value(bytes: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_bytes(bytes.as_bytes()).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// Sets the identity headers for `caller` (highest priority: replaces what is there).
pub fn inject_identity(
    headers: &mut HeaderMap,
    config: &IdentityForwarding,
    caller: &Caller,
    ctx: &IdentityContext<'_>,
) {
    let mut set = |name: HeaderName, text: Option<String>| {
        headers.remove(&name);
        if let Some(v) = text.as_deref().and_then(value) {
            headers.insert(name, v);
        }
    };
    for header in &config.plain {
        match header {
            PlainHeader::Email => set(X_USER_EMAIL, caller.email.clone()),
            PlainHeader::Name => set(X_USER_NAME, caller.name.clone()),
            PlainHeader::Team => set(X_USER_TEAM, Some(ctx.workspace_slug.to_owned())),
            PlainHeader::Roles => {
                set(X_USER_ROLES, (!caller.roles.is_empty()).then(|| caller.roles.join(",")))
            }
            PlainHeader::Organization => set(X_ORGANIZATION_ID, Some(caller.org_id.clone())),
        }
    }
    match config.method {
        None => {}
        Some(ForwardingMethod::ClaimsHeader) => {
            let claims = selected_claims(caller, &config.include_claims, ctx.workspace_slug);
            set(X_USER_CLAIMS, serde_json::to_string(&claims).ok());
        }
        Some(ForwardingMethod::JwtHeader) => {
            let jwt = ctx.signer.and_then(|signer| {
                let mut claims = selected_claims(caller, &config.include_claims, ctx.workspace_slug);
                claims.insert("sub".into(), caller.user.clone().into());
                let audience = config.jwt_audience.as_deref().unwrap_or(ctx.upstream_url);
                ctx.jwt_cache.get_or_sign(signer, ctx.issuer, audience, &claims, config.jwt_ttl, ctx.now_unix)
            });
            if jwt.is_none() {
                tracing::warn!(
                    "jwt_header forwarding is configured but no identity signing key is available"
                );
            }
            set(X_USER_JWT, jwt);
        }
        Some(ForwardingMethod::Bearer) => {
            if let Some(token) = &caller.presented {
                set(http::header::AUTHORIZATION, Some(format!("Bearer {}", token.expose_secret())));
            }
        }
    }
}

/// Copies the selected client headers into `out` (before static headers are injected).
/// `token_header` (a custom token header) is never forwarded.
pub fn apply_forward_headers(
    config: &ForwardHeaders,
    client: &HeaderMap,
    out: &mut HeaderMap,
    token_header: Option<&HeaderName>,
) {
    let blocked = |name: &HeaderName| {
        is_protected(name) || token_header == Some(name) || is_forwarded_request_header(name)
    };
    if config.all_except {
        for (name, value) in client {
            if !blocked(name) && !config.names.contains(name) {
                out.append(name.clone(), value.clone());
            }
        }
    } else {
        for name in &config.names {
            if blocked(name) {
                continue;
            }
            for value in client.get_all(name) {
                out.append(name.clone(), value.clone());
            }
        }
    }
    for (from, to) in &config.renames {
        if is_protected(from) || is_protected(to) || token_header == Some(from) {
            continue;
        }
        let values: Vec<HeaderValue> = client.get_all(from).iter().cloned().collect();
        if !values.is_empty() {
            out.remove(to);
            for v in values {
                out.append(to.clone(), v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap()))
            .collect()
    }

    #[test]
    fn allowlist_all_except_and_renames() {
        let client = map(&[
            ("x-tenant", "t1"),
            ("x-debug", "1"),
            ("x-old", "o"),
            ("authorization", "Bearer secret"),
            ("x-user-email", "spoof@evil"),
            ("accept-encoding", "gzip"),
            ("x-id-token", "tok"),
        ]);
        let mut out = HeaderMap::new();
        let fh = ForwardHeaders::from_value(&json!(["x-tenant", {"from":"x-old","to":"x-new"}])).unwrap();
        apply_forward_headers(&fh, &client, &mut out, None);
        let mut names: Vec<_> = out.keys().map(|k| k.as_str()).collect();
        names.sort();
        assert_eq!(names, ["x-new", "x-tenant"]);

        let mut out = HeaderMap::new();
        let fh = ForwardHeaders::from_value(&json!({"mode":"all-except","headers":["x-debug"]})).unwrap();
        apply_forward_headers(&fh, &client, &mut out, Some(&HeaderName::from_static("x-id-token")));
        let mut names: Vec<_> = out.keys().map(|k| k.as_str()).collect();
        names.sort();
        assert_eq!(names, ["x-old", "x-tenant"]);
    }

    proptest::proptest! {
        /// Whatever the client sends, all-except mode never lets a protected header through.
        #[test]
        fn protected_headers_never_pass(names in proptest::collection::vec(
            proptest::prop_oneof![
                "x-user-[a-z]{1,8}",
                "(authorization|cookie|x-api-key|proxy-[a-z]{1,5}|x-forwarded-[a-z]{1,5}|x-organization-id)",
                "x-[a-z]{1,8}",
            ],
            1..12,
        )) {
            let client: HeaderMap = names
                .iter()
                .map(|n| (HeaderName::from_bytes(n.as_bytes()).unwrap(), HeaderValue::from_static("v")))
                .collect();
            let fh = ForwardHeaders::from_value(&json!({"mode":"all-except","headers":[]})).unwrap();
            let mut out = HeaderMap::new();
            apply_forward_headers(&fh, &client, &mut out, None);
            proptest::prop_assert!(out.keys().all(|k| !is_protected(k)));
            for name in client.keys().filter(|k| !is_protected(k)) {
                proptest::prop_assert!(out.contains_key(name));
            }
        }
    }
}
