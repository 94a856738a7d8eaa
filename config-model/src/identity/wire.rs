//! The identity settings as the config stream carries them: typed messages,
//! not JSON text. The control plane turns the stored JSON (in whichever
//! documented spelling) into these messages; the edge compiles them with the
//! same validation, so the edge never parses configuration JSON.

use gatehouse_proto::config::v1 as pb;
use http::HeaderName;
use serde_json::Value;

use super::allowed_origins::AllowedOrigins;
use super::claims_match::{ClaimValueSpec, ClaimValues, MatchType, OneOrMany};
use super::external_auth::ExternalAuthConfig;
use super::forward_headers::ForwardHeaders;
use super::jwt_validation::{JwtValidation, JwtValidationSpec};
use super::user_identity_forwarding::{ForwardingMethod, IdentityForwarding, PlainHeader};
use super::FieldError;

/// The parts of a server's `advanced_config` the edges act on. A part that does
/// not validate is left out, except `jwt_validation`, which is sent as invalid
/// so the edge refuses JWTs rather than letting them through unchecked.
pub fn advanced_config_to_wire(config: &Value) -> pb::AdvancedConfig {
    let get = |key: &str| config.get(key).filter(|v| !v.is_null());
    pb::AdvancedConfig {
        jwt_validation: get("jwt_validation").map(jwt_validation_to_wire),
        user_identity_forwarding: get("user_identity_forwarding")
            .and_then(|v| IdentityForwarding::from_value(v).ok())
            .map(|f| f.to_wire()),
        forward_headers: get("forward_headers")
            .and_then(|v| ForwardHeaders::from_value(v).ok())
            .map(|f| f.to_wire()),
        allowed_origins: get("allowed_origins")
            .and_then(|v| AllowedOrigins::from_value(v).ok())
            .map(|o| o.as_slice().to_vec())
            .unwrap_or_default(),
        external_auth_config: get("external_auth_config")
            .and_then(|v| ExternalAuthConfig::from_value("external_auth_config", v).ok())
            .map(|c| c.to_wire()),
        audit: get("audit")
            .and_then(|v| crate::audit::capture::AuditCapture::from_value(v).ok())
            .filter(crate::audit::capture::AuditCapture::records_anything)
            .map(crate::audit::capture::AuditCapture::to_wire),
    }
}

/// A `jwt_validation` (JSON as stored) as the edges receive it.
pub fn jwt_validation_to_wire(value: &Value) -> pb::JwtValidation {
    let invalid = |e: &FieldError| pb::JwtValidation { invalid: e.to_string(), ..Default::default() };
    let spec: JwtValidationSpec = match serde_json::from_value(value.clone()) {
        Ok(spec) => spec,
        Err(e) => return invalid(&FieldError::new("", e.to_string())),
    };
    if let Err(e) = JwtValidation::from_spec(spec.clone()) {
        return invalid(&e);
    }
    let many = |v: Option<OneOrMany>| v.map(OneOrMany::into_vec).unwrap_or_default();
    pb::JwtValidation {
        invalid: String::new(),
        jwks_uri: spec.jwks_uri.unwrap_or_default(),
        jwks_json: spec.jwks.map(|j| j.to_string()).unwrap_or_default(),
        introspect_endpoint: spec.introspect_endpoint.unwrap_or_default(),
        introspect_client_id: spec.introspect_client_id.unwrap_or_default(),
        issuer: many(spec.issuer),
        audience: many(spec.audience),
        algorithms: spec.algorithms.unwrap_or_default(),
        clock_tolerance: spec.clock_tolerance,
        max_token_age: spec.max_token_age,
        header_key: spec.header_key.unwrap_or_default(),
        required_claims: spec.required_claims,
        claim_values: spec
            .claim_values
            .into_specs()
            .into_iter()
            .map(|(_, c)| pb::ClaimValue {
                claim: c.claim,
                values: c.value.into_vec(),
                match_type: c.match_type.as_str().to_owned(),
            })
            .collect(),
        user_claim: spec.user_claim.unwrap_or_default(),
        email_claim: spec.email_claim.unwrap_or_default(),
        name_claim: spec.name_claim.unwrap_or_default(),
        roles_claim: spec.roles_claim.unwrap_or_default(),
        scope_claim: spec.scope_claim.unwrap_or_default(),
        workspace: spec.workspace.unwrap_or_default(),
        workspace_claim: spec.workspace_claim.unwrap_or_default(),
        cache_ttl: spec.cache_ttl,
        skip_issuer_and_audience_check: spec.skip_issuer_and_audience_check,
    }
}

