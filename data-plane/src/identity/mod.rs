//! Every way a caller proves identity at the edge besides gateway tokens, and
//! what the upstream learns about the caller.
//!
//! - [`caller`]: the [`Caller`] every request path decision works on.
//! - [`gatehouse_jwt`]: access tokens of Gatehouse's own authorization server.
//! - [`byo_jwt`]: the org's own JWTs (`jwt_validation`: JWKS or introspection).
//! - [`client_cert`]: names of verified mTLS client certificates, matched to certificate identities;
//!   [`cert_issuer`]: the CA that signed one; [`cert_binding`]: the CA an identity is bound to.
//! - [`forwarding`]: identity headers, `X-User-Claims`, `X-User-JWT`.
//! - [`server_identity`]: a server's identity settings, compiled once per config version.
//!
//! The settings themselves (schemas and validation) are `gatehouse_config::identity`,
//! shared with the control plane. See `docs/edge.md` for the configuration reference.
//!
//! The verifiers here are compiled into the [`ConfigView`](crate::config_view::ConfigView)
//! once per config version, so nothing here reads the view or the request path:
//! [`crate::auth`] decides who a request's caller is, and `crate::proxy::headers`
//! decides what the upstream learns and in which order.

pub mod byo_jwt;
pub mod caller;
pub mod cert_binding;
pub mod cert_issuer;
pub mod client_cert;
pub mod forwarding;
pub mod gatehouse_jwt;
pub mod identity_jwt;
pub mod idp_calls;
pub mod introspection;
pub mod jwks;
pub mod server_identity;

use std::time::Duration;

use gatehouse_config::address_filter::AddressPolicy;
use http::header::AUTHORIZATION;
use http::HeaderMap;
use jsonwebtoken::errors::ErrorKind;

pub use caller::{AuthSource, Caller, TokenGrant};

use identity_jwt::IdentityJwtCache;
use idp_calls::IdpCallLimiter;
use jwks::RemoteJwks;

use crate::egress::Egress;

/// Time allowed to connect to a JWKS or introspection endpoint.
const IDP_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a presented identity was not accepted (details go to logs only).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The token is malformed, badly signed or fails a claim check.
    #[error("invalid token: {0}")]
    Invalid(&'static str),
    /// The token has expired (or is older than `maxTokenAge`).
    #[error("token expired")]
    Expired,
    /// The identity provider (JWKS or introspection endpoint) could not be reached.
    #[error("identity provider unavailable")]
    Unavailable,
    /// The client address spent its identity-provider call budget.
    #[error("too many identity provider calls from this client")]
    RateLimited,
}

/// Maps a `jsonwebtoken` failure to an [`IdentityError`].
pub(crate) fn jwt_error(e: jsonwebtoken::errors::Error) -> IdentityError {
    match e.kind() {
        ErrorKind::ExpiredSignature => IdentityError::Expired,
        ErrorKind::InvalidAudience => IdentityError::Invalid("audience mismatch"),
        ErrorKind::InvalidIssuer => IdentityError::Invalid("issuer mismatch"),
        ErrorKind::InvalidSignature => IdentityError::Invalid("bad signature"),
        ErrorKind::ImmatureSignature => IdentityError::Invalid("not yet valid"),
        ErrorKind::MissingRequiredClaim(_) => IdentityError::Invalid("required claim missing"),
        ErrorKind::InvalidAlgorithm => IdentityError::Invalid("algorithm not allowed"),
        _ => IdentityError::Invalid("malformed jwt"),
    }
}

/// Identity state that outlives config versions: the IdP HTTP client, remote
/// JWKS and the signed identity-assertion cache.
#[derive(Debug)]
pub struct IdentityRuntime {
    /// Client for JWKS and introspection endpoints (no redirects, guarded addresses).
    pub http: Egress,
    /// Remote key sets by URI.
    pub jwks: RemoteJwks,
    /// Signed `X-User-JWT` assertions.
    pub jwt_cache: IdentityJwtCache,
    /// Identity-provider calls unauthenticated requests may cause, per client address.
    pub idp_calls: IdpCallLimiter,
}

impl IdentityRuntime {
    /// Builds the runtime with its own HTTP client, reaching only what `addresses` allows,
    /// and a budget of `idp_calls_per_minute` identity-provider calls per client address.
    pub fn new(addresses: AddressPolicy, idp_calls_per_minute: u32) -> Result<Self, reqwest::Error> {
        let http = Egress::new(addresses, |b| {
            b.connect_timeout(IDP_CONNECT_TIMEOUT).redirect(reqwest::redirect::Policy::none())
        })?;
        Ok(Self {
            http,
            jwks: RemoteJwks::default(),
            jwt_cache: IdentityJwtCache::default(),
            idp_calls: IdpCallLimiter::new(idp_calls_per_minute),
        })
    }
}

/// The `Authorization: Bearer` credential (scheme case-insensitive), if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
}
