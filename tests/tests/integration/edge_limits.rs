//! The edge's listener limits on real sockets: connections served at once, HTTP/2
//! streams per connection, and idle connections.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::routing::get;
use gatehouse_data_plane::config::EdgeLimits;
use gatehouse_data_plane::{server, EdgeState};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// The edge's accept loop with `limits`, serving `/healthz` and `/stream` (a body that
/// sends a chunk every 200 ms for 2 s).
async fn listener(limits: EdgeLimits) -> SocketAddr {
    let stream = get(|| async {
        let chunks = futures::stream::unfold(0, |i| async move {
            (i < 10).then_some(())?;
            tokio::time::sleep(Duration::from_millis(200)).await;
            Some((Ok::<_, std::convert::Infallible>(Bytes::from(format!("chunk {i}\n"))), i + 1))
        });
        Body::from_stream(chunks)
    });
    let app = server::router(EdgeState::new(), axum::Router::new().route("/stream", stream));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        server::serve_with_limits(
            listener,
            app,
            None,
            &limits,
            std::future::pending(),
            Duration::from_secs(1),
        )
        .await
    });
    addr
}

/// Sends a keep-alive `GET /healthz` on `conn` and reads the status line, if one comes in `wait`.
async fn health(conn: &mut TcpStream, wait: Duration) -> Option<String> {
    conn.write_all(b"GET /healthz HTTP/1.1\r\nhost: edge\r\n\r\n").await.ok()?;
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(wait, conn.read(&mut buf)).await.ok()?.ok()?;
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    text.lines().next().map(str::to_owned)
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_unaccepted_until_one_closes() {
    let addr = listener(EdgeLimits { max_connections: 2, ..EdgeLimits::default() }).await;
    let wait = Duration::from_secs(2);
    let mut first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    assert_eq!(health(&mut first, wait).await.as_deref(), Some("HTTP/1.1 200 OK"));
    assert_eq!(health(&mut second, wait).await.as_deref(), Some("HTTP/1.1 200 OK"));

    let mut third = TcpStream::connect(addr).await.unwrap();
    assert_eq!(health(&mut third, Duration::from_millis(500)).await, None, "the third is not served");
    drop(first);
    let mut buf = [0u8; 512];
    let n =
        tokio::time::timeout(wait, third.read(&mut buf)).await.expect("served once a slot frees").unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200 OK"));
}

#[tokio::test]
async fn an_idle_connection_is_closed_but_a_streaming_response_is_not_idle() {
    let addr = listener(EdgeLimits { idle_timeout: Duration::from_secs(1), ..EdgeLimits::default() }).await;
    let mut idle = TcpStream::connect(addr).await.unwrap();
    assert_eq!(health(&mut idle, Duration::from_secs(2)).await.as_deref(), Some("HTTP/1.1 200 OK"));
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(3), idle.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0))), "closed after a second without requests: {closed:?}");

    // A 2 s stream outlives the 1 s idle timeout: a body in flight is activity.
    let body = reqwest::get(format!("http://{addr}/stream")).await.unwrap().text().await.unwrap();
    assert_eq!(body.lines().count(), 10, "{body}");
}

#[tokio::test]
async fn http2_connections_are_told_the_stream_limit() {
    let addr = listener(EdgeLimits { h2_max_concurrent_streams: 7, ..EdgeLimits::default() }).await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let request = http::Request::get(format!("http://{addr}/healthz")).body(()).unwrap();
    let (response, _) = client.send_request(request, true).unwrap();
    assert_eq!(response.await.unwrap().status(), 200);
    // The server's SETTINGS have arrived with its first response.
    assert_eq!(client.current_max_send_streams(), 7);
}
