//! The Redis [`TokenCache`] backend, shared by every edge. Keys carry the
//! configured prefix; values are already sealed by the caller.

use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret as _, SecretString};

use super::cache_backend::{CacheError, TokenCache};

/// Each Redis round trip gets this long; a slow Redis counts as down.
const OP_TIMEOUT: Duration = Duration::from_millis(750);
/// Deletes a lock only if it still holds the caller's random value.
const UNLOCK_SCRIPT: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/// A lazily connected, automatically reconnecting Redis connection.
#[derive(Clone)]
pub struct RedisCache {
    connection: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl RedisCache {
    /// A cache on `url` (nothing connects until the first command).
    pub fn new(url: &SecretString, prefix: &str) -> Result<Self, CacheError> {
        let client =
            redis::Client::open(url.expose_secret()).map_err(|e| CacheError::Config(e.kind_label()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(OP_TIMEOUT))
            .set_response_timeout(Some(OP_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| CacheError::Config(e.kind_label()))?;
        Ok(Self { connection, prefix: prefix.to_owned() })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, CacheError> {
        let mut connection = self.connection.clone();
        match tokio::time::timeout(OP_TIMEOUT, cmd.query_async::<T>(&mut connection)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(CacheError::Unavailable(e.kind_label())),
            Err(_) => Err(CacheError::Unavailable("timeout")),
        }
    }
}

/// A short, secret-free description of a Redis error.
pub(crate) trait KindLabel {
    /// The description.
    fn kind_label(&self) -> &'static str;
}

impl KindLabel for redis::RedisError {
    /// A short, secret-free description (errors may echo the URL).
    fn kind_label(&self) -> &'static str {
        if self.is_timeout() {
            "timeout"
        } else if self.is_connection_refusal() {
            "connection refused"
        } else if self.is_io_error() || self.is_connection_dropped() {
            "i/o error"
        } else {
            "redis error"
        }
    }
}

impl TokenCache for RedisCache {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, CacheError>> {
        async move { self.run(redis::cmd("GET").arg(self.key(key)).clone()).await }.boxed()
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        async move {
            let ms = ttl.as_millis().max(1) as u64;
            let cmd = redis::cmd("SET").arg(self.key(key)).arg(value).arg("PX").arg(ms).clone();
            self.run::<()>(cmd).await
        }
        .boxed()
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), CacheError>> {
        async move { self.run::<()>(redis::cmd("DEL").arg(self.key(key)).clone()).await }.boxed()
    }

    fn try_lock<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, CacheError>> {
        async move {
            let ms = ttl.as_millis().max(1) as u64;
            let cmd = redis::cmd("SET").arg(self.key(key)).arg(owner).arg("NX").arg("PX").arg(ms).clone();
            let answer: Option<String> = self.run(cmd).await?;
            Ok(answer.is_some())
        }
        .boxed()
    }

    fn unlock<'a>(&'a self, key: &'a str, owner: &'a str) -> BoxFuture<'a, Result<(), CacheError>> {
        async move {
            let cmd = redis::cmd("EVAL").arg(UNLOCK_SCRIPT).arg(1).arg(self.key(key)).arg(owner).clone();
            self.run::<i64>(cmd).await.map(drop)
        }
        .boxed()
    }
}
