//! Read-only access to the budget counters the edges keep in Redis, for
//! `GET /v1/rate-limits/{id}/usage`. The counters are the edges'; the control
//! plane never writes them.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret as _, SecretString};

/// Each Redis read gets this long.
const OP_TIMEOUT: Duration = Duration::from_millis(750);

/// Why a counter could not be read (secret-free: Redis errors may echo the URL).
#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    /// The URL is unusable.
    #[error("GATEHOUSE_REDIS_URL is invalid")]
    Config,
    /// Redis did not answer.
    #[error("redis unavailable")]
    Unavailable,
}

/// A lazily connected Redis holding the edges' rate-limit counters.
#[derive(Clone)]
pub struct RateLimitCounters {
    connection: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RateLimitCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitCounters").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl RateLimitCounters {
    /// Counters on `url`, with the edges' key `prefix` (nothing connects until the first read).
    pub fn new(url: &SecretString, prefix: &str) -> Result<Self, CounterError> {
        let client = redis::Client::open(url.expose_secret()).map_err(|_| CounterError::Config)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(OP_TIMEOUT))
            .set_response_timeout(Some(OP_TIMEOUT))
            .set_number_of_retries(1);
        let connection =
            ConnectionManager::new_lazy_with_config(client, config).map_err(|_| CounterError::Config)?;
        Ok(Self { connection, prefix: prefix.to_owned() })
    }

    /// The key prefix the edges write under.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The count under `key` (0 when absent).
    pub async fn count(&self, key: &str) -> Result<u64, CounterError> {
        let mut connection = self.connection.clone();
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        let read = cmd.query_async::<Option<u64>>(&mut connection);
        match tokio::time::timeout(OP_TIMEOUT, read).await {
            Ok(Ok(value)) => Ok(value.unwrap_or(0)),
            Ok(Err(_)) | Err(_) => Err(CounterError::Unavailable),
        }
    }
}
