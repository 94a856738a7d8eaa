//! The [`TokenCache`] interface the token cache backends (Redis, process
//! memory) implement, and their error.

use std::fmt::Debug;
use std::time::Duration;

use futures::future::BoxFuture;

/// Why a cache backend could not answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CacheError {
    /// The backend is unreachable or failed (secret-free description).
    #[error("token cache unavailable: {0}")]
    Unavailable(&'static str),
    /// The backend settings are unusable.
    #[error("token cache misconfigured: {0}")]
    Config(&'static str),
}

/// A key-value store for sealed tokens plus short owner-checked locks.
pub trait TokenCache: Send + Sync + Debug {
    /// The value under `key`, if present and not expired.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, CacheError>>;
    /// Stores `value` under `key` for `ttl`.
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), CacheError>>;
    /// Removes `key`.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), CacheError>>;
    /// Takes the lock `key` for `owner` unless someone else holds it (SET NX PX).
    fn try_lock<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, CacheError>>;
    /// Releases `key` if `owner` still holds it.
    fn unlock<'a>(&'a self, key: &'a str, owner: &'a str) -> BoxFuture<'a, Result<(), CacheError>>;
}
