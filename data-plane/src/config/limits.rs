//! Limits that keep one client from exhausting the edge: open connections, HTTP/2
//! streams and idle connections (`GATEHOUSE_EDGE_MAX_CONNECTIONS`,
//! `GATEHOUSE_EDGE_H2_MAX_STREAMS`, `GATEHOUSE_EDGE_H2_KEEPALIVE_SECS`,
//! `GATEHOUSE_EDGE_IDLE_TIMEOUT_SECS`), and the threads connections are served on
//! (`GATEHOUSE_EDGE_THREADS`). The identity-provider call budget of
//! unauthenticated requests is a request-path setting (`proxy.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

const MAX_CONNECTIONS: &str = "GATEHOUSE_EDGE_MAX_CONNECTIONS";
const H2_MAX_STREAMS: &str = "GATEHOUSE_EDGE_H2_MAX_STREAMS";
const H2_KEEPALIVE_SECS: &str = "GATEHOUSE_EDGE_H2_KEEPALIVE_SECS";
const IDLE_TIMEOUT_SECS: &str = "GATEHOUSE_EDGE_IDLE_TIMEOUT_SECS";
const THREADS: &str = "GATEHOUSE_EDGE_THREADS";

/// Connection and request-rate limits of the edge's listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeLimits {
    /// Connections served at once; more wait in the listen backlog (default 10 000).
    pub max_connections: usize,
    /// Concurrent streams per HTTP/2 connection (default 100).
    pub h2_max_concurrent_streams: u32,
    /// HTTP/2 keep-alive ping interval; a ping unanswered for as long closes the
    /// connection (default 30 s).
    pub h2_keep_alive: Duration,
    /// A connection with no request or response body in flight for this long is
    /// closed, HTTP/1.1 and HTTP/2 alike (default 300 s).
    pub idle_timeout: Duration,
    /// Threads serving connections, each with a single-threaded runtime of its own that
    /// serves a connection from accept to close (default one per core).
    pub threads: usize,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            h2_max_concurrent_streams: 100,
            h2_keep_alive: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
            threads: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// A limit is not a positive integer.
#[derive(Debug, thiserror::Error)]
#[error("{name} must be a positive integer")]
pub struct LimitsConfigError {
    /// The environment variable.
    pub name: &'static str,
}

impl EdgeLimits {
    /// Reads the limits from `env`; unset ones keep their defaults.
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Self, LimitsConfigError> {
        let read = |name: &'static str| -> Result<Option<u64>, LimitsConfigError> {
            match env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => match v.parse::<u64>() {
                    Ok(n) if n > 0 => Ok(Some(n)),
                    _ => Err(LimitsConfigError { name }),
                },
            }
        };
        let narrow = |name: &'static str, n: u64| u32::try_from(n).map_err(|_| LimitsConfigError { name });
        let mut limits = Self::default();
        if let Some(n) = read(MAX_CONNECTIONS)? {
            limits.max_connections =
                usize::try_from(n).map_err(|_| LimitsConfigError { name: MAX_CONNECTIONS })?;
        }
        if let Some(n) = read(H2_MAX_STREAMS)? {
            limits.h2_max_concurrent_streams = narrow(H2_MAX_STREAMS, n)?;
        }
        if let Some(n) = read(H2_KEEPALIVE_SECS)? {
            limits.h2_keep_alive = Duration::from_secs(n);
        }
        if let Some(n) = read(IDLE_TIMEOUT_SECS)? {
            limits.idle_timeout = Duration::from_secs(n);
        }
        if let Some(n) = read(THREADS)? {
            limits.threads = usize::try_from(n).map_err(|_| LimitsConfigError { name: THREADS })?;
        }
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_overrides_and_refusals() {
        assert_eq!(EdgeLimits::from_env(&env(&[])).unwrap(), EdgeLimits::default());
        let limits = EdgeLimits::from_env(&env(&[
            (MAX_CONNECTIONS, "500"),
            (H2_MAX_STREAMS, "20"),
            (H2_KEEPALIVE_SECS, "10"),
            (IDLE_TIMEOUT_SECS, "60"),
            (THREADS, "3"),
        ]))
        .unwrap();
        assert_eq!(
            limits,
            EdgeLimits {
                max_connections: 500,
                h2_max_concurrent_streams: 20,
                h2_keep_alive: Duration::from_secs(10),
                idle_timeout: Duration::from_secs(60),
                threads: 3,
            }
        );
        for name in [MAX_CONNECTIONS, H2_MAX_STREAMS, H2_KEEPALIVE_SECS, IDLE_TIMEOUT_SECS, THREADS] {
            for bad in ["0", "-1", "many"] {
                assert_eq!(EdgeLimits::from_env(&env(&[(name, bad)])).unwrap_err().name, name);
            }
        }
        assert!(EdgeLimits::from_env(&env(&[(H2_MAX_STREAMS, "99999999999")])).is_err());
    }
}
