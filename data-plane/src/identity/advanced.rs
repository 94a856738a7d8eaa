//! The identity parts of a server's `advanced_config` and of an org's auth
//! settings: parsed once per config version at the edge (leniently, failing
//! closed) and validated strictly on the control plane (400 naming the field).

use std::sync::Arc;

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;

use super::byo_jwt::JwtValidator;
use super::forwarding::{ForwardHeaders, IdentityForwarding};

/// Static-header name under which an introspection client secret is stored
/// sealed with the server's credentials; the edge uses it for introspection
/// and never sends it upstream.
pub const INTROSPECTION_SECRET_HEADER: &str = "x-gatehouse-introspection-secret";

/// A validation failure naming the field (a dotted path from `advanced_config` or the org body).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// Dotted path of the offending field.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

fn join(prefix: &str, field: &str) -> String {
    match (field.is_empty(), field.starts_with('[')) {
        (true, _) => prefix.to_owned(),
        (false, true) => format!("{prefix}{field}"),
        (false, false) => format!("{prefix}.{field}"),
    }
}

/// The identity settings of one server, compiled.
#[derive(Debug, Default)]
pub struct ServerIdentity {
    /// `jwt_validation`: `None` = not configured; `Err` = configured but invalid (every JWT refused).
    pub jwt: Option<Result<Arc<JwtValidator>, String>>,
    /// `user_identity_forwarding`.
    pub forwarding: Option<IdentityForwarding>,
    /// `forward_headers`.
    pub forward_headers: Option<ForwardHeaders>,
}

impl ServerIdentity {
    /// Compiles the identity keys of `advanced_config_json`; invalid parts are logged.
    pub fn from_advanced_config(slug: &str, json: &str, introspect_secret: Option<SecretString>) -> Self {
        let Ok(Value::Object(config)) = serde_json::from_str::<Value>(json) else {
            return Self::default();
        };
        let jwt = config.get("jwt_validation").filter(|v| !v.is_null()).map(|v| {
            JwtValidator::from_value(v, introspect_secret).map(Arc::new).map_err(|e| {
                tracing::warn!(server = %slug, field = %e.field, reason = %e.message, "invalid jwt_validation; refusing jwts for this server");
                e.message
            })
        });
        let forwarding = config.get("user_identity_forwarding").filter(|v| !v.is_null()).and_then(|v| {
            IdentityForwarding::from_value(v)
                .map_err(|e| tracing::warn!(server = %slug, field = %e.field, reason = %e.message, "ignoring invalid user_identity_forwarding"))
                .ok()
        });
        let forward_headers = config.get("forward_headers").filter(|v| !v.is_null()).and_then(|v| {
            ForwardHeaders::from_value(v)
                .map_err(|e| tracing::warn!(server = %slug, field = %e.field, reason = %e.message, "ignoring invalid forward_headers"))
                .ok()
        });
        Self { jwt, forwarding, forward_headers }
    }
}

/// Validates the identity keys of a server's `advanced_config` (field paths start with `prefix`).
pub fn validate_advanced_config(prefix: &str, config: &Value) -> Result<(), FieldError> {
    let Some(config) = config.as_object() else { return Ok(()) };
    if let Some(v) = config.get("jwt_validation").filter(|v| !v.is_null()) {
        let p = format!("{prefix}.jwt_validation");
        JwtValidator::from_value(v, None)
            .map_err(|e| FieldError { field: join(&p, &e.field), message: e.message })?;
    }
    if let Some(v) = config.get("user_identity_forwarding").filter(|v| !v.is_null()) {
        let p = format!("{prefix}.user_identity_forwarding");
        IdentityForwarding::from_value(v)
            .map_err(|e| FieldError { field: join(&p, &e.field), message: e.message })?;
    }
    if let Some(v) = config.get("forward_headers").filter(|v| !v.is_null()) {
        let p = format!("{prefix}.forward_headers");
        ForwardHeaders::from_value(v)
            .map_err(|e| FieldError { field: join(&p, &e.field), message: e.message })?;
    }
    Ok(())
}

/// Validates an org-wide `jwt_validation` (no introspection client secret: orgs have no sealed store).
pub fn validate_org_jwt_validation(field: &str, value: &Value) -> Result<(), FieldError> {
    JwtValidator::from_value(value, None)
        .map_err(|e| FieldError { field: join(field, &e.field), message: e.message })?;
    Ok(())
}

/// `external_auth_config`: the org's own authorization server advertised instead of Gatehouse's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalAuthConfig {
    /// Issuer identifier of the org's authorization server.
    pub issuer: String,
    /// Scopes advertised in protected resource metadata.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
}

impl ExternalAuthConfig {
    /// Parses and validates `external_auth_config`.
    pub fn from_value(field: &str, value: &Value) -> Result<Self, FieldError> {
        let config: ExternalAuthConfig = serde_json::from_value(value.clone())
            .map_err(|e| FieldError { field: field.to_owned(), message: e.to_string() })?;
        let url = url::Url::parse(&config.issuer).map_err(|_| FieldError {
            field: format!("{field}.issuer"),
            message: "must be an absolute URL".into(),
        })?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(FieldError {
                field: format!("{field}.issuer"),
                message: "must be an http(s) URL".into(),
            });
        }
        if config.scopes_supported.iter().any(|s| s.is_empty() || s.contains(char::is_whitespace)) {
            return Err(FieldError {
                field: format!("{field}.scopes_supported"),
                message: "scopes must be non-empty and contain no spaces".into(),
            });
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_named_from_the_root() {
        let e = validate_advanced_config(
            "advanced_config",
            &json!({"jwt_validation":{"jwksUri":"https://a/j","workspace":"w","algorithms":["none"]}}),
        )
        .unwrap_err();
        assert_eq!(e.field, "advanced_config.jwt_validation.algorithms");
        let e =
            validate_advanced_config("advanced_config", &json!({"forward_headers":["cookie"]})).unwrap_err();
        assert_eq!(e.field, "advanced_config.forward_headers[0]");
        let e = validate_advanced_config(
            "advanced_config",
            &json!({"user_identity_forwarding":{"method":"bearer"}}),
        )
        .unwrap_err();
        assert_eq!(e.field, "advanced_config.user_identity_forwarding.method");
        assert!(validate_advanced_config("advanced_config", &json!({"other": 1})).is_ok());
        assert!(ExternalAuthConfig::from_value("external_auth_config", &json!({"issuer":"nope"})).is_err());
    }
}
