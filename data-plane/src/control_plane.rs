//! The edge's one gRPC channel to the control plane.
//!
//! The config stream ([`crate::config_client`]) and the credential broker
//! ([`crate::credentials::control_plane`]) share it: one HTTP/2 connection,
//! multiplexed, with one keep-alive and one reconnect, so the broker never
//! holds a connection the config stream already found dead (or the other way
//! round). Every call carries the node token.

use std::time::Duration;

use secrecy::ExposeSecret as _;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::config::EdgeConfig;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// HTTP/2 pings detect a control plane that vanished without closing the connection.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the channel could not be built from the edge config.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The control plane URL is not a usable gRPC endpoint.
    #[error("invalid control plane url {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The node token cannot be sent as an HTTP header.
    #[error("the node token contains characters not allowed in a header")]
    InvalidToken,
}

/// A lazily connected, reconnecting channel to the control plane, and the
/// node token every call on it presents.
#[derive(Debug, Clone)]
pub struct ControlPlaneChannel {
    channel: Channel,
    authorization: MetadataValue<Ascii>,
    node_id: String,
}

impl ControlPlaneChannel {
    /// The channel to `config`'s control plane; nothing connects until the first call.
    pub fn new(config: &EdgeConfig) -> Result<Self, ChannelError> {
        let url = config.control_plane_url.clone();
        let invalid = |reason: String| ChannelError::InvalidUrl { url: url.clone(), reason };
        let mut endpoint = Endpoint::from_shared(url.clone())
            .map_err(|e| invalid(e.to_string()))?
            .connect_timeout(CONNECT_TIMEOUT)
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        if endpoint.uri().scheme_str() == Some("https") {
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().with_native_roots())
                .map_err(|e| invalid(error_chain(&e)))?;
        }
        let mut authorization: MetadataValue<Ascii> = format!("Bearer {}", config.node_token.expose_secret())
            .parse()
            .map_err(|_| ChannelError::InvalidToken)?;
        authorization.set_sensitive(true);
        Ok(Self { channel: endpoint.connect_lazy(), authorization, node_id: config.node_id.clone() })
    }

    /// The channel (a handle: clones share the connection).
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// `Bearer <node token>`, marked sensitive.
    pub fn authorization(&self) -> &MetadataValue<Ascii> {
        &self.authorization
    }

    /// This edge's name in the control plane's edge list.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }
}

/// An error with its sources, since tonic's transport errors say little at the top level.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut previous = text.clone();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // hyper and tonic wrap errors in layers that repeat the same message.
        if cause_text != previous {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        previous = cause_text;
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_chain_includes_sources() {
        #[derive(Debug, thiserror::Error)]
        #[error("transport error")]
        struct Transport(#[source] std::io::Error);
        #[derive(Debug, thiserror::Error)]
        #[error("transport error")]
        struct Repeated(#[source] Transport);
        let err = Transport(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused"));
        assert_eq!(error_chain(&err), "transport error: connection refused");
        let err = Repeated(Transport(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        )));
        assert_eq!(error_chain(&err), "transport error: connection refused", "repeated layers are folded");
    }
}
