//! Bring-your-own JWT: `advanced_config.jwt_validation` (per server) or the
//! org's `jwt_validation`, verified against a JWKS (remote or inline) or an
//! RFC 7662 introspection endpoint. The JSON shape is documented in `docs/edge.md`.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName};
use jsonwebtoken::{Algorithm, Validation};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::caller::{string_claim, string_list, AuthSource, Caller};
use super::claims_match::{lookup, ClaimRule, ClaimValueSpec, OneOrMany};
use super::introspection::Introspector;
use super::jwks::KeySet;
use super::{IdentityError, IdentityRuntime};

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
    /// Claims that must match values.
    #[serde(default)]
    pub claim_values: Vec<ClaimValueSpec>,
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
}

/// Where verification keys (or the verdict) come from.
#[derive(Debug)]
enum KeySource {
    Inline(Arc<KeySet>),
    Remote(url::Url),
    Introspect(Arc<Introspector>),
}

/// Which header carries the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenHeader {
    /// `Authorization: Bearer <token>`.
    Authorization,
    /// A custom header holding the token (an optional `Bearer ` prefix is stripped).
    Named(HeaderName),
}

/// A compiled, validated `jwt_validation`.
#[derive(Debug)]
pub struct JwtValidator {
    source: KeySource,
    issuers: Vec<String>,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    clock_tolerance: u64,
    max_token_age: Option<u64>,
    header: TokenHeader,
    required_claims: Vec<String>,
    claim_rules: Vec<ClaimRule>,
    user_claim: String,
    email_claim: String,
    name_claim: String,
    roles_claim: String,
    scope_claim: String,
    workspace: Option<String>,
    workspace_claim: Option<String>,
    cache_ttl: Duration,
}

/// A field-level configuration error (`field` is relative to `jwt_validation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The offending field.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

fn err(field: &str, message: impl Into<String>) -> SpecError {
    SpecError { field: field.to_owned(), message: message.into() }
}

