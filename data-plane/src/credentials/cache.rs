//! Where edges keep upstream access tokens: the [`TokenCache`] backends
//! (Redis, shared by all edges, or process memory) behind [`EdgeTokenCache`],
//! which falls back to memory while Redis is unreachable.
//!
//! Redis is a cache, never the source of truth: the control plane holds the
//! grants, so losing Redis costs at most a `GetGrant` per token.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::cache_backend::{CacheError, TokenCache};
use super::memory_cache::MemoryCache;
use super::redis_cache::RedisCache;
use crate::config::CredentialSettings;

/// First pause before Redis is tried again after a failure.
const PROBE_MIN: Duration = Duration::from_secs(1);
/// Longest pause between probes of an unreachable Redis.
const PROBE_MAX: Duration = Duration::from_secs(15);

/// What `/readyz` reports about the token cache.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CacheStatus {
    /// `redis`, `memory`, or `memory (redis unavailable)`.
    pub backend: &'static str,
    /// Redis operations that failed and were served from memory instead.
    pub redis_failures: u64,
    /// Times Redis went from reachable to unreachable.
    pub redis_outages: u64,
}

#[derive(Debug, Default)]
struct Health {
    /// While set, Redis is skipped until this instant.
    down_until: Option<Instant>,
    backoff: Duration,
}

/// The edge's token cache: Redis when configured and reachable, else memory.
#[derive(Debug)]
pub struct EdgeTokenCache {
    redis: Option<Arc<dyn TokenCache>>,
    memory: MemoryCache,
    health: Mutex<Health>,
    failures: AtomicU64,
    outages: AtomicU64,
}

impl EdgeTokenCache {
    /// A cache as `settings` say: Redis plus a memory fallback, or memory only.
    pub fn from_settings(settings: &CredentialSettings) -> Result<Self, CacheError> {
        let redis = match &settings.redis_url {
            Some(url) => {
                Some(Arc::new(RedisCache::new(url, &settings.redis_key_prefix)?) as Arc<dyn TokenCache>)
            }
            None => None,
        };
        Ok(Self::with_backend(redis))
    }

    /// A cache over an explicit shared backend (`None` = memory only).
    pub fn with_backend(redis: Option<Arc<dyn TokenCache>>) -> Self {
        Self {
            redis,
            memory: MemoryCache::new(),
            health: Mutex::new(Health::default()),
            failures: AtomicU64::new(0),
            outages: AtomicU64::new(0),
        }
    }

    /// Current backend and failure counters.
    pub fn status(&self) -> CacheStatus {
        let backend = match (&self.redis, self.redis_down()) {
            (None, _) => "memory",
            (Some(_), false) => "redis",
            (Some(_), true) => "memory (redis unavailable)",
        };
        CacheStatus {
            backend,
            redis_failures: self.failures.load(Ordering::Relaxed),
            redis_outages: self.outages.load(Ordering::Relaxed),
        }
    }

    fn redis_down(&self) -> bool {
        self.health.lock().unwrap_or_else(|e| e.into_inner()).down_until.is_some()
    }

    /// Redis, unless it failed recently and is not due for another probe.
    fn usable_redis(&self) -> Option<&Arc<dyn TokenCache>> {
        let redis = self.redis.as_ref()?;
        let health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        match health.down_until {
            Some(until) if Instant::now() < until => None,
            _ => Some(redis),
        }
    }

    fn record<T>(&self, result: Result<T, CacheError>) -> Option<T> {
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(value) => {
                if health.down_until.take().is_some() {
                    health.backoff = Duration::ZERO;
                    tracing::info!("redis token cache reachable again");
                }
                Some(value)
            }
            Err(err) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                let was_up = health.down_until.is_none();
                health.backoff = (health.backoff * 2).clamp(PROBE_MIN, PROBE_MAX);
                health.down_until = Some(Instant::now() + health.backoff);
                if was_up {
                    self.outages.fetch_add(1, Ordering::Relaxed);
                    // Once per outage: every request would otherwise repeat it.
                    tracing::warn!(%err, "redis token cache unavailable, caching tokens in process memory");
                }
                None
            }
        }
    }

    /// The sealed value under `key`.
    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        if let Some(redis) = self.usable_redis() {
            if let Some(value) = self.record(redis.get(key).await) {
                return value;
            }
        }
        self.memory.get(key).await.ok().flatten()
    }

    /// Stores a sealed value in memory and, when reachable, in Redis.
    pub async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        if let Some(redis) = self.usable_redis() {
            self.record(redis.set(key, value.clone(), ttl).await);
        }
        let _ = self.memory.set(key, value, ttl).await;
    }

    /// Forgets `key` everywhere.
    pub async fn delete(&self, key: &str) {
        if let Some(redis) = self.usable_redis() {
            self.record(redis.delete(key).await);
        }
        let _ = self.memory.delete(key).await;
    }

    /// Takes a short lock, across edges when Redis is reachable (else in this process).
    pub async fn try_lock(&self, key: &str, owner: &str, ttl: Duration) -> bool {
        if let Some(redis) = self.usable_redis() {
            if let Some(won) = self.record(redis.try_lock(key, owner, ttl).await) {
                return won;
            }
        }
        self.memory.try_lock(key, owner, ttl).await.unwrap_or(true)
    }

    /// Releases a lock taken with [`try_lock`](Self::try_lock).
    pub async fn unlock(&self, key: &str, owner: &str) {
        if let Some(redis) = self.usable_redis() {
            self.record(redis.unlock(key, owner).await);
        }
        let _ = self.memory.unlock(key, owner).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    #[tokio::test]
    async fn unreachable_redis_falls_back_to_memory_and_says_so() {
        let settings = CredentialSettings {
            redis_url: Some(SecretString::from("redis://127.0.0.1:1".to_owned())),
            ..CredentialSettings::default()
        };
        let cache = EdgeTokenCache::from_settings(&settings).unwrap();
        assert_eq!(cache.status().backend, "redis");
        cache.set("k", b"sealed".to_vec(), Duration::from_secs(60)).await;
        assert_eq!(cache.get("k").await.as_deref(), Some(&b"sealed"[..]));
        let status = cache.status();
        assert_eq!(status.backend, "memory (redis unavailable)");
        assert_eq!(status.redis_outages, 1, "one outage, however many failures");
        assert!(status.redis_failures >= 1);
        assert!(cache.try_lock("l", "me", Duration::from_secs(5)).await);
        assert!(!cache.try_lock("l", "you", Duration::from_secs(5)).await);
    }

    #[tokio::test]
    async fn memory_only_without_redis() {
        let cache = EdgeTokenCache::from_settings(&CredentialSettings::default()).unwrap();
        assert_eq!(cache.status().backend, "memory");
        cache.set("k", b"v".to_vec(), Duration::ZERO).await;
        assert_eq!(cache.get("k").await, None, "a zero TTL is not cached");
    }
}
