//! The warnings an admin gets for a bring-your-own-JWT setting that is accepted but
//! weaker or narrower than it may look: one that opts out of the issuer and audience
//! checks, and one that names no workspace (its callers act in the server's workspace
//! only while there is exactly one). Each is a `Warning: 299` header (as the Kubernetes
//! API warns) and an entry of the response's `warnings`.

use axum::http::{header::WARNING, HeaderMap, HeaderValue};
use serde_json::Value;

const SKIPS_CHECKS: &str = "jwt_validation.skipIssuerAndAudienceCheck: tokens from any issuer the keys trust, minted for any service, are accepted";
const NO_WORKSPACE: &str = "jwt_validation names neither workspace nor workspaceClaim: callers act in the server's workspace while it is provisioned to exactly one; with several, their requests are refused (403) until workspaceClaim is set";

/// The warnings of one save.
#[derive(Debug, Default)]
pub(crate) struct Warnings(Vec<&'static str>);

impl Warnings {
    /// The warnings for `jwt_validation` (as stored).
    pub(crate) fn for_jwt_validation(jwt_validation: Option<&Value>) -> Self {
        let Some(config) = jwt_validation.and_then(Value::as_object) else { return Self::default() };
        let mut warnings = Vec::new();
        if config.get("skipIssuerAndAudienceCheck").and_then(Value::as_bool).unwrap_or(false) {
            warnings.push(SKIPS_CHECKS);
        }
        let names = |key: &str| config.get(key).is_some_and(|v| !v.is_null());
        if !names("workspace") && !names("workspaceClaim") {
            warnings.push(NO_WORKSPACE);
        }
        Self(warnings)
    }

    /// The warnings for a server's `advanced_config`.
    pub(crate) fn for_advanced_config(advanced_config: Option<&Value>) -> Self {
        Self::for_jwt_validation(advanced_config.and_then(|c| c.get("jwt_validation")))
    }

    /// One `Warning: 299` header per warning.
    pub(crate) fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for text in &self.0 {
            if let Ok(value) = HeaderValue::from_str(&format!(r#"299 gatehouse "{text}""#)) {
                headers.append(WARNING, value);
            }
        }
        headers
    }

    /// The texts, for the response's `warnings`.
    pub(crate) fn texts(&self) -> Vec<String> {
        self.0.iter().map(|t| (*t).to_owned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_weakness_is_one_warning() {
        let none = Warnings::for_jwt_validation(Some(&json!({"jwksUri": "https://i/j", "workspace": "w"})));
        assert!(none.texts().is_empty() && none.headers().is_empty());
        let both = Warnings::for_jwt_validation(Some(&json!({"jwksUri": "https://i/j",
            "skipIssuerAndAudienceCheck": true})));
        assert_eq!(both.headers().get_all(WARNING).iter().count(), 2);
        assert!(both.texts()[1].contains("workspaceClaim"));
        assert!(Warnings::for_advanced_config(Some(&json!({"forward_headers": []}))).texts().is_empty());
    }
}
