//! Bring-your-own JWT: verifies tokens the way a server's or an org's
//! `jwt_validation` says ([`JwtValidation`], parsed and validated in
//! `gatehouse-config`): against a JWKS (remote or inline) or an RFC 7662
//! introspection endpoint. The JSON shape is documented in `docs/edge.md`.

use std::net::IpAddr;
use std::sync::Arc;

use gatehouse_config::identity::claims_match::lookup;
use gatehouse_config::identity::jwks::KeySet;
use gatehouse_config::identity::jwt_validation::{JwtValidation, KeySource, TokenHeader};
use gatehouse_config::identity::FieldError;
use http::HeaderMap;
use jsonwebtoken::Validation;
use secrecy::SecretString;
use serde_json::{Map, Value};

use super::caller::{string_claim, string_list, AuthSource, Caller};
use super::introspection::Introspector;
use super::jwks::JwksError;
use super::{IdentityError, IdentityRuntime};

/// The configured [`KeySource`] made usable: an introspection endpoint gets
/// its client (with the sealed secret and an answer cache).
#[derive(Debug)]
enum Verification {
    Inline(Arc<KeySet>),
    Remote(url::Url),
    Introspect(Arc<Introspector>),
}

/// A compiled, validated `jwt_validation`.
#[derive(Debug)]
pub struct JwtValidator {
    verification: Verification,
    config: JwtValidation,
}

impl JwtValidator {
    /// Parses and validates `jwt_validation` JSON; `introspect_secret` is the sealed client secret.
    pub fn from_value(value: &Value, introspect_secret: Option<SecretString>) -> Result<Self, FieldError> {
        Ok(Self::new(JwtValidation::from_value(value)?, introspect_secret))
    }

    /// A validator for a validated `jwt_validation`; `introspect_secret` is the sealed client secret.
    pub fn new(config: JwtValidation, introspect_secret: Option<SecretString>) -> Self {
        let verification = match &config.source {
            KeySource::Inline(keys) => Verification::Inline(Arc::clone(keys)),
            KeySource::Remote(uri) => Verification::Remote(uri.clone()),
            KeySource::Introspect { endpoint, client_id } => Verification::Introspect(Arc::new(
                Introspector::new(endpoint.clone(), client_id.clone(), introspect_secret, config.cache_ttl),
            )),
        };
        Self { verification, config }
    }

    /// The accepted issuers (for protected resource metadata).
    pub fn issuers(&self) -> &[String] {
        &self.config.issuers
    }

    /// The token this validator reads from `headers`, if present.
    pub fn extract<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        match &self.config.header {
            TokenHeader::Authorization => super::bearer(headers),
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
        &self.config.header
    }

    /// Verifies `token` and returns its claims.
    pub async fn verify(
        &self,
        runtime: &IdentityRuntime,
        token: &str,
        now_unix: i64,
        client: Option<IpAddr>,
    ) -> Result<(Map<String, Value>, AuthSource), IdentityError> {
        let claims = match &self.verification {
            Verification::Introspect(introspector) => {
                let claims = introspector.introspect(runtime, token, now_unix, client).await?;
                self.check_claims(&claims, now_unix, true)?;
                return Ok((claims, AuthSource::Introspection));
            }
            Verification::Inline(keys) => self.decode(keys, token)?,
            Verification::Remote(uri) => {
                let header = jsonwebtoken::decode_header(token)
                    .map_err(|_| IdentityError::Invalid("malformed jwt"))?;
                let keys = runtime
                    .jwks
                    .key_set(&runtime.http, uri, header.kid.as_deref(), self.config.cache_ttl, || {
                        runtime.idp_calls.allow(client)
                    })
                    .await
                    .map_err(|e| match e {
                        JwksError::RateLimited => IdentityError::RateLimited,
                        _ => IdentityError::Unavailable,
                    })?;
                self.decode(&keys, token)?
            }
        };
        self.check_claims(&claims, now_unix, false)?;
        Ok((claims, AuthSource::ExternalJwt))
    }

    fn decode(&self, keys: &KeySet, token: &str) -> Result<Map<String, Value>, IdentityError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| IdentityError::Invalid("malformed jwt"))?;
        if !self.config.algorithms.contains(&header.alg) {
            return Err(IdentityError::Invalid("algorithm not allowed"));
        }
        let key = keys.get(header.kid.as_deref()).ok_or(IdentityError::Invalid("unknown signing key"))?;
        if !key.accepts(header.alg) {
            return Err(IdentityError::Invalid("algorithm does not match the key"));
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.config.clock_tolerance;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        if !self.config.issuers.is_empty() {
            validation.set_issuer(&self.config.issuers);
            required.push("iss");
        }
        if self.config.audiences.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&self.config.audiences);
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
        let leeway = self.config.clock_tolerance as i64;
        if introspected {
            if let Some(exp) = claims.get("exp").and_then(Value::as_i64) {
                if now_unix > exp + leeway {
                    return Err(IdentityError::Expired);
                }
            }
            if !self.config.issuers.is_empty() {
                let iss = claims.get("iss").and_then(Value::as_str);
                if !iss.is_some_and(|i| self.config.issuers.iter().any(|x| x == i)) {
                    return Err(IdentityError::Invalid("issuer mismatch"));
                }
            }
            if !self.config.audiences.is_empty() {
                let aud = string_list(claims.get("aud"));
                if !aud.iter().any(|a| self.config.audiences.contains(a)) {
                    return Err(IdentityError::Invalid("audience mismatch"));
                }
            }
        }
        if let Some(max_age) = self.config.max_token_age {
            let iat =
                claims.get("iat").and_then(Value::as_i64).ok_or(IdentityError::Invalid("missing iat"))?;
            if now_unix - iat > max_age as i64 + leeway {
                return Err(IdentityError::Expired);
            }
        }
        if let Some(missing) = self.config.required_claims.iter().find(|c| lookup(claims, c).is_none()) {
            tracing::debug!(claim = %missing, "required claim missing");
            return Err(IdentityError::Invalid("required claim missing"));
        }
        if let Some(rule) = self.config.claim_rules.iter().find(|r| !r.matches(claims)) {
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
        let user = string_claim(&claims, &self.config.user_claim)
            .ok_or(IdentityError::Invalid("user claim missing"))?;
        let mut slugs = Vec::new();
        if let Some(ws) = &self.config.workspace {
            slugs.push(ws.clone());
        }
        if let Some(claim) = &self.config.workspace_claim {
            slugs.extend(string_list(lookup(&claims, claim)));
        }
        let workspace_ids = slugs.iter().filter_map(|s| workspace_id(s)).collect();
        let scopes = string_list(lookup(&claims, &self.config.scope_claim));
        Ok(Caller {
            org_id: org_id.to_owned(),
            user,
            email: string_claim(&claims, &self.config.email_claim),
            name: string_claim(&claims, &self.config.name_claim),
            workspace_ids,
            workspace_from_server: self.config.acts_in_server_workspace(),
            roles: string_list(lookup(&claims, &self.config.roles_claim)),
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

    fn compile(v: Value) -> Result<JwtValidator, FieldError> {
        JwtValidator::from_value(&v, None)
    }

    #[test]
    fn custom_header_strips_bearer() {
        let v = compile(json!({"jwksUri":"https://a/j","workspace":"w","headerKey":"X-Id-Token","issuer":"https://i","audience":"a"})).unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-id-token", "Bearer abc".parse().unwrap());
        assert_eq!(v.extract(&h), Some("abc"));
        h.insert("x-id-token", "xyz".parse().unwrap());
        assert_eq!(v.extract(&h), Some("xyz"));
    }
}
