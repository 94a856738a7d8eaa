//! Keep-alive HTTP/1.1 connections to `http://` upstreams, one pool per thread and client
//! (see `UpstreamClient::pools`), each upstream found by its authority.
//!
//! The edge speaks HTTP/1.1 on these connections itself ([`super::wire`], [`super::chunked`]):
//! the request task writes the request head and body in one `writev`, reads the response head,
//! and the client's response body reads the rest straight from the socket ([`PlainBody`]).
//! No task runs per connection and no channel sits between the socket and the client, where
//! hyper's client connection ran as a task of its own that every request and body frame went
//! through. The connection goes back to its pool once the body has been read to its end.
//!
//! As hyper-util does, a request that never left on a reused connection (the upstream had
//! just closed it) is sent again on another; an idle connection is closed after
//! [`super::POOL_IDLE_TIMEOUT`], and at most [`super::POOL_MAX_IDLE_PER_HOST`] are kept per
//! upstream. An idle connection the upstream has closed (or written to out of turn) is
//! noticed when it is next taken: its socket then reports readable.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::uri::Scheme;
use http::{HeaderValue, Method, Uri};
use http_body::{Frame, SizeHint};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tower::Service as _;

use super::chunked::{ChunkedDecoder, Decoded};
use super::connector::GuardedConnector;
use super::io::UpstreamIo;
use super::wire::{self, Framing, Parsed, ResponseParser};
use super::{
    BoxError, SendError, UpstreamRequest, UpstreamResponse, POOL_IDLE_TIMEOUT, POOL_MAX_IDLE_PER_HOST,
};
use crate::egress;
use crate::reusable_sleep::{before, ReusableSleep};

/// Room made in a connection's read buffer before each read.
const READ_CHUNK: usize = 16 * 1024;

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
    conn: Conn,
    since: Instant,
}

impl Host {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Idle>> {
        // A poisoned lock only means a panic elsewhere; the list itself is intact.
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The most recently used connection the upstream has not closed; closed ones are dropped.
    fn checkout(&self) -> Option<Conn> {
        let mut idle = self.lock();
        while let Some(entry) = idle.pop_back() {
            if entry.conn.is_open() {
                return Some(entry.conn);
            }
        }
        None
    }

