//! The edge's HTTP server: health and readiness routes, the accept loop (plain
//! HTTP, or TLS with optional client certificates) and bounded graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use crate::config::EdgeLimits;
use crate::proxy::ProxyState;
use crate::reusable_sleep::ConnectionTimer;
use crate::state::EdgeState;
use crate::tls::{EdgeTls, TlsSession};

/// How long in-flight requests (including long-lived streams) get to finish on shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Slow clients must send their request headers within this time.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after an accept error (e.g. out of file descriptors) before trying again.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Body of `GET /readyz`.
#[derive(Debug, Serialize)]
struct Readiness {
    status: &'static str,
    config_version: u64,
    connected: bool,
    /// Upstream token cache backend: `redis`, `memory` or `memory (redis unavailable)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    token_cache: Option<&'static str>,
    /// Redis failures served from memory, and outages (counters).
    #[serde(skip_serializing_if = "Option::is_none")]
    token_cache_redis_failures: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_cache_redis_outages: Option<u64>,
    /// Where rate limits are decided: `redis`, `local` or `local (redis unavailable)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limits: Option<&'static str>,
    /// Rate-limit decisions so far (allowed, refused, made by this edge alone, Redis failures).
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limit_stats: Option<crate::limits::RateLimitStats>,
}

/// What the edge serves: its router, and the proxy, which answers MCP endpoint requests
/// without the router ([`crate::proxy::serve_direct`]).
#[derive(Clone)]
pub struct EdgeApp {
    router: Router,
    proxy: Option<ProxyState>,
}

impl EdgeApp {
    /// `router` (which must route MCP endpoints to `proxy` too), with `proxy` serving them directly.
    pub fn new(router: Router, proxy: ProxyState) -> Self {
        Self { router, proxy: Some(proxy) }
    }

    fn call(&self, request: http::Request<Incoming>) -> Routed {
        let request = request.map(axum::body::Body::new);
        if let Some(proxy) = &self.proxy {
            if let Some(path) = crate::proxy::direct_path(request.uri().path()) {
                return Routed::Direct(crate::proxy::serve_direct(proxy, path, request));
            }
        }
        Routed::Router(Box::new(self.router.clone().oneshot(request)))
    }
}

impl From<Router> for EdgeApp {
    fn from(router: Router) -> Self {
        Self { router, proxy: None }
    }
}

/// A response on its way: from the proxy directly, or from the router.
enum Routed {
    Direct(crate::proxy::Handled),
    Router(Box<tower::util::Oneshot<Router, axum::extract::Request>>),
}

impl Future for Routed {
    type Output = axum::response::Response;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        // Both variants are `Unpin` (a box, and the router's boxed future inside a oneshot).
        match self.get_mut() {
            Routed::Direct(handled) => handled.as_mut().poll(cx),
            Routed::Router(routed) => match std::pin::Pin::new(&mut **routed).poll(cx) {
                std::task::Poll::Ready(Ok(response)) => std::task::Poll::Ready(response),
                std::task::Poll::Ready(Err(never)) => match never {},
                std::task::Poll::Pending => std::task::Poll::Pending,
            },
        }
    }
}

/// `/healthz` and `/readyz`, with every other path going to `proxy`.
pub fn router(state: Arc<EdgeState>, proxy: Router) -> Router {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).with_state(state).merge(proxy)
}

