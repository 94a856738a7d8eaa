//! RFC 7662 token introspection for opaque bring-your-own tokens, with a
//! bounded cache of answers keyed by the token's SHA-256 (never the token).

use std::collections::HashMap;
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
/// Entries kept before the cache is emptied.
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
    cache: Mutex<HashMap<[u8; 32], (Instant, Answer)>>,
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
        Self { endpoint, client_id, client_secret, ttl, cache: Mutex::new(HashMap::new()) }
    }

    /// The claims of an active token; inactive or unknown tokens are `Invalid`.
    pub async fn introspect(
        &self,
        runtime: &IdentityRuntime,
        token: &str,
        now_unix: i64,
    ) -> Result<Map<String, Value>, IdentityError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(answer) = self.cached(&key) {
            return answer.ok_or(IdentityError::Invalid("token inactive"));
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
            if cache.len() >= MAX_CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(key, (Instant::now() + ttl, answer.clone()));
        }
        answer.ok_or(IdentityError::Invalid("token inactive"))
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Answer> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        match cache.get(key) {
            Some((until, answer)) if *until > Instant::now() => Some(answer.clone()),
            Some(_) => {
                cache.remove(key);
                None
            }
            None => None,
        }
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
