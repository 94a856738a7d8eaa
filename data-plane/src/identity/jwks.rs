//! The shared cache of remote JSON Web Key Sets (`jwksUri`), refetched on an
//! unknown `kid`; parsing a set is [`gatehouse_config::identity::jwks::KeySet`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gatehouse_config::identity::jwks::KeySet;

use crate::egress::Egress;

/// Largest JWKS document the edge accepts from a remote endpoint.
const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Time allowed to fetch a remote JWKS.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// At most one refetch for an unknown `kid` per URI in this interval.
const UNKNOWN_KID_REFETCH_INTERVAL: Duration = Duration::from_secs(10);

/// Why a remote JWKS could not be used.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The endpoint could not be reached or answered an error.
    #[error("jwks endpoint failed: {0}")]
    Fetch(String),
    /// The document is not a usable JWKS.
    #[error("{0}")]
    Invalid(String),
    /// A fetch was needed but the requesting client's call budget is spent.
    #[error("jwks fetch refused: the client's identity-provider call budget is spent")]
    RateLimited,
}

#[derive(Default)]
struct Entry {
    keys: Option<Arc<KeySet>>,
    fetched_at: Option<Instant>,
    last_forced: Option<Instant>,
}

/// Remote key sets shared by every request and config version, keyed by URI.
#[derive(Default)]
pub struct RemoteJwks {
    entries: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Entry>>>>,
}

impl std::fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteJwks").finish_non_exhaustive()
    }
}

impl RemoteJwks {
    /// The key set at `uri`, fetched when absent or older than `ttl`, and
    /// refetched (rate-limited) when `kid` is not in the cached set; a fetch happens
    /// only when `may_fetch` agrees (the requesting client's budget), else the cached
    /// set is used, if any.
    pub async fn key_set(
        &self,
        http: &Egress,
        uri: &url::Url,
        kid: Option<&str>,
        ttl: Duration,
        may_fetch: impl FnOnce() -> bool,
    ) -> Result<Arc<KeySet>, JwksError> {
        let slot = {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(entries.entry(uri.as_str().to_owned()).or_default())
        };
        // One fetch per URI at a time; concurrent misses wait for it and reuse the result.
        let mut entry = slot.lock().await;
        let now = Instant::now();
        if let (Some(keys), Some(at)) = (&entry.keys, entry.fetched_at) {
            let fresh = now.duration_since(at) < ttl;
            let known = kid.is_none_or(|k| keys.get(Some(k)).is_some());
            let may_force =
                entry.last_forced.is_none_or(|t| now.duration_since(t) >= UNKNOWN_KID_REFETCH_INTERVAL);
            if fresh && (known || !may_force) {
                return Ok(Arc::clone(keys));
            }
            if fresh && !known {
                entry.last_forced = Some(now);
            }
        }
        if !may_fetch() {
            tracing::info!(jwks_uri = %uri, "jwks fetch refused: the client's identity-provider call budget is spent");
            return entry.keys.clone().ok_or(JwksError::RateLimited);
        }
        match fetch(http, uri).await {
            Ok(keys) => {
                tracing::info!(jwks_uri = %uri, keys = keys.len(), "jwks fetched");
                let keys = Arc::new(keys);
                entry.keys = Some(Arc::clone(&keys));
                entry.fetched_at = Some(Instant::now());
                Ok(keys)
            }
            Err(err) => {
                tracing::warn!(jwks_uri = %uri, %err, "jwks fetch failed");
                // Serve the last good set rather than locking everyone out.
                entry.keys.clone().ok_or(err)
            }
        }
    }
}

async fn fetch(http: &Egress, uri: &url::Url) -> Result<KeySet, JwksError> {
    let request =
        http.request(reqwest::Method::GET, uri.clone()).map_err(|e| JwksError::Fetch(e.to_string()))?;
    let response = tokio::time::timeout(FETCH_TIMEOUT, request.send())
        .await
        .map_err(|_| JwksError::Fetch("timed out".into()))?
        .map_err(|e| JwksError::Fetch(e.without_url().to_string()))?;
    if !response.status().is_success() {
        return Err(JwksError::Fetch(format!("status {}", response.status())));
    }
    if response.content_length().is_some_and(|n| n > MAX_JWKS_BYTES as u64) {
        return Err(JwksError::Invalid("jwks document too large".into()));
    }
    let body = tokio::time::timeout(FETCH_TIMEOUT, response.bytes())
        .await
        .map_err(|_| JwksError::Fetch("timed out".into()))?
        .map_err(|e| JwksError::Fetch(e.without_url().to_string()))?;
    if body.len() > MAX_JWKS_BYTES {
        return Err(JwksError::Invalid("jwks document too large".into()));
    }
    let text = std::str::from_utf8(&body).map_err(|_| JwksError::Invalid("jwks is not UTF-8".into()))?;
    KeySet::parse(text).map_err(JwksError::Invalid)
}
