//! The edge's one gRPC channel to the control plane.
//!
//! The config stream ([`crate::config_client`]) and the credential broker
//! ([`crate::credentials::control_plane`]) share it: one HTTP/2 connection,
//! multiplexed, with one keep-alive and one reconnect, so the broker never
//! holds a connection the config stream already found dead (or the other way
//! round). Every call carries the node token.
//!
//! Connections are made by [`connector`]: every configured control-plane
//! address in turn, TLS for `https://` URLs.

mod connector;

use std::sync::Arc;
use std::time::Duration;

use gatehouse_tls::client::ClientTls;
use gatehouse_tls::{PemFile, Reloading};
use secrecy::ExposeSecret as _;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use crate::config::control_plane::{
    split_urls, CONTROL_PLANE_CA, CONTROL_PLANE_CLIENT_CERT, CONTROL_PLANE_CLIENT_KEY,
};
use crate::config::EdgeConfig;
use connector::{Connector, Target};

/// How often the CA and client certificate files are checked for changes.
pub const TLS_RELOAD_INTERVAL: Duration = Duration::from_secs(30);
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
    /// The CA bundle or client certificate is unusable.
    #[error(transparent)]
    Tls(#[from] gatehouse_tls::TlsError),
}

/// A lazily connected, reconnecting channel to the control plane, and the
/// node token every call on it presents.
#[derive(Clone)]
pub struct ControlPlaneChannel {
    channel: Channel,
    authorization: MetadataValue<Ascii>,
    node_id: String,
    connector: Connector,
    tls: Option<Arc<Reloading<ClientTls>>>,
}

impl std::fmt::Debug for ControlPlaneChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the node token.
        f.debug_struct("ControlPlaneChannel")
            .field("node_id", &self.node_id)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl ControlPlaneChannel {
    /// The channel to `config`'s control plane(s); nothing connects until the first
    /// call, but the CA and client certificate files are read now.
    pub fn new(config: &EdgeConfig) -> Result<Self, ChannelError> {
        let urls = split_urls(&config.control_plane_url);
        let mut targets = Vec::new();
        let mut https = false;
        for raw in &urls {
            let invalid = |reason: String| ChannelError::InvalidUrl { url: (*raw).to_owned(), reason };
            let url = url::Url::parse(raw).map_err(|e| invalid(e.to_string()))?;
            https = url.scheme() == "https";
            let host = url.host_str().ok_or_else(|| invalid("a host is required".to_owned()))?;
            // `[::1]` in a URL, `::1` to resolve and to match an IP address SAN.
            let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
            let port = url.port_or_known_default().ok_or_else(|| invalid("a port is required".to_owned()))?;
            let server_name =
                rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| invalid(e.to_string()))?;
            targets.push(Target { host, port, server_name });
        }
        let first = urls.first().copied().unwrap_or_default();
        let tls = if https {
            let settings = &config.control_plane_tls;
            let source = ClientTls {
                ca: settings.ca_path.as_ref().map(|path| PemFile::new(CONTROL_PLANE_CA, path)),
                with_system_roots: false,
                identity: settings.client_cert.as_ref().map(|(cert, key)| {
                    (
                        PemFile::new(CONTROL_PLANE_CLIENT_CERT, cert),
                        PemFile::new(CONTROL_PLANE_CLIENT_KEY, key),
                    )
                }),
                alpn: vec![b"h2".to_vec()],
                name: "control plane client",
            };
            Some(Reloading::load(source)?)
        } else {
            None
        };
        let connector = Connector::new(targets, tls.clone());
        // The connector makes every connection (plaintext or TLS itself), so the endpoint's
        // own URI only names the authority; its scheme is http so tonic adds no TLS of its own.
        let authority = url::Url::parse(first).ok().and_then(|u| {
            u.host_str().map(|h| format!("http://{h}:{}", u.port_or_known_default().unwrap_or(443)))
        });
        let endpoint = Endpoint::from_shared(authority.unwrap_or_else(|| "http://control-plane".to_owned()))
            .map_err(|e| ChannelError::InvalidUrl { url: first.to_owned(), reason: e.to_string() })?
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        let mut authorization: MetadataValue<Ascii> = format!("Bearer {}", config.node_token.expose_secret())
            .parse()
            .map_err(|_| ChannelError::InvalidToken)?;
        authorization.set_sensitive(true);
        Ok(Self {
            channel: endpoint.connect_with_connector_lazy(connector.clone()),
            authorization,
            node_id: config.node_id.clone(),
            connector,
            tls,
        })
    }

    /// Checks the CA and client certificate files for changes until `shutdown`
    /// (new connections use the new ones); nothing to do for plaintext.
    pub async fn watch_tls(self, shutdown: tokio_util::sync::CancellationToken) {
        if let Some(tls) = self.tls {
            tls.watch(TLS_RELOAD_INTERVAL, shutdown).await;
        }
    }

    /// Whether some control-plane address accepts a TCP connection now.
    pub async fn probe(&self) -> bool {
        self.connector.probe().await
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

    #[tokio::test]
    async fn unreadable_tls_files_name_the_variable_at_start() {
        let mut config = EdgeConfig::new(secrecy::SecretString::from("node-token-1"));
        config.control_plane_url = "https://cp-0:50051,https://cp-1:50051".into();
        config.control_plane_tls.ca_path = Some("/nonexistent/ca.crt".into());
        let err = ControlPlaneChannel::new(&config).unwrap_err().to_string();
        assert!(err.contains(CONTROL_PLANE_CA) && err.contains("cannot read"), "{err}");
        // Plaintext reads no TLS file at all; nothing connects before the first call.
        config.control_plane_url = "http://127.0.0.1:1".into();
        let channel = ControlPlaneChannel::new(&config).unwrap();
        assert!(!format!("{channel:?}").contains("node-token-1"), "debug output never shows the token");
    }
}
