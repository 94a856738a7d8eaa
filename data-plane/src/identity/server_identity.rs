//! The identity parts of a server's `advanced_config`, compiled once per config
//! version. The edge parses leniently and fails closed; the control plane has
//! already validated the same keys strictly
//! (`gatehouse_config::identity::advanced_config`).

use std::sync::Arc;

use gatehouse_config::identity::forward_headers::ForwardHeaders;
use gatehouse_config::identity::user_identity_forwarding::IdentityForwarding;
use secrecy::SecretString;
use serde_json::Value;

use super::byo_jwt::JwtValidator;

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
