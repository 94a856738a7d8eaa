//! Bring-your-own JWT settings: `advanced_config.jwt_validation` (per server)
//! or the org's `jwt_validation`, parsed and validated into [`JwtValidation`].
//! The edge verifies tokens with it; the control plane refuses what it would
//! not compile. The JSON shape is documented in `docs/edge.md`.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::Value;

use super::claims_match::{ClaimRule, ClaimValues, OneOrMany};
use super::jwks::KeySet;
use super::FieldError;

/// Static-header name under which an introspection client secret is stored
/// sealed with the server's credentials; the edge uses it for introspection
/// and never sends it upstream.
pub const INTROSPECTION_SECRET_HEADER: &str = "x-gatehouse-introspection-secret";

/// Default `clockTolerance` (seconds).
const DEFAULT_CLOCK_TOLERANCE: u64 = 30;
/// Largest `clockTolerance` accepted (seconds).
const MAX_CLOCK_TOLERANCE: u64 = 300;
/// Default `cacheTtl` (seconds) for remote JWKS and introspection answers.
const DEFAULT_CACHE_TTL: u64 = 300;

/// `jwt_validation` as configured (camelCase JSON).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JwtValidationSpec {
    /// Remote JWKS URL.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Inline JWKS object.
    #[serde(default)]
    pub jwks: Option<Value>,
    /// RFC 7662 introspection endpoint (for opaque tokens).
    #[serde(default)]
    pub introspect_endpoint: Option<String>,
    /// Client id for introspection (HTTP Basic with the sealed secret).
    #[serde(default)]
    pub introspect_client_id: Option<String>,
    /// Accepted issuers.
    #[serde(default)]
    pub issuer: Option<OneOrMany>,
    /// Accepted audiences (one must be in `aud`).
    #[serde(default)]
    pub audience: Option<OneOrMany>,
    /// Accepted algorithms (default RS256, ES256); `none` and HS* are refused.
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
    /// Leeway for `exp`/`nbf`/`maxTokenAge`, seconds.
    #[serde(default)]
    pub clock_tolerance: Option<u64>,
    /// Largest accepted `now - iat`, seconds (requires `iat`).
    #[serde(default)]
    pub max_token_age: Option<u64>,
    /// Header carrying the token (default `authorization` with the Bearer scheme).
    #[serde(default)]
    pub header_key: Option<String>,
    /// Claims that must be present.
    #[serde(default)]
    pub required_claims: Vec<String>,
    /// Claims that must match values (list or map form).
    #[serde(default)]
    pub claim_values: ClaimValues,
    /// Claim holding the stable user id (default `sub`).
    #[serde(default)]
    pub user_claim: Option<String>,
    /// Claim holding the e-mail (default `email`).
    #[serde(default)]
    pub email_claim: Option<String>,
    /// Claim holding the display name (default `name`).
    #[serde(default)]
    pub name_claim: Option<String>,
    /// Claim holding roles (default `roles`).
    #[serde(default)]
    pub roles_claim: Option<String>,
    /// Claim holding scopes (default `scope`, space-separated or array).
    #[serde(default)]
    pub scope_claim: Option<String>,
    /// Workspace slug every caller acts in.
    #[serde(default)]
    pub workspace: Option<String>,
    /// Claim holding workspace slug(s).
    #[serde(default)]
    pub workspace_claim: Option<String>,
    /// Seconds remote JWKS and introspection answers are cached (default 300).
    #[serde(default)]
    pub cache_ttl: Option<u64>,
    /// Accept tokens without checking `iss` and `aud` when `issuer` or `audience` is
    /// unset: any token the keys verify, minted for any service, gets in.
    #[serde(default)]
    pub skip_issuer_and_audience_check: bool,
}

/// Where verification keys (or the verdict) come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// An inline JWKS, already parsed.
    Inline(Arc<KeySet>),
    /// A remote JWKS URL.
    Remote(url::Url),
    /// An RFC 7662 introspection endpoint; the client secret is sealed separately
    /// (under [`INTROSPECTION_SECRET_HEADER`]).
    Introspect {
        /// The endpoint.
        endpoint: url::Url,
        /// Client id for HTTP Basic, if any.
        client_id: Option<String>,
    },
}

