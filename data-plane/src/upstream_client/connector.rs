//! How the upstream client makes a connection: names resolved through the address policy
//! (every address checked after resolution, on every new connection), address literals
//! checked before connecting, TCP with `TCP_NODELAY`, and for `https://` TLS with the
//! system's roots (plus `GATEHOUSE_UPSTREAM_CA`) offering HTTP/2 and HTTP/1.1 by ALPN.
//! No proxy: a proxy would resolve names itself, past the guard.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use gatehouse_config::address_filter::AddressPolicy;
use gatehouse_tls::{ClientTls, Reloading};
use http::uri::Scheme;
use http::Uri;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tower::{Service, ServiceExt as _};

use super::io::UpstreamIo;
use crate::egress;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Connecting<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

/// The connector of the pooled upstream client (called only for a new connection).
#[derive(Clone)]
pub(super) struct GuardedConnector {
    tcp: HttpConnector<GuardedResolver>,
    policy: Arc<AddressPolicy>,
    tls: Arc<Reloading<ClientTls>>,
    /// Resolution, TCP and TLS handshake together.
    timeout: Duration,
}

impl GuardedConnector {
    pub(super) fn new(policy: AddressPolicy, tls: Arc<Reloading<ClientTls>>, timeout: Duration) -> Self {
        let policy = Arc::new(policy);
        let mut tcp = HttpConnector::new_with_resolver(GuardedResolver { policy: policy.clone() });
        // `https://` URLs reach the TCP connector too: TLS is added below.
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(timeout));
        Self { tcp, policy, tls, timeout }
    }

    async fn connect(self, uri: Uri) -> Result<UpstreamIo, BoxError> {
        let host = uri.host().ok_or("the upstream URL has no host")?;
        // `[::1]` in a URL, `::1` as an address and in a certificate.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            // Literals never reach the resolver.
            self.policy.check(None, ip).inspect_err(|blocked| {
                tracing::warn!(address = %blocked.address, class = ?blocked.class, "refusing an outbound connection");
            })?;
        }
        let https = uri.scheme() == Some(&Scheme::HTTPS);
        let server_name = if https { Some(ServerName::try_from(host.to_owned())?) } else { None };
        let tcp = self.tcp.oneshot(uri).await?;
        let Some(server_name) = server_name else { return Ok(UpstreamIo::Plain(tcp)) };
        // A connection keeps the roots it started with; new ones use reloaded files.
        let tls = self.tls.current().connect(server_name, tcp.into_inner()).await?;
        Ok(UpstreamIo::Tls(Box::new(TokioIo::new(tls))))
    }
}

impl Service<Uri> for GuardedConnector {
    type Response = UpstreamIo;
    type Error = BoxError;
    type Future = Connecting<UpstreamIo>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, this.connect(uri)).await {
                Ok(connected) => connected,
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("connecting took longer than {} ms", timeout.as_millis()),
                )
                .into()),
            }
        })
    }
}

/// Resolves names through [`egress::resolve_allowed`]: a name with any blocked address is
/// refused whole.
#[derive(Clone)]
struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Connecting<Self::Response>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = self.policy.clone();
        Box::pin(async move { Ok(egress::resolve_allowed(&policy, name.as_str()).await?.into_iter()) })
    }
}
