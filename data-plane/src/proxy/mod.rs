//! The MCP Streamable HTTP proxy at `/mcp/{server_slug}`.
//!
//! Every request is authenticated and authorised from one in-memory
//! [`ConfigView`](crate::config_view::ConfigView), peeked (never re-serialised),
//! checked against the tool policy, then forwarded with bodies streamed in
//! both directions. Only `tools/list` responses of restricted callers are
//! rewritten. See `forward` for the request path and ARCHITECTURE.md
//! ("Edge request order", "MCP sessions") for the contract.

mod forward;
pub mod headers;
pub mod request_metadata;
mod response;
pub mod session;
pub mod sse;
mod sse_notify;
pub mod tools_filter;
pub mod trace;
mod upstream_auth;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::any;
use axum::Router;

use crate::state::EdgeState;

const MAX_REQUEST_BYTES: &str = "GATEHOUSE_MAX_REQUEST_BYTES";
const CONNECT_TIMEOUT_MS: &str = "GATEHOUSE_UPSTREAM_CONNECT_TIMEOUT_MS";
const RESPONSE_TIMEOUT_MS: &str = "GATEHOUSE_UPSTREAM_RESPONSE_TIMEOUT_MS";
const PUBLIC_BASE_URL: &str = "GATEHOUSE_PUBLIC_BASE_URL";

/// Tunables of the request path.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// Largest accepted request body (default 4 MiB); larger is answered 413.
    pub max_request_body_bytes: usize,
    /// Time allowed to connect to an upstream (default 10 s).
    pub upstream_connect_timeout: Duration,
    /// Time allowed until the upstream's response headers (default 60 s); bodies
    /// have no total timeout because SSE streams are long-lived.
    pub upstream_response_timeout: Duration,
    /// The edge's public URL, advertised in protected resource metadata and
    /// used as the audience base of Gatehouse access tokens.
    pub public_base_url: Option<url::Url>,
}

impl Default for ProxySettings {
    fn default() -> Self {
        Self {
            max_request_body_bytes: 4 * 1024 * 1024,
            upstream_connect_timeout: Duration::from_secs(10),
            upstream_response_timeout: Duration::from_secs(60),
            public_base_url: None,
        }
    }
}

impl ProxySettings {
    /// Reads `GATEHOUSE_MAX_REQUEST_BYTES`, `GATEHOUSE_UPSTREAM_CONNECT_TIMEOUT_MS`,
    /// `GATEHOUSE_UPSTREAM_RESPONSE_TIMEOUT_MS` and `GATEHOUSE_PUBLIC_BASE_URL`;
    /// unset ones keep their defaults.
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Self, ProxyConfigError> {
        let mut settings = Self::default();
        if let Some(bytes) = positive(env, MAX_REQUEST_BYTES)? {
            settings.max_request_body_bytes = usize::try_from(bytes)
                .map_err(|_| ProxyConfigError::InvalidNumber { name: MAX_REQUEST_BYTES })?;
        }
        if let Some(ms) = positive(env, CONNECT_TIMEOUT_MS)? {
            settings.upstream_connect_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = positive(env, RESPONSE_TIMEOUT_MS)? {
            settings.upstream_response_timeout = Duration::from_millis(ms);
        }
        if let Some(raw) = env.get(PUBLIC_BASE_URL).filter(|v| !v.trim().is_empty()) {
            let url = url::Url::parse(raw.trim())
                .map_err(|source| ProxyConfigError::InvalidUrl { name: PUBLIC_BASE_URL, source })?;
            settings.public_base_url = Some(url);
        }
        Ok(settings)
    }
}

fn positive(env: &BTreeMap<String, String>, name: &'static str) -> Result<Option<u64>, ProxyConfigError> {
    let Some(raw) = env.get(name) else { return Ok(None) };
    match raw.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(ProxyConfigError::InvalidNumber { name }),
    }
}

