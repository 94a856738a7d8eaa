//! RFC 7662 token introspection for opaque bring-your-own tokens, with a
//! bounded cache of answers keyed by the token's SHA-256 (never the token). A full
//! cache evicts its least recently used answer, so a flood of made-up tokens pushes
//! out only answers nobody reads, not every good caller's at once.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::{IdentityError, IdentityRuntime};

/// Time allowed for one introspection call.
const INTROSPECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest introspection answer accepted.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Answers kept; the least recently used goes first.
const MAX_CACHE_ENTRIES: usize = 10_000;
/// Inactive answers are cached at most this long.
const INACTIVE_TTL: Duration = Duration::from_secs(30);

type Answer = Option<Map<String, Value>>;

/// One introspection endpoint with its client credentials and answer cache.
pub struct Introspector {
    endpoint: url::Url,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    ttl: Duration,
    cache: Mutex<AnswerCache>,
}

/// Answers by token hash with their expiry, in least-recently-used order.
#[derive(Debug)]
struct AnswerCache {
    capacity: usize,
    // token hash → (valid until, answer, last use)
    entries: HashMap<[u8; 32], (Instant, Answer, u64)>,
    // last use → token hash: the first entry is the least recently used.
    order: BTreeMap<u64, [u8; 32]>,
    clock: u64,
}

impl AnswerCache {
    fn new(capacity: usize) -> Self {
        Self { capacity, entries: HashMap::new(), order: BTreeMap::new(), clock: 0 }
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// The unexpired answer for `key`, now the most recently used; an expired one is dropped.
    fn get(&mut self, key: &[u8; 32], now: Instant) -> Option<Answer> {
        let tick = self.tick();
        let (until, answer, used) = self.entries.get_mut(key)?;
        if *until <= now {
            let used = *used;
            self.entries.remove(key);
            self.order.remove(&used);
            return None;
        }
        self.order.remove(used);
        *used = tick;
        let answer = answer.clone();
        self.order.insert(tick, *key);
        Some(answer)
    }

    fn insert(&mut self, key: [u8; 32], until: Instant, answer: Answer) {
        let tick = self.tick();
        if let Some((_, _, used)) = self.entries.insert(key, (until, answer, tick)) {
            self.order.remove(&used);
        }
        self.order.insert(tick, key);
        while self.entries.len() > self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else { break };
            self.entries.remove(&oldest);
        }
    }
}

impl std::fmt::Debug for Introspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Introspector")
            .field("endpoint", &self.endpoint.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl Introspector {
    /// An introspector for `endpoint`, authenticating with HTTP Basic when a client id is set.
    pub fn new(
        endpoint: url::Url,
        client_id: Option<String>,
        client_secret: Option<SecretString>,
        ttl: Duration,
    ) -> Self {
        Self {
            endpoint,
            client_id,
            client_secret,
            ttl,
            cache: Mutex::new(AnswerCache::new(MAX_CACHE_ENTRIES)),
        }
    }

    /// The claims of an active token; inactive or unknown tokens are `Invalid`.
    pub async fn introspect(
        &self,
        runtime: &IdentityRuntime,
        token: &str,
        now_unix: i64,
        client: Option<IpAddr>,
    ) -> Result<Map<String, Value>, IdentityError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(answer) = self.cached(&key) {
            return answer.ok_or(IdentityError::Invalid("token inactive"));
        }
        if !runtime.idp_calls.allow(client) {
            tracing::info!(endpoint = %self.endpoint, "introspection refused: the client's identity-provider call budget is spent");
            return Err(IdentityError::RateLimited);
        }
        let answer = self.call(runtime, token).await?;
        let ttl = match &answer {
            Some(claims) => {
                // Never cache past the token's own expiry.
                let left = claims.get("exp").and_then(Value::as_i64).map(|exp| exp - now_unix);
                match left {
                    Some(left) if left <= 0 => Duration::ZERO,
                    Some(left) => self.ttl.min(Duration::from_secs(left as u64)),
                    None => self.ttl,
                }
            }
            None => self.ttl.min(INACTIVE_TTL),
        };
        if !ttl.is_zero() {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.insert(key, Instant::now() + ttl, answer.clone());
        }
        answer.ok_or(IdentityError::Invalid("token inactive"))
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Answer> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(key, Instant::now())
    }

    async fn call(&self, runtime: &IdentityRuntime, token: &str) -> Result<Answer, IdentityError> {
        let mut request = runtime
            .http
            .request(reqwest::Method::POST, self.endpoint.clone())
            .map_err(|blocked| {
                tracing::warn!(endpoint = %self.endpoint, %blocked, "introspection endpoint address is not allowed");
                IdentityError::Unavailable
            })?
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    // No token_type_hint: it is optional and some servers refuse hints they can't apply.
                    .append_pair("token", token)
                    .finish(),
            );
        if let Some(id) = &self.client_id {
            request =
                request.basic_auth(id, self.client_secret.as_ref().map(|s| s.expose_secret().to_owned()));
        }
        let response = tokio::time::timeout(INTROSPECT_TIMEOUT, request.send())
            .await
            .map_err(|_| IdentityError::Unavailable)?
            .map_err(|e| {
                tracing::warn!(endpoint = %self.endpoint, error = %e.without_url(), "introspection failed");
                IdentityError::Unavailable
            })?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            // The OAuth error code helps operators; the body never holds the presented token.
            let body = response.text().await.unwrap_or_default();
            let error = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v.get("error_description").or(v.get("error")).cloned());
            tracing::warn!(endpoint = %self.endpoint, status, error = ?error, "introspection refused");
            return Err(IdentityError::Unavailable);
        }
        let body = tokio::time::timeout(INTROSPECT_TIMEOUT, response.bytes())
            .await
            .map_err(|_| IdentityError::Unavailable)?
            .map_err(|_| IdentityError::Unavailable)?;
        if body.len() > MAX_RESPONSE_BYTES {
            return Err(IdentityError::Unavailable);
        }
        let claims: Map<String, Value> =
            serde_json::from_slice(&body).map_err(|_| IdentityError::Unavailable)?;
        Ok((claims.get("active") == Some(&Value::Bool(true))).then_some(claims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u8) -> [u8; 32] {
        [i; 32]
    }

    #[test]
    fn a_full_cache_evicts_the_least_recently_used_answer_only() {
        let mut cache = AnswerCache::new(3);
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        for i in 1..=3 {
            cache.insert(key(i), later, None);
        }
        // 1 is read, so 2 is now the least recently used.
        assert!(cache.get(&key(1), now).is_some());
        cache.insert(key(4), later, None);
        assert!(cache.get(&key(2), now).is_none(), "the least recently used is evicted");
        for kept in [1, 3, 4] {
            assert!(cache.get(&key(kept), now).is_some(), "{kept} is kept");
        }
        assert_eq!((cache.entries.len(), cache.order.len()), (3, 3));
        // A flood of new keys never leaves more than the capacity, nor a stale order entry.
        for i in 10..200 {
            cache.insert(key(i), later, None);
        }
        assert_eq!((cache.entries.len(), cache.order.len()), (3, 3));
        // Expired answers are not served.
        assert!(cache.get(&key(199), later).is_none());
        assert_eq!((cache.entries.len(), cache.order.len()), (2, 2));
    }
}
