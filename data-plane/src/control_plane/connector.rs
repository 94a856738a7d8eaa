//! Connections to the control plane: every URL of `GATEHOUSE_CONTROL_PLANE_URL`
//! and every address its name resolves to, tried in turn, over TLS for
//! `https://` URLs (with the CA and client certificate reloaded from disk when
//! they change). A new connection starts with the address after the one used
//! last, so when a replica dies the edge moves on to the next instead of
//! waiting on the dead one again.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use gatehouse_tls::client::ClientTls;
use gatehouse_tls::Reloading;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// How long one address gets to accept a TCP connection and finish the TLS handshake.
const ADDRESS_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a probe waits for an address to accept.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// A byte stream to the control plane, plaintext or TLS.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// One control-plane URL's host and port.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub host: String,
    pub port: u16,
    /// The name the certificate must carry (the URL's host).
    pub server_name: ServerName<'static>,
}

/// The tower connector tonic's channel calls for every new connection.
#[derive(Clone)]
pub(super) struct Connector {
    inner: Arc<Inner>,
}

struct Inner {
    targets: Vec<Target>,
    tls: Option<Arc<Reloading<ClientTls>>>,
    /// Index (into the resolved addresses) to start the next connection at.
    next: AtomicUsize,
}

impl Connector {
    pub(super) fn new(targets: Vec<Target>, tls: Option<Arc<Reloading<ClientTls>>>) -> Self {
        Self { inner: Arc::new(Inner { targets, tls, next: AtomicUsize::new(0) }) }
    }

    /// Every address of every target, resolved now (a name that does not resolve is skipped).
    async fn addresses(&self) -> Vec<(SocketAddr, usize)> {
        let mut all = Vec::new();
        for (i, target) in self.inner.targets.iter().enumerate() {
            match tokio::net::lookup_host((target.host.as_str(), target.port)).await {
                Ok(addrs) => all.extend(addrs.map(|a| (a, i))),
                Err(error) => {
                    tracing::debug!(host = %target.host, %error, "control plane name does not resolve")
                }
            }
        }
        all
    }

    async fn connect(self) -> std::io::Result<TokioIo<Box<dyn Io>>> {
        let addresses = self.addresses().await;
        if addresses.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no control plane address resolves",
            ));
        }
        let start = self.inner.next.load(Ordering::Relaxed);
        let mut last_error = None;
        for step in 0..addresses.len() {
            let index = (start + step) % addresses.len();
            let (addr, target) = addresses[index];
            match self.connect_to(addr, &self.inner.targets[target]).await {
                Ok(io) => {
                    self.inner.next.store(index + 1, Ordering::Relaxed);
                    tracing::debug!(%addr, "connected to the control plane");
                    return Ok(TokioIo::new(io));
                }
                Err(error) => {
                    tracing::debug!(%addr, %error, "control plane address unreachable, trying the next");
                    last_error = Some(error);
                }
            }
        }
        self.inner.next.store(start + 1, Ordering::Relaxed);
        Err(last_error.unwrap_or_else(|| std::io::Error::other("no control plane address answered")))
    }

    async fn connect_to(&self, addr: SocketAddr, target: &Target) -> std::io::Result<Box<dyn Io>> {
        let timed_out = || std::io::Error::new(std::io::ErrorKind::TimedOut, format!("{addr} timed out"));
        tokio::time::timeout(ADDRESS_TIMEOUT, async {
            let tcp = TcpStream::connect(addr).await?;
            let _ = tcp.set_nodelay(true);
            match &self.inner.tls {
                None => Ok(Box::new(tcp) as Box<dyn Io>),
                Some(tls) => {
                    let connector = tls.current();
                    let stream = connector.connect(target.server_name.clone(), tcp).await?;
                    Ok(Box::new(stream) as Box<dyn Io>)
                }
            }
        })
        .await
        .map_err(|_| timed_out())?
    }

    /// Whether some control-plane address accepts a TCP connection now (a cheap
    /// health probe, so an edge waiting out its backoff reconnects as soon as a
    /// control plane is back).
    pub(super) async fn probe(&self) -> bool {
        for (addr, _) in self.addresses().await {
            if let Ok(Ok(_)) = tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect(addr)).await {
                return true;
            }
        }
        false
    }
}

impl tower::Service<http::Uri> for Connector {
    type Response = TokioIo<Box<dyn Io>>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = std::io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        Box::pin(self.clone().connect())
    }
}