/// Why the proxy could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum ProxyConfigError {
    /// A numeric setting is not a positive integer.
    #[error("{name} must be a positive integer")]
    InvalidNumber {
        /// The environment variable.
        name: &'static str,
    },
    /// A URL setting does not parse.
    #[error("{name} is not a valid URL")]
    InvalidUrl {
        /// The environment variable.
        name: &'static str,
        /// The parse failure.
        #[source]
        source: url::ParseError,
    },
    /// The upstream HTTP client could not be built.
    #[error("failed to build the upstream HTTP client")]
    Client(#[source] reqwest::Error),
}

/// Everything the request path shares: edge state, one pooled HTTP client, settings.
#[derive(Debug, Clone)]
pub struct ProxyState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    edge: Arc<EdgeState>,
    client: reqwest::Client,
    settings: ProxySettings,
    /// Whether the "no session key" warning has been logged.
    warned_no_session_key: AtomicBool,
    /// Upstream OAuth credentials (issue 3); `None` = OAuth servers are unsupported.
    broker: Option<Arc<crate::credentials::CredentialBroker>>,
    /// Identity verification state shared across config versions.
    identity: crate::identity::IdentityRuntime,
}

impl ProxyState {
    /// Builds the shared upstream client (rustls, pooled, no redirects, no total timeout).
    pub fn new(edge: Arc<EdgeState>, settings: ProxySettings) -> Result<Self, ProxyConfigError> {
        let client = reqwest::Client::builder()
            .connect_timeout(settings.upstream_connect_timeout)
            // A redirect would re-send the injected credentials somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(ProxyConfigError::Client)?;
        let identity = crate::identity::IdentityRuntime::new().map_err(ProxyConfigError::Client)?;
        let inner = Inner {
            edge,
            client,
            settings,
            warned_no_session_key: AtomicBool::new(false),
            identity,
            broker: None,
        };
        Ok(Self { inner: Arc::new(inner) })
    }
}

impl ProxyState {
    /// Uses `broker` for `oauth2` and `client_credentials` servers (call right after [`ProxyState::new`]).
    pub fn with_credential_broker(mut self, broker: Arc<crate::credentials::CredentialBroker>) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.broker = Some(broker),
            None => tracing::error!("credential broker set on a shared proxy state; ignored"),
        }
        self
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

/// The MCP routes: POST, GET and DELETE on `/mcp/{slug}`; other methods get a JSON 405.
/// Also serves RFC 9728 protected resource metadata for every `/mcp/{slug}`.
pub fn router(state: ProxyState) -> Router {
    Router::new()
        .route("/mcp/{slug}", any(forward::handle))
        .route(
            "/.well-known/oauth-protected-resource/mcp/{slug}",
            axum::routing::get(crate::identity::prm::handler),
        )
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_and_overrides() {
        let s = ProxySettings::from_env(&env(&[])).unwrap();
        assert_eq!(s.max_request_body_bytes, 4 * 1024 * 1024);
        assert_eq!(s.upstream_response_timeout, Duration::from_secs(60));
        let s = ProxySettings::from_env(&env(&[
            (MAX_REQUEST_BYTES, "1024"),
            (CONNECT_TIMEOUT_MS, "250"),
            (RESPONSE_TIMEOUT_MS, "5000"),
            (PUBLIC_BASE_URL, "https://mcp.example.com/"),
        ]))
        .unwrap();
        assert_eq!(s.max_request_body_bytes, 1024);
        assert_eq!(s.upstream_connect_timeout, Duration::from_millis(250));
        assert_eq!(s.upstream_response_timeout, Duration::from_secs(5));
        assert_eq!(s.public_base_url.unwrap().host_str(), Some("mcp.example.com"));
    }

    #[test]
    fn invalid_values_are_refused() {
        for (k, v) in [(MAX_REQUEST_BYTES, "0"), (CONNECT_TIMEOUT_MS, "-1"), (RESPONSE_TIMEOUT_MS, "soon")] {
            let err = ProxySettings::from_env(&env(&[(k, v)])).unwrap_err();
            assert!(err.to_string().contains(k));
        }
        assert!(ProxySettings::from_env(&env(&[(PUBLIC_BASE_URL, "not a url")])).is_err());
    }
}
