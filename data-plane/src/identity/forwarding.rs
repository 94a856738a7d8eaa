//! What the upstream learns: `advanced_config.user_identity_forwarding`
//! (identity headers, `X-User-Claims`, `X-User-JWT`, opt-in bearer passthrough)
//! and `advanced_config.forward_headers` (client headers passed through).
//!
//! Header priority, lowest to highest: forwarded client headers < static
//! headers < upstream credential < identity headers. Protected headers
//! ([`is_protected`]) are never forwarded from the client nor renamed onto.

use std::collections::BTreeSet;

use http::{HeaderMap, HeaderName, HeaderValue};
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::caller::Caller;
use super::claims_match::lookup;
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

/// Claims included by default in `X-User-Claims` / `X-User-JWT`.
pub const DEFAULT_CLAIMS: [&str; 7] = ["sub", "email", "name", "workspace", "org", "roles", "scopes"];
/// Default lifetime of an `X-User-JWT` (seconds).
const DEFAULT_JWT_TTL: u64 = 300;
/// Longest allowed `X-User-JWT` lifetime (seconds).
const MAX_JWT_TTL: u64 = 3600;

/// Whether a header can never be forwarded from the client, nor be a rename target:
/// credentials, identity headers, session and hop-by-hop headers, `Host`.
pub fn is_protected(name: &HeaderName) -> bool {
    let n = name.as_str();
    matches!(
        n,
        "authorization"
            | "proxy-authorization"
            | "cookie"
            | "set-cookie"
            | "x-api-key"
            | "x-organization-id"
            | "mcp-session-id"
            | "host"
            | "content-length"
            | "connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "keep-alive"
            | "accept-encoding"
            | "expect"
            | "forwarded"
    ) || n.starts_with("x-user-")
        || n.starts_with("proxy-")
        || n.starts_with("x-forwarded-")
}

