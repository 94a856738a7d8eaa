//! A real MCP upstream (the rmcp [`TestTools`](crate::upstream::TestTools)) served over TLS on
//! 127.0.0.1:0, offering HTTP/2 and HTTP/1.1 by ALPN, or HTTP/1.1 alone, and recording the
//! HTTP version of every request it receives.

use std::sync::{Arc, Mutex};

use gatehouse_tls::server::{ClientAuth, ServerTls};
use gatehouse_tls::{PemFile, Reloading};
use http::Version;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio_util::sync::CancellationToken;

use crate::pki::{PemDir, TestCa};
use crate::upstream::{mcp_router, CallLog, SessionMode};

/// Which protocols the upstream offers by ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// `h2`, then `http/1.1`.
    H2AndHttp11,
    /// `http/1.1` only.
    Http11Only,
}

/// A running TLS upstream; stops when dropped.
pub struct TlsMcpUpstream {
    /// The MCP endpoint, `https://localhost:<port>/mcp`.
    pub url: String,
    /// PEM of the CA that signed its certificate (what the edge must trust).
    pub ca_pem: String,
    /// Every tool call it received.
    pub calls: CallLog,
    versions: Arc<Mutex<Vec<Version>>>,
    cancel: CancellationToken,
    _files: PemDir,
}

impl TlsMcpUpstream {
    /// Starts a stateful server with a certificate for `localhost` from a CA of its own.
    pub async fn start(alpn: Alpn) -> Self {
        let ca = TestCa::new("upstream test ca");
        let server = ca.server();
        let files = PemDir::new();
        let source = ServerTls {
            cert: PemFile::new("UPSTREAM_TLS_CERT", files.write("upstream.crt", &server.cert_pem)),
            key: PemFile::new("UPSTREAM_TLS_KEY", files.write("upstream.key", &server.key_pem)),
            client_ca: None,
            client_auth: ClientAuth::None,
            alpn: match alpn {
                Alpn::H2AndHttp11 => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
                Alpn::Http11Only => vec![b"http/1.1".to_vec()],
            },
            name: "test upstream",
        };
        let acceptor = Reloading::load(source).expect("the upstream's TLS files").current();
        let calls = CallLog::default();
        let cancel = CancellationToken::new();
        let versions: Arc<Mutex<Vec<Version>>> = Arc::default();
        let seen = versions.clone();
        let router = mcp_router(SessionMode::Stateful, false, calls.clone(), &cancel).layer(
            axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| {
                    seen.lock().unwrap().push(request.version());
                    next.run(request)
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = cancel.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
                };
                let _ = tcp.set_nodelay(true);
                let (acceptor, router) = (acceptor.clone(), router.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let service = TowerToHyperService::new(router);
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Self {
            url: format!("https://localhost:{port}/mcp"),
            ca_pem: ca.cert_pem(),
            calls,
            versions,
            cancel,
            _files: files,
        }
    }

    /// The HTTP version of every request received so far, in order.
    pub fn versions(&self) -> Vec<Version> {
        self.versions.lock().unwrap().clone()
    }
}

impl Drop for TlsMcpUpstream {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
