//! Gatehouse as the OAuth 2.1 authorization server for MCP clients.
//!
//! RFC 8414 metadata, Dynamic Client Registration (RFC 7591), Client ID
//! Metadata Documents, authorization code + PKCE S256 with a consent screen
//! (login through the org's SSO), refresh-token rotation with reuse
//! detection, client credentials for machine identities and revocation
//! (RFC 7009). Access tokens are ES256 JWTs audience-bound to the MCP
//! resource (RFC 8707) and verified by the edges against the JWKS the config
//! stream carries; signing keys are sealed in the credential store.
//!
//! The routes come with their own state, [`AuthServerState`]; the admin routes
//! (machine clients, key rotation) are put behind admin authentication by
//! whoever mounts them.

pub mod admin;
mod authorize;
mod cimd;
mod clients;
mod error;
pub mod jwt;
pub mod keys;
mod metadata;
mod pages;
mod registration;
pub mod registration_limit;
mod resource;
mod revoke;
mod secrets;
mod token;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use axum::routing::{delete, get, post};
use axum::Router;

use crate::sso::SsoContext;
use crate::store::{
    KeyPurpose, Store, StoreError, AS_CONTROL_PLANE_PUBLIC_URL, AS_EDGE_PUBLIC_BASE_URL, AS_ISSUER,
};

pub use error::OAuthError;

/// Scopes the server knows; an omitted scope means [`DEFAULT_SCOPE`]. `mcp:read` and
/// `mcp:write` are the edges' read-only and full access (`mcp` is full access too).
pub const SCOPES_SUPPORTED: &[&str] = &[
    gatehouse_config::mcp_scopes::MCP,
    gatehouse_config::mcp_scopes::MCP_READ,
    gatehouse_config::mcp_scopes::MCP_WRITE,
    "offline_access",
];
/// Scope granted when a request names none.
pub const DEFAULT_SCOPE: &str = gatehouse_config::mcp_scopes::MCP;
/// How long an authorization code is valid.
pub const CODE_TTL: Duration = Duration::from_secs(60);
/// How long a consent screen may wait for the user's decision.
pub const CONSENT_TTL: Duration = Duration::from_secs(600);

/// Settings of the authorization server, derived once from the control-plane config.
#[derive(Debug, Clone)]
pub struct AuthServerSettings {
    /// Issuer (`iss`): the control plane's public base URL, without a trailing slash.
    pub issuer: String,
    /// The edges' public base URL; resources are `{edge_public_url}/mcp/{org}/{slug}` (and the
    /// default org's `{edge_public_url}/mcp/{slug}`).
    pub edge_public_url: String,
    /// Access-token lifetime.
    pub access_token_ttl: Duration,
    /// Refresh-token lifetime.
    pub refresh_token_ttl: Duration,
    /// Absolute lifetime of a refresh-token family (one authorization), however often refreshed.
    pub refresh_family_lifetime: Duration,
    /// Allow `http://` loopback client metadata documents (dev and tests only).
    pub allow_loopback_metadata: bool,
    /// Dynamic Client Registrations per client address per minute (0 = unlimited).
    pub registration_per_minute: u32,
    /// Registrations a client address may make at once.
    pub registration_burst: u32,
    /// Reverse proxies whose `X-Forwarded-For` entries are trusted (0 = the TCP peer is the client).
    pub trusted_proxy_hops: usize,
}

/// The authorization server's state, shared by its handlers.
pub struct AuthServer {
    store: Store,
    settings: AuthServerSettings,
    cimd: cimd::MetadataCache,
    registration_limit: registration_limit::RegistrationLimiter,
}

impl std::fmt::Debug for AuthServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServer").field("issuer", &self.settings.issuer).finish_non_exhaustive()
    }
}

/// Start-up of the authorization server failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key could not be generated.
    #[error(transparent)]
    Key(#[from] keys::KeyError),
}

