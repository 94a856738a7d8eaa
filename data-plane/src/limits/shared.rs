//! Deciding in Redis, shared by every edge: one Lua script per request checks
//! every counter the request must pass against Redis' own clock and, only if all
//! pass, spends them, so concurrent edges can never let more through than the
//! limit and a refused request spends nothing.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret as _, SecretString};

use super::check::{Check, Op};
use crate::credentials::redis_cache::KindLabel as _;

/// Each decision gets this long; a slow Redis counts as down (the edge decides alone).
const OP_TIMEOUT: Duration = Duration::from_millis(250);

/// KEYS: the counters. ARGV: three per key: `g`, interval µs, tolerance µs (GCRA) or
/// `b`, calls, window end µs (budget). Returns `{0, 0}` when every counter passes
/// (and spends them), else `{index, wait ms}` of the longest wait (spending nothing).
const DECIDE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local worst, worst_wait = 0, 0
local new = {}
for i = 1, #KEYS do
  local kind = ARGV[i * 3 - 2]
  local a = tonumber(ARGV[i * 3 - 1])
  local b = tonumber(ARGV[i * 3])
  local wait = 0
  if kind == 'g' then
    local tat = tonumber(redis.call('GET', KEYS[i]) or now)
    if tat < now then tat = now end
    wait = tat - b - now
    new[i] = tat + a
  else
    local used = tonumber(redis.call('GET', KEYS[i]) or 0)
    if used >= a then wait = b - now end
  end
  if wait > worst_wait then worst, worst_wait = i, wait end
end
if worst > 0 then
  return {worst, math.ceil(worst_wait / 1000)}
end
for i = 1, #KEYS do
  if ARGV[i * 3 - 2] == 'g' then
    local ttl = math.ceil((new[i] - now) / 1000) + 1000
    redis.call('SET', KEYS[i], string.format('%.0f', new[i]), 'PX', string.format('%.0f', ttl))
  else
    if redis.call('INCR', KEYS[i]) == 1 then
      redis.call('PEXPIREAT', KEYS[i], string.format('%.0f', math.ceil(tonumber(ARGV[i * 3]) / 1000) + 60000))
    end
  end
end
return {0, 0}
";

/// Why Redis could not decide (secret-free: errors may echo the URL).
#[derive(Debug, Clone, Copy, thiserror::Error)]
pub(crate) enum RedisError {
    /// The URL is unusable.
    #[error("GATEHOUSE_REDIS_URL is invalid")]
    Config,
    /// Redis did not answer in time or failed.
    #[error("redis unavailable: {0}")]
    Unavailable(&'static str),
}

/// A lazily connected, reconnecting Redis holding the shared counters.
#[derive(Clone)]
pub(crate) struct RedisCounters {
    connection: ConnectionManager,
    script: redis::Script,
    prefix: String,
}

impl std::fmt::Debug for RedisCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCounters").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl RedisCounters {
    /// Counters on `url` under `prefix` (nothing connects until the first decision).
    pub fn new(url: &SecretString, prefix: &str) -> Result<Self, RedisError> {
        let client = redis::Client::open(url.expose_secret()).map_err(|_| RedisError::Config)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(OP_TIMEOUT))
            .set_response_timeout(Some(OP_TIMEOUT))
            .set_number_of_retries(0)
            .set_max_delay(Duration::from_secs(2));
        let connection =
            ConnectionManager::new_lazy_with_config(client, config).map_err(|_| RedisError::Config)?;
        Ok(Self { connection, script: redis::Script::new(DECIDE), prefix: prefix.to_owned() })
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Passes every check or none: `Err(Some((index, wait_ms)))` names the refusing check.
    pub async fn decide(&self, checks: &[Check<'_>]) -> Result<Result<(), (usize, u64)>, RedisError> {
        let mut invocation = self.script.prepare_invoke();
        for check in checks {
            invocation.key(&check.key);
            match check.op {
                Op::Gcra { interval_us, tolerance_us } => {
                    invocation.arg("g").arg(interval_us).arg(tolerance_us);
                }
                Op::Budget { calls, window_end_us } => {
                    invocation.arg("b").arg(calls).arg(window_end_us);
                }
            }
        }
        let mut connection = self.connection.clone();
        let answer =
            tokio::time::timeout(OP_TIMEOUT, invocation.invoke_async::<(i64, i64)>(&mut connection)).await;
        match answer {
            Ok(Ok((0, _))) => Ok(Ok(())),
            Ok(Ok((index, wait_ms))) => {
                let index = usize::try_from(index - 1).map_err(|_| RedisError::Unavailable("bad reply"))?;
                Ok(Err((index, u64::try_from(wait_ms).unwrap_or(0))))
            }
            Ok(Err(e)) => Err(RedisError::Unavailable(e.kind_label())),
            Err(_) => Err(RedisError::Unavailable("timeout")),
        }
    }
}
