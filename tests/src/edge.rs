//! A real edge, in-process on 127.0.0.1:0, subscribed to a control plane.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_data_plane::config_cache::ConfigCache;
use gatehouse_data_plane::{EdgeConfig, EdgeState};
use secrecy::SecretString;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::eventually;
use crate::pki::{CertAndKey, EdgeTlsFiles};

/// How long the harness waits for readiness or a config version.
const WAIT: Duration = Duration::from_secs(10);
/// Reconnect cap for test edges, so a restarted control plane is found quickly.
const RECONNECT_MAX: Duration = Duration::from_secs(1);

/// An edge's encrypted config cache file; keeps its temporary directory alive.
#[derive(Debug, Clone)]
pub struct EdgeCache {
    path: PathBuf,
    _dir: Option<Arc<TempDir>>,
}

impl EdgeCache {
    /// A cache file in a fresh temporary directory (the file doesn't exist yet).
    pub fn temporary() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory for the edge cache");
        Self { path: dir.path().join("edge-config.bin"), _dir: Some(Arc::new(dir)) }
    }

    /// The cache file's path.
    pub fn path(&self) -> PathBuf {
        self.path.clone()
    }
}

impl From<PathBuf> for EdgeCache {
    fn from(path: PathBuf) -> Self {
        Self { path, _dir: None }
    }
}

/// What `GET /readyz` answered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: String,
    /// The served config version (0 when none).
    pub config_version: u64,
    /// Whether the config stream to the control plane is up.
    pub connected: bool,
}

impl Readiness {
    /// Whether the edge reported itself ready.
    pub fn is_ready(&self) -> bool {
        self.status == "ready"
    }
}

/// TLS on a test edge's listener.
pub struct EdgeTlsSetup {
    /// PEM of the CA that signed the edge's server certificate (what clients trust).
    pub server_ca_pem: String,
    /// The certificate, key and client CA files the edge reads.
    pub files: EdgeTlsFiles,
    /// `GATEHOUSE_EDGE_TLS_CLIENT_AUTH`: `none`, `optional` or `required`.
    pub client_auth: &'static str,
    /// The certificate the harness itself presents (to reach `/readyz` when one is required).
    pub harness_identity: Option<CertAndKey>,
}

impl EdgeTlsSetup {
    fn env(&self) -> Vec<(&'static str, String)> {
        let path = |p: &PathBuf| p.display().to_string();
        let mut env = vec![
            ("GATEHOUSE_EDGE_TLS_CERT", path(&self.files.cert)),
            ("GATEHOUSE_EDGE_TLS_KEY", path(&self.files.key)),
            ("GATEHOUSE_EDGE_TLS_CLIENT_AUTH", self.client_auth.to_owned()),
        ];
        if self.client_auth != "none" {
            env.push(("GATEHOUSE_EDGE_TLS_CLIENT_CA", path(&self.files.client_ca)));
        }
        env
    }
}

/// A running edge; stops when dropped (or with [`TestEdge::stop`]).
pub struct TestEdge {
    /// Base URL, `http://127.0.0.1:<port>` (`https://` with TLS).
    pub url: String,
    /// The address the edge listens on.
    pub addr: SocketAddr,
    /// The edge's shared state (served config, connection status).
    pub state: Arc<EdgeState>,
    /// The node id the edge reports to the control plane.
    pub node_id: String,
    /// Its `/metrics` endpoint, `http://127.0.0.1:<port>/metrics` (a listener of its own).
    pub metrics_url: String,
    cache: EdgeCache,
    node_token: SecretString,
    http: reqwest::Client,
    tls: Option<EdgeTlsSetup>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// A listener on a free loopback port.
async fn loopback_listener() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the edge listener")
}

impl TestEdge {
    /// Starts an edge with its cache file in its own temporary directory.
    pub async fn start(grpc_url: &str, node_token: &str) -> TestEdge {
        Self::start_with_cache(grpc_url, node_token, EdgeCache::temporary()).await
    }

    /// Starts an edge using `cache` (a path, or the [`EdgeCache`] a stopped edge returned).
    pub async fn start_with_cache(grpc_url: &str, node_token: &str, cache: impl Into<EdgeCache>) -> TestEdge {
        Self::start_with_env(grpc_url, node_token, cache, &[]).await
    }

