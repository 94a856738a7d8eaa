//! [`ProxyState`]: what the request path shares across requests.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::audit::AuditQueue;
use crate::config::{ProxyConfigError, ProxySettings};
use crate::credentials::CredentialBroker;
use crate::identity::IdentityRuntime;
use crate::limits::RateLimiter;
use crate::state::EdgeState;
use crate::upstream_client::UpstreamClient;

/// Everything the request path shares: edge state, one pooled HTTP client, settings.
#[derive(Debug, Clone)]
pub struct ProxyState {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) edge: Arc<EdgeState>,
    pub(super) client: UpstreamClient,
    pub(super) settings: ProxySettings,
    /// Whether the "no session key" warning has been logged.
    pub(super) warned_no_session_key: AtomicBool,
    /// Upstream OAuth credentials; `None` = OAuth servers are unsupported.
    pub(super) broker: Option<Arc<CredentialBroker>>,
    /// Identity verification state shared across config versions.
    pub(super) identity: IdentityRuntime,
    /// Rate limits and budgets (local only until [`ProxyState::with_rate_limiter`]).
    pub(super) limiter: Arc<RateLimiter>,
    /// Where decided requests are recorded; `None` = auditing off.
    pub(super) audit: Option<Arc<AuditQueue>>,
}

// The edge state redacts itself; the broker and the clients are left out.
impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyState")
            .field("edge", &self.edge)
            .field("settings", &self.settings)
            .field("credential_broker", &self.broker.is_some())
            .finish_non_exhaustive()
    }
}

impl ProxyState {
    /// Builds the shared upstream client (pooled, HTTP/2 by ALPN, no redirects: one would
    /// re-send the injected credentials somewhere else; no total timeout: streams are long).
    pub fn new(edge: Arc<EdgeState>, settings: ProxySettings) -> Result<Self, ProxyConfigError> {
        let client = UpstreamClient::new(&settings)?;
        let identity =
            IdentityRuntime::new(settings.upstream_addresses.clone(), settings.idp_calls_per_minute)
                .map_err(ProxyConfigError::Client)?;
        let inner = Inner {
            edge,
            client,
            settings,
            warned_no_session_key: AtomicBool::new(false),
            identity,
            broker: None,
            limiter: Arc::new(RateLimiter::local_only(crate::config::credentials::DEFAULT_KEY_PREFIX)),
            audit: None,
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// Uses `broker` for `oauth2` and `client_credentials` servers (call right after [`ProxyState::new`]).
    pub fn with_credential_broker(mut self, broker: Arc<CredentialBroker>) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.broker = Some(broker),
            None => tracing::error!("credential broker set on a shared proxy state; ignored"),
        }
        self
    }

    /// Decides rate limits with `limiter` (call right after [`ProxyState::new`]).
    pub fn with_rate_limiter(mut self, limiter: Arc<RateLimiter>) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.limiter = limiter,
            None => tracing::error!("rate limiter set on a shared proxy state; ignored"),
        }
        self
    }

    /// Records every decided request into `queue` (call right after [`ProxyState::new`]).
    pub fn with_audit(mut self, queue: Arc<AuditQueue>) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.audit = Some(queue),
            None => tracing::error!("audit queue set on a shared proxy state; ignored"),
        }
        self
    }

    /// The upstream client (for the task that reloads its CA bundle).
    pub fn upstream_client(&self) -> &UpstreamClient {
        &self.inner.client
    }

    /// The edge state (served config).
    pub(crate) fn edge_state(&self) -> &Arc<EdgeState> {
        &self.inner.edge
    }

    /// The configured public base URL of the edge, if any.
    pub(crate) fn public_base_url(&self) -> Option<&url::Url> {
        self.inner.settings.public_base_url.as_ref()
    }
}
