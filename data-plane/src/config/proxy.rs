//! Request-path settings: body limit, upstream timeouts and the edge's public URL.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use gatehouse_config::address_filter::AddressPolicy;

use super::egress::{self, EgressConfigError};

const MAX_REQUEST_BYTES: &str = "GATEHOUSE_MAX_REQUEST_BYTES";
const CONNECT_TIMEOUT_MS: &str = "GATEHOUSE_UPSTREAM_CONNECT_TIMEOUT_MS";
const RESPONSE_TIMEOUT_MS: &str = "GATEHOUSE_UPSTREAM_RESPONSE_TIMEOUT_MS";
/// The edge's public URL: one name for both roles (the control plane reads it too).
const EDGE_PUBLIC_URL: &str = "GATEHOUSE_EDGE_PUBLIC_URL";
/// The edge's former name for it, still read (with a warning) when the new one is unset.
const DEPRECATED_PUBLIC_BASE_URL: &str = "GATEHOUSE_PUBLIC_BASE_URL";
const IDP_CALLS_PER_MINUTE: &str = "GATEHOUSE_EDGE_IDP_CALLS_PER_MINUTE";
/// A CA bundle upstream servers' certificates may chain to, besides the system's roots.
pub const UPSTREAM_CA: &str = "GATEHOUSE_UPSTREAM_CA";

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
    /// Which addresses upstream, token-endpoint, JWKS and introspection calls may
    /// reach (default: public addresses only).
    pub upstream_addresses: AddressPolicy,
    /// Identity-provider calls (remote JWKS fetches, token introspection) that requests
    /// not yet authenticated may cause, per client address and minute (default 60).
    pub idp_calls_per_minute: u32,
    /// PEM bundle of CAs trusted for `https://` upstreams besides the system's roots
    /// (`GATEHOUSE_UPSTREAM_CA`); reloaded when the file changes.
    pub upstream_ca: Option<PathBuf>,
}

impl Default for ProxySettings {
    fn default() -> Self {
        Self {
            max_request_body_bytes: 4 * 1024 * 1024,
            upstream_connect_timeout: Duration::from_secs(10),
            upstream_response_timeout: Duration::from_secs(60),
            public_base_url: None,
            upstream_addresses: AddressPolicy::default(),
            idp_calls_per_minute: 60,
            upstream_ca: None,
        }
    }
}

impl ProxySettings {
    /// Reads `GATEHOUSE_MAX_REQUEST_BYTES`, `GATEHOUSE_UPSTREAM_CONNECT_TIMEOUT_MS`,
    /// `GATEHOUSE_UPSTREAM_RESPONSE_TIMEOUT_MS`, `GATEHOUSE_EDGE_PUBLIC_URL` (formerly
    /// `GATEHOUSE_PUBLIC_BASE_URL`, still read with a warning), `GATEHOUSE_UPSTREAM_ALLOW` and
    /// `GATEHOUSE_ALLOW_LOOPBACK_UPSTREAMS` and `GATEHOUSE_UPSTREAM_CA`; unset ones keep their
    /// defaults.
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
        let set = |name: &'static str| env.get(name).filter(|v| !v.trim().is_empty()).map(|v| (name, v));
        let public = set(EDGE_PUBLIC_URL).or_else(|| {
            let old = set(DEPRECATED_PUBLIC_BASE_URL)?;
            tracing::warn!(
                "{DEPRECATED_PUBLIC_BASE_URL} is deprecated: set {EDGE_PUBLIC_URL}, which both roles read"
            );
            Some(old)
        });
        if let Some((name, raw)) = public {
            let url = url::Url::parse(raw.trim())
                .map_err(|source| ProxyConfigError::InvalidUrl { name, source })?;
            settings.public_base_url = Some(url);
        }
        settings.upstream_addresses = egress::address_policy_from_env(env)?;
        if let Some(n) = positive(env, IDP_CALLS_PER_MINUTE)? {
            settings.idp_calls_per_minute = u32::try_from(n)
                .map_err(|_| ProxyConfigError::InvalidNumber { name: IDP_CALLS_PER_MINUTE })?;
        }
        settings.upstream_ca = set(UPSTREAM_CA).map(|(_, path)| PathBuf::from(path.trim()));
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
    /// The outbound address policy is invalid.
    #[error(transparent)]
    Egress(#[from] EgressConfigError),
    /// The identity providers' HTTP client could not be built.
    #[error("failed to build the identity providers' HTTP client")]
    Client(#[source] reqwest::Error),
    /// The upstreams' TLS settings are unusable (the error names the variable).
    #[error(transparent)]
    UpstreamTls(#[from] gatehouse_tls::TlsError),
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
            (EDGE_PUBLIC_URL, "https://mcp.example.com/"),
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
        assert!(ProxySettings::from_env(&env(&[(EDGE_PUBLIC_URL, "not a url")])).is_err());
    }

    #[test]
    fn the_former_public_url_name_still_works_and_the_new_one_wins() {
        let old = ProxySettings::from_env(&env(&[(DEPRECATED_PUBLIC_BASE_URL, "https://old.example.com")]))
            .unwrap();
        assert_eq!(old.public_base_url.unwrap().host_str(), Some("old.example.com"));
        let both = ProxySettings::from_env(&env(&[
            (DEPRECATED_PUBLIC_BASE_URL, "https://old.example.com"),
            (EDGE_PUBLIC_URL, "https://new.example.com"),
        ]))
        .unwrap();
        assert_eq!(both.public_base_url.unwrap().host_str(), Some("new.example.com"));
    }
}
