//! Strict validation of the identity parts of a server's `advanced_config` (and
//! of its `audit` recording settings) and
//! of an org's `jwt_validation`, as the control plane runs it (400 naming the
//! field). The edge parses the same keys with the same types, leniently,
//! failing closed.

use serde_json::Value;

use super::allowed_origins::AllowedOrigins;
use super::external_auth::ExternalAuthConfig;
use super::forward_headers::ForwardHeaders;
use super::jwt_validation::JwtValidation;
use super::user_identity_forwarding::IdentityForwarding;
use super::FieldError;
use crate::audit::capture::AuditCapture;

/// Validates the identity keys of a server's `advanced_config` (field paths start with `prefix`).
pub fn validate_advanced_config(prefix: &str, config: &Value) -> Result<(), FieldError> {
    let Some(config) = config.as_object() else { return Ok(()) };
    if let Some(v) = config.get("jwt_validation").filter(|v| !v.is_null()) {
        JwtValidation::from_value(v).map_err(|e| e.under(&format!("{prefix}.jwt_validation")))?;
    }
    if let Some(v) = config.get("user_identity_forwarding").filter(|v| !v.is_null()) {
        IdentityForwarding::from_value(v)
            .map_err(|e| e.under(&format!("{prefix}.user_identity_forwarding")))?;
    }
    if let Some(v) = config.get("forward_headers").filter(|v| !v.is_null()) {
        ForwardHeaders::from_value(v).map_err(|e| e.under(&format!("{prefix}.forward_headers")))?;
    }
    if let Some(v) = config.get("allowed_origins").filter(|v| !v.is_null()) {
        AllowedOrigins::from_value(v).map_err(|e| e.under(&format!("{prefix}.allowed_origins")))?;
    }
    if let Some(v) = config.get("external_auth_config").filter(|v| !v.is_null()) {
        ExternalAuthConfig::from_value(&format!("{prefix}.external_auth_config"), v)?;
    }
    if let Some(v) = config.get("audit").filter(|v| !v.is_null()) {
        AuditCapture::from_value(v).map_err(|e| e.under(&format!("{prefix}.audit")))?;
    }
    Ok(())
}

/// Validates an org-wide `jwt_validation` (no introspection client secret: orgs have no sealed store).
pub fn validate_org_jwt_validation(field: &str, value: &Value) -> Result<(), FieldError> {
    JwtValidation::from_value(value).map_err(|e| e.under(field))?;
    Ok(())
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
        let e =
            validate_advanced_config("advanced_config", &json!({"allowed_origins":["https://a.example/x"]}))
                .unwrap_err();
        assert_eq!(e.field, "advanced_config.allowed_origins[0]");
        assert!(validate_advanced_config(
            "advanced_config",
            &json!({"allowed_origins":["https://a.example"]})
        )
        .is_ok());
        assert!(validate_advanced_config("advanced_config", &json!({"other": 1})).is_ok());
        let e = validate_advanced_config(
            "advanced_config",
            &json!({"external_auth_config":{"authorization_endpoint":"nope"}}),
        )
        .unwrap_err();
        assert_eq!(e.field, "advanced_config.external_auth_config.authorization_endpoint");
        let e =
            validate_advanced_config("advanced_config", &json!({"audit":{"arguments":"yes"}})).unwrap_err();
        assert_eq!(e.field, "advanced_config.audit.arguments");
        let e = validate_advanced_config("advanced_config", &json!({"audit":{"result":true}})).unwrap_err();
        assert_eq!(e.field, "advanced_config.audit.result");
        assert!(validate_advanced_config("advanced_config", &json!({"audit":{"arguments":true}})).is_ok());
    }
}
