//! Test harness: starts the real Gatehouse stack in-process on port 0.
//!
//! - [`db`]: a fresh SQLite or PostgreSQL database per test.
//! - [`control_plane`]: a real control plane (admin API + config stream) with a typed admin client.
//! - [`edge`]: a real edge subscribed to a control plane.
//! - [`upstream`]: real upstream MCP servers (rmcp) and a raw HTTP upstream that records requests.
//! - [`logs`]: captures everything the process logs, to assert secrets never appear.

pub mod control_plane;
pub mod db;
pub mod edge;
pub mod logs;
pub mod upstream;

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
///
/// Use this instead of sleeps: it returns as soon as the condition holds.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