/// Compiles a `jwt_validation` received on the config stream.
pub fn jwt_validation_from_wire(wire: &pb::JwtValidation) -> Result<JwtValidation, FieldError> {
    if !wire.invalid.is_empty() {
        return Err(FieldError::new("", wire.invalid.clone()));
    }
    let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let list = |v: &[String]| (!v.is_empty()).then(|| OneOrMany::Many(v.to_vec()));
    let jwks = match wire.jwks_json.as_str() {
        "" => None,
        raw => Some(serde_json::from_str(raw).map_err(|e| FieldError::new("jwks", e.to_string()))?),
    };
    let claim_values = wire
        .claim_values
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let match_type = MatchType::parse(&c.match_type).ok_or_else(|| {
                FieldError::new(format!("claimValues[{i}].matchType"), "unknown match type")
            })?;
            Ok(ClaimValueSpec {
                claim: c.claim.clone(),
                value: OneOrMany::Many(c.values.clone()),
                match_type,
            })
        })
        .collect::<Result<Vec<_>, FieldError>>()?;
    JwtValidation::from_spec(JwtValidationSpec {
        jwks_uri: text(&wire.jwks_uri),
        jwks,
        introspect_endpoint: text(&wire.introspect_endpoint),
        introspect_client_id: text(&wire.introspect_client_id),
        issuer: list(&wire.issuer),
        audience: list(&wire.audience),
        algorithms: (!wire.algorithms.is_empty()).then(|| wire.algorithms.clone()),
        clock_tolerance: wire.clock_tolerance,
        max_token_age: wire.max_token_age,
        header_key: text(&wire.header_key),
        required_claims: wire.required_claims.clone(),
        claim_values: ClaimValues::List(claim_values),
        user_claim: text(&wire.user_claim),
        email_claim: text(&wire.email_claim),
        name_claim: text(&wire.name_claim),
        roles_claim: text(&wire.roles_claim),
        scope_claim: text(&wire.scope_claim),
        workspace: text(&wire.workspace),
        workspace_claim: text(&wire.workspace_claim),
        cache_ttl: wire.cache_ttl,
        skip_issuer_and_audience_check: wire.skip_issuer_and_audience_check,
    })
}

impl IdentityForwarding {
    /// The form the config stream carries.
    pub fn to_wire(&self) -> pb::IdentityForwarding {
        pb::IdentityForwarding {
            method: self.method.map(ForwardingMethod::as_str).unwrap_or_default().to_owned(),
            include_claims: self.include_claims.clone(),
            jwt_ttl: self.jwt_ttl,
            jwt_audience: self.jwt_audience.clone().unwrap_or_default(),
            plain_headers: self.plain.iter().map(|h| h.as_str().to_owned()).collect(),
        }
    }

    /// Reads the form the config stream carries.
    pub fn from_wire(wire: &pb::IdentityForwarding) -> Result<Self, FieldError> {
        let method = match wire.method.as_str() {
            "" => None,
            m => Some(ForwardingMethod::parse(m).ok_or_else(|| FieldError::new("method", "unknown method"))?),
        };
        let plain = wire
            .plain_headers
            .iter()
            .map(|h| {
                PlainHeader::parse(h).ok_or_else(|| FieldError::new("identity_headers", "unknown header"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            method,
            include_claims: wire.include_claims.clone(),
            jwt_ttl: wire.jwt_ttl,
            jwt_audience: (!wire.jwt_audience.is_empty()).then(|| wire.jwt_audience.clone()),
            plain,
        })
    }
}

impl ForwardHeaders {
    /// The form the config stream carries.
    pub fn to_wire(&self) -> pb::ForwardHeaders {
        pb::ForwardHeaders {
            all_except: self.all_except,
            names: self.names.iter().map(|n| n.as_str().to_owned()).collect(),
            renames: self
                .renames
                .iter()
                .map(|(from, to)| pb::HeaderRename {
                    from: from.as_str().to_owned(),
                    to: to.as_str().to_owned(),
                })
                .collect(),
        }
    }

    /// Reads the form the config stream carries.
    pub fn from_wire(wire: &pb::ForwardHeaders) -> Result<Self, FieldError> {
        let name = |raw: &str| {
            HeaderName::from_bytes(raw.as_bytes()).map_err(|_| {
                FieldError::new("forward_headers", format!("{raw:?} is not a valid header name"))
            })
        };
        Ok(Self {
            all_except: wire.all_except,
            names: wire.names.iter().map(|n| name(n)).collect::<Result<_, _>>()?,
            renames: wire
                .renames
                .iter()
                .map(|r| Ok((name(&r.from)?, name(&r.to)?)))
                .collect::<Result<_, FieldError>>()?,
        })
    }
}

impl ExternalAuthConfig {
    /// The form the config stream carries.
    pub fn to_wire(&self) -> pb::ExternalAuthConfig {
        pb::ExternalAuthConfig {
            issuer: self.issuer.clone(),
            scopes_supported: self.scopes_supported.clone(),
        }
    }

    /// Reads (and re-validates) the form the config stream carries.
    pub fn from_wire(wire: &pb::ExternalAuthConfig) -> Result<Self, FieldError> {
        Self { issuer: wire.issuer.clone(), scopes_supported: wire.scopes_supported.clone() }
            .validated("external_auth_config")
    }
}

#[cfg(test)]
mod tests;
