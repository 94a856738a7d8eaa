//! The upstream credential broker: per-user OAuth tokens and client-credentials
//! tokens for upstream servers, cached encrypted (Redis or process memory) and
//! refreshed by edges with exactly one refresh per grant across all edges.
//!
//! The control plane holds the grants (the source of truth) and serves them
//! over the `CredentialBroker` gRPC service; the edge caches access tokens,
//! refreshes them under the control plane's lease and injects them upstream.
//!
//! The broker works on the request's own [`ConfigView`](crate::config_view::ConfigView)
//! (sealing key, revoked grants), never on a config loaded again behind its back.
//! Its settings are [`crate::config::CredentialSettings`].

pub mod broker;
pub mod cache;
pub mod cache_backend;
pub mod control_plane;
pub mod error;
pub mod memory_cache;
pub mod redis_cache;
pub mod sealing;
pub mod single_flight;
pub mod step_up;
pub mod throttle;
pub mod token_endpoint;

pub use broker::{Credential, CredentialBroker};
pub use cache::{CacheStatus, EdgeTokenCache};
pub use control_plane::ControlPlaneClient;
pub use error::BrokerError;

#[cfg(test)]
pub(crate) mod tests_support {
    use std::time::Duration;

    /// Polls `condition` every few milliseconds for up to five seconds.
    pub async fn eventually(mut condition: impl FnMut() -> bool) {
        for _ in 0..1000 {
            if condition() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("condition not met within 5 s");
    }
}