    /// Starts an edge with extra environment variables (e.g. `GATEHOUSE_REDIS_URL`).
    pub async fn start_with_env(
        grpc_url: &str,
        node_token: &str,
        cache: impl Into<EdgeCache>,
        extra_env: &[(&str, &str)],
    ) -> TestEdge {
        Self::start_listening(loopback_listener().await, grpc_url, node_token, cache.into(), extra_env, None)
            .await
    }

    /// Starts an edge serving TLS (and client certificates as `tls.client_auth` says),
    /// with extra environment variables.
    pub async fn start_tls(
        grpc_url: &str,
        node_token: &str,
        tls: EdgeTlsSetup,
        extra_env: &[(&str, &str)],
    ) -> TestEdge {
        let cache = EdgeCache::temporary();
        Self::start_listening(loopback_listener().await, grpc_url, node_token, cache, extra_env, Some(tls))
            .await
    }

    /// Starts an edge on an already-bound `listener`, so its URL can be known (e.g. as the
    /// control plane's `edge_public_url`) before it runs.
    pub async fn start_on(
        listener: tokio::net::TcpListener,
        grpc_url: &str,
        node_token: &str,
        cache: impl Into<EdgeCache>,
        extra_env: &[(&str, &str)],
    ) -> TestEdge {
        Self::start_listening(listener, grpc_url, node_token, cache.into(), extra_env, None).await
    }

    async fn start_listening(
        listener: tokio::net::TcpListener,
        grpc_url: &str,
        node_token: &str,
        cache: EdgeCache,
        extra_env: &[(&str, &str)],
        tls: Option<EdgeTlsSetup>,
    ) -> TestEdge {
        Self::start_full(listener, grpc_url, node_token, cache, extra_env, tls, Some(RECONNECT_MAX)).await
    }

    /// Starts an edge with the production reconnect backoff (not the harness's short cap).
    pub async fn start_with_default_backoff(grpc_url: &str, node_token: &str) -> TestEdge {
        let listener = loopback_listener().await;
        Self::start_full(listener, grpc_url, node_token, EdgeCache::temporary(), &[], None, None).await
    }

