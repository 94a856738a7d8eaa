//! Test harness: starts the real Gatehouse stack in-process on port 0.
//!
//! - [`browser`]: the console's browser scenarios in real Chromium (`web/e2e/*.mjs`).
//! - [`db`]: a fresh SQLite or PostgreSQL database per test.
//! - [`conformance_suite`]: the official MCP conformance suite (Node 22, its checks).
//! - [`control_plane`]: a real control plane (admin API + config stream) with a typed admin client.
//! - [`edge`]: a real edge subscribed to a control plane.
//! - [`upstream`]: real upstream MCP servers (rmcp) and a raw HTTP upstream that records requests.
//! - [`oidc`]: a real OpenID Provider / OAuth authorization server (oidc-provider, Node).
//! - [`protected_upstream`]: an upstream MCP server that requires OAuth access tokens.
//! - [`logs`]: captures everything the process logs, to assert secrets never appear.
//! - [`oauth_browser`]: Gatehouse's authorization server driven like a browser (SSO login, consent).
//! - [`pki`]: a throw-away CA with server and client certificates for TLS and mTLS tests.
//! - [`processes`]: the `gatehouse` binary as child processes, with their CPU time and memory.

pub mod backends;
pub mod browser;
pub mod conformance_suite;
pub mod control_plane;
pub mod db;
pub mod edge;
pub mod logs;
pub mod metrics;
pub mod node;
pub mod oauth_browser;
pub mod oidc;
pub mod pki;
pub mod processes;
pub mod protected_upstream;
pub mod tls_upstream;
pub mod upstream;

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
///
/// Use this instead of sleeps: it returns as soon as the condition holds.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A control plane on a fresh SQLite database with one edge subscribed to it,
/// and log capture installed.
pub struct TestStack {
    /// The control plane.
    pub cp: control_plane::TestControlPlane,
    /// One edge, ready.
    pub edge: edge::TestEdge,
    /// Everything this test process logged.
    pub logs: Option<logs::LogCapture>,
}

impl TestStack {
    /// Starts a control plane (SQLite) and one edge, and waits until the edge is ready.
    pub async fn start() -> Self {
        let logs = logs::capture();
        let cp = control_plane::TestControlPlane::start(db::TestDb::sqlite().await).await;
        let edge = edge::TestEdge::start(&cp.grpc_url, &cp.node_token).await;
        edge.wait_ready().await;
        Self { cp, edge, logs }
    }

    /// Like [`Self::start`], but the edge's listener is bound first and its URL is the
    /// control plane's `edge_public_url`, so the resources Gatehouse's authorization
    /// server issues tokens for are this edge's real MCP URLs (`edge.mcp_url(slug)`).
    pub async fn start_with_public_edge() -> Self {
        Self::start_with_public_edge_on(db::TestDb::sqlite().await).await
    }

    /// [`Self::start_with_public_edge`] on `db`.
    pub async fn start_with_public_edge_on(db: db::TestDb) -> Self {
        let logs = logs::capture();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the edge listener");
        let edge_url = format!("http://{}", listener.local_addr().expect("edge address"));
        let cp = control_plane::TestControlPlane::start_with(db, move |c| {
            c.edge_public_url = edge_url.clone();
        })
        .await;
        let cache = edge::EdgeCache::temporary();
        let edge = edge::TestEdge::start_on(listener, &cp.grpc_url, &cp.node_token, cache, &[]).await;
        edge.wait_ready().await;
        Self { cp, edge, logs }
    }

    /// Waits until the edge serves the control plane's current config version.
    pub async fn sync(&self) {
        let version = self.cp.admin().config_version().await;
        self.edge.wait_for_version(version).await;
    }
}

/// A control plane on a fresh SQLite database that may reach loopback upstreams, with one
/// ready edge whose URL is the control plane's `edge_public_url` (what the console's links and
/// "Try a tool" use).
pub async fn control_plane_with_public_edge() -> (control_plane::TestControlPlane, edge::TestEdge) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the edge listener");
    let edge_url = format!("http://{}", listener.local_addr().expect("edge address"));
    let cp = control_plane::TestControlPlane::start_with(db::TestDb::sqlite().await, move |c| {
        c.edge_public_url = edge_url.clone();
        c.allow_loopback_upstreams = true;
    })
    .await;
    let edge =
        edge::TestEdge::start_on(listener, &cp.grpc_url, &cp.node_token, edge::EdgeCache::temporary(), &[])
            .await;
    edge.wait_ready().await;
    (cp, edge)
}