/// Liveness: the process is up and serving HTTP.
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: a config (from the control plane or the local cache) is loaded.
async fn readyz(
    State(state): State<Arc<EdgeState>>,
    broker: Option<axum::Extension<Arc<crate::credentials::CredentialBroker>>>,
    limiter: Option<axum::Extension<Arc<crate::limits::RateLimiter>>>,
) -> (StatusCode, Json<Readiness>) {
    let connected = state.is_connected();
    // A Redis outage does not make the edge unready: it serves from memory (and says so).
    let cache = broker.map(|b| b.cache_status());
    let (token_cache, token_cache_redis_failures, token_cache_redis_outages) = match cache {
        Some(c) => (Some(c.backend), Some(c.redis_failures), Some(c.redis_outages)),
        None => (None, None, None),
    };
    let mut body = Readiness {
        status: "ready",
        config_version: 0,
        connected,
        token_cache,
        token_cache_redis_failures,
        token_cache_redis_outages,
        rate_limits: limiter.as_ref().map(|l| l.backend()),
        rate_limit_stats: limiter.as_ref().map(|l| l.stats()),
    };
    if state.is_loaded() {
        body.config_version = state.config().version();
        (StatusCode::OK, Json(body))
    } else {
        body.status = "not_ready";
        (StatusCode::SERVICE_UNAVAILABLE, Json(body))
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then drains.
///
/// With `tls`, every connection first completes a TLS handshake in its own
/// task (never on the accept path), bounded by the handshake timeout.
/// After the signal no new connections are accepted and open ones are asked
/// to finish; whatever is still open after `grace` (an SSE stream, a stuck
/// upstream) is closed, so shutdown never waits on a client.
pub async fn serve(
    listener: TcpListener,
    app: impl Into<EdgeApp>,
    tls: Option<EdgeTls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) {
    serve_with_limits(listener, app, tls, &EdgeLimits::default(), shutdown, grace).await;
}

/// [`serve`] within `limits`: at most `max_connections` are served at once (more wait
/// in the listen backlog, unaccepted), HTTP/2 connections get the stream limit and
/// keep-alive pings, and a connection idle for `idle_timeout` is closed.
pub async fn serve_with_limits(
    listener: TcpListener,
    app: impl Into<EdgeApp>,
    tls: Option<EdgeTls>,
    limits: &EdgeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) {
    let app = app.into();
    let drain = CancellationToken::new();
    let mut connections = JoinSet::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let limits = Arc::new(limits.clone());
    let mut threads = match ConnectionThreads::start(limits.threads) {
        Ok(threads) => Some(threads),
        Err(err) => {
            tracing::warn!(%err, "cannot start the connection threads; serving on the main runtime");
            None
        }
    };
    let main_runtime = tokio::runtime::Handle::current();
    tokio::pin!(shutdown);
    loop {
        // A free slot first: at the cap nothing is accepted, so the kernel backlog holds the rest.
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let (app, tls, limits, drain) = (app.clone(), tls.clone(), limits.clone(), drain.clone());
                    let runtime = threads.as_mut().map_or(&main_runtime, ConnectionThreads::next);
                    // Off this runtime's reactor, onto the serving thread's.
                    let stream = match stream.into_std() {
                        Ok(stream) => stream,
                        Err(err) => {
                            tracing::debug!(%peer, %err, "cannot hand an accepted connection over");
                            continue;
                        }
                    };
                    connections.spawn_on(
                        async move {
                            match TcpStream::from_std(stream) {
                                Ok(stream) => serve_connection(stream, peer, app, tls, limits, drain).await,
                                Err(err) => tracing::debug!(%peer, %err, "cannot serve an accepted connection"),
                            }
                            drop(slot);
                        },
                        runtime,
                    );
                }
                Err(err) => {
                    tracing::warn!(%err, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            },
            // Reap finished connections so the set doesn't grow with every client.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    drain.cancel();
    tracing::info!(open_connections = connections.len(), "draining connections");
    let drained =
        tokio::time::timeout(grace, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            open_connections = connections.len(),
            grace_ms = grace.as_millis() as u64,
            "closing connections still open after the grace period"
        );
        connections.shutdown().await;
    }
    drop(threads);
}

/// The threads connections are served on (`GATEHOUSE_EDGE_THREADS`), each running a
/// single-threaded runtime, like nginx's workers. A connection stays on the thread it is
/// handed to from accept to close, so its request, its upstream exchange and its response are
/// polled where its sockets are registered: no work stealing, no wake-ups of another thread and
/// no cross-thread handoffs on the request path. Accepted connections are dealt out in turn.
/// Background work (the config stream, the audit shipper, token refreshes) stays on the main
/// runtime; anything a request spawns runs on its connection's thread.
struct ConnectionThreads {
    runtimes: Vec<tokio::runtime::Handle>,
    next: usize,
    stop: CancellationToken,
}

impl ConnectionThreads {
    fn start(count: usize) -> std::io::Result<Self> {
        let stop = CancellationToken::new();
        let mut runtimes = Vec::with_capacity(count);
        for index in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtimes.push(runtime.handle().clone());
            let stopped = stop.clone().cancelled_owned();
            let started = std::thread::Builder::new()
                .name(format!("gatehouse-edge-{index}"))
                .spawn(move || runtime.block_on(stopped));
            if let Err(err) = started {
                stop.cancel();
                return Err(err);
            }
        }
        Ok(Self { runtimes, next: 0, stop })
    }

    /// The runtime the next connection goes to.
    fn next(&mut self) -> &tokio::runtime::Handle {
        self.next = (self.next + 1) % self.runtimes.len();
        &self.runtimes[self.next]
    }
}

impl Drop for ConnectionThreads {
    /// Stops the threads; their runtimes drop whatever tasks are left (none after a drain).
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: EdgeApp,
    tls: Option<EdgeTls>,
    limits: Arc<EdgeLimits>,
    drain: CancellationToken,
) {
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(%peer, %err, "cannot set TCP_NODELAY");
    }
    let Some(tls) = tls else {
        return serve_http(TokioIo::new(stream), peer, app, None, &limits, drain).await;
    };
    let handshake = tokio::select! {
        handshake = tls.handshake(stream, peer) => handshake,
        () = drain.cancelled() => return,
    };
    if let Some((stream, session)) = handshake {
        serve_http(TokioIo::new(stream), peer, app, Some(session), &limits, drain).await;
    }
}