/// How the caller's identity is sent upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForwardingMethod {
    /// `X-User-Claims`: JSON of the included claims.
    ClaimsHeader,
    /// `X-User-JWT`: an ES256 assertion signed by Gatehouse.
    JwtHeader,
    /// The caller's own token as `Authorization: Bearer` (explicit opt-in only).
    Bearer,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JwtSpec {
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    audience: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum IdentityHeadersSpec {
    All(bool),
    Some(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityForwardingSpec {
    #[serde(default)]
    method: Option<ForwardingMethod>,
    #[serde(default)]
    include_claims: Option<Vec<String>>,
    #[serde(default)]
    jwt: Option<JwtSpec>,
    #[serde(default)]
    allow_token_passthrough: bool,
    #[serde(default)]
    identity_headers: Option<IdentityHeadersSpec>,
}

/// A plain identity header that can be enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PlainHeader {
    Email,
    Name,
    Team,
    Roles,
    Organization,
}

/// A compiled `user_identity_forwarding`.
#[derive(Debug, Clone)]
pub struct IdentityForwarding {
    method: Option<ForwardingMethod>,
    include_claims: Vec<String>,
    jwt_ttl: i64,
    jwt_audience: Option<String>,
    plain: BTreeSet<PlainHeader>,
}

/// A configuration error naming the offending field (relative to the config key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardingError {
    /// The offending field.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

fn err(field: &str, message: impl Into<String>) -> ForwardingError {
    ForwardingError { field: field.to_owned(), message: message.into() }
}

impl IdentityForwarding {
    /// Parses and validates `user_identity_forwarding`.
    pub fn from_value(value: &Value) -> Result<Self, ForwardingError> {
        let spec: IdentityForwardingSpec =
            serde_json::from_value(value.clone()).map_err(|e| err("", e.to_string()))?;
        if spec.method == Some(ForwardingMethod::Bearer) && !spec.allow_token_passthrough {
            return Err(err(
                "method",
                "bearer forwards the caller's own token; set allow_token_passthrough: true to opt in",
            ));
        }
        let include_claims = match spec.include_claims {
            None => DEFAULT_CLAIMS.iter().map(|c| c.to_string()).collect(),
            Some(claims) if claims.iter().any(|c| c.trim().is_empty()) => {
                return Err(err("include_claims", "claim names must not be empty"))
            }
            Some(claims) => claims,
        };
        let (mut jwt_ttl, mut jwt_audience) = (DEFAULT_JWT_TTL, None);
        if let Some(jwt) = spec.jwt {
            if let Some(ttl) = jwt.expires_in {
                if ttl == 0 || ttl > MAX_JWT_TTL {
                    return Err(err(
                        "jwt.expires_in",
                        format!("must be between 1 and {MAX_JWT_TTL} seconds"),
                    ));
                }
                jwt_ttl = ttl;
            }
            if let Some(aud) = jwt.audience {
                if aud.trim().is_empty() {
                    return Err(err("jwt.audience", "must not be empty"));
                }
                jwt_audience = Some(aud);
            }
        }
        let plain = match spec.identity_headers {
            None | Some(IdentityHeadersSpec::All(false)) => BTreeSet::new(),
            Some(IdentityHeadersSpec::All(true)) => [
                PlainHeader::Email,
                PlainHeader::Name,
                PlainHeader::Team,
                PlainHeader::Roles,
                PlainHeader::Organization,
            ]
            .into(),
            Some(IdentityHeadersSpec::Some(names)) => names
                .iter()
                .map(|n| match n.as_str() {
                    "email" => Ok(PlainHeader::Email),
                    "name" => Ok(PlainHeader::Name),
                    "team" => Ok(PlainHeader::Team),
                    "roles" => Ok(PlainHeader::Roles),
                    "organization" => Ok(PlainHeader::Organization),
                    other => Err(err(
                        "identity_headers",
                        format!("unknown identity header {other:?} (email, name, team, roles, organization)"),
                    )),
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Self { method: spec.method, include_claims, jwt_ttl: jwt_ttl as i64, jwt_audience, plain })
    }

    /// Whether the caller's original token is forwarded (explicit opt-in).
    pub fn passes_token_through(&self) -> bool {
        self.method == Some(ForwardingMethod::Bearer)
    }
}

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

/// Which client headers pass through beyond the protocol ones.
#[derive(Debug, Clone, Default)]
pub struct ForwardHeaders {
    all_except: bool,
    names: Vec<HeaderName>,
    renames: Vec<(HeaderName, HeaderName)>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rename {
    from: String,
    to: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ListItem {
    Name(String),
    Rename(Rename),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    Allowlist,
    AllExcept,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectSpec {
    mode: Mode,
    #[serde(default)]
    headers: Vec<String>,
    #[serde(default)]
    rename: Vec<Rename>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ForwardHeadersSpec {
    List(Vec<ListItem>),
    Object(ObjectSpec),
}

fn header_name(field: &str, raw: &str, protected_ok: bool) -> Result<HeaderName, ForwardingError> {
    let name = HeaderName::from_bytes(raw.trim().to_ascii_lowercase().as_bytes())
        .map_err(|_| err(field, format!("{raw:?} is not a valid header name")))?;
    if !protected_ok && is_protected(&name) {
        return Err(err(
            field,
            format!("{name} is a protected header and cannot be forwarded or renamed onto"),
        ));
    }
    Ok(name)
}

impl ForwardHeaders {
    /// Parses and validates `forward_headers`.
    pub fn from_value(value: &Value) -> Result<Self, ForwardingError> {
        let spec: ForwardHeadersSpec = serde_json::from_value(value.clone()).map_err(|_| {
            err("", "must be a list of header names / {from, to} renames, or {mode, headers, rename}")
        })?;
        let mut out = ForwardHeaders::default();
        let rename = |at: String, r: &Rename, out: &mut ForwardHeaders| -> Result<(), ForwardingError> {
            let from = header_name(&format!("{at}.from"), &r.from, false)?;
            let to = header_name(&format!("{at}.to"), &r.to, false)?;
            out.renames.push((from, to));
            Ok(())
        };
        match spec {
            ForwardHeadersSpec::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    match item {
                        ListItem::Name(n) => out.names.push(header_name(&format!("[{i}]"), n, false)?),
                        ListItem::Rename(r) => rename(format!("[{i}]"), r, &mut out)?,
                    }
                }
            }
            ForwardHeadersSpec::Object(spec) => {
                out.all_except = matches!(spec.mode, Mode::AllExcept);
                for (i, n) in spec.headers.iter().enumerate() {
                    // Excluding a protected header is harmless; allowing one is not.
                    out.names.push(header_name(&format!("headers[{i}]"), n, out.all_except)?);
                }
                for (i, r) in spec.rename.iter().enumerate() {
                    rename(format!("rename[{i}]"), r, &mut out)?;
                }
            }
        }
        Ok(out)
    }

    /// Copies the selected client headers into `out` (before static headers are injected).
    /// `token_header` (a custom token header) is never forwarded.
    pub fn apply(&self, client: &HeaderMap, out: &mut HeaderMap, token_header: Option<&HeaderName>) {
        let blocked = |name: &HeaderName| {
            is_protected(name) || token_header == Some(name) || is_forwarded_request_header(name)
        };
        if self.all_except {
            for (name, value) in client {
                if !blocked(name) && !self.names.contains(name) {
                    out.append(name.clone(), value.clone());
                }
            }
        } else {
            for name in &self.names {
                if blocked(name) {
                    continue;
                }
                for value in client.get_all(name) {
                    out.append(name.clone(), value.clone());
                }
            }
        }
        for (from, to) in &self.renames {
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
    fn protected_headers_are_refused_in_config() {
        for bad in [
            json!(["authorization"]),
            json!(["X-User-Email"]),
            json!([{"from":"x-a","to":"authorization"}]),
            json!([{"from":"cookie","to":"x-c"}]),
            json!({"mode":"allowlist","headers":["x-api-key"]}),
            json!({"mode":"sometimes","headers":[]}),
            json!(42),
        ] {
            assert!(ForwardHeaders::from_value(&bad).is_err(), "{bad}");
        }
        assert!(ForwardHeaders::from_value(&json!({"mode":"all-except","headers":["cookie","x-b"]})).is_ok());
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
        fh.apply(&client, &mut out, None);
        let mut names: Vec<_> = out.keys().map(|k| k.as_str()).collect();
        names.sort();
        assert_eq!(names, ["x-new", "x-tenant"]);

        let mut out = HeaderMap::new();
        let fh = ForwardHeaders::from_value(&json!({"mode":"all-except","headers":["x-debug"]})).unwrap();
        fh.apply(&client, &mut out, Some(&HeaderName::from_static("x-id-token")));
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
            fh.apply(&client, &mut out, None);
            proptest::prop_assert!(out.keys().all(|k| !is_protected(k)));
            for name in client.keys().filter(|k| !is_protected(k)) {
                proptest::prop_assert!(out.contains_key(name));
            }
        }
    }

    #[test]
    fn bearer_needs_explicit_opt_in() {
        let e = IdentityForwarding::from_value(&json!({"method":"bearer"})).unwrap_err();
        assert_eq!(e.field, "method");
        assert!(IdentityForwarding::from_value(&json!({"method":"bearer","allow_token_passthrough":true}))
            .is_ok());
        assert_eq!(
            IdentityForwarding::from_value(&json!({"method":"jwt_header","jwt":{"expires_in":0}}))
                .unwrap_err()
                .field,
            "jwt.expires_in"
        );
        assert_eq!(
            IdentityForwarding::from_value(&json!({"identity_headers":["shoe"]})).unwrap_err().field,
            "identity_headers"
        );
    }
}
