//! Gatehouse as the OAuth client of upstream MCP servers: discovery, client
//! registration, the per-user authorization-code + PKCE flow (links, start,
//! callback), sealed grants and leases, which the edges reach through the
//! `CredentialBroker` service (`crate::credential_broker`).
//!
//! The browser routes come with their own state, [`UpstreamOAuthState`].

pub mod authorize;
pub mod browser_binding;
pub mod callback;
pub mod discovery;
pub mod edge_config;
pub mod overrides;
pub mod pkce;
pub mod registration;
pub mod resolve;
mod routes;
pub mod ssrf;
pub mod token_client;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::store::authorization_links::ConsumeError;
use crate::store::{Server, Store, StoreError};
use ssrf::{BlockedAddress, GuardedClient, SsrfPolicy};

pub use routes::{routes, UpstreamOAuthState};

/// Prefix of authorization links (`{START_PATH}/{id}`).
pub const START_PATH: &str = "/oauth/upstream/start";
/// Where upstream authorization servers redirect back to.
pub const CALLBACK_PATH: &str = "/oauth/upstream/callback";
/// Gatehouse's Client ID Metadata Document.
pub const CLIENT_METADATA_PATH: &str = "/oauth/client-metadata.json";

/// How often servers whose OAuth setup could not be resolved are retried.
pub const RESOLVE_RETRY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// Why an upstream OAuth operation failed. Messages never contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A discovered URL points at a refused address.
    #[error("refusing to contact upstream: {0}")]
    Blocked(#[from] BlockedAddress),
    /// An HTTP call to the upstream or its AS failed.
    #[error("upstream request failed: {0}")]
    Transport(String),
    /// Metadata could not be discovered.
    #[error("oauth discovery failed: {0}")]
    Discovery(String),
    /// The protected resource metadata is for another resource (RFC 9728 §3.3).
    #[error(
        "the server's protected resource metadata names resource {published:?}, which is not {server_url} or a parent of it; refusing to use it"
    )]
    ResourceMismatch {
        /// The `resource` the metadata published.
        published: String,
        /// The registered server URL.
        server_url: String,
    },
    /// The AS metadata names another issuer than the one it was discovered for (RFC 8414 §3.3).
    #[error(
        "authorization server metadata at {metadata_url} names issuer {issuer:?}, not {expected:?}; refusing to use it"
    )]
    IssuerMetadataMismatch {
        /// Where the metadata was fetched.
        metadata_url: String,
        /// The `issuer` it names.
        issuer: String,
        /// The issuer identifier it was discovered from.
        expected: String,
    },
    /// No client could be registered.
    #[error("oauth client registration failed: {0}")]
    Registration(String),
    /// The AS does not advertise PKCE S256.
    #[error("the authorization server does not support PKCE with S256")]
    PkceUnsupported,
    /// The server does not use `oauth2`/`client_credentials`.
    #[error("the server does not use oauth")]
    NotOAuth,
    /// No such server.
    #[error("server not found")]
    ServerNotFound,
    /// The token endpoint answered an error.
    #[error("token endpoint error: {error}")]
    TokenEndpoint {
        /// OAuth `error` code (e.g. `invalid_grant`).
        error: String,
        /// `error_description`, if any.
        description: Option<String>,
    },
    /// The authorization link cannot be used.
    #[error("authorization link {0}")]
    Link(ConsumeError),
    /// The callback's `state` cannot be used.
    #[error("authorization state {0}")]
    State(ConsumeError),
    /// RFC 9207 `iss` missing or not the expected issuer.
    #[error("authorization response issuer mismatch")]
    IssuerMismatch,
    /// The user or AS refused the authorization.
    #[error("authorization denied: {0}")]
    Denied(String),
    /// The callback request is malformed.
    #[error("bad callback: {0}")]
    BadCallback(&'static str),
    /// The callback reached a browser that did not start this authorization.
    #[error("authorization response in another browser")]
    WrongBrowser,
    /// The callback reached a session of another user than the one the link was for.
    #[error("authorization response in another user's session")]
    WrongUser,
}

impl OAuthError {
    fn transport(err: reqwest::Error) -> Self {
        // Without the URL: discovered URLs are fine to log but keep messages short.
        OAuthError::Transport(err.without_url().to_string())
    }
}

/// Shared handle to the upstream OAuth machinery. Cheap to clone.
#[derive(Clone)]
pub struct UpstreamOAuth {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    http: GuardedClient,
    public_url: String,
    /// Serialises resolution in this process so concurrent first uses register once.
    resolving: tokio::sync::Mutex<()>,
    /// The browser-binding key, loaded (or created) on first use.
    browser_key: tokio::sync::OnceCell<secrecy::SecretBox<[u8; 32]>>,
}

impl std::fmt::Debug for UpstreamOAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamOAuth").field("public_url", &self.inner.public_url).finish_non_exhaustive()
    }
}