fn parse_url(field: &str, raw: &str) -> Result<url::Url, SpecError> {
    let url = url::Url::parse(raw).map_err(|_| err(field, "must be an absolute URL"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(err(field, "must be an http(s) URL"));
    }
    Ok(url)
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

impl JwtValidator {
    /// Parses and validates `jwt_validation` JSON; `introspect_secret` is the sealed client secret.
    pub fn from_value(value: &Value, introspect_secret: Option<SecretString>) -> Result<Self, SpecError> {
        let spec: JwtValidationSpec =
            serde_json::from_value(value.clone()).map_err(|e| err("", e.to_string()))?;
        Self::compile(spec, introspect_secret)
    }

    fn compile(spec: JwtValidationSpec, introspect_secret: Option<SecretString>) -> Result<Self, SpecError> {
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
            KeySource::Introspect(Arc::new(Introspector::new(
                endpoint,
                spec.introspect_client_id.clone(),
                introspect_secret,
                cache_ttl,
            )))
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
            .into_iter()
            .enumerate()
            .map(|(i, rule)| ClaimRule::compile(rule).map_err(|e| err(&format!("claimValues[{i}]"), e)))
            .collect::<Result<Vec<_>, _>>()?;
        if spec.workspace.is_none() && spec.workspace_claim.is_none() {
            return Err(err("workspace", "one of workspace or workspaceClaim is required"));
        }
        if spec.workspace.as_deref().is_some_and(|w| w.trim().is_empty()) {
            return Err(err("workspace", "must not be empty"));
        }
        let claim = |v: Option<String>, field: &str, default: &str| -> Result<String, SpecError> {
            match v {
                Some(c) if c.trim().is_empty() => Err(err(field, "must not be empty")),
                Some(c) => Ok(c),
                None => Ok(default.to_owned()),
            }
        };
        Ok(Self {
            source,
            issuers: spec.issuer.map(OneOrMany::into_vec).unwrap_or_default(),
            audiences: spec.audience.map(OneOrMany::into_vec).unwrap_or_default(),
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

    /// The accepted issuers (for protected resource metadata).
    pub fn issuers(&self) -> &[String] {
        &self.issuers
    }

    /// The token this validator reads from `headers`, if present.
    pub fn extract<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        match &self.header {
            TokenHeader::Authorization => crate::auth::bearer(headers),
            TokenHeader::Named(name) => {
                let raw = headers.get(name)?.to_str().ok()?.trim();
                let token = match raw.split_once(' ') {
                    Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
                    _ => raw,
                };
                (!token.is_empty()).then_some(token)
            }
        }
    }

    /// The header this validator reads (never forwarded upstream).
    pub fn header(&self) -> &TokenHeader {
        &self.header
    }

    /// Verifies `token` and returns its claims.
    pub async fn verify(
        &self,
        runtime: &IdentityRuntime,
        token: &str,
        now_unix: i64,
    ) -> Result<(Map<String, Value>, AuthSource), IdentityError> {
        let claims = match &self.source {
            KeySource::Introspect(introspector) => {
                let claims = introspector.introspect(runtime, token, now_unix).await?;
                self.check_claims(&claims, now_unix, true)?;
                return Ok((claims, AuthSource::Introspection));
            }
            KeySource::Inline(keys) => self.decode(keys, token)?,
            KeySource::Remote(uri) => {
                let header = jsonwebtoken::decode_header(token)
                    .map_err(|_| IdentityError::Invalid("malformed jwt"))?;
                let keys = runtime
                    .jwks
                    .key_set(&runtime.http, uri, header.kid.as_deref(), self.cache_ttl)
                    .await
                    .map_err(|_| IdentityError::Unavailable)?;
                self.decode(&keys, token)?
            }
        };
        self.check_claims(&claims, now_unix, false)?;
        Ok((claims, AuthSource::ExternalJwt))
    }

    fn decode(&self, keys: &KeySet, token: &str) -> Result<Map<String, Value>, IdentityError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| IdentityError::Invalid("malformed jwt"))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(IdentityError::Invalid("algorithm not allowed"));
        }
        let key = keys.get(header.kid.as_deref()).ok_or(IdentityError::Invalid("unknown signing key"))?;
        if !key.accepts(header.alg) {
            return Err(IdentityError::Invalid("algorithm does not match the key"));
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.clock_tolerance;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        if !self.issuers.is_empty() {
            validation.set_issuer(&self.issuers);
            required.push("iss");
        }
        if self.audiences.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&self.audiences);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
            .map(|data| data.claims)
            .map_err(super::jwt_error)
    }

    /// Checks time, issuer/audience (for introspection), required claims and claim rules.
    fn check_claims(
        &self,
        claims: &Map<String, Value>,
        now_unix: i64,
        introspected: bool,
    ) -> Result<(), IdentityError> {
        let leeway = self.clock_tolerance as i64;
        if introspected {
            if let Some(exp) = claims.get("exp").and_then(Value::as_i64) {
                if now_unix > exp + leeway {
                    return Err(IdentityError::Expired);
                }
            }
            if !self.issuers.is_empty() {
                let iss = claims.get("iss").and_then(Value::as_str);
                if !iss.is_some_and(|i| self.issuers.iter().any(|x| x == i)) {
                    return Err(IdentityError::Invalid("issuer mismatch"));
                }
            }
            if !self.audiences.is_empty() {
                let aud = string_list(claims.get("aud"));
                if !aud.iter().any(|a| self.audiences.contains(a)) {
                    return Err(IdentityError::Invalid("audience mismatch"));
                }
            }
        }
        if let Some(max_age) = self.max_token_age {
            let iat =
                claims.get("iat").and_then(Value::as_i64).ok_or(IdentityError::Invalid("missing iat"))?;
            if now_unix - iat > max_age as i64 + leeway {
                return Err(IdentityError::Expired);
            }
        }
        if let Some(missing) = self.required_claims.iter().find(|c| lookup(claims, c).is_none()) {
            tracing::debug!(claim = %missing, "required claim missing");
            return Err(IdentityError::Invalid("required claim missing"));
        }
        if let Some(rule) = self.claim_rules.iter().find(|r| !r.matches(claims)) {
            tracing::debug!(claim = %rule.claim(), "claim value rule not satisfied");
            return Err(IdentityError::Invalid("claim value mismatch"));
        }
        Ok(())
    }

    /// Builds the caller of `org_id` from verified claims; `workspace_id` maps a slug to an id.
    pub fn caller(
        &self,
        org_id: &str,
        claims: Map<String, Value>,
        source: AuthSource,
        workspace_id: impl Fn(&str) -> Option<String>,
    ) -> Result<Caller, IdentityError> {
        let user =
            string_claim(&claims, &self.user_claim).ok_or(IdentityError::Invalid("user claim missing"))?;
        let mut slugs = Vec::new();
        if let Some(ws) = &self.workspace {
            slugs.push(ws.clone());
        }
        if let Some(claim) = &self.workspace_claim {
            slugs.extend(string_list(lookup(&claims, claim)));
        }
        let workspace_ids = slugs.iter().filter_map(|s| workspace_id(s)).collect();
        let scopes = string_list(lookup(&claims, &self.scope_claim));
        Ok(Caller {
            org_id: org_id.to_owned(),
            user,
            email: string_claim(&claims, &self.email_claim),
            name: string_claim(&claims, &self.name_claim),
            workspace_ids,
            roles: string_list(lookup(&claims, &self.roles_claim)),
            scopes,
            tool_permissions: Vec::new(),
            server_permissions: Vec::new(),
            expires_at: claims.get("exp").and_then(Value::as_i64),
            claims,
            source,
            presented: None,
            grant: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compile(v: Value) -> Result<JwtValidator, SpecError> {
        JwtValidator::from_value(&v, None)
    }

    #[test]
    fn validation_names_the_field() {
        let field = |v: Value| compile(v).unwrap_err().field;
        assert_eq!(field(json!({"workspace":"w"})), "jwksUri");
        assert_eq!(field(json!({"jwksUri":"https://a/j","jwks":{"keys":[]},"workspace":"w"})), "jwksUri");
        assert_eq!(field(json!({"jwksUri":"not a url","workspace":"w"})), "jwksUri");
        assert_eq!(
            field(json!({"jwksUri":"https://a/j","workspace":"w","algorithms":["none"]})),
            "algorithms"
        );
        assert_eq!(
            field(json!({"jwksUri":"https://a/j","workspace":"w","algorithms":["HS256"]})),
            "algorithms"
        );
        assert_eq!(field(json!({"jwksUri":"https://a/j"})), "workspace");
        assert_eq!(
            field(json!({"jwksUri":"https://a/j","workspace":"w","clockTolerance":9999})),
            "clockTolerance"
        );
        assert_eq!(
            field(json!({"jwksUri":"https://a/j","workspace":"w","headerKey":"bad header"})),
            "headerKey"
        );
        assert_eq!(
            field(
                json!({"jwksUri":"https://a/j","workspace":"w","claimValues":[{"claim":"a","value":"(","matchType":"regex"}]})
            ),
            "claimValues[0]"
        );
        assert_eq!(field(json!({"jwks":{"keys":[{"kty":"oct","k":"c2VjcmV0"}]},"workspace":"w"})), "jwks");
        assert_eq!(field(json!({"jwksUri":"https://a/j","workspace":"w","bogus":1})), "");
        assert!(compile(json!({"jwksUri":"https://a/j","workspaceClaim":"teams"})).is_ok());
    }

    #[test]
    fn custom_header_strips_bearer() {
        let v = compile(json!({"jwksUri":"https://a/j","workspace":"w","headerKey":"X-Id-Token"})).unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-id-token", "Bearer abc".parse().unwrap());
        assert_eq!(v.extract(&h), Some("abc"));
        h.insert("x-id-token", "xyz".parse().unwrap());
        assert_eq!(v.extract(&h), Some("xyz"));
    }
}
