//! `advanced_config.oauth_metadata`: admin overrides of anything discovered
//! about an upstream's OAuth setup. Validated once; the client secret is moved
//! out of the JSON into the credential store and replaced by a placeholder.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::Deserialize;

use crate::validation::{self, FieldError};

/// What responses and stored config show instead of a client secret.
pub const SECRET_PLACEHOLDER: &str = "••••";
/// Token endpoint client authentication methods Gatehouse supports.
pub const AUTH_METHODS: &[&str] = &["none", "client_secret_basic", "client_secret_post"];
/// Authorization parameters that `authorization_params` can never set.
pub const RESERVED_PARAMS: &[&str] = &[
    "client_id",
    "code_challenge",
    "code_challenge_method",
    "redirect_uri",
    "resource",
    "response_type",
    "scope",
    "state",
];
const FIELD: &str = "advanced_config.oauth_metadata";

/// Parsed `advanced_config.oauth_metadata`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthOverrides {
    /// Authorization endpoint.
    pub authorization_endpoint: Option<String>,
    /// Token endpoint.
    pub token_endpoint: Option<String>,
    /// Dynamic client registration endpoint.
    pub registration_endpoint: Option<String>,
    /// Token revocation endpoint (RFC 7009).
    pub revocation_endpoint: Option<String>,
    /// Authorization server issuer.
    pub issuer: Option<String>,
    /// Scopes to request.
    pub scopes: Option<Vec<String>>,
    /// Scopes the upstream supports (requested when no challenge names any).
    pub scopes_supported: Option<Vec<String>>,
    /// Pre-registered client id.
    pub client_id: Option<String>,
    /// Pre-registered client secret (input only; stored sealed).
    pub client_secret: Option<String>,
    /// `none` | `client_secret_basic` | `client_secret_post`.
    pub token_endpoint_auth_method: Option<String>,
    /// Extra authorization request parameters.
    pub authorization_params: Option<BTreeMap<String, String>>,
}

impl OAuthOverrides {
    /// Reads the overrides of a stored advanced config (placeholder secret included).
    pub fn from_config(advanced_config: &serde_json::Value) -> Self {
        advanced_config
            .get("oauth_metadata")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }

    /// The scopes to request when nothing more specific is known.
    pub fn scopes(&self) -> Option<&[String]> {
        self.scopes.as_deref().or(self.scopes_supported.as_deref())
    }
}

/// What to do with the stored client secret after a create or update.
#[derive(Debug, Clone)]
pub enum SecretChange {
    /// Store this secret.
    Set(SecretString),
    /// Keep whatever is stored (the placeholder was sent back).
    Keep,
    /// Remove any stored secret.
    Clear,
}

/// Validates `advanced_config.oauth_metadata` for `auth_type`, moves a client
/// secret out of the JSON (leaving the placeholder) and says what to store.
pub fn take_secret(
    auth_type: &str,
    advanced_config: &mut serde_json::Value,
) -> Result<SecretChange, FieldError> {
    let Some(raw) = advanced_config.get_mut("oauth_metadata") else {
        return Ok(SecretChange::Clear);
    };
    if !matches!(auth_type, "oauth2" | "client_credentials") {
        return Err(FieldError::new(
            FIELD,
            "is only used with auth_type \"oauth2\" or \"client_credentials\"",
        ));
    }
    let parsed: OAuthOverrides = serde_path_to_error::deserialize(raw.clone()).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { FIELD.to_owned() } else { format!("{FIELD}.{path}") };
        FieldError::new(field, describe(e.inner()))
    })?;
    validate(auth_type, &parsed)?;
    let change = match parsed.client_secret.as_deref() {
        None => SecretChange::Clear,
        Some(SECRET_PLACEHOLDER) => SecretChange::Keep,
        Some(secret) => SecretChange::Set(SecretString::from(secret.to_owned())),
    };
    if parsed.client_secret.is_some() {
        raw["client_secret"] = serde_json::Value::String(SECRET_PLACEHOLDER.to_owned());
    }
    Ok(change)
}

fn describe(err: &serde_json::Error) -> String {
    // serde messages can quote input values; keep only the kind of problem.
    let text = err.to_string();
    if text.starts_with("unknown field") {
        text.split(", expected").next().unwrap_or("unknown field").to_owned()
    } else if text.starts_with("invalid type") {
        "has the wrong type".to_owned()
    } else {
        "is invalid".to_owned()
    }
}

