//! The identity parts of a server's `advanced_config`, compiled once per config
//! version. The edge parses leniently and fails closed; the control plane has
//! already validated the same keys strictly
//! (`gatehouse_config::identity::advanced_config`).

use std::sync::Arc;

use gatehouse_config::identity::external_auth::ExternalAuthConfig;
use gatehouse_config::identity::forward_headers::ForwardHeaders;
use gatehouse_config::identity::user_identity_forwarding::IdentityForwarding;
use gatehouse_config::identity::wire::jwt_validation_from_wire;
use gatehouse_proto::config::v1 as pb;
use secrecy::SecretString;

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
    /// `external_auth_config`: the server's own authorization server, advertised before the org's.
    pub external_auth: Option<ExternalAuthConfig>,
}

impl ServerIdentity {
    /// Compiles the identity parts of a server's advanced configuration; invalid parts are logged.
    pub fn from_advanced_config(
        slug: &str,
        config: Option<&pb::AdvancedConfig>,
        introspect_secret: Option<SecretString>,
    ) -> Self {
        let Some(config) = config else {
            return Self::default();
        };
        let jwt = config.jwt_validation.as_ref().map(|wire| {
            jwt_validation_from_wire(wire).map(|c| Arc::new(JwtValidator::new(c, introspect_secret))).map_err(|e| {
                tracing::warn!(server = %slug, field = %e.field, reason = %e.message, "invalid jwt_validation; refusing jwts for this server");
                e.message
            })
        });
        let forwarding = config.user_identity_forwarding.as_ref().and_then(|wire| {
            IdentityForwarding::from_wire(wire)
                .map_err(|e| tracing::warn!(server = %slug, field = %e.field, reason = %e.message, "ignoring invalid user_identity_forwarding"))
                .ok()
        });
        let forward_headers = config.forward_headers.as_ref().and_then(|wire| {
            ForwardHeaders::from_wire(wire)
                .map_err(|e| tracing::warn!(server = %slug, field = %e.field, reason = %e.message, "ignoring invalid forward_headers"))
                .ok()
        });
        let external_auth = config.external_auth_config.as_ref().and_then(|wire| {
            ExternalAuthConfig::from_wire(wire)
                .map_err(|e| tracing::warn!(server = %slug, field = %e.field, reason = %e.message, "ignoring invalid external_auth_config"))
                .ok()
        });
        Self { jwt, forwarding, forward_headers, external_auth }
    }
}
