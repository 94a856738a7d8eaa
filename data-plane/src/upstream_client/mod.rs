//! The proxy's HTTP client to upstream MCP servers, over the guarded connector
//! ([`connector`]): `http://` upstreams through our own HTTP/1.1 keep-alive connections
//! ([`plain_pool`], speaking [`wire`] and [`chunked`]), `https://` ones through hyper-util's
//! pooled client, which speaks HTTP/2 when the upstream picks it by ALPN. Response bodies
//! stream to the client unbuffered, frame by frame; redirects are never followed.
//!
//! The identity-provider and token-endpoint calls keep their reqwest client
//! ([`crate::egress::Egress`]): they are not on the request path, and need its JSON helpers.

pub(crate) mod chunked;
mod connector;
mod io;
mod plain_pool;
#[cfg(test)]
mod plain_tests;
pub(crate) mod wire;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use gatehouse_tls::{ClientTls, PemFile, Reloading, TlsError};
use http::uri::Scheme;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio_util::sync::CancellationToken;

use crate::config::proxy::UPSTREAM_CA;
use crate::config::ProxySettings;
use crate::egress;
use connector::GuardedConnector;
pub(crate) use plain_pool::host_header;
use plain_pool::{PlainBody, PlainPool};

/// How long an unused upstream connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Unused connections kept per upstream host: enough for the concurrency one edge sees,
/// bounded so a burst does not leave thousands of sockets open.
const POOL_MAX_IDLE_PER_HOST: usize = 256;
/// How often `GATEHOUSE_UPSTREAM_CA` is checked for changes.
const TLS_RELOAD_INTERVAL: Duration = Duration::from_secs(30);

/// A request to an upstream: its body is the client's bytes as they came (empty for GET/DELETE).
pub type UpstreamRequest = http::Request<Bytes>;
/// An upstream's response, its body still streaming from the connection.
pub type UpstreamResponse = http::Response<UpstreamBody>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An upstream response body, streaming from its connection: read from the socket by the edge
/// for `http://` upstreams, hyper's for `https://` ones.
pub struct UpstreamBody(BodyKind);

enum BodyKind {
    Plain(PlainBody),
    Pooled(Incoming),
}