fn validate(auth_type: &str, o: &OAuthOverrides) -> Result<(), FieldError> {
    for (name, value) in [
        ("authorization_endpoint", &o.authorization_endpoint),
        ("token_endpoint", &o.token_endpoint),
        ("registration_endpoint", &o.registration_endpoint),
        ("revocation_endpoint", &o.revocation_endpoint),
        ("issuer", &o.issuer),
    ] {
        if let Some(url) = value {
            validation::upstream_url(&format!("{FIELD}.{name}"), url)?;
        }
    }
    for (name, value) in [("scopes", &o.scopes), ("scopes_supported", &o.scopes_supported)] {
        for scope in value.iter().flatten() {
            let ok = !scope.is_empty()
                && scope.len() <= 256
                && scope.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
            if !ok {
                return Err(FieldError::new(
                    format!("{FIELD}.{name}"),
                    "scopes must be non-empty visible ASCII without spaces, quotes or backslashes",
                ));
            }
        }
    }
    if let Some(id) = &o.client_id {
        if id.is_empty() || id.len() > 1024 || id.chars().any(char::is_control) {
            return Err(FieldError::new(format!("{FIELD}.client_id"), "must be 1-1024 characters"));
        }
    }
    if let Some(secret) = &o.client_secret {
        if o.client_id.is_none() {
            return Err(FieldError::new(format!("{FIELD}.client_secret"), "needs client_id"));
        }
        if secret.is_empty() || secret.len() > 4096 {
            return Err(FieldError::new(format!("{FIELD}.client_secret"), "must be 1-4096 characters"));
        }
    }
    if let Some(method) = &o.token_endpoint_auth_method {
        if !AUTH_METHODS.contains(&method.as_str()) {
            return Err(FieldError::new(
                format!("{FIELD}.token_endpoint_auth_method"),
                format!("must be one of {}", AUTH_METHODS.join(", ")),
            ));
        }
        if method != "none" && o.client_secret.is_none() {
            return Err(FieldError::new(
                format!("{FIELD}.token_endpoint_auth_method"),
                format!("{method} needs client_secret"),
            ));
        }
    }
    if auth_type == "client_credentials" && o.client_id.is_some() && o.client_secret.is_none() {
        return Err(FieldError::new(
            format!("{FIELD}.client_secret"),
            "is required with client_id for auth_type \"client_credentials\"",
        ));
    }
    for (key, value) in o.authorization_params.iter().flatten() {
        let field = format!("{FIELD}.authorization_params.{}", key.chars().take(64).collect::<String>());
        if RESERVED_PARAMS.contains(&key.as_str()) {
            return Err(FieldError::new(field, "is set by Gatehouse and cannot be overridden"));
        }
        if key.is_empty() || key.len() > 128 || value.len() > 2048 {
            return Err(FieldError::new(field, "names must be 1-128 and values at most 2048 characters"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_moves_out_and_placeholder_keeps() {
        let mut config = json!({"oauth_metadata": {"client_id": "abc", "client_secret": "s3cret-value"}});
        let change = take_secret("oauth2", &mut config).unwrap();
        assert!(matches!(change, SecretChange::Set(_)));
        assert!(!config.to_string().contains("s3cret-value"));
        assert_eq!(config["oauth_metadata"]["client_secret"], SECRET_PLACEHOLDER);
        assert!(matches!(take_secret("oauth2", &mut config).unwrap(), SecretChange::Keep));
    }

    #[test]
    fn reserved_params_and_bad_fields_are_refused() {
        for key in RESERVED_PARAMS {
            let mut config = json!({"oauth_metadata": {"authorization_params": {*key: "x"}}});
            let err = take_secret("oauth2", &mut config).unwrap_err();
            assert_eq!(err.field, format!("{FIELD}.authorization_params.{key}"));
        }
        let mut config = json!({"oauth_metadata": {"token_endpoint": "ftp://x"}});
        assert_eq!(take_secret("oauth2", &mut config).unwrap_err().field, format!("{FIELD}.token_endpoint"));
        let mut config = json!({"oauth_metadata": {"token_endpoint_auth_method": "private_key_jwt"}});
        let err = take_secret("oauth2", &mut config).unwrap_err();
        assert_eq!(err.field, format!("{FIELD}.token_endpoint_auth_method"));
        let mut config = json!({"oauth_metadata": {"client_secret": "x"}});
        assert_eq!(take_secret("oauth2", &mut config).unwrap_err().field, format!("{FIELD}.client_secret"));
        let mut config = json!({"oauth_metadata": {"bogus": 1}});
        assert_eq!(take_secret("oauth2", &mut config).unwrap_err().field, format!("{FIELD}.bogus"));
        let mut config = json!({"oauth_metadata": {}});
        assert_eq!(take_secret("headers", &mut config).unwrap_err().field, FIELD);
    }
}
