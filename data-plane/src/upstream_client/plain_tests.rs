//! The plain-upstream client against a raw HTTP/1.1 upstream on a real socket, which writes
//! exactly the bytes each test gives it, piece by piece: body framings, streaming, and when a
//! connection is and is not used again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use gatehouse_config::address_filter::AddressPolicy;
use http::{Method, StatusCode};
use http_body_util::BodyExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::{SendError, UpstreamClient, UpstreamResponse};
use crate::config::ProxySettings;

/// What the raw upstream does next on a connection.
enum Step {
    Write(Vec<u8>),
    /// Waits until the test says go.
    Wait(Arc<Notify>),
    Close,
}

fn write(bytes: &str) -> Step {
    Step::Write(bytes.as_bytes().to_vec())
}

/// A request as the raw upstream read it.
#[derive(Debug, Clone)]
struct Seen {
    head: String,
    body: Vec<u8>,
}

/// The steps for a request line.
type Answer = Arc<dyn Fn(&str) -> Vec<Step> + Send + Sync>;

struct Upstream {
    authority: String,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Seen>>>,
}

/// Answers each request with the steps `answer` gives for its request line.
async fn raw_upstream(answer: impl Fn(&str) -> Vec<Step> + Send + Sync + 'static) -> Upstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority = listener.local_addr().unwrap().to_string();
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let answer: Answer = Arc::new(answer);
    let (counted, seen) = (connections.clone(), requests.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(tcp, answer.clone(), seen.clone()));
        }
    });
    Upstream { authority, connections, requests }
}

async fn serve(mut tcp: TcpStream, answer: Answer, seen: Arc<Mutex<Vec<Seen>>>) {
    let mut buf = Vec::new();
    loop {
        let Some(request) = read_request(&mut tcp, &mut buf).await else { return };
        let line = request.head.lines().next().unwrap_or_default().to_owned();
        seen.lock().unwrap().push(request);
        for step in answer(&line) {
            match step {
                Step::Write(bytes) => {
                    if tcp.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                Step::Wait(go) => go.notified().await,
                Step::Close => return,
            }
        }
    }
}

/// One request: its head up to the blank line, then `content-length` bytes of body.
async fn read_request(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Seen> {
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let mut more = [0u8; 4096];
        match tcp.read(&mut more).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&more[..n]),
        }
    };
    let head = String::from_utf8(buf.drain(..end).collect()).unwrap();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length: "))
        .map_or(0, |n| n.trim().parse::<usize>().unwrap());
    while buf.len() < length {
        let mut more = vec![0u8; 64 * 1024];
        match tcp.read(&mut more).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&more[..n]),
        }
    }
    Some(Seen { head, body: buf.drain(..length).collect() })
}

fn client() -> UpstreamClient {
    UpstreamClient::new(&ProxySettings { upstream_addresses: AddressPolicy::new(true), ..Default::default() })
        .unwrap()
}

async fn send(
    client: &UpstreamClient,
    method: Method,
    url: String,
    body: impl Into<Bytes>,
) -> UpstreamResponse {
    try_send(client, method, url, body).await.unwrap()
}

async fn try_send(
    client: &UpstreamClient,
    method: Method,
    url: String,
    body: impl Into<Bytes>,
) -> Result<UpstreamResponse, SendError> {
    let mut request = http::Request::new(body.into());
    *request.method_mut() = method;
    *request.uri_mut() = url.parse().unwrap();
    client.send(request, tokio::time::Instant::now() + Duration::from_secs(30)).await
}

async fn read(response: UpstreamResponse) -> Bytes {
    response.into_body().collect().await.unwrap().to_bytes()
}