impl UpstreamOAuth {
    /// A handle using `public_url` (no trailing slash) for links and callbacks.
    pub fn new(store: Store, policy: SsrfPolicy, public_url: String) -> Self {
        let public_url = public_url.trim_end_matches('/').to_owned();
        let resolving = tokio::sync::Mutex::new(());
        let browser_key = tokio::sync::OnceCell::new();
        Self { inner: Arc::new(Inner { store, http: policy.client(), public_url, resolving, browser_key }) }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The SSRF-guarded HTTP client for upstream calls.
    pub fn http(&self) -> &GuardedClient {
        &self.inner.http
    }

    /// Held while resolving a server (discovery + registration).
    pub(crate) async fn resolving(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.resolving.lock().await
    }

    /// The key binding a flow to its browser (the same on every replica: it is stored).
    pub async fn browser_key(&self) -> Result<&secrecy::SecretBox<[u8; 32]>, OAuthError> {
        Ok(self.inner.browser_key.get_or_try_init(|| self.inner.store.upstream_oauth_browser_key()).await?)
    }

    /// The control plane's public base URL.
    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }

    /// Where upstream authorization servers redirect back to.
    pub fn callback_url(&self) -> String {
        format!("{}{}", self.inner.public_url, CALLBACK_PATH)
    }

    /// Gatehouse's client id when it uses a Client ID Metadata Document.
    pub fn client_metadata_url(&self) -> String {
        format!("{}{}", self.inner.public_url, CLIENT_METADATA_PATH)
    }

    /// The server `server_id` of `org_id`.
    pub async fn server(&self, org_id: &str, server_id: &str) -> Result<Server, OAuthError> {
        let servers = self.store().list_servers(org_id).await?;
        servers.into_iter().find(|s| s.id == server_id).ok_or(OAuthError::ServerNotFound)
    }

    /// After a server was created or changed: forgets its resolved setup and,
    /// for OAuth servers, resolves again in the background (best effort; the
    /// first authorization link retries) and publishes the result to edges.
    pub async fn server_changed(&self, server: Server) {
        if let Err(error) =
            self.store().delete_oauth_client(&crate::store::oauth_clients::server_key(&server.id)).await
        {
            tracing::warn!(server_id = %server.id, %error, "forgetting resolved upstream oauth failed");
        }
        if !matches!(server.auth_type.as_str(), "oauth2" | "client_credentials") {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            match resolve::resolve(&this, &server).await {
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(server_id = %server.id, %error, "upstream oauth not ready; will retry on use")
                }
            }
        });
    }

    /// Retries, every `interval` until `shutdown`, the resolution of OAuth
    /// servers that have none yet (e.g. the AS was down when they were
    /// registered), so client-credentials servers become ready without a PATCH;
    /// also purges expired authorization links and states.
    pub async fn retry_unresolved(self, interval: std::time::Duration, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            // Expired links and states are useless; keep them an hour for diagnosis.
            if let Err(error) = self.store().purge_authorizations(now_ms() - 3_600_000).await {
                tracing::warn!(%error, "purging expired authorization links failed");
            }
            let servers = match self.store().unresolved_oauth_servers().await {
                Ok(servers) => servers,
                Err(error) => {
                    tracing::warn!(%error, "loading servers for upstream oauth retry failed");
                    continue;
                }
            };
            for server in servers {
                // A resolved client is stored with a config version, which publishes it.
                if let Err(error) = resolve::resolve(&self, &server).await {
                    tracing::debug!(server_id = %server.id, %error, "upstream oauth still not ready")
                }
            }
        }
    }
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Revokes a deleted grant at its upstream AS (RFC 7009) when the AS advertises
/// a revocation endpoint: the refresh token if any, else the access token.
/// Best effort: failures are logged.
pub async fn revoke_grant(ctx: &UpstreamOAuth, grant: crate::store::grants::Grant) {
    let record = match ctx
        .store()
        .oauth_client(&crate::store::oauth_clients::server_key(&grant.server_id))
        .await
    {
        Ok(Some(record)) => record,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(grant_id = %grant.id, %error, "loading the upstream client for revocation failed");
            return;
        }
    };
    let endpoints: Option<resolve::ResolvedEndpoints> = serde_json::from_value(record.metadata).ok();
    let Some(endpoint) = endpoints.and_then(|e| e.revocation_endpoint).and_then(|e| url::Url::parse(&e).ok())
    else {
        return;
    };
    let auth = token_client::ClientAuth {
        client_id: record.client_id,
        client_secret: record.client_secret,
        method: record.auth_method,
    };
    let (token, hint) = match &grant.tokens.refresh_token {
        Some(refresh) => (refresh, "refresh_token"),
        None => (&grant.tokens.access_token, "access_token"),
    };
    match token_client::revoke(ctx.http(), &endpoint, &auth, token, hint).await {
        Ok(()) => tracing::info!(grant_id = %grant.id, "upstream grant revoked"),
        Err(error) => tracing::warn!(grant_id = %grant.id, %error, "upstream revocation failed"),
    }
}