/// Which header carries the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenHeader {
    /// `Authorization: Bearer <token>`.
    Authorization,
    /// A custom header holding the token (an optional `Bearer ` prefix is stripped).
    Named(HeaderName),
}

/// A validated `jwt_validation`, with every default filled in.
#[derive(Debug, Clone)]
pub struct JwtValidation {
    /// Where keys or verdicts come from.
    pub source: KeySource,
    /// Accepted issuers (empty = any, only with [`JwtValidation::skips_issuer_and_audience_check`]).
    pub issuers: Vec<String>,
    /// Accepted audiences (empty = not checked, likewise).
    pub audiences: Vec<String>,
    /// The explicit opt-out of the issuer and audience requirement.
    pub skips_issuer_and_audience_check: bool,
    /// Accepted signature algorithms.
    pub algorithms: Vec<Algorithm>,
    /// Leeway for `exp`/`nbf`/`maxTokenAge`, seconds.
    pub clock_tolerance: u64,
    /// Largest accepted `now - iat`, seconds.
    pub max_token_age: Option<u64>,
    /// The header carrying the token.
    pub header: TokenHeader,
    /// Claims that must be present.
    pub required_claims: Vec<String>,
    /// Compiled `claimValues` rules.
    pub claim_rules: Vec<ClaimRule>,
    /// Claim holding the stable user id.
    pub user_claim: String,
    /// Claim holding the e-mail.
    pub email_claim: String,
    /// Claim holding the display name.
    pub name_claim: String,
    /// Claim holding roles.
    pub roles_claim: String,
    /// Claim holding scopes.
    pub scope_claim: String,
    /// Workspace slug every caller acts in.
    pub workspace: Option<String>,
    /// Claim holding workspace slug(s). With neither this nor `workspace`, callers act
    /// in the workspace the server is provisioned to, when there is exactly one.
    pub workspace_claim: Option<String>,
    /// How long remote JWKS and introspection answers are cached.
    pub cache_ttl: Duration,
}

fn err(field: &str, message: impl Into<String>) -> FieldError {
    FieldError::new(field, message)
}

/// An https URL; plain http only to a loopback host (`gatehouse dev`, tests), which no
/// deployment outside dev reaches anyway (loopback is outside both planes' address filter).
fn parse_url(field: &str, raw: &str) -> Result<url::Url, FieldError> {
    let url = url::Url::parse(raw).map_err(|_| err(field, "must be an absolute URL"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(err(field, "must be an https URL (plain http only to a loopback host, in dev)")),
        _ => Err(err(field, "must be an https URL")),
    }
}

fn parse_algorithm(name: &str) -> Result<Algorithm, String> {
    let alg = match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "none" => return Err("`none` is never accepted".into()),
        n if n.starts_with("HS") => return Err(format!("{n}: symmetric algorithms are not accepted")),
        n => return Err(format!("{n} is not a supported algorithm")),
    };
    Ok(alg)
}

impl JwtValidation {
    /// Whether callers act in the server's workspace: neither `workspace` nor
    /// `workspaceClaim` is set, so only a server provisioned to exactly one
    /// workspace can be reached with these tokens.
    pub fn acts_in_server_workspace(&self) -> bool {
        self.workspace.is_none() && self.workspace_claim.is_none()
    }

    /// Parses and validates `jwt_validation` JSON (field paths relative to it).
    pub fn from_value(value: &Value) -> Result<Self, FieldError> {
        let spec: JwtValidationSpec =
            serde_json::from_value(value.clone()).map_err(|e| err("", e.to_string()))?;
        Self::from_spec(spec)
    }