impl AuthServer {
    /// The edges' public base URL (MCP clients reach `{it}/mcp/{org}/{slug}`).
    pub fn edge_public_url(&self) -> &str {
        &self.settings.edge_public_url
    }

    /// Records the issuer and public URLs for the edges and makes sure both
    /// signing keys (access tokens, identity assertions) exist.
    pub async fn start(store: Store, settings: AuthServerSettings) -> Result<Arc<Self>, StartError> {
        store
            .set_as_settings(&[
                (AS_ISSUER, &settings.issuer),
                (AS_EDGE_PUBLIC_BASE_URL, &settings.edge_public_url),
                (AS_CONTROL_PLANE_PUBLIC_URL, &settings.issuer),
            ])
            .await?;
        for purpose in [KeyPurpose::AccessToken, KeyPurpose::Identity] {
            if store.active_as_signing_key(purpose).await?.is_none()
                && store.ensure_as_signing_key(keys::generate(purpose)?).await?
            {
                tracing::info!(purpose = purpose.as_str(), "generated oauth signing key");
            }
        }
        let cimd = cimd::MetadataCache::new(settings.allow_loopback_metadata);
        let registration_limit = registration_limit::RegistrationLimiter::new(
            settings.registration_per_minute,
            settings.registration_burst,
        );
        Ok(Arc::new(Self { store, settings, cimd, registration_limit }))
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// Makes a new key active for `purpose`; the old one stays in the JWKS
    /// until every token it signed has expired. Returns the new `kid`.
    pub async fn rotate_key(&self, purpose: KeyPurpose) -> Result<String, StartError> {
        let key = keys::generate(purpose)?;
        let kid = key.kid.clone();
        // Keep a retired key published for twice the token lifetime (plus clock skew).
        let keep = chrono::Duration::from_std(self.settings.access_token_ttl * 2 + Duration::from_secs(300))
            .unwrap_or_else(|_| chrono::Duration::hours(1));
        self.store.rotate_as_signing_key(key, chrono::Utc::now() - keep).await?;
        tracing::info!(purpose = purpose.as_str(), kid = %kid, "rotated oauth signing key");
        Ok(kid)
    }
}

/// State of the authorization server's routes.
#[derive(Clone)]
pub struct AuthServerState {
    /// The authorization server.
    pub server: Arc<AuthServer>,
    /// SSO sessions: people consent after logging in.
    pub sso: SsoContext,
    /// The org every admin request acts on (the default org, for now).
    pub org_id: Arc<str>,
}

impl FromRef<AuthServerState> for SsoContext {
    fn from_ref(state: &AuthServerState) -> Self {
        state.sso.clone()
    }
}

/// The routes: metadata, JWKS, registration, authorization, token and
/// revocation, open to anyone, and the admin routes (machine clients, key
/// rotation), which `admin_only` puts behind admin authentication.
pub fn routes(state: AuthServerState, admin_only: impl FnOnce(Router) -> Router) -> Router {
    let admin = Router::new()
        .route("/v1/oauth/clients", post(admin::create_client).get(admin::list_clients))
        .route("/v1/oauth/clients/{id}", delete(admin::delete_client))
        .route("/v1/oauth/signing-keys/rotate", post(admin::rotate_signing_key))
        .route("/v1/identity/signing-keys/rotate", post(admin::rotate_identity_signing_key))
        .with_state(state.clone());
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata::authorization_server))
        .route(
            "/.well-known/oauth-authorization-server/{*issuer_path}",
            get(metadata::authorization_server_at),
        )
        .route("/.well-known/openid-configuration", get(metadata::authorization_server))
        .route("/oauth/jwks.json", get(metadata::jwks))
        .route("/oauth/register", post(registration::register))
        .route("/oauth/authorize", get(authorize::authorize))
        .route("/oauth/authorize/decision", post(authorize::decision))
        .route("/oauth/token", post(token::token))
        .route("/oauth/revoke", post(revoke::revoke))
        .with_state(state)
        .merge(admin_only(admin))
}
