//! TLS connections accepted from a listener, each handshake in its own task
//! with a timeout, so a slow or silent client never delays accepting others.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::reload::Reloading;
use crate::server::ServerTls;

/// A connection whose handshake succeeded, and its peer.
pub type TlsAccepted = (TlsStream<TcpStream>, SocketAddr);

/// Accepts connections on `listener` until `shutdown`, runs each handshake (with the
/// acceptor current at that moment) in its own task within `handshake_timeout`, and
/// hands the connections whose handshake succeeded to the returned receiver.
pub fn spawn_tls_accept(
    listener: TcpListener,
    tls: Arc<Reloading<ServerTls>>,
    handshake_timeout: Duration,
    shutdown: CancellationToken,
) -> mpsc::Receiver<TlsAccepted> {
    let (accepted, receiver) = mpsc::channel(64);
    let name = tls.source().name;
    tokio::spawn(async move {
        loop {
            let (stream, peer) = tokio::select! {
                () = shutdown.cancelled() => return,
                () = accepted.closed() => return,
                result = listener.accept() => match result {
                    Ok(conn) => conn,
                    Err(error) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(listener = name, %error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let acceptor = tls.current();
            let accepted = accepted.clone();
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        let _ = accepted.send((stream, peer)).await;
                    }
                    Ok(Err(error)) => log_refused(name, peer, &error),
                    Err(_) => tracing::debug!(listener = name, %peer, "tls handshake timed out"),
                }
            });
        }
    });
    receiver
}

/// Client-certificate refusals are worth an info line (someone holds a bad or
/// untrusted certificate); other handshake failures (scanners, plain HTTP on the
/// TLS port) only a debug one.
pub fn log_refused(listener: &'static str, peer: SocketAddr, err: &std::io::Error) {
    let tls_error = err.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
    match tls_error {
        Some(rustls::Error::InvalidCertificate(reason)) => {
            tracing::info!(listener, %peer, reason = ?reason, "tls handshake refused: invalid client certificate");
        }
        Some(rustls::Error::NoCertificatesPresented) => {
            tracing::info!(listener, %peer, "tls handshake refused: no client certificate");
        }
        _ => tracing::debug!(listener, %peer, error = %err, "tls handshake failed"),
    }
}