    /// Validates a parsed `jwt_validation` and fills in the defaults.
    pub fn from_spec(spec: JwtValidationSpec) -> Result<Self, FieldError> {
        let cache_ttl = Duration::from_secs(spec.cache_ttl.unwrap_or(DEFAULT_CACHE_TTL));
        let sources = [spec.jwks_uri.is_some(), spec.jwks.is_some(), spec.introspect_endpoint.is_some()];
        if sources.iter().filter(|s| **s).count() != 1 {
            return Err(err("jwksUri", "exactly one of jwksUri, jwks or introspectEndpoint is required"));
        }
        let source = if let Some(uri) = &spec.jwks_uri {
            KeySource::Remote(parse_url("jwksUri", uri)?)
        } else if let Some(jwks) = &spec.jwks {
            let keys = KeySet::parse(&jwks.to_string()).map_err(|e| err("jwks", e))?;
            if keys.is_empty() {
                return Err(err("jwks", "holds no usable RSA or EC signature key"));
            }
            KeySource::Inline(Arc::new(keys))
        } else {
            let endpoint =
                parse_url("introspectEndpoint", spec.introspect_endpoint.as_deref().unwrap_or(""))?;
            KeySource::Introspect { endpoint, client_id: spec.introspect_client_id.clone() }
        };
        if spec.introspect_client_id.is_some() && spec.introspect_endpoint.is_none() {
            return Err(err("introspectClientId", "only applies with introspectEndpoint"));
        }
        let algorithms = match spec.algorithms {
            None => vec![Algorithm::RS256, Algorithm::ES256],
            Some(names) if names.is_empty() => return Err(err("algorithms", "must not be empty")),
            Some(names) => names
                .iter()
                .map(|n| parse_algorithm(n))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| err("algorithms", e))?,
        };
        let clock_tolerance = spec.clock_tolerance.unwrap_or(DEFAULT_CLOCK_TOLERANCE);
        if clock_tolerance > MAX_CLOCK_TOLERANCE {
            return Err(err("clockTolerance", format!("must be at most {MAX_CLOCK_TOLERANCE} seconds")));
        }
        if spec.max_token_age == Some(0) {
            return Err(err("maxTokenAge", "must be positive"));
        }
        let header = match spec.header_key.as_deref().map(str::trim) {
            None | Some("") => TokenHeader::Authorization,
            Some(name) if name.eq_ignore_ascii_case("authorization") => TokenHeader::Authorization,
            Some(name) => {
                let name = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                    .map_err(|_| err("headerKey", "is not a valid header name"))?;
                // mcp-* headers are forwarded as protocol headers: the token would leak upstream.
                if matches!(name.as_str(), "cookie" | "x-api-key" | "host")
                    || name.as_str().starts_with("mcp-")
                {
                    return Err(err("headerKey", format!("{name} cannot carry the token")));
                }
                TokenHeader::Named(name)
            }
        };
        let claim_rules = spec
            .claim_values
            .into_specs()
            .into_iter()
            .map(|(at, rule)| ClaimRule::compile(rule).map_err(|e| err(&format!("claimValues{at}"), e)))
            .collect::<Result<Vec<_>, _>>()?;
        if spec.workspace.as_deref().is_some_and(|w| w.trim().is_empty()) {
            return Err(err("workspace", "must not be empty"));
        }
        let issuers = spec.issuer.map(OneOrMany::into_vec).unwrap_or_default();
        let audiences = spec.audience.map(OneOrMany::into_vec).unwrap_or_default();
        if !spec.skip_issuer_and_audience_check {
            let opt_out = "(or set skipIssuerAndAudienceCheck: true to accept tokens minted by anyone the keys trust, for any service)";
            if issuers.is_empty() {
                return Err(err("issuer", format!("is required {opt_out}")));
            }
            if audiences.is_empty() {
                return Err(err("audience", format!("is required {opt_out}")));
            }
        }
        let claim = |v: Option<String>, field: &str, default: &str| -> Result<String, FieldError> {
            match v {
                Some(c) if c.trim().is_empty() => Err(err(field, "must not be empty")),
                Some(c) => Ok(c),
                None => Ok(default.to_owned()),
            }
        };
        Ok(Self {
            source,
            issuers,
            audiences,
            skips_issuer_and_audience_check: spec.skip_issuer_and_audience_check,
            algorithms,
            clock_tolerance,
            max_token_age: spec.max_token_age,
            header,
            required_claims: spec.required_claims,
            claim_rules,
            user_claim: claim(spec.user_claim, "userClaim", "sub")?,
            email_claim: claim(spec.email_claim, "emailClaim", "email")?,
            name_claim: claim(spec.name_claim, "nameClaim", "name")?,
            roles_claim: claim(spec.roles_claim, "rolesClaim", "roles")?,
            scope_claim: claim(spec.scope_claim, "scopeClaim", "scope")?,
            workspace: spec.workspace,
            workspace_claim: spec.workspace_claim,
            cache_ttl,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compile(v: Value) -> Result<JwtValidation, FieldError> {
        JwtValidation::from_value(&v)
    }

    #[test]
    fn validation_names_the_field() {
        let field = |v: Value| compile(v).unwrap_err().field;
        assert_eq!(field(json!({"workspace":"w","issuer":"https://i","audience":"a"})), "jwksUri");
        assert_eq!(
            field(
                json!({"jwksUri":"https://a/j","jwks":{"keys":[]},"workspace":"w","issuer":"https://i","audience":"a"})
            ),
            "jwksUri"
        );
        assert_eq!(
            field(json!({"jwksUri":"not a url","workspace":"w","issuer":"https://i","audience":"a"})),
            "jwksUri"
        );
        assert_eq!(
            field(
                json!({"jwksUri":"https://a/j","workspace":"w","issuer":"https://i","audience":"a","algorithms":["none"]})
            ),
            "algorithms"
        );
        assert_eq!(
            field(
                json!({"jwksUri":"https://a/j","workspace":"w","issuer":"https://i","audience":"a","algorithms":["HS256"]})
            ),
            "algorithms"
        );
        let no_workspace =
            compile(json!({"jwksUri":"https://a/j","issuer":"https://i","audience":"a"})).unwrap();
        assert!(no_workspace.acts_in_server_workspace(), "the server's one workspace is used");
        assert_eq!(
            field(
                json!({"jwksUri":"https://a/j","issuer":"https://i","audience":"a","claimValues":{"iss":{"values":"(","matchType":"regex"}}})
            ),
            "claimValues.iss"
        );
        assert_eq!(
            field(
                json!({"jwksUri":"https://a/j","workspace":"w","issuer":"https://i","audience":"a","clockTolerance":9999})
            ),
            "clockTolerance"
        );
        assert_eq!(
            field(
                json!({"jwksUri":"https://a/j","workspace":"w","issuer":"https://i","audience":"a","headerKey":"bad header"})
            ),
            "headerKey"
        );
        assert_eq!(
            field(
                json!({"jwksUri":"https://a/j","workspace":"w","issuer":"https://i","audience":"a","claimValues":[{"claim":"a","value":"(","matchType":"regex"}]})
            ),
            "claimValues[0]"
        );
        assert_eq!(
            field(
                json!({"jwks":{"keys":[{"kty":"oct","k":"c2VjcmV0"}]},"workspace":"w","issuer":"https://i","audience":"a"})
            ),
            "jwks"
        );
        assert_eq!(
            field(
                json!({"jwksUri":"https://a/j","workspace":"w","issuer":"https://i","audience":"a","bogus":1})
            ),
            ""
        );
        assert!(compile(
            json!({"jwksUri":"https://a/j","workspaceClaim":"teams","issuer":"https://i","audience":"a"})
        )
        .is_ok());
    }

    #[test]
    fn issuer_and_audience_are_required_unless_explicitly_skipped() {
        let field = |v: Value| compile(v).unwrap_err().field;
        assert_eq!(field(json!({"jwksUri":"https://a/j","workspace":"w","audience":"a"})), "issuer");
        assert_eq!(field(json!({"jwksUri":"https://a/j","workspace":"w","issuer":"https://i"})), "audience");
        let skipped =
            compile(json!({"jwksUri":"https://a/j","workspace":"w","skipIssuerAndAudienceCheck":true}))
                .unwrap();
        assert!(skipped.skips_issuer_and_audience_check && skipped.audiences.is_empty());
    }

    #[test]
    fn key_and_introspection_urls_must_be_https_except_to_loopback() {
        let with = |k: &str, url: &str| json!({k:url,"workspace":"w","issuer":"https://i","audience":"a"});
        for key in ["jwksUri", "introspectEndpoint"] {
            assert_eq!(compile(with(key, "http://idp.example/jwks")).unwrap_err().field, key);
            assert_eq!(compile(with(key, "ftp://idp.example/jwks")).unwrap_err().field, key);
            assert!(compile(with(key, "https://idp.example/jwks")).is_ok());
            for dev in ["http://127.0.0.1:8080/jwks", "http://localhost/jwks", "http://[::1]/jwks"] {
                assert!(compile(with(key, dev)).is_ok(), "{dev}");
            }
        }
    }
}