    /// Keeps `conn` for the next request, unless it holds unread bytes or enough are kept.
    fn put(&self, conn: Conn) {
        if !conn.read.is_empty() {
            // The upstream wrote past its response: the connection's state is unknown.
            return;
        }
        let now = Instant::now();
        let mut idle = self.lock();
        expire(&mut idle, now, POOL_IDLE_TIMEOUT);
        if idle.len() < POOL_MAX_IDLE_PER_HOST {
            idle.push_back(Idle { conn, since: now });
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

/// One HTTP/1.1 connection to an upstream.
pub(super) struct Conn {
    tcp: TcpStream,
    /// Bytes read and not yet used.
    read: BytesMut,
    /// The request head being written (kept for its allocation).
    write: Vec<u8>,
    parser: ResponseParser,
    /// The response timeout of each exchange on this connection.
    timer: ReusableSleep,
}

/// How an exchange failed.
enum Exchange {
    /// Before any of the request was written.
    Unsent(BoxError),
    Failed(BoxError),
}

impl Conn {
    /// Whether an idle connection can take a request: nothing has arrived on it since its
    /// last response (an end of stream or stray bytes both rule it out). Makes no system call
    /// unless the socket has signalled readable since its last read drained it.
    fn is_open(&self) -> bool {
        let mut probe = [0u8; 1];
        matches!(self.tcp.try_read(&mut probe), Err(error) if error.kind() == io::ErrorKind::WouldBlock)
    }

    /// Writes the request head in `self.write`, then `body`, in as few `writev` calls as the
    /// socket takes; on failure, also says how many bytes had been written.
    async fn write_request(&mut self, body: &[u8]) -> Result<(), (usize, io::Error)> {
        let (mut head, mut body) = (&self.write[..], body);
        let mut written = 0;
        while !head.is_empty() || !body.is_empty() {
            let n = match self.tcp.write_vectored(&[IoSlice::new(head), IoSlice::new(body)]).await {
                Ok(0) => return Err((written, io::ErrorKind::WriteZero.into())),
                Ok(n) => n,
                Err(error) => return Err((written, error)),
            };
            written += n;
            let from_head = n.min(head.len());
            head = &head[from_head..];
            body = &body[n - from_head..];
        }
        Ok(())
    }

    /// Writes the request (its head already in `self.write`) and reads the response head.
    async fn exchange(&mut self, body: &[u8], method: &Method) -> Result<wire::ResponseHead, Exchange> {
        match self.write_request(body).await {
            Ok(()) => {}
            Err((0, error)) => return Err(Exchange::Unsent(error.into())),
            Err((_, error)) => return Err(Exchange::Failed(error.into())),
        }
        self.read_head(method).await.map_err(Exchange::Failed)
    }

    /// Reads until the final response head to a `method` request is whole.
    async fn read_head(&mut self, method: &Method) -> Result<wire::ResponseHead, BoxError> {
        loop {
            if !self.read.is_empty() {
                match self.parser.parse(&mut self.read, method)? {
                    Parsed::Final(head) => return Ok(head),
                    Parsed::Interim => continue,
                    Parsed::Partial => {}
                }
            }
            if std::future::poll_fn(|cx| self.poll_fill(cx)).await? == 0 {
                return Err("the upstream closed the connection before sending a response".into());
            }
        }
    }

    /// Reads what the socket has into `self.read`; 0 at the end of the stream. A read that
    /// does not fill the room given tells tokio the socket is drained, so the next
    /// [`Conn::is_open`] needs no system call.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.read.capacity() - self.read.len() < READ_CHUNK / 4 {
            self.read.reserve(READ_CHUNK);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.tcp), cx, &mut self.read)
    }
}

/// Sends `request` (absolute URI, `http://`) on an idle connection to its upstream, or a new
/// one, and reads the response head. The response's body hands the connection back when it
/// ends.
pub(super) async fn send(
    host: Arc<Host>,
    connector: &GuardedConnector,
    request: UpstreamRequest,
    deadline: tokio::time::Instant,
) -> Result<UpstreamResponse, SendError> {
    let (mut parts, body) = request.into_parts();
    if !parts.headers.contains_key(http::header::HOST) {
        parts.headers.insert(http::header::HOST, host_header(&parts.uri));
    }
    // HTTP/1.1 to an origin server: the request line carries only the path and query.
    let target = origin_form(&parts.uri);
    loop {
        let (mut conn, reused) = match host.checkout() {
            Some(conn) => (conn, true),
            None => match tokio::time::timeout_at(deadline, connect(connector, &parts.uri)).await {
                Ok(conn) => (conn?, false),
                Err(_) => return Err(SendError::TimedOut),
            },
        };
        conn.write.clear();
        wire::encode_request(&mut conn.write, &parts.method, &target, &parts.headers, body.len());
        // The connection's own timer, armed again: no timer is made per request.
        let mut timer = std::mem::take(&mut conn.timer);
        let exchanged = before(timer.arm(deadline), conn.exchange(&body, &parts.method)).await;
        conn.timer = timer;
        let head = match exchanged {
            None => return Err(SendError::TimedOut),
            Some(Ok(head)) => head,
            // Nothing left: the upstream had closed the idle connection. Again, on another.
            Some(Err(Exchange::Unsent(_))) if reused => continue,
            Some(Err(Exchange::Unsent(error) | Exchange::Failed(error))) => {
                return Err(SendError::Exchange(error))
            }
        };
        let mut response = http::Response::new(());
        *response.status_mut() = head.status;
        *response.version_mut() = head.version;
        *response.headers_mut() = head.headers;
        let body = PlainBody::new(host, conn, head.framing, head.keep_alive);
        return Ok(response.map(|()| super::UpstreamBody::plain(body)));
    }
}

/// A new connection to `uri`'s upstream.
async fn connect(connector: &GuardedConnector, uri: &Uri) -> Result<Conn, SendError> {
    let io = connector.clone().call(uri.clone()).await.map_err(|error| {
        if egress::is_blocked(&*error) {
            SendError::Blocked
        } else {
            SendError::Connect(error)
        }
    })?;
    let UpstreamIo::Plain(tcp) = io else {
        return Err(SendError::Connect("a TLS connection was made for an http:// upstream".into()));
    };
    Ok(Conn {
        tcp: tcp.into_inner(),
        read: BytesMut::new(),
        write: Vec::new(),
        parser: ResponseParser::default(),
        timer: ReusableSleep::default(),
    })
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
fn origin_form(uri: &Uri) -> Cow<'_, str> {
    match uri.path_and_query().map(|p| p.as_str()) {
        Some(target) if target.starts_with('/') => Cow::Borrowed(target),
        Some(target) if !target.is_empty() => Cow::Owned(format!("/{target}")),
        _ => Cow::Borrowed("/"),
    }
}

/// How much of a plain response body is left to read.
#[derive(Debug)]
enum Remaining {
    /// This many bytes.
    Length(u64),
    Chunked(ChunkedDecoder),
    /// Until the upstream closes.
    UntilClose,
    /// Nothing: the body has ended (or failed).
    Ended,
}

/// A response body read from a plain connection, frame by frame as the client takes it.
/// At its end the connection goes back to its pool (if it can carry another request);
/// dropped before its end, or failed, it closes the connection.
pub(super) struct PlainBody {
    /// The connection while the body is read.
    conn: Option<(Arc<Host>, Conn)>,
    remaining: Remaining,
    keep_alive: bool,
}

impl PlainBody {
    fn new(host: Arc<Host>, conn: Conn, framing: Framing, keep_alive: bool) -> Self {
        let remaining = match framing {
            Framing::Empty => Remaining::Ended,
            Framing::Length(n) => Remaining::Length(n),
            Framing::Chunked => Remaining::Chunked(ChunkedDecoder::default()),
            Framing::UntilClose => Remaining::UntilClose,
        };
        let mut body = Self { conn: Some((host, conn)), remaining, keep_alive };
        if matches!(body.remaining, Remaining::Ended) {
            body.finish();
        }
        body
    }

