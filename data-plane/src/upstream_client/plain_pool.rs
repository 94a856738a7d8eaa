//! Keep-alive HTTP/1.1 connections to `http://` upstreams, one pool per thread and client
//! (see `UpstreamClient::pools`), each upstream found by its authority.
//!
//! The request path takes an idle connection, sends on it, and the connection goes back when
//! the client has had the whole response body ([`UpstreamBody`]): no task is spawned per
//! request and no key is hashed more than once, where hyper-util's general pool (kept for
//! `https://` upstreams, which may speak HTTP/2) spawned a task per request to wait for the
//! connection and hashed its key with SipHash three times.
//!
//! As hyper-util does, a request that never left on a reused connection (the upstream had
//! just closed it) is sent again on another; an idle connection is closed after
//! [`super::POOL_IDLE_TIMEOUT`], and at most [`super::POOL_MAX_IDLE_PER_HOST`] are kept per
//! upstream.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::{PathAndQuery, Scheme};
use http::{HeaderValue, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use tower::Service as _;

use super::connector::GuardedConnector;
use super::{SendError, UpstreamRequest, UpstreamResponse, POOL_IDLE_TIMEOUT, POOL_MAX_IDLE_PER_HOST};
use crate::egress;

type Sender = SendRequest<Full<Bytes>>;

/// One thread's plain connections of one client, by upstream authority (`host:port`).
#[derive(Default)]
pub(super) struct PlainPool {
    hosts: HashMap<Box<str>, Arc<Host>, foldhash::fast::RandomState>,
}

impl PlainPool {
    /// The idle connections to `authority`, made on first use.
    pub(super) fn host(&mut self, authority: &str) -> Arc<Host> {
        if let Some(host) = self.hosts.get(authority) {
            return host.clone();
        }
        let host = Arc::new(Host::default());
        // Closes connections that stay idle, even when no request comes to look at them.
        tokio::spawn(reap(Arc::downgrade(&host), POOL_IDLE_TIMEOUT));
        self.hosts.insert(authority.into(), host.clone());
        host
    }
}

/// The idle connections to one upstream, most recently used last.
#[derive(Default)]
pub(super) struct Host {
    idle: Mutex<VecDeque<Idle>>,
}

struct Idle {
    sender: Sender,
    since: Instant,
}

impl Host {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Idle>> {
        // A poisoned lock only means a panic elsewhere; the list itself is intact.
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The most recently used connection that can take a request now. Closed ones are
    /// dropped; one still finishing its last response is left for later.
    fn checkout(&self) -> Option<Sender> {
        let mut idle = self.lock();
        let mut finishing = Vec::new();
        let found = loop {
            let Some(entry) = idle.pop_back() else { break None };
            if entry.sender.is_ready() {
                break Some(entry.sender);
            }
            if !entry.sender.is_closed() {
                finishing.push(entry);
            }
        };
        for entry in finishing {
            idle.push_front(entry);
        }
        found
    }

    /// Keeps `sender` for the next request, unless it is closed or enough are kept.
    fn put(&self, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut idle = self.lock();
        expire(&mut idle, now, POOL_IDLE_TIMEOUT);
        if idle.len() < POOL_MAX_IDLE_PER_HOST {
            idle.push_back(Idle { sender, since: now });
        }
    }

    /// Idle connections kept.
    #[cfg(test)]
    pub(super) fn idle(&self) -> usize {
        self.lock().len()
    }
}

/// Drops the connections idle longer than `timeout` (the oldest are first).
fn expire(idle: &mut VecDeque<Idle>, now: Instant, timeout: Duration) {
    while idle.front().is_some_and(|entry| now.duration_since(entry.since) >= timeout) {
        idle.pop_front();
    }
}

/// Every `timeout`, closes `host`'s connections idle for that long; ends with the pool.
async fn reap(host: Weak<Host>, timeout: Duration) {
    loop {
        tokio::time::sleep(timeout).await;
        let Some(host) = host.upgrade() else { return };
        expire(&mut host.lock(), Instant::now(), timeout);
    }
}

/// Sends `request` (absolute URI, `http://`) on an idle connection to its upstream, or a new
/// one. The response's body hands the connection back when it ends.
pub(super) async fn send(
    host: Arc<Host>,
    connector: &GuardedConnector,
    request: UpstreamRequest,
) -> Result<UpstreamResponse, SendError> {
    let (mut parts, body) = request.into_parts();
    let target = std::mem::take(&mut parts.uri);
    if !parts.headers.contains_key(http::header::HOST) {
        parts.headers.insert(http::header::HOST, host_header(&target));
    }
    // HTTP/1.1 to an origin server: the request line carries only the path and query.
    parts.uri = origin_form(&target);
    let mut request = http::Request::from_parts(parts, body);
    loop {
        let (mut sender, reused) = match host.checkout() {
            Some(sender) => (sender, true),
            None => (connect(connector, target.clone()).await?, false),
        };
        match sender.try_send_request(request).await {
            Ok(response) => {
                let lease = Some(Lease { host, sender });
                return Ok(response.map(|body| UpstreamBody { body, lease, ended: false }));
            }
            Err(mut error) => match error.take_message() {
                // Never written: the upstream had closed the idle connection. Again, on another.
                Some(unsent) if reused => request = unsent,
                _ => return Err(SendError::Exchange(error.into_error().into())),
            },
        }
    }
}

/// A new connection to `target`'s upstream, its HTTP/1.1 state machine running as a task.
async fn connect(connector: &GuardedConnector, target: Uri) -> Result<Sender, SendError> {
    let io = connector.clone().call(target).await.map_err(|error| {
        if egress::is_blocked(&*error) {
            SendError::Blocked
        } else {
            SendError::Connect(error)
        }
    })?;
    let (sender, connection) =
        http1::Builder::new().handshake(io).await.map_err(|e| SendError::Connect(e.into()))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(error = ?error, "upstream connection ended");
        }
    });
    Ok(sender)
}

