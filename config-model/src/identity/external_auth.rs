//! `external_auth_config`: an authorization server of the org's own (its IdP),
//! advertised in protected resource metadata instead of Gatehouse's, org-wide
//! (`PATCH /v1/org`) or for one server (its `advanced_config`).
//!
//! Two spellings are accepted: Gatehouse's `{issuer, scopes_supported}` and the
//! hosted gateway's documented `{authorization_endpoint, token_endpoint, scope}`.
//! RFC 9728 metadata names an authorization server by its issuer, so with only
//! the endpoints the issuer is the authorization endpoint's origin (where RFC 8414
//! metadata is looked up); `issuer` overrides it for an IdP whose issuer has a path.

use serde::Deserialize;
use serde_json::Value;

use super::FieldError;

/// `external_auth_config` as written, in either spelling.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExternalAuthSpec {
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    scopes_supported: Option<Vec<String>>,
    #[serde(default)]
    authorization_endpoint: Option<String>,
    #[serde(default)]
    token_endpoint: Option<String>,
    #[serde(default)]
    registration_endpoint: Option<String>,
    /// Space-separated scopes (the documented spelling of `scopes_supported`).
    #[serde(default)]
    scope: Option<String>,
}

/// A validated `external_auth_config`: what protected resource metadata advertises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalAuthConfig {
    /// Issuer identifier of the authorization server.
    pub issuer: String,
    /// Scopes advertised in protected resource metadata.
    pub scopes_supported: Vec<String>,
}

fn http_url(field: String, raw: &str) -> Result<url::Url, FieldError> {
    let url = url::Url::parse(raw).map_err(|_| FieldError::new(&field, "must be an absolute URL"))?;
    if !matches!(url.scheme(), "https" | "http") || !url.has_host() {
        return Err(FieldError::new(field, "must be an http(s) URL"));
    }
    Ok(url)
}

impl ExternalAuthConfig {
    /// Parses and validates `external_auth_config` (field paths under `field`).
    pub fn from_value(field: &str, value: &Value) -> Result<Self, FieldError> {
        let spec: ExternalAuthSpec = serde_json::from_value(value.clone())
            .map_err(|e| FieldError { field: field.to_owned(), message: e.to_string() })?;
        let at = |key: &str| format!("{field}.{key}");
        let authorization = spec
            .authorization_endpoint
            .as_deref()
            .map(|raw| http_url(at("authorization_endpoint"), raw))
            .transpose()?;
        for (key, raw) in
            [("token_endpoint", &spec.token_endpoint), ("registration_endpoint", &spec.registration_endpoint)]
        {
            if let Some(raw) = raw {
                http_url(at(key), raw)?;
            }
        }
        let issuer = match (spec.issuer, authorization) {
            (Some(issuer), _) => issuer,
            (None, Some(endpoint)) => endpoint.origin().ascii_serialization(),
            (None, None) => {
                return Err(FieldError::new(at("issuer"), "is required (or give authorization_endpoint)"))
            }
        };
        let scopes_supported = match (spec.scopes_supported, spec.scope) {
            (Some(_), Some(_)) => {
                return Err(FieldError::new(at("scope"), "give scope or scopes_supported, not both"))
            }
            (Some(list), None) => list,
            (None, Some(text)) => text.split_whitespace().map(str::to_owned).collect(),
            (None, None) => Vec::new(),
        };
        Self { issuer, scopes_supported }.validated(field)
    }

    /// Checks the issuer and scopes (field paths under `field`).
    pub fn validated(self, field: &str) -> Result<Self, FieldError> {
        http_url(format!("{field}.issuer"), &self.issuer)?;
        if self.scopes_supported.iter().any(|s| s.is_empty() || s.contains(char::is_whitespace)) {
            return Err(FieldError {
                field: format!("{field}.scopes_supported"),
                message: "scopes must be non-empty and contain no spaces".into(),
            });
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_documented_endpoints_form_names_the_endpoints_origin() {
        let documented = json!({"authorization_endpoint": "https://idp.example.com/authorize",
            "token_endpoint": "https://idp.example.com/token", "scope": "openid profile mcp"});
        let config = ExternalAuthConfig::from_value("e", &documented).unwrap();
        assert_eq!(config.issuer, "https://idp.example.com");
        assert_eq!(config.scopes_supported, ["openid", "profile", "mcp"]);
        let with_issuer = json!({"issuer": "https://org.okta.com/oauth2/default",
            "authorization_endpoint": "https://org.okta.com/oauth2/default/v1/authorize"});
        assert_eq!(
            ExternalAuthConfig::from_value("e", &with_issuer).unwrap().issuer,
            "https://org.okta.com/oauth2/default"
        );
        let native = json!({"issuer": "https://idp.example", "scopes_supported": ["mcp"]});
        assert_eq!(ExternalAuthConfig::from_value("e", &native).unwrap().scopes_supported, ["mcp"]);
    }

    #[test]
    fn mistakes_name_the_field() {
        let field = |v: Value| ExternalAuthConfig::from_value("e", &v).unwrap_err().field;
        assert_eq!(field(json!({"issuer": "nope"})), "e.issuer");
        assert_eq!(field(json!({"scope": "mcp"})), "e.issuer");
        assert_eq!(field(json!({"authorization_endpoint": "/authorize"})), "e.authorization_endpoint");
        assert_eq!(
            field(json!({"authorization_endpoint": "https://a.example/x", "token_endpoint": "ftp://a"})),
            "e.token_endpoint"
        );
        assert_eq!(
            field(json!({"issuer": "https://a.example", "scope": "a", "scopes_supported": ["a"]})),
            "e.scope"
        );
        // A client secret would be stored in plaintext, and Gatehouse is no client of this server.
        assert_eq!(field(json!({"issuer": "https://a.example", "client_secret": "s"})), "e");
    }
}
