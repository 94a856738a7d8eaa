//! Every way a caller proves identity at the edge besides gateway tokens, and
//! what the upstream learns about the caller.
//!
//! - [`caller`]: the [`Caller`] every request path decision works on.
//! - [`gatehouse_jwt`]: access tokens of Gatehouse's own authorization server.
//! - [`byo_jwt`]: the org's own JWTs (`jwt_validation`: JWKS or introspection).
//! - [`client_cert`]: names of verified mTLS client certificates, matched to certificate identities.
//! - [`prm`]: RFC 9728 protected resource metadata and the 401 challenge.
//! - [`forwarding`]: identity headers, `X-User-Claims`, `X-User-JWT`, `forward_headers`.
//! - [`server_identity`]: a server's identity settings, compiled once per config version.
//!
//! The settings themselves (schemas and validation) are `gatehouse_config::identity`,
//! shared with the control plane. See `docs/edge.md` for the configuration reference.

pub mod byo_jwt;
pub mod caller;
pub mod client_cert;
pub mod forwarding;
pub mod gatehouse_jwt;
pub mod identity_jwt;
pub mod introspection;
pub mod jwks;
pub mod prm;
pub mod server_identity;

use std::time::Duration;

use gatehouse_config::identity::jwt_validation::TokenHeader;
use jsonwebtoken::errors::ErrorKind;

pub use caller::{AuthSource, Caller};

use identity_jwt::IdentityJwtCache;
use jwks::RemoteJwks;

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
    /// Client for JWKS and introspection endpoints (no redirects).
    pub http: reqwest::Client,
    /// Remote key sets by URI.
    pub jwks: RemoteJwks,
    /// Signed `X-User-JWT` assertions.
    pub jwt_cache: IdentityJwtCache,
}

impl IdentityRuntime {
    /// Builds the runtime with its own HTTP client.
    pub fn new() -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(IDP_CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { http, jwks: RemoteJwks::default(), jwt_cache: IdentityJwtCache::default() })
    }
}

/// The custom header a server's (or its org's) `jwt_validation` reads the token from.
fn token_header<'v>(
    view: &'v crate::config_view::ConfigView,
    server: &'v crate::config_view::UpstreamServer,
) -> Option<&'v http::HeaderName> {
    let configured = server.identity.jwt.as_ref().or_else(|| view.org(&server.org_id)?.jwt.as_ref());
    match configured?.as_ref().ok()?.header() {
        TokenHeader::Named(name) => Some(name),
        TokenHeader::Authorization => None,
    }
}

/// Copies the client headers `forward_headers` selects into `out` (never protected ones,
/// never the header carrying a bring-your-own token).
pub fn forward_client_headers(
    identity: &server_identity::ServerIdentity,
    view: &crate::config_view::ConfigView,
    server: &crate::config_view::UpstreamServer,
    client: &http::HeaderMap,
    out: &mut http::HeaderMap,
) {
    if let Some(forward) = &identity.forward_headers {
        forwarding::apply_forward_headers(forward, client, out, token_header(view, server));
    }
}

/// Sets the identity headers `user_identity_forwarding` asks for (highest priority).
pub fn inject_identity_headers(
    runtime: &IdentityRuntime,
    view: &crate::config_view::ConfigView,
    server: &crate::config_view::UpstreamServer,
    caller: &Caller,
    route: &crate::auth::Route,
    headers: &mut http::HeaderMap,
    now_unix: i64,
) {
    let Some(config) = &server.identity.forwarding else { return };
    let workspace_slug = view.workspace(&route.workspace_id).map_or("", |w| w.slug.as_str());
    let ctx = forwarding::IdentityContext {
        workspace_slug,
        upstream_url: server.url.as_str(),
        issuer: &view.settings().issuer,
        signer: view.identity_signer().map(|s| s.as_ref()),
        jwt_cache: &runtime.jwt_cache,
        now_unix,
    };
    forwarding::inject_identity(headers, config, caller, &ctx);
}
