//! Access tokens issued by Gatehouse's own authorization server: ES256 JWTs typed
//! `at+jwt`, verified offline against `EdgeSettings.jwks_json` (access-token keys only), audience-bound to the
//! exact resource URL of one org's server (`{edge public base}/mcp/{org}/{slug}`,
//! or the default org's `{edge public base}/mcp/{slug}`, RFC 8707) and
//! carrying the [`MCP_SCOPE`] every MCP URL requires.

use std::collections::HashSet;

use gatehouse_config::identity::jwks::KeySet;
use gatehouse_config::limits::GATEHOUSE_JWT_LEEWAY;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use super::caller::{string_claim, string_list, AuthSource, Caller};
use super::IdentityError;

/// The scope a Gatehouse access token needs at every MCP URL: what the
/// authorization server grants by default (its `DEFAULT_SCOPE`), advertised in
/// the protected resource metadata and the `WWW-Authenticate` challenge.
pub const MCP_SCOPE: &str = gatehouse_config::mcp_scopes::MCP;

/// Whether `caller` holds the scope its credential needs here: a Gatehouse access token
/// must carry an MCP scope ([`MCP_SCOPE`], or `mcp:read` / `mcp:write`, which then limit
/// the methods it may send); other credentials are not scoped by Gatehouse.
pub fn has_required_scope(caller: &Caller) -> bool {
    caller.source != AuthSource::GatehouseJwt
        || caller.scopes.iter().any(|s| gatehouse_config::mcp_scopes::is_mcp_scope(s))
}

/// Gatehouse's issuer, its token-verification keys and the users whose tokens
/// are refused (deactivated), parsed once per config version.
#[derive(Debug)]
pub struct GatehouseKeys {
    issuer: String,
    keys: KeySet,
    deactivated_users: HashSet<String>,
}

impl GatehouseKeys {
    /// Keys from the pushed settings; `None` when the AS is not configured.
    pub fn from_settings(issuer: &str, jwks_json: &str, deactivated_users: &[String]) -> Option<Self> {
        if issuer.is_empty() || jwks_json.trim().is_empty() {
            return None;
        }
        match KeySet::parse(jwks_json) {
            Ok(keys) => Some(Self {
                issuer: issuer.to_owned(),
                keys,
                deactivated_users: deactivated_users.iter().cloned().collect(),
            }),
            Err(reason) => {
                tracing::warn!(%reason, "ignoring the gatehouse jwks from the control plane");
                None
            }
        }
    }

    /// The issuer tokens must carry.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Whether `token` claims (unverified) to come from this issuer.
    pub fn claims_issuer(&self, token: &str) -> bool {
        unverified_issuer(token).is_some_and(|iss| iss == self.issuer)
    }

    /// Verifies a Gatehouse access token bound to one of `resources` and returns its caller.
    pub fn verify(&self, token: &str, resources: &[String]) -> Result<Caller, IdentityError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| IdentityError::Invalid("malformed jwt"))?;
        if header.alg != Algorithm::ES256 {
            return Err(IdentityError::Invalid("algorithm not allowed"));
        }
        // RFC 9068: only a JWT typed as an access token is one, so no other JWT the
        // issuer's keys sign (an identity assertion) is ever taken for an access token.
        if !header.typ.as_deref().is_some_and(is_access_token_type) {
            return Err(IdentityError::Invalid("not an access token (typ)"));
        }
        let key =
            self.keys.get(header.kid.as_deref()).ok_or(IdentityError::Invalid("unknown signing key"))?;
        if !key.accepts(header.alg) {
            return Err(IdentityError::Invalid("algorithm does not match the key"));
        }
        let mut validation = Validation::new(Algorithm::ES256);
        validation.leeway = GATEHOUSE_JWT_LEEWAY.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(resources);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(super::jwt_error)?
            .claims;
        let caller = caller(claims)?;
        if self.deactivated_users.contains(&caller.user) {
            return Err(IdentityError::Invalid("user deactivated"));
        }
        Ok(caller)
    }
}

fn caller(claims: Map<String, Value>) -> Result<Caller, IdentityError> {
    let org_id = string_claim(&claims, "org").ok_or(IdentityError::Invalid("org claim missing"))?;
    let user = string_claim(&claims, "sub").ok_or(IdentityError::Invalid("sub claim missing"))?;
    Ok(Caller {
        org_id,
        user,
        email: string_claim(&claims, "email"),
        name: string_claim(&claims, "name"),
        workspace_ids: string_list(claims.get("ws")),
        workspace_from_server: false,
        roles: string_list(claims.get("roles")),
        scopes: string_list(claims.get("scope")),
        tool_permissions: Vec::new(),
        server_permissions: Vec::new(),
        expires_at: claims.get("exp").and_then(Value::as_i64),
        claims,
        source: AuthSource::GatehouseJwt,
        presented: None,
        grant: None,
    })
}

/// Whether a JOSE `typ` names an RFC 9068 access token (`at+jwt`, or with its media-type prefix).
fn is_access_token_type(typ: &str) -> bool {
    let typ = typ.strip_prefix("application/").unwrap_or(typ);
    typ.eq_ignore_ascii_case("at+jwt")
}

/// The `iss` of a JWT, read without verifying it (only to pick a verifier).
pub fn unverified_issuer(token: &str) -> Option<String> {
    let claims: Map<String, Value> = jsonwebtoken::dangerous::insecure_decode_claims(token).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

/// Whether `token` has the shape of a JWS compact serialisation.
pub fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}
