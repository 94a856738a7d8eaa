//! The in-process [`TokenCache`] backend: used alone without Redis, and as the
//! fallback while Redis is unreachable.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt as _;

use super::cache_backend::{CacheError, TokenCache};

/// Entries kept before expired ones are swept on insert.
const SWEEP_AT: usize = 10_000;

#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    expires: Instant,
}

/// Sealed values and locks in a process-local map, each with a deadline.
#[derive(Debug, Default)]
pub struct MemoryCache {
    values: Mutex<HashMap<String, Entry>>,
    locks: Mutex<HashMap<String, Entry>>,
}

impl MemoryCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn get_now(&self, key: &str) -> Option<Vec<u8>> {
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        match values.get(key) {
            Some(entry) if entry.expires > Instant::now() => Some(entry.value.clone()),
            Some(_) => {
                values.remove(key);
                None
            }
            None => None,
        }
    }

    fn set_now(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        let now = Instant::now();
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        if values.len() >= SWEEP_AT {
            values.retain(|_, entry| entry.expires > now);
        }
        values.insert(key.to_owned(), Entry { value, expires: now + ttl });
    }

    fn try_lock_now(&self, key: &str, owner: &str, ttl: Duration) -> bool {
        let now = Instant::now();
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        if locks.get(key).is_some_and(|held| held.expires > now) {
            return false;
        }
        locks.insert(key.to_owned(), Entry { value: owner.as_bytes().to_vec(), expires: now + ttl });
        true
    }

    fn unlock_now(&self, key: &str, owner: &str) {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        if locks.get(key).is_some_and(|held| held.value == owner.as_bytes()) {
            locks.remove(key);
        }
    }
}

impl TokenCache for MemoryCache {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, CacheError>> {
        let value = self.get_now(key);
        async move { Ok(value) }.boxed()
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        self.set_now(key, value, ttl);
        async { Ok(()) }.boxed()
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), CacheError>> {
        self.values.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
        async { Ok(()) }.boxed()
    }

    fn try_lock<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, CacheError>> {
        let won = self.try_lock_now(key, owner, ttl);
        async move { Ok(won) }.boxed()
    }

    fn unlock<'a>(&'a self, key: &'a str, owner: &'a str) -> BoxFuture<'a, Result<(), CacheError>> {
        self.unlock_now(key, owner);
        async { Ok(()) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn values_expire_with_their_ttl() {
        let cache = MemoryCache::new();
        cache.set("a", b"1".to_vec(), Duration::from_secs(60)).await.unwrap();
        cache.set("b", b"2".to_vec(), Duration::ZERO).await.unwrap();
        assert_eq!(cache.get("a").await.unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(cache.get("b").await.unwrap(), None);
        cache.delete("a").await.unwrap();
        assert_eq!(cache.get("a").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_lock_is_released_only_by_its_owner() {
        let cache = MemoryCache::new();
        let ttl = Duration::from_secs(60);
        assert!(cache.try_lock("l", "me", ttl).await.unwrap());
        assert!(!cache.try_lock("l", "you", ttl).await.unwrap());
        cache.unlock("l", "you").await.unwrap();
        assert!(!cache.try_lock("l", "you", ttl).await.unwrap(), "not released by another owner");
        cache.unlock("l", "me").await.unwrap();
        assert!(cache.try_lock("l", "you", ttl).await.unwrap());
        assert!(cache.try_lock("expired", "a", Duration::ZERO).await.unwrap());
        assert!(cache.try_lock("expired", "b", ttl).await.unwrap(), "an expired lock is free");
    }
}
