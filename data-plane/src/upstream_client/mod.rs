//! The proxy's HTTP client to upstream MCP servers: hyper's pooled client over the guarded
//! connector ([`connector`]). Bodies stream both ways (a response body is hyper's own, handed
//! to the client unbuffered); redirects are never followed (hyper follows none); HTTP/2 is
//! used when a TLS upstream picks it by ALPN, HTTP/1.1 otherwise, with keep-alive pools.
//!
//! The identity-provider and token-endpoint calls keep their reqwest client
//! ([`crate::egress::Egress`]): they are not on the request path, and need its JSON helpers.

mod connector;
mod io;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gatehouse_tls::{ClientTls, PemFile, Reloading, TlsError};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio_util::sync::CancellationToken;

use crate::config::proxy::UPSTREAM_CA;
use crate::config::ProxySettings;
use crate::egress;
use connector::GuardedConnector;

/// How long an unused upstream connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Unused connections kept per upstream host: enough for the concurrency one edge sees,
/// bounded so a burst does not leave thousands of sockets open.
const POOL_MAX_IDLE_PER_HOST: usize = 256;
/// How often `GATEHOUSE_UPSTREAM_CA` is checked for changes.
const TLS_RELOAD_INTERVAL: Duration = Duration::from_secs(30);

/// A request to an upstream: its body is the client's bytes as they came (empty for GET/DELETE).
pub type UpstreamRequest = http::Request<Full<Bytes>>;
/// An upstream's response, its body still streaming from the connection.
pub type UpstreamResponse = http::Response<Incoming>;

/// Why an upstream exchange failed.
#[derive(Debug)]
pub enum SendError {
    /// The upstream's address is one the policy refuses.
    Blocked,
    /// No connection could be made (refused, unreachable, TLS handshake, connect timeout).
    Connect(hyper_util::client::legacy::Error),
    /// The connection failed during the exchange.
    Exchange(hyper_util::client::legacy::Error),
}

type PooledClient = Client<GuardedConnector, Full<Bytes>>;

/// The pooled upstream client of the edge. Each thread sends through a pool of its own (see
/// `UpstreamClient::request`); clones share them.
#[derive(Clone)]
pub struct UpstreamClient {
    connector: GuardedConnector,
    tls: Arc<Reloading<ClientTls>>,
    // Alive while any clone is: names this client's pools in each thread's list.
    alive: Arc<()>,
}

thread_local! {
    /// This thread's pool of each live upstream client.
    static POOLS: std::cell::RefCell<Vec<(std::sync::Weak<()>, PooledClient)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamClient").finish_non_exhaustive()
    }
}

impl UpstreamClient {
    /// The client for `settings` (address policy, connect timeout, upstream CA); fails when
    /// the CA file is unusable.
    pub fn new(settings: &ProxySettings) -> Result<Self, TlsError> {
        let tls = Reloading::load(ClientTls {
            ca: settings.upstream_ca.as_ref().map(|path| PemFile::new(UPSTREAM_CA, path)),
            with_system_roots: true,
            identity: None,
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            name: "upstream client",
        })?;
        let connector = GuardedConnector::new(
            settings.upstream_addresses.clone(),
            tls.clone(),
            settings.upstream_connect_timeout,
        );
        Ok(Self { connector, tls, alive: Arc::new(()) })
    }

    /// This thread's pool: a connection then lives on the thread of the requests using it
    /// (an edge serves each connection on one thread), so sending a request and reading its
    /// answer never wakes another thread. The pools share the connector (address policy,
    /// TLS) and settings; each keeps its own idle connections.
    fn request(&self, request: UpstreamRequest) -> hyper_util::client::legacy::ResponseFuture {
        POOLS.with(|pools| {
            let mut pools = pools.borrow_mut();
            let ours = |(alive, _): &&(std::sync::Weak<()>, PooledClient)| {
                std::ptr::eq(alive.as_ptr(), Arc::as_ptr(&self.alive))
            };
            if let Some((_, client)) = pools.iter().find(ours) {
                return client.request(request);
            }
            // A new client here: forget the pools of clients that are gone.
            pools.retain(|(alive, _)| alive.strong_count() > 0);
            let client = Client::builder(TokioExecutor::new())
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
                .pool_timer(TokioTimer::new())
                .timer(TokioTimer::new())
                .build(self.connector.clone());
            let sent = client.request(request);
            pools.push((Arc::downgrade(&self.alive), client));
            sent
        })
    }

    /// Sends `request` and waits for the response head; the body streams afterwards.
    pub async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, SendError> {
        self.request(request).await.map_err(|error| {
            if egress::is_blocked(&error) {
                SendError::Blocked
            } else if error.is_connect() {
                SendError::Connect(error)
            } else {
                SendError::Exchange(error)
            }
        })
    }

    /// Checks `GATEHOUSE_UPSTREAM_CA` for changes until `shutdown` (new connections use the
    /// new bundle); returns at once when none is configured.
    pub async fn watch_tls(self, shutdown: CancellationToken) {
        if self.tls.source().ca.is_some() {
            self.tls.watch(TLS_RELOAD_INTERVAL, shutdown).await;
        }
    }
}