    /// The body has been read to its end: the connection goes back to its pool.
    fn finish(&mut self) {
        self.remaining = Remaining::Ended;
        if let Some((host, conn)) = self.conn.take() {
            if self.keep_alive {
                host.put(conn);
            }
        }
    }

    /// The body cannot go on: the connection is closed.
    fn fail(&mut self, error: BoxError) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.remaining = Remaining::Ended;
        self.conn = None;
        Poll::Ready(Some(Err(error)))
    }

    pub(super) fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            let Some((_, conn)) = self.conn.as_mut() else { return Poll::Ready(None) };
            match &mut self.remaining {
                Remaining::Ended => return Poll::Ready(None),
                Remaining::Length(left) => {
                    if !conn.read.is_empty() {
                        let take = (*left).min(conn.read.len() as u64);
                        let data = conn.read.split_to(take as usize).freeze();
                        *left -= take;
                        if *left == 0 {
                            self.finish();
                        }
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
                Remaining::Chunked(decoder) => match decoder.decode(&mut conn.read) {
                    Ok(Decoded::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Ok(Decoded::Done) => {
                        self.finish();
                        return Poll::Ready(None);
                    }
                    Ok(Decoded::NeedMore) => {}
                    Err(error) => return self.fail(error.into()),
                },
                Remaining::UntilClose => {
                    if !conn.read.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(conn.read.split().freeze()))));
                    }
                }
            }
            match std::task::ready!(conn.poll_fill(cx)) {
                Ok(0) if matches!(self.remaining, Remaining::UntilClose) => {
                    self.remaining = Remaining::Ended;
                    self.conn = None;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    return self
                        .fail("the upstream closed the connection before the response body's end".into())
                }
                Ok(_) => {}
                Err(error) => return self.fail(error.into()),
            }
        }
    }

    pub(super) fn is_end_stream(&self) -> bool {
        // A length read to its end is `Ended` at once (`finish`), and never starts at 0.
        matches!(self.remaining, Remaining::Ended)
    }

    pub(super) fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Remaining::Ended => SizeHint::with_exact(0),
            Remaining::Length(n) => SizeHint::with_exact(n),
            Remaining::Chunked(_) | Remaining::UntilClose => SizeHint::default(),
        }
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
        let origin = |uri: &str| origin_form(&uri.parse().unwrap()).into_owned();
        assert_eq!(origin("http://upstream.test:8080/mcp/x?key=v"), "/mcp/x?key=v");
        assert_eq!(origin("http://upstream.test"), "/");
        assert_eq!(origin("http://upstream.test?key=v"), "/?key=v");
    }
}
