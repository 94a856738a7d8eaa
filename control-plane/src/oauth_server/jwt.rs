//! The access-token contract: ES256 JWTs with `typ: at+jwt`, audience-bound to one MCP resource.

use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};

use super::keys::{self, KeyError};
use crate::store::{ActiveSigningKey, AsSubject};

/// The claims of a Gatehouse access token (what the edges verify).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer: the control plane's public URL.
    pub iss: String,
    /// Audience: the exact MCP resource URL (`{edge}/mcp/{org}/{slug}`, or the default
    /// org's `{edge}/mcp/{slug}`).
    pub aud: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Unique token id.
    pub jti: String,
    /// User id, or the machine client's id.
    pub sub: String,
    /// Org id.
    pub org: String,
    /// Workspace ids.
    pub ws: Vec<String>,
    /// Email (may be empty).
    pub email: String,
    /// Display name.
    pub name: String,
    /// Org roles.
    pub roles: Vec<String>,
    /// Granted scope (space-separated).
    pub scope: String,
    /// The OAuth client the token was issued to.
    pub client_id: String,
}

impl AccessClaims {
    /// Claims for `subject`, valid for `ttl_secs` from now.
    pub fn new(
        issuer: &str,
        resource: &str,
        subject: &AsSubject,
        scope: &str,
        client_id: &str,
        ttl_secs: i64,
    ) -> Self {
        let iat = chrono::Utc::now().timestamp();
        Self {
            iss: issuer.to_owned(),
            aud: resource.to_owned(),
            exp: iat + ttl_secs,
            iat,
            jti: uuid::Uuid::new_v4().to_string(),
            sub: subject.sub.clone(),
            org: subject.org.clone(),
            ws: subject.ws.clone(),
            email: subject.email.clone(),
            name: subject.name.clone(),
            roles: subject.roles.clone(),
            scope: scope.to_owned(),
            client_id: client_id.to_owned(),
        }
    }
}

/// Signs `claims` with `key` (header `alg: ES256`, `kid`, `typ: at+jwt`).
pub fn sign(key: &ActiveSigningKey, claims: &AccessClaims) -> Result<String, KeyError> {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid.clone());
    header.typ = Some("at+jwt".to_owned());
    let encoding = keys::encoding_key(&key.private_jwk)?;
    jsonwebtoken::encode(&header, claims, &encoding).map_err(|_| KeyError::Crypto)
}