impl UpstreamBody {
    fn plain(body: PlainBody) -> Self {
        Self(BodyKind::Plain(body))
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().0 {
            BodyKind::Plain(body) => body.poll_frame(cx),
            BodyKind::Pooled(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            BodyKind::Plain(body) => body.is_end_stream(),
            BodyKind::Pooled(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            BodyKind::Plain(body) => body.size_hint(),
            BodyKind::Pooled(body) => body.size_hint(),
        }
    }
}

/// Why an upstream exchange failed.
#[derive(Debug)]
pub enum SendError {
    /// The upstream's address is one the policy refuses.
    Blocked,
    /// No connection could be made (refused, unreachable, TLS handshake, connect timeout).
    Connect(BoxError),
    /// The connection failed during the exchange.
    Exchange(BoxError),
    /// No response head came before the deadline.
    TimedOut,
}

/// One thread's pools of one client.
struct ThreadPools {
    /// `https://` upstreams.
    tls: Client<GuardedConnector, Full<Bytes>>,
    /// `http://` upstreams.
    plain: PlainPool,
}

/// The pooled upstream client of the edge. Each thread sends through a pool of its own (see
/// `UpstreamClient::pools`); clones share them.
#[derive(Clone)]
pub struct UpstreamClient {
    connector: GuardedConnector,
    tls: Arc<Reloading<ClientTls>>,
    // Alive while any clone is: names this client's pools in each thread's list.
    alive: Arc<()>,
}

thread_local! {
    /// This thread's pool of each live upstream client.
    static POOLS: std::cell::RefCell<Vec<(std::sync::Weak<()>, ThreadPools)>> =
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

    /// Runs `f` on this thread's pools: a connection then lives on the thread of the requests
    /// using it (an edge serves each connection on one thread), so sending a request and
    /// reading its answer never wakes another thread. The pools share the connector (address
    /// policy, TLS) and settings; each keeps its own idle connections.
    fn pools<T>(&self, f: impl FnOnce(&mut ThreadPools) -> T) -> T {
        POOLS.with(|pools| {
            let mut pools = pools.borrow_mut();
            let ours = |(alive, _): &&mut (std::sync::Weak<()>, ThreadPools)| {
                std::ptr::eq(alive.as_ptr(), Arc::as_ptr(&self.alive))
            };
            if let Some((_, client)) = pools.iter_mut().find(ours) {
                return f(client);
            }
            // A new client here: forget the pools of clients that are gone.
            pools.retain(|(alive, _)| alive.strong_count() > 0);
            let tls = Client::builder(TokioExecutor::new())
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
                .pool_timer(TokioTimer::new())
                .timer(TokioTimer::new())
                .build(self.connector.clone());
            let mut created = ThreadPools { tls, plain: PlainPool::default() };
            let result = f(&mut created);
            pools.push((Arc::downgrade(&self.alive), created));
            result
        })
    }

    /// Sends `request` (its URI absolute) and waits for the response head until `deadline`;
    /// the body streams afterwards.
    pub async fn send(
        &self,
        request: UpstreamRequest,
        deadline: tokio::time::Instant,
    ) -> Result<UpstreamResponse, SendError> {
        if request.uri().scheme() == Some(&Scheme::HTTP) {
            let authority = request.uri().authority().map_or("", |a| a.as_str());
            let host = self.pools(|pools| pools.plain.host(authority));
            return plain_pool::send(host, &self.connector, request, deadline).await;
        }
        let sent = self.pools(|pools| pools.tls.request(request.map(Full::new)));
        match tokio::time::timeout_at(deadline, sent).await {
            Ok(Ok(response)) => Ok(response.map(|body| UpstreamBody(BodyKind::Pooled(body)))),
            Ok(Err(error)) if egress::is_blocked(&error) => Err(SendError::Blocked),
            Ok(Err(error)) if error.is_connect() => Err(SendError::Connect(error.into())),
            Ok(Err(error)) => Err(SendError::Exchange(error.into())),
            Err(_) => Err(SendError::TimedOut),
        }
    }

    /// Checks `GATEHOUSE_UPSTREAM_CA` for changes until `shutdown` (new connections use the
    /// new bundle); returns at once when none is configured.
    pub async fn watch_tls(self, shutdown: CancellationToken) {
        if self.tls.source().ca.is_some() {
            self.tls.watch(TLS_RELOAD_INTERVAL, shutdown).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    use gatehouse_config::address_filter::AddressPolicy;
    use http_body_util::{BodyExt as _, StreamBody};
    use hyper::body::{Frame, Incoming};
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    use super::*;

    /// What the test upstream saw: connections accepted, and each request's target and `Host`.
    #[derive(Default)]
    struct Seen {
        connections: AtomicUsize,
        requests: Mutex<Vec<(String, String)>>,
    }

    /// An HTTP/1.1 upstream on a real socket: `/stream` answers with a body that never ends,
    /// `/close` with `Connection: close`, anything else with `ok`.
    async fn upstream() -> (String, Arc<Seen>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Seen::default());
        let counted = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                counted.connections.fetch_add(1, Ordering::SeqCst);
                let seen = counted.clone();
                let service = service_fn(move |request: http::Request<Incoming>| {
                    let host =
                        request.headers().get(http::header::HOST).map(|h| h.to_str().unwrap().to_owned());
                    seen.requests.lock().unwrap().push((request.uri().to_string(), host.unwrap_or_default()));
                    async move {
                        let body = match request.uri().path() {
                            "/stream" => {
                                let chunks = futures::stream::unfold((), |()| async {
                                    tokio::time::sleep(Duration::from_millis(5)).await;
                                    Some((Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"x"))), ()))
                                });
                                StreamBody::new(chunks).boxed()
                            }
                            _ => Full::new(Bytes::from_static(b"ok")).map_err(|e| match e {}).boxed(),
                        };
                        let mut response = http::Response::new(body);
                        if request.uri().path() == "/close" {
                            response.headers_mut().insert(http::header::CONNECTION, "close".parse().unwrap());
                        }
                        Ok::<_, Infallible>(response)
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), service),
                );
            }
        });
        (format!("127.0.0.1:{}", addr.port()), seen)
    }

    /// A deadline no test reaches.
    fn far() -> tokio::time::Instant {
        tokio::time::Instant::now() + Duration::from_secs(30)
    }

    fn client() -> UpstreamClient {
        UpstreamClient::new(&ProxySettings {
            upstream_addresses: AddressPolicy::new(true),
            ..Default::default()
        })
        .unwrap()
    }

    async fn get(client: &UpstreamClient, url: &str) -> UpstreamResponse {
        let mut request = http::Request::new(Bytes::new());
        *request.uri_mut() = url.parse().unwrap();
        client.send(request, far()).await.unwrap()
    }

    async fn read(response: UpstreamResponse) -> Bytes {
        response.into_body().collect().await.unwrap().to_bytes()
    }

    #[tokio::test]
    async fn plain_connections_are_kept_and_reused_once_a_response_is_read() {
        let (authority, seen) = upstream().await;
        let client = client();
        for _ in 0..3 {
            assert_eq!(read(get(&client, &format!("http://{authority}/mcp?x=1")).await).await, "ok");
        }
        assert_eq!(seen.connections.load(Ordering::SeqCst), 1, "one connection for three requests");
        assert_eq!(client.pools(|p| p.plain.host(&authority).idle()), 1);
        // The request line is in origin form, and `Host` names the upstream's port.
        let requests = seen.requests.lock().unwrap().clone();
        assert_eq!(requests[0], ("/mcp?x=1".to_owned(), authority.clone()));
    }

    #[tokio::test]
    async fn a_body_dropped_unread_closes_its_connection_and_the_next_request_gets_a_new_one() {
        let (authority, seen) = upstream().await;
        let client = client();
        let streaming = get(&client, &format!("http://{authority}/stream")).await;
        let mut body = streaming.into_body();
        assert!(body.frame().await.unwrap().unwrap().is_data());
        drop(body);
        assert_eq!(client.pools(|p| p.plain.host(&authority).idle()), 0, "never pooled mid-body");
        assert_eq!(read(get(&client, &format!("http://{authority}/mcp")).await).await, "ok");
        assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_connection_the_upstream_closes_is_not_used_again() {
        let (authority, seen) = upstream().await;
        let client = client();
        assert_eq!(read(get(&client, &format!("http://{authority}/close")).await).await, "ok");
        // Give the connection's task a moment to see the close.
        tokio::time::sleep(Duration::from_millis(50)).await;
        for _ in 0..2 {
            assert_eq!(read(get(&client, &format!("http://{authority}/mcp")).await).await, "ok");
        }
        assert_eq!(seen.connections.load(Ordering::SeqCst), 2, "a new connection after the close, then kept");
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error_and_a_blocked_address_is_named() {
        // A port nothing listens on.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let mut request = http::Request::new(Bytes::new());
        *request.uri_mut() = format!("http://127.0.0.1:{port}/mcp").parse().unwrap();
        assert!(matches!(client().send(request, far()).await, Err(SendError::Connect(_))));
        let strict = UpstreamClient::new(&ProxySettings::default()).unwrap();
        let mut request = http::Request::new(Bytes::new());
        *request.uri_mut() = format!("http://127.0.0.1:{port}/mcp").parse().unwrap();
        assert!(matches!(strict.send(request, far()).await, Err(SendError::Blocked)));
    }
}
