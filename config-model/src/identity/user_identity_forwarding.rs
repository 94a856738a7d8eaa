//! `advanced_config.user_identity_forwarding`: which identity the upstream
//! learns (plain identity headers, `X-User-Claims`, `X-User-JWT`, opt-in bearer
//! passthrough), parsed and validated into [`IdentityForwarding`]. The edge
//! builds the headers from it.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::Value;

use super::FieldError;

/// Claims included by default in `X-User-Claims` / `X-User-JWT`.
pub const DEFAULT_CLAIMS: [&str; 7] = ["sub", "email", "name", "workspace", "org", "roles", "scopes"];
/// Default lifetime of an `X-User-JWT` (seconds).
const DEFAULT_JWT_TTL: u64 = 300;
/// Longest allowed `X-User-JWT` lifetime (seconds).
const MAX_JWT_TTL: u64 = 3600;

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

impl ForwardingMethod {
    /// The configured spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardingMethod::ClaimsHeader => "claims_header",
            ForwardingMethod::JwtHeader => "jwt_header",
            ForwardingMethod::Bearer => "bearer",
        }
    }

    /// The method spelled `s`.
    pub fn parse(s: &str) -> Option<Self> {
        [ForwardingMethod::ClaimsHeader, ForwardingMethod::JwtHeader, ForwardingMethod::Bearer]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
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
pub enum PlainHeader {
    /// `X-User-Email`.
    Email,
    /// `X-User-Name`.
    Name,
    /// `X-User-Team` (the workspace slug).
    Team,
    /// `X-User-Roles`.
    Roles,
    /// `X-Organization-Id`.
    Organization,
}

impl PlainHeader {
    /// Every plain identity header (`identity_headers: true`).
    pub const ALL: [PlainHeader; 5] = [
        PlainHeader::Email,
        PlainHeader::Name,
        PlainHeader::Team,
        PlainHeader::Roles,
        PlainHeader::Organization,
    ];

    /// The configured spelling (an `identity_headers` entry).
    pub fn as_str(self) -> &'static str {
        match self {
            PlainHeader::Email => "email",
            PlainHeader::Name => "name",
            PlainHeader::Team => "team",
            PlainHeader::Roles => "roles",
            PlainHeader::Organization => "organization",
        }
    }

    /// The header spelled `s`.
    pub fn parse(s: &str) -> Option<Self> {
        PlainHeader::ALL.into_iter().find(|h| h.as_str() == s)
    }
}

/// A validated `user_identity_forwarding`.
#[derive(Debug, Clone)]
pub struct IdentityForwarding {
    /// How the identity is sent (`None`: plain headers only).
    pub method: Option<ForwardingMethod>,
    /// Claims in `X-User-Claims` / `X-User-JWT`.
    pub include_claims: Vec<String>,
    /// `X-User-JWT` lifetime, seconds.
    pub jwt_ttl: i64,
    /// `X-User-JWT` audience (default: the upstream URL).
    pub jwt_audience: Option<String>,
    /// The plain identity headers to set.
    pub plain: BTreeSet<PlainHeader>,
}

fn err(field: &str, message: impl Into<String>) -> FieldError {
    FieldError::new(field, message)
}

impl IdentityForwarding {
    /// Parses and validates `user_identity_forwarding` (field paths relative to it).
    pub fn from_value(value: &Value) -> Result<Self, FieldError> {
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
            Some(IdentityHeadersSpec::All(true)) => PlainHeader::ALL.into(),
            Some(IdentityHeadersSpec::Some(names)) => names
                .iter()
                .map(|n| {
                    PlainHeader::parse(n).ok_or_else(|| {
                        err(
                            "identity_headers",
                            format!("unknown identity header {n:?} (email, name, team, roles, organization)"),
                        )
                    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
