//! An org's `external_auth_config`: its own authorization server, advertised in
//! protected resource metadata instead of Gatehouse's.

use serde::Deserialize;
use serde_json::Value;

use super::FieldError;

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
        config.validated(field)
    }

    /// Checks the issuer and scopes (field paths under `field`).
    pub fn validated(self, field: &str) -> Result<Self, FieldError> {
        let config = self;
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