/// `Host` for `uri`: the host, and the port unless it is the scheme's default.
pub(crate) fn host_header(uri: &Uri) -> HeaderValue {
    let host = uri.host().unwrap_or_default();
    let default_port = match uri.scheme() {
        Some(scheme) if *scheme == Scheme::HTTPS => Some(443),
        Some(scheme) if *scheme == Scheme::HTTP => Some(80),
        _ => None,
    };
    let value = match uri.port_u16() {
        Some(port) if Some(port) != default_port => format!("{host}:{port}"),
        _ => host.to_owned(),
    };
    // A parsed URI's host and port are valid header text.
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `uri` as `/path?query` (an empty path is `/`).
fn origin_form(uri: &Uri) -> Uri {
    let path = uri.path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/"));
    let mut parts = http::uri::Parts::default();
    parts.path_and_query = Some(path);
    Uri::from_parts(parts).unwrap_or_default()
}

/// The connection a response arrived on, owed back to its pool.
struct Lease {
    host: Arc<Host>,
    sender: Sender,
}

/// An upstream response body, streaming from the connection. A body read to its end gives
/// a pooled connection back to its pool when dropped; one dropped before its end closes it
/// (the rest of the response is unread on the wire).
pub struct UpstreamBody {
    body: Incoming,
    lease: Option<Lease>,
    ended: bool,
}

impl UpstreamBody {
    /// A body whose connection belongs to another pool (hyper-util's).
    pub(super) fn unpooled(body: Incoming) -> Self {
        Self { body, lease: None, ended: false }
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        if let Some(Lease { host, sender }) = self.lease.take() {
            if self.ended || self.body.is_end_stream() {
                host.put(sender);
            }
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let frame = std::task::ready!(Pin::new(&mut this.body).poll_frame(cx));
        match &frame {
            None => this.ended = true,
            // The connection is in an unknown state: never reused.
            Some(Err(_)) => this.lease = None,
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_the_port_unless_it_is_the_default() {
        let host = |uri: &str| host_header(&uri.parse().unwrap());
        assert_eq!(host("http://upstream.test/mcp"), "upstream.test");
        assert_eq!(host("http://upstream.test:80/mcp"), "upstream.test");
        assert_eq!(host("http://upstream.test:8080/mcp"), "upstream.test:8080");
        assert_eq!(host("https://upstream.test:443/mcp"), "upstream.test");
        assert_eq!(host("https://upstream.test:80/mcp"), "upstream.test:80");
        assert_eq!(host("http://[::1]:9000/mcp"), "[::1]:9000");
    }

    #[test]
    fn origin_form_keeps_path_and_query_only() {
        let origin = |uri: &str| origin_form(&uri.parse().unwrap()).to_string();
        assert_eq!(origin("http://upstream.test:8080/mcp/x?key=v"), "/mcp/x?key=v");
        assert_eq!(origin("http://upstream.test"), "/");
    }
}