    async fn start_full(
        listener: tokio::net::TcpListener,
        grpc_url: &str,
        node_token: &str,
        cache: EdgeCache,
        extra_env: &[(&str, &str)],
        tls: Option<EdgeTlsSetup>,
        reconnect_max: Option<Duration>,
    ) -> TestEdge {
        let addr = listener.local_addr().unwrap();
        let node_id = format!("test-edge-{}", addr.port());
        let env: BTreeMap<String, String> = [
            ("GATEHOUSE_CONTROL_PLANE_URL", grpc_url.to_owned()),
            ("GATEHOUSE_NODE_TOKEN", node_token.to_owned()),
            ("GATEHOUSE_NODE_ID", node_id.clone()),
            ("GATEHOUSE_EDGE_CACHE", cache.path().display().to_string()),
            // Every upstream, token endpoint and JWKS of the tests listens on loopback;
            // a test of the address guard overrides this in `extra_env`.
            ("GATEHOUSE_ALLOW_LOOPBACK_UPSTREAMS", "true".to_owned()),
        ]
        .into_iter()
        .chain(tls.iter().flat_map(EdgeTlsSetup::env))
        .map(|(k, v)| (k.to_owned(), v))
        .chain(extra_env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
        .collect();
        let mut config = EdgeConfig::from_env(&env).expect("edge config");
        if let Some(max) = reconnect_max {
            config.reconnect_max = max;
        }
        config.validate().expect("valid edge config");

        let state = EdgeState::new();
        let (shutdown, stop) = oneshot::channel::<()>();
        let metrics = loopback_listener().await;
        let metrics_url = format!("http://{}/metrics", metrics.local_addr().unwrap());
        let stopped = async {
            let _ = stop.await;
        };
        let run =
            gatehouse_data_plane::run_with_metrics(config, state.clone(), listener, Some(metrics), stopped);
        let task = tokio::spawn(run);
        let scheme = if tls.is_some() { "https" } else { "http" };
        let http = client(tls.as_ref(), tls.as_ref().and_then(|t| t.harness_identity.as_ref()));
        TestEdge {
            url: format!("{scheme}://{addr}"),
            addr,
            state,
            node_id,
            metrics_url,
            cache,
            node_token: SecretString::from(node_token.to_owned()),
            http,
            tls,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    /// A client for this edge: trusting its server certificate when it serves TLS,
    /// presenting `identity` as its client certificate when given.
    pub fn client(&self, identity: Option<&CertAndKey>) -> reqwest::Client {
        client(self.tls.as_ref(), identity)
    }

    /// The certificate, key and client CA files this edge serves TLS from, if it does
    /// (overwrite them to rotate its certificate).
    pub fn tls_files(&self) -> Option<&EdgeTlsFiles> {
        self.tls.as_ref().map(|t| &t.files)
    }

    /// The MCP endpoint of server `slug`.
    pub fn mcp_url(&self, slug: &str) -> String {
        format!("{}/mcp/{slug}", self.url)
    }

    /// `POST /mcp/{slug}` with a `tools/list` request and `Authorization: Bearer {token}`.
    pub async fn list_tools(&self, slug: &str, token: &str) -> reqwest::Response {
        self.http
            .post(self.mcp_url(slug))
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "application/json, text/event-stream")
            .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
            .send()
            .await
            .expect("POST tools/list to the edge")
    }

    /// The edge's encrypted config cache file.
    pub fn cache_path(&self) -> PathBuf {
        self.cache.path()
    }

    /// What `GET /readyz` says now; `None` if the edge doesn't answer.
    pub async fn readiness(&self) -> Option<Readiness> {
        let response = self.http.get(format!("{}/readyz", self.url)).send().await.ok()?;
        response.json().await.ok()
    }

    /// Waits (bounded) until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        eventually(WAIT, "the edge to become ready", || async {
            self.readiness().await.filter(Readiness::is_ready).map(|_| ())
        })
        .await
    }

    /// The config version `/readyz` reports (0 when not ready).
    pub async fn config_version(&self) -> u64 {
        self.readiness().await.expect("the edge answers /readyz").config_version
    }

    /// Waits (bounded) until the edge serves at least version `at_least`.
    pub async fn wait_for_version(&self, at_least: u64) {
        let what = format!("the edge to serve config version {at_least}");
        eventually(WAIT, &what, || async {
            self.readiness().await.filter(|r| r.config_version >= at_least).map(|_| ())
        })
        .await
    }

    /// The version in the cache file, decrypted with the node token; `None` while there is none.
    ///
    /// The cache is written in the background shortly after each install, so wait
    /// with [`TestEdge::wait_for_cached_version`] before reading the file.
    pub async fn cached_version(&self) -> Option<u64> {
        let cache = ConfigCache::new(self.cache.path(), &self.node_token);
        cache.load().await.ok().flatten().map(|view| view.version())
    }

    /// Waits (bounded) until the cache file holds at least version `at_least`.
    pub async fn wait_for_cached_version(&self, at_least: u64) {
        let what = format!("the edge cache to hold config version {at_least}");
        eventually(WAIT, &what, || async {
            self.cached_version().await.filter(|v| *v >= at_least).map(|_| ())
        })
        .await
    }

    /// Shuts the edge down (which flushes its cache) and returns the cache file.
    pub async fn stop(mut self) -> EdgeCache {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let task = self.task.take().expect("the edge task");
        let result = tokio::time::timeout(WAIT, task).await.expect("the edge stops in time");
        result.expect("the edge task did not panic").expect("the edge ran without error");
        self.cache.clone()
    }
}

fn client(tls: Option<&EdgeTlsSetup>, identity: Option<&CertAndKey>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(5));
    if let Some(tls) = tls {
        let ca = reqwest::Certificate::from_pem(tls.server_ca_pem.as_bytes()).expect("the edge's CA (PEM)");
        builder = builder.tls_certs_only([ca]);
    }
    if let Some(identity) = identity {
        builder = builder.identity(identity.identity());
    }
    builder.build().expect("an HTTP client for the edge")
}

impl Drop for TestEdge {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
