//! What the upstream learns about the caller, as configured in
//! `gatehouse-config`'s `user_identity_forwarding` ([`IdentityForwarding`]:
//! identity headers, `X-User-Claims`, `X-User-JWT`, opt-in bearer passthrough).
//!
//! Where these headers rank among the others (they win) is decided in
//! `crate::proxy::headers`, which also applies `forward_headers`.

use gatehouse_config::identity::claims_match::lookup;
use gatehouse_config::identity::user_identity_forwarding::{
    ForwardingMethod, IdentityForwarding, PlainHeader,
};
use http::{HeaderMap, HeaderName, HeaderValue};
use secrecy::ExposeSecret as _;
use serde_json::{Map, Value};

use super::caller::Caller;
use super::identity_jwt::{IdentityJwtCache, IdentitySigner};
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
    /// Id of that workspace (the `workspace_id` claim).
    pub workspace_id: &'a str,
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
pub fn selected_claims(caller: &Caller, include: &[String], ctx: &IdentityContext<'_>) -> Map<String, Value> {
    let mut out = Map::new();
    for name in include {
        let value = match name.as_str() {
            "sub" => Some(Value::from(caller.user.clone())),
            "email" => caller.email.clone().map(Value::from),
            "name" => caller.name.clone().map(Value::from),
            "workspace" => Some(Value::from(ctx.workspace_slug)),
            // The hosted gateway's documented spelling: the workspace the request acts in.
            "workspace_id" => Some(Value::from(ctx.workspace_id)),
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
            let claims = selected_claims(caller, &config.include_claims, ctx);
            set(X_USER_CLAIMS, serde_json::to_string(&claims).ok());
        }
        Some(ForwardingMethod::JwtHeader) => {
            let jwt = ctx.signer.and_then(|signer| {
                let mut claims = selected_claims(caller, &config.include_claims, ctx);
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