async fn serve_http<I>(
    io: I,
    peer: SocketAddr,
    app: EdgeApp,
    tls: Option<TlsSession>,
    limits: &EdgeLimits,
    drain: CancellationToken,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let activity = Activity::default();
    let tracker = activity.clone();
    // Handlers may ask for the caller's address, as with axum's `into_make_service_with_connect_info`,
    // and for the connection's verified client certificate.
    let service = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        if let Some(tls) = &tls {
            request.extensions_mut().insert(tls.clone());
        }
        // In flight until the response body is dropped: a long SSE stream is activity.
        let busy = tracker.start();
        let response = app.call(request);
        async move {
            let response = response.await;
            Ok::<_, std::convert::Infallible>(response.map(|body| {
                axum::body::Body::new(http_body_util::BodyExt::map_frame(body, move |frame| {
                    let _busy = &busy;
                    frame
                }))
            }))
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // One kept timer per connection for the header-read timeout, re-armed for each request.
    builder.http1().timer(ConnectionTimer::default()).header_read_timeout(HEADER_READ_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_concurrent_streams)
        .keep_alive_interval(limits.h2_keep_alive)
        .keep_alive_timeout(limits.h2_keep_alive);
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = drain.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
        () = activity.idle_for(limits.idle_timeout) => {
            tracing::debug!(%peer, "closing an idle connection");
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(%peer, %err, "connection ended with an error");
    }
}

/// Requests and response bodies in flight on one connection, and when the last one ended.
#[derive(Clone, Default)]
struct Activity(Arc<ActivityState>);

#[derive(Default)]
struct ActivityState {
    // (in flight, when the count last dropped to zero)
    counts: std::sync::Mutex<(usize, Option<tokio::time::Instant>)>,
    // Woken when the count drops to zero.
    quiet: tokio::sync::Notify,
}

/// One request (and its response body) in flight; ends when dropped.
struct Busy(Activity);

impl Activity {
    fn start(&self) -> Busy {
        self.0.counts.lock().unwrap_or_else(|e| e.into_inner()).0 += 1;
        Busy(self.clone())
    }

    /// Completes once nothing has been in flight for `timeout`; sleeps (no polling) while
    /// a long stream is open.
    async fn idle_for(&self, timeout: Duration) {
        let opened = tokio::time::Instant::now();
        loop {
            let quiet = self.0.quiet.notified();
            let idle_since = {
                let counts = self.0.counts.lock().unwrap_or_else(|e| e.into_inner());
                (counts.0 == 0).then(|| counts.1.unwrap_or(opened))
            };
            match idle_since {
                Some(since) if since.elapsed() >= timeout => return,
                // Woken early by nothing: a request that starts meanwhile is seen on the next check.
                Some(since) => tokio::time::sleep_until(since + timeout).await,
                None => quiet.await,
            }
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut counts = self.0 .0.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.0 -= 1;
        counts.1 = Some(tokio::time::Instant::now());
        if counts.0 == 0 {
            self.0 .0.quiet.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_view::ConfigView;
    use gatehouse_proto::config::v1 as pb;

    async fn get_json(app: &Router, path: &str) -> (StatusCode, serde_json::Value) {
        let request = http::Request::get(path).body(axum::body::Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn readiness_follows_the_loaded_config() {
        let state = EdgeState::new();
        let app = router(state.clone(), Router::new());

        let (status, body) = get_json(&app, "/healthz").await;
        assert_eq!((status, body), (StatusCode::OK, serde_json::json!({ "status": "ok" })));

        let (status, body) = get_json(&app, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            serde_json::json!({ "status": "not_ready", "config_version": 0, "connected": false })
        );

        state.install(ConfigView::from_snapshot(pb::Snapshot { version: 12, state: None }));
        state.set_connected(true);
        let (status, body) = get_json(&app, "/readyz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, serde_json::json!({ "status": "ready", "config_version": 12, "connected": true }));
    }

    /// Connections are served on the connection threads, dealt out in turn, each staying on
    /// its thread for every request it carries.
    #[tokio::test]
    async fn connections_are_served_on_the_connection_threads_in_turn() {
        let app = Router::new()
            .route("/thread", get(|| async { std::thread::current().name().unwrap_or_default().to_owned() }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let limits = EdgeLimits { threads: 3, ..EdgeLimits::default() };
        let server = tokio::spawn({
            let stop = stop.clone();
            async move {
                serve_with_limits(
                    listener,
                    app,
                    None,
                    &limits,
                    stop.cancelled_owned(),
                    Duration::from_secs(1),
                )
                .await
            }
        });
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        // The response's body: the serving thread's name.
        async fn ask(stream: &mut TcpStream) -> String {
            stream.write_all(b"GET /thread HTTP/1.1\r\nhost: edge\r\n\r\n").await.unwrap();
            let mut response = Vec::new();
            loop {
                let mut chunk = [0u8; 1024];
                let n = stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the connection closed mid-response");
                response.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&response).into_owned();
                let Some((head, body)) = text.split_once("\r\n\r\n") else { continue };
                let length = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length: "))
                    .and_then(|n| n.parse::<usize>().ok())
                    .expect("a content-length");
                if body.len() >= length {
                    return body[..length].to_owned();
                }
            }
        }
        let mut seen = Vec::new();
        let mut streams = Vec::new();
        for _ in 0..6 {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let first = ask(&mut stream).await;
            assert_eq!(ask(&mut stream).await, first, "a connection stays on its thread");
            seen.push(first);
            streams.push(stream);
        }
        for name in &seen {
            assert!(name.starts_with("gatehouse-edge-"), "{seen:?}");
        }
        let distinct: std::collections::BTreeSet<_> = seen.iter().collect();
        assert_eq!(distinct.len(), 3, "dealt out over every thread: {seen:?}");
        assert_eq!(seen[..3], seen[3..], "in turn: {seen:?}");
        stop.cancel();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn shutdown_closes_streams_that_outlive_the_grace_period() {
        let never_ending = Router::new().route(
            "/stream",
            get(|| async {
                let stream = futures::stream::pending::<Result<bytes::Bytes, std::io::Error>>();
                axum::body::Body::from_stream(stream)
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let server = tokio::spawn(serve(
            listener,
            never_ending,
            None,
            stop.clone().cancelled_owned(),
            Duration::from_millis(200),
        ));

        let mut stream = TcpStream::connect(addr).await.unwrap();
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        stream.write_all(b"GET /stream HTTP/1.1\r\nhost: edge\r\n\r\n").await.unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");

        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("serve returns after the grace period")
            .unwrap();
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "the open stream is closed by the server");
        assert!(TcpStream::connect(addr).await.is_err(), "no longer accepting");
    }
}
