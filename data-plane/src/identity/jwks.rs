//! JSON Web Key Sets: parsing into verification keys indexed by `kid`, and a
//! shared cache of remote sets (`jwksUri`) refetched on an unknown `kid`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

/// Largest JWKS document the edge accepts from a remote endpoint.
const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Time allowed to fetch a remote JWKS.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// At most one refetch for an unknown `kid` per URI in this interval.
const UNKNOWN_KID_REFETCH_INTERVAL: Duration = Duration::from_secs(10);

/// One verification key.
pub struct VerificationKey {
    /// The key material.
    pub key: DecodingKey,
    /// RSA or EC (symmetric keys are never loaded).
    pub family: AlgorithmFamily,
    /// The algorithm the JWK pins, if any.
    pub alg: Option<Algorithm>,
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationKey").field("family", &self.family).field("alg", &self.alg).finish()
    }
}

impl VerificationKey {
    /// Whether this key may verify a token signed with `alg`.
    pub fn accepts(&self, alg: Algorithm) -> bool {
        alg.family() == self.family && self.alg.is_none_or(|pinned| pinned == alg)
    }
}

/// Public signature keys, indexed by `kid`.
#[derive(Debug, Default)]
pub struct KeySet {
    by_kid: HashMap<String, Arc<VerificationKey>>,
    all: Vec<Arc<VerificationKey>>,
}

impl KeySet {
    /// Parses a JWKS JSON document; keys that are symmetric, for encryption or
    /// unparseable are skipped. Fails when the document itself is malformed.
    pub fn parse(json: &str) -> Result<Self, String> {
        let set: JwkSet = serde_json::from_str(json).map_err(|e| format!("invalid JWKS: {e}"))?;
        let mut keys = KeySet::default();
        for jwk in &set.keys {
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                continue;
            }
            let family = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => AlgorithmFamily::Rsa,
                AlgorithmParameters::EllipticCurve(_) => AlgorithmFamily::Ec,
                // Never load a shared secret from a key set: it would enable HS* confusion.
                _ => continue,
            };
            let Ok(key) = DecodingKey::from_jwk(jwk) else { continue };
            let alg = jwk.common.key_algorithm.and_then(|a| match a {
                KeyAlgorithm::RS256 => Some(Algorithm::RS256),
                KeyAlgorithm::RS384 => Some(Algorithm::RS384),
                KeyAlgorithm::RS512 => Some(Algorithm::RS512),
                KeyAlgorithm::PS256 => Some(Algorithm::PS256),
                KeyAlgorithm::PS384 => Some(Algorithm::PS384),
                KeyAlgorithm::PS512 => Some(Algorithm::PS512),
                KeyAlgorithm::ES256 => Some(Algorithm::ES256),
                KeyAlgorithm::ES384 => Some(Algorithm::ES384),
                _ => None,
            });
            let key = Arc::new(VerificationKey { key, family, alg });
            if let Some(kid) = &jwk.common.key_id {
                keys.by_kid.insert(kid.clone(), Arc::clone(&key));
            }
            keys.all.push(key);
        }
        Ok(keys)
    }

    /// The key for `kid`; without a `kid`, the only key of the set (if there is exactly one).
    pub fn get(&self, kid: Option<&str>) -> Option<&Arc<VerificationKey>> {
        match kid {
            Some(kid) => self.by_kid.get(kid),
            None if self.all.len() == 1 => self.all.first(),
            None => None,
        }
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// Whether the set holds no usable key.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }
}

/// Why a remote JWKS could not be used.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The endpoint could not be reached or answered an error.
    #[error("jwks endpoint failed: {0}")]
    Fetch(String),
    /// The document is not a usable JWKS.
    #[error("{0}")]
    Invalid(String),
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
    /// refetched (rate-limited) when `kid` is not in the cached set.
    pub async fn key_set(
        &self,
        http: &reqwest::Client,
        uri: &url::Url,
        kid: Option<&str>,
        ttl: Duration,
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

async fn fetch(http: &reqwest::Client, uri: &url::Url) -> Result<KeySet, JwksError> {
    let response = tokio::time::timeout(FETCH_TIMEOUT, http.get(uri.clone()).send())
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