#[tokio::test]
async fn a_chunked_body_streams_as_it_arrives_and_its_connection_is_kept() {
    let go = Arc::new(Notify::new());
    let held = go.clone();
    let upstream = raw_upstream(move |_| {
        vec![
            write("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n5\r\nev"),
            write("ent\r\n"),
            Step::Wait(held.clone()),
            write("5;ext=1\r\n: 1\n\n\r\n0\r\ntrailer: x\r\n\r\n"),
        ]
    })
    .await;
    let client = client();
    let url = format!("http://{}/mcp", upstream.authority);
    let response = send(&client, Method::GET, url.clone(), Bytes::new()).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    // The first chunk reaches the client while the upstream still holds the rest back.
    let mut first = Vec::new();
    while first.len() < 5 {
        let frame = body.frame().await.unwrap().unwrap();
        first.extend_from_slice(&frame.into_data().unwrap());
    }
    assert_eq!(first, b"event");
    go.notify_one();
    assert_eq!(body.collect().await.unwrap().to_bytes(), ": 1\n\n");
    // Read to its end: the same connection carries the next request.
    let second = send(&client, Method::GET, url, Bytes::new());
    go.notify_one();
    assert_eq!(read(second.await).await, "event: 1\n\n");
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn requests_carry_their_bodys_length_and_large_bodies_are_written_whole() {
    let upstream = raw_upstream(|_| vec![write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")]).await;
    let client = client();
    let url = format!("http://{}/mcp?x=1", upstream.authority);
    assert_eq!(
        read(send(&client, Method::POST, url.clone(), &b"{\"jsonrpc\":\"2.0\"}"[..]).await).await,
        "ok"
    );
    let large = vec![b'a'; 4 << 20];
    assert_eq!(read(send(&client, Method::POST, url.clone(), large.clone()).await).await, "ok");
    assert_eq!(read(send(&client, Method::DELETE, url, Bytes::new()).await).await, "ok");
    let seen = upstream.requests.lock().unwrap().clone();
    assert_eq!(
        seen[0].head,
        format!("POST /mcp?x=1 HTTP/1.1\r\nhost: {}\r\ncontent-length: 17\r\n\r\n", upstream.authority)
    );
    assert_eq!(seen[0].body, b"{\"jsonrpc\":\"2.0\"}");
    assert_eq!(seen[1].body, large);
    assert_eq!(seen[2].head, format!("DELETE /mcp?x=1 HTTP/1.1\r\nhost: {}\r\n\r\n", upstream.authority));
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn bodies_without_length_or_past_their_end_never_reuse_the_connection() {
    let upstream = raw_upstream(|line| match line {
        // Delimited by the close.
        l if l.starts_with("GET /until-close") => {
            vec![write("HTTP/1.1 200 OK\r\n\r\nall of it"), Step::Close]
        }
        // Bytes after the declared length.
        l if l.starts_with("GET /extra") => {
            vec![write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA")]
        }
        // The upstream said it closes.
        l if l.starts_with("GET /close") => {
            vec![write("HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok"), Step::Close]
        }
        _ => vec![write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")],
    })
    .await;
    let client = client();
    let url = |path: &str| format!("http://{}{path}", upstream.authority);
    assert_eq!(read(send(&client, Method::GET, url("/until-close"), Bytes::new()).await).await, "all of it");
    assert_eq!(read(send(&client, Method::GET, url("/extra"), Bytes::new()).await).await, "ok");
    assert_eq!(read(send(&client, Method::GET, url("/close"), Bytes::new()).await).await, "ok");
    assert_eq!(read(send(&client, Method::GET, url("/"), Bytes::new()).await).await, "ok");
    assert_eq!(read(send(&client, Method::GET, url("/"), Bytes::new()).await).await, "ok");
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 4, "one each for the first three, then kept");
}

#[tokio::test]
async fn an_idle_connection_the_upstream_closed_is_passed_over() {
    // Answers, then closes the idle connection without saying so (as a server's keep-alive
    // timeout does).
    let upstream =
        raw_upstream(|_| vec![write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"), Step::Close]).await;
    let client = client();
    let url = format!("http://{}/mcp", upstream.authority);
    for round in 1..=3 {
        assert_eq!(
            read(send(&client, Method::POST, url.clone(), Bytes::from_static(b"{}")).await).await,
            "ok",
            "round {round}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn interim_and_bodiless_responses() {
    let upstream = raw_upstream(|line| match line {
        l if l.starts_with("HEAD") => vec![write("HTTP/1.1 200 OK\r\ncontent-length: 99\r\n\r\n")],
        _ => vec![
            write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n"),
            write("HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n"),
        ],
    })
    .await;
    let client = client();
    let url = format!("http://{}/mcp", upstream.authority);
    let accepted = send(&client, Method::POST, url.clone(), Bytes::from_static(b"{}")).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    assert!(!accepted.headers().contains_key("link"), "interim fields are not the final response's");
    assert!(http_body::Body::is_end_stream(accepted.body()));
    assert_eq!(read(accepted).await, "");
    let head = send(&client, Method::HEAD, url, Bytes::new()).await;
    assert_eq!(head.headers()["content-length"], "99");
    assert_eq!(read(head).await, "");
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn broken_responses_are_errors_and_their_connections_closed() {
    let upstream = raw_upstream(|line| match line {
        l if l.starts_with("GET /short") => {
            vec![write("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"), Step::Close]
        }
        l if l.starts_with("GET /bad-chunk") => {
            vec![write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabcX")]
        }
        l if l.starts_with("GET /garbage") => vec![write("SSH-2.0-OpenSSH_9.2\r\n\r\n")],
        l if l.starts_with("GET /length") => vec![write("HTTP/1.1 200 OK\r\ncontent-length: 1, 2\r\n\r\n")],
        l if l.starts_with("GET /nothing") => vec![Step::Close],
        _ => vec![write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")],
    })
    .await;
    let client = client();
    let url = |path: &str| format!("http://{}{path}", upstream.authority);
    for path in ["/short", "/bad-chunk"] {
        let response = send(&client, Method::GET, url(path), Bytes::new()).await;
        assert!(response.into_body().collect().await.is_err(), "{path}: the body fails");
    }
    for path in ["/garbage", "/length", "/nothing"] {
        let result = try_send(&client, Method::GET, url(path), Bytes::new()).await;
        assert!(matches!(result, Err(SendError::Exchange(_))), "{path}: {:?}", result.map(|r| r.status()));
    }
    assert_eq!(read(send(&client, Method::GET, url("/"), Bytes::new()).await).await, "ok");
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 6, "no failed connection is used again");
}

#[tokio::test]
async fn each_exchange_gets_the_whole_timeout_on_a_reused_connection_and_a_silent_one_times_out() {
    let go = Arc::new(Notify::new());
    let held = go.clone();
    let upstream = raw_upstream(move |line| {
        let ok = write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        if line.starts_with("GET /silent ") {
            vec![Step::Wait(held.clone()), ok]
        } else {
            vec![ok]
        }
    })
    .await;
    let client = client();
    let timeout = Duration::from_millis(200);
    let send = |path: &'static str| {
        let mut request = http::Request::new(Bytes::new());
        *request.uri_mut() = format!("http://{}{path}", upstream.authority).parse().unwrap();
        client.send(request, tokio::time::Instant::now() + timeout)
    };
    assert_eq!(read(send("/a").await.unwrap()).await, "ok");
    // Past the first exchange's deadline: the connection's timer, armed again, must not
    // count from the first request.
    tokio::time::sleep(timeout * 2).await;
    assert_eq!(read(send("/b").await.unwrap()).await, "ok");
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 1);
    let started = tokio::time::Instant::now();
    let silent = send("/silent").await;
    assert!(matches!(silent, Err(SendError::TimedOut)), "{:?}", silent.map(|r| r.status()));
    assert!(started.elapsed() >= timeout, "timed out after {:?}", started.elapsed());
    go.notify_one();
    // The timed-out connection is not used again.
    assert_eq!(read(send("/c").await.unwrap()).await, "ok");
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 2);
}
