//! A real control plane (admin API + config stream) in-process on port 0,
//! with a typed admin client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_control_plane::store::Store;
use gatehouse_control_plane::{ControlPlaneConfig, Keyring, Listeners, MasterKey};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::db::TestDb;

/// How long start and stop may take before the harness panics.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// The secrets a control plane was started with, kept across restarts.
#[derive(Clone)]
struct Secrets {
    master_key: MasterKey,
    admin_token: String,
    node_token: String,
    /// Adjusts the config before every start (replicas and restarts too).
    configure: Option<ConfigureFn>,
}

/// A hook that adjusts the control-plane config before it starts.
pub type ConfigureFn = Arc<dyn Fn(&mut ControlPlaneConfig) + Send + Sync>;

impl Secrets {
    fn generate() -> Self {
        Self {
            master_key: MasterKey::generate(),
            admin_token: format!("admin-{}", uuid::Uuid::new_v4().simple()),
            node_token: format!("node-{}", uuid::Uuid::new_v4().simple()),
            configure: None,
        }
    }
}

/// The issuing-CA fingerprint [`AdminClient::register_certificate_identity`] binds to: the
/// SHA-256 of no certificate any test issues, so no test certificate authenticates as it.
pub const NO_TEST_CA_SHA256: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A running control plane.
pub struct TestControlPlane {
    /// Base URL of the admin API, e.g. `http://127.0.0.1:41234`.
    pub api_url: String,
    /// URL of the config stream for edges, e.g. `http://127.0.0.1:41235`.
    pub grpc_url: String,
    /// Admin token accepted by the API.
    pub admin_token: String,
    /// Node token edges must present.
    pub node_token: String,
    /// The master key sealing secrets (edges never need it).
    pub master_key: MasterKey,
    /// Its `/metrics` endpoint, `http://127.0.0.1:<port>/metrics` (a listener of its own).
    pub metrics_url: String,
    api_addr: SocketAddr,
    grpc_addr: SocketAddr,
    // Shared with replicas started from this control plane.
    db: Arc<TestDb>,
    secrets: Secrets,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

/// A stopped control plane that can start again on the same ports and database.
pub struct StoppedControlPlane {
    db: Arc<TestDb>,
    secrets: Secrets,
    api_addr: SocketAddr,
    grpc_addr: SocketAddr,
}

impl TestControlPlane {
    /// Starts a control plane on `db` with fresh keys and tokens, on `127.0.0.1:0`.
    pub async fn start(db: TestDb) -> Self {
        let api = TcpListener::bind("127.0.0.1:0").await.expect("binding the api port");
        let grpc = TcpListener::bind("127.0.0.1:0").await.expect("binding the grpc port");
        Self::launch(Arc::new(db), Secrets::generate(), Listeners { api, grpc }).await
    }

    /// Starts a control plane like [`Self::start`], letting `configure` adjust the config first
    /// (kept for replicas and restarts).
    pub async fn start_with(
        db: TestDb,
        configure: impl Fn(&mut ControlPlaneConfig) + Send + Sync + 'static,
    ) -> Self {
        let api = TcpListener::bind("127.0.0.1:0").await.expect("binding the api port");
        let grpc = TcpListener::bind("127.0.0.1:0").await.expect("binding the grpc port");
        let secrets = Secrets { configure: Some(Arc::new(configure)), ..Secrets::generate() };
        Self::launch(Arc::new(db), secrets, Listeners { api, grpc }).await
    }

    /// Starts a second replica on the same database, keys and tokens, on new ports
    /// (as a second control-plane pod on the same PostgreSQL would run).
    pub async fn start_replica(&self) -> TestControlPlane {
        let api = TcpListener::bind("127.0.0.1:0").await.expect("binding the api port");
        let grpc = TcpListener::bind("127.0.0.1:0").await.expect("binding the grpc port");
        Self::launch(self.db.clone(), self.secrets.clone(), Listeners { api, grpc }).await
    }

    /// Starts two replicas on `db` at the same moment (same keys and tokens), as two
    /// control-plane pods starting together on a fresh database would.
    pub async fn start_pair(db: TestDb) -> (TestControlPlane, TestControlPlane) {
        let db = Arc::new(db);
        let secrets = Secrets::generate();
        let listeners = || async {
            let api = TcpListener::bind("127.0.0.1:0").await.expect("binding the api port");
            let grpc = TcpListener::bind("127.0.0.1:0").await.expect("binding the grpc port");
            Listeners { api, grpc }
        };
        let (first, second) = (listeners().await, listeners().await);
        tokio::join!(
            Self::launch(db.clone(), secrets.clone(), first),
            Self::launch(db.clone(), secrets.clone(), second)
        )
    }

    /// Starts a replica like [`Self::start_replica`], but on a runtime of its own, so
    /// [`KillableReplica::kill`] can end it at once the way a crashed process ends:
    /// every task dropped, every socket closed, nothing said to the edges first.
    pub async fn start_replica_killable(&self) -> KillableReplica {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the replica");
        let bind = || {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a port");
            listener.set_nonblocking(true).expect("a non-blocking listener");
            listener
        };
        let (api, grpc) = (bind(), bind());
        let (api_addr, grpc_addr) = (api.local_addr().unwrap(), grpc.local_addr().unwrap());
        let config = self.secrets.config(&self.db);
        let task = {
            let _entered = runtime.enter();
            let listeners = Listeners {
                api: TcpListener::from_std(api).expect("the api listener"),
                grpc: TcpListener::from_std(grpc).expect("the grpc listener"),
            };
            runtime.spawn(gatehouse_control_plane::run(config, listeners, std::future::pending()))
        };
        let replica = KillableReplica {
            api_url: format!("http://{api_addr}"),
            grpc_url: format!("http://{grpc_addr}"),
            runtime: Some(runtime),
        };
        wait_healthy(&replica.api_url, || task.is_finished()).await;
        replica
    }

    async fn launch(db: Arc<TestDb>, secrets: Secrets, listeners: Listeners) -> Self {
        let api_addr = listeners.api.local_addr().expect("api address");
        let grpc_addr = listeners.grpc.local_addr().expect("grpc address");
        let config = secrets.config(&db);
        let grpc_scheme = if config.tls.grpc.is_some() { "https" } else { "http" };
        let api_scheme = if config.tls.api.is_some() { "https" } else { "http" };
        let (shutdown, stop) = oneshot::channel::<()>();
        let metrics = TcpListener::bind("127.0.0.1:0").await.expect("binding the metrics port");
        let metrics_url = format!("http://{}/metrics", metrics.local_addr().expect("metrics address"));
        let stopped = async move {
            let _ = stop.await;
        };
        let run = gatehouse_control_plane::run_with_metrics(config, listeners, Some(metrics), stopped);
        let task = tokio::spawn(run);
        let cp = TestControlPlane {
            api_url: format!("{api_scheme}://{api_addr}"),
            grpc_url: format!("{grpc_scheme}://{grpc_addr}"),
            admin_token: secrets.admin_token.clone(),
            node_token: secrets.node_token.clone(),
            master_key: secrets.master_key.clone(),
            metrics_url,
            api_addr,
            grpc_addr,
            db,
            secrets,
            shutdown,
            task,
        };
        cp.wait_healthy().await;
        cp
    }

    async fn wait_healthy(&self) {
        wait_healthy(&self.api_url, || self.task.is_finished()).await;
    }

    /// A client for the admin API authenticated with the admin token.
    pub fn admin(&self) -> AdminClient {
        AdminClient::new(&self.api_url, Some(&self.admin_token))
    }

    /// The database this control plane uses.
    pub fn db(&self) -> &TestDb {
        &self.db
    }

    /// A second store handle on the same database and keys (for direct inspection).
    pub async fn store(&self) -> Store {
        Store::connect(&self.db.url(), Keyring::new(self.master_key.clone(), vec![]))
            .await
            .expect("connecting a second store")
    }

    /// Shuts down gracefully (panics if that hangs or `run` failed) and keeps db, keys and ports.
    pub async fn stop(self) -> StoppedControlPlane {
        let _ = self.shutdown.send(());
        let result = tokio::time::timeout(SHUTDOWN_TIMEOUT, self.task)
            .await
            .unwrap_or_else(|_| panic!("control plane did not shut down within {SHUTDOWN_TIMEOUT:?}"))
            .expect("control plane task panicked");
        if let Err(e) = result {
            panic!("control plane failed: {e:#}");
        }
        StoppedControlPlane {
            db: self.db,
            secrets: self.secrets,
            api_addr: self.api_addr,
            grpc_addr: self.grpc_addr,
        }
    }
}

impl StoppedControlPlane {
    /// Starts again with the same database, keys, tokens and ports (edges reconnect to the same address).
    pub async fn start_again(self) -> TestControlPlane {
        let api = bind_again(self.api_addr).await;
        let grpc = bind_again(self.grpc_addr).await;
        TestControlPlane::launch(self.db, self.secrets, Listeners { api, grpc }).await
    }

    /// The database, e.g. to inspect it while stopped.
    pub fn db(&self) -> &TestDb {
        &self.db
    }
}

/// A control-plane replica on a runtime of its own, killed (not stopped) by [`Self::kill`].
pub struct KillableReplica {
    /// Base URL of its admin API.
    pub api_url: String,
    /// URL of its config stream.
    pub grpc_url: String,
    runtime: Option<tokio::runtime::Runtime>,
}

impl KillableReplica {
    /// Ends the replica at once: its runtime is shut down, dropping every task and socket.
    pub fn kill(mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for KillableReplica {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Secrets {
    /// The config every replica with these secrets starts with.
    fn config(&self, db: &TestDb) -> ControlPlaneConfig {
        let mut config = ControlPlaneConfig::new(
            db.url(),
            Keyring::new(self.master_key.clone(), vec![]),
            vec![SecretString::from(self.node_token.clone())],
        );
        config.admin_token = Some(SecretString::from(self.admin_token.clone()));
        // Every test upstream and authorization server listens on 127.0.0.1 (as `gatehouse dev`).
        config.allow_loopback_upstreams = true;
        if let Some(configure) = &self.configure {
            configure(&mut config);
        }
        config
    }
}

/// Waits until `api_url` answers `/healthz` (over TLS without checking the
/// certificate: the tests of TLS check it themselves); panics if `exited` first.
async fn wait_healthy(api_url: &str, exited: impl Fn() -> bool) {
    let client = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .build()
        .expect("a health-check client");
    let url = format!("{api_url}/healthz");
    let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
    loop {
        if exited() {
            panic!("control plane exited during start-up (see its logs)");
        }
        if let Ok(r) = client.get(&url).timeout(Duration::from_secs(2)).send().await {
            if r.status() == StatusCode::OK {
                return;
            }
        }
        if tokio::time::Instant::now() > deadline {
            panic!("control plane not healthy after {STARTUP_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn bind_again(addr: SocketAddr) -> TcpListener {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => return l,
            Err(e) if tokio::time::Instant::now() > deadline => panic!("rebinding {addr}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// A minted or rotated gateway token.
#[derive(Debug, Clone)]
pub struct MintedToken {
    /// Token id.
    pub id: String,
    /// Token text (shown once by the API).
    pub token: String,
    /// The whole response body.
    pub body: Value,
}

/// Typed helpers over the admin API. Helpers panic with the response body on an
/// unexpected status; use [`AdminClient::request`] to test error responses.
#[derive(Clone)]
pub struct AdminClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl AdminClient {
    /// A client for `base` (e.g. `http://127.0.0.1:1234`) sending `token` as bearer, if any.
    pub fn new(base: &str, token: Option<&str>) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            token: token.map(str::to_owned),
        }
    }

    /// The same client with another token (or none).
    pub fn with_token(&self, token: Option<&str>) -> Self {
        Self { token: token.map(str::to_owned), ..self.clone() }
    }

    /// Sends a request with an optional JSON body; returns the status and the JSON body
    /// (`Value::Null` when empty; a JSON-lines body as an array of its lines). Panics if a
    /// non-empty body is not JSON.
    pub async fn request(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("admin api request");
        let status = resp.status();
        let json_lines = is_json_lines(resp.headers());
        let text = resp.text().await.expect("admin api response body");
        if text.is_empty() {
            return (status, Value::Null);
        }
        let parse = |text: &str| {
            serde_json::from_str(text).unwrap_or_else(|e| panic!("non-JSON response ({status}): {e}: {text}"))
        };
        if json_lines {
            return (status, Value::Array(text.lines().map(parse).collect()));
        }
        (status, parse(&text))
    }

    /// Sends raw bytes with an optional content type; returns status, headers and body text.
    pub async fn request_raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).body(body);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(ct) = content_type {
            req = req.header(reqwest::header::CONTENT_TYPE, ct);
        }
        let resp = req.send().await.expect("admin api request");
        let status = resp.status();
        let headers = resp.headers().clone();
        (status, headers, resp.text().await.expect("admin api response body"))
    }

    async fn expect(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        expected: &[StatusCode],
    ) -> Value {
        let (status, value) = self.request(method.clone(), path, body).await;
        assert!(expected.contains(&status), "{method} {path}: expected {expected:?}, got {status}: {value}");
        value
    }

    /// `POST /v1/workspaces` with `slug` as slug and name.
    pub async fn create_workspace(&self, slug: &str) -> Value {
        self.expect(
            Method::POST,
            "/v1/workspaces",
            Some(json!({"slug": slug, "name": slug})),
            &[StatusCode::CREATED],
        )
        .await
    }

    /// `POST /v1/servers`: auth type `headers` when headers are given, else `none`.
    pub async fn create_server(&self, slug: &str, url: &str, headers: &[(&str, &str)]) -> Value {
        let headers: serde_json::Map<String, Value> =
            headers.iter().map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned()))).collect();
        let auth_type = if headers.is_empty() { "none" } else { "headers" };
        self.create_server_json(json!({
            "slug": slug, "name": slug, "url": url, "auth_type": auth_type, "headers": headers,
        }))
        .await
    }

    /// `POST /v1/servers` with an arbitrary body; expects 201.
    pub async fn create_server_json(&self, body: Value) -> Value {
        self.expect(Method::POST, "/v1/servers", Some(body), &[StatusCode::CREATED]).await
    }

    /// `PATCH /v1/servers/{slug}`; expects 200.
    pub async fn update_server(&self, slug: &str, body: Value) -> Value {
        self.expect(Method::PATCH, &format!("/v1/servers/{slug}"), Some(body), &[StatusCode::OK]).await
    }

    /// `DELETE /v1/servers/{slug}`; expects 204.
    pub async fn delete_server(&self, slug: &str) {
        self.expect(Method::DELETE, &format!("/v1/servers/{slug}"), None, &[StatusCode::NO_CONTENT]).await;
    }

    /// `PUT /v1/workspaces/{ws}/servers/{slug}` with tool globs; expects 200 or 201.
    pub async fn provision(&self, ws: &str, slug: &str, allow: &[&str], deny: &[&str]) -> Value {
        self.expect(
            Method::PUT,
            &format!("/v1/workspaces/{ws}/servers/{slug}"),
            Some(json!({"tools": {"allow": allow, "deny": deny}})),
            &[StatusCode::OK, StatusCode::CREATED],
        )
        .await
    }

    /// `DELETE /v1/workspaces/{ws}/servers/{slug}`; expects 204.
    pub async fn unprovision(&self, ws: &str, slug: &str) {
        self.expect(
            Method::DELETE,
            &format!("/v1/workspaces/{ws}/servers/{slug}"),
            None,
            &[StatusCode::NO_CONTENT],
        )
        .await;
    }

    /// `POST /v1/auth/tokens` for `user` in workspace `team`, default permissions and expiry.
    pub async fn mint_token(&self, user: &str, team: &str) -> MintedToken {
        self.mint_token_json(json!({"user": user, "team": team})).await
    }

    /// `POST /v1/auth/tokens` with an arbitrary body; expects 201.
    pub async fn mint_token_json(&self, body: Value) -> MintedToken {
        let body = self.expect(Method::POST, "/v1/auth/tokens", Some(body), &[StatusCode::CREATED]).await;
        minted(body)
    }

    /// `DELETE /v1/auth/tokens/{id}`; expects 204.
    pub async fn revoke(&self, id: &str) {
        self.expect(Method::DELETE, &format!("/v1/auth/tokens/{id}"), None, &[StatusCode::NO_CONTENT]).await;
    }

    /// `POST /v1/auth/tokens/{id}/rotate`; expects 200.
    pub async fn rotate(&self, id: &str) -> MintedToken {
        let body =
            self.expect(Method::POST, &format!("/v1/auth/tokens/{id}/rotate"), None, &[StatusCode::OK]).await;
        minted(body)
    }

    /// `GET /v1/auth/tokens`.
    pub async fn tokens(&self) -> Value {
        self.expect(Method::GET, "/v1/auth/tokens", None, &[StatusCode::OK]).await
    }

    /// `POST /v1/auth/certificate-identities` binding `kind` `value` to `user` in `team`, bound
    /// to [`NO_TEST_CA_SHA256`] (for tests whose identities never meet a certificate at an
    /// edge); expects 201 and returns the identity's id.
    pub async fn register_certificate_identity(
        &self,
        kind: &str,
        value: &str,
        user: &str,
        team: &str,
    ) -> String {
        self.register_bound_certificate_identity(kind, value, user, team, NO_TEST_CA_SHA256, None).await
    }

    /// `POST /v1/auth/certificate-identities` binding `kind` `value` to `user` in `team`, for
    /// certificates issued by the CA whose certificate has SHA-256 `issuer_ca_sha256` (see
    /// [`crate::pki::TestCa::sha256_hex`]) and, when given, carrying a SPIFFE ID in
    /// `spiffe_trust_domain`; expects 201 and returns the identity's id.
    pub async fn register_bound_certificate_identity(
        &self,
        kind: &str,
        value: &str,
        user: &str,
        team: &str,
        issuer_ca_sha256: &str,
        spiffe_trust_domain: Option<&str>,
    ) -> String {
        let mut body = json!({"kind": kind, "value": value, "user": user, "team": team,
            "issuer_ca_sha256": issuer_ca_sha256});
        if let Some(domain) = spiffe_trust_domain {
            body["spiffe_trust_domain"] = json!(domain);
        }
        let created = self
            .expect(Method::POST, "/v1/auth/certificate-identities", Some(body), &[StatusCode::CREATED])
            .await;
        created["id"].as_str().expect("certificate identity id").to_owned()
    }

    /// `DELETE /v1/auth/certificate-identities/{id}`; expects 204.
    pub async fn delete_certificate_identity(&self, id: &str) {
        let path = format!("/v1/auth/certificate-identities/{id}");
        self.expect(Method::DELETE, &path, None, &[StatusCode::NO_CONTENT]).await;
    }

    /// Creates workspace `platform` and server `tools` (on a fresh stateless upstream
    /// MCP server, returned) provisioned to it.
    pub async fn platform_with_tools(&self) -> crate::upstream::McpUpstream {
        self.create_workspace("platform").await;
        let upstream = crate::upstream::McpUpstream::start(crate::upstream::SessionMode::Stateless).await;
        self.create_server("tools", &upstream.url, &[]).await;
        self.provision("platform", "tools", &[], &[]).await;
        upstream
    }

    /// `GET /v1/edges`.
    pub async fn edges(&self) -> Value {
        self.expect(Method::GET, "/v1/edges", None, &[StatusCode::OK]).await
    }

    /// The current config version, from `GET /v1/edges`.
    pub async fn config_version(&self) -> u64 {
        self.edges().await["config_version"].as_u64().expect("config_version")
    }
}

fn minted(body: Value) -> MintedToken {
    MintedToken {
        id: body["id"].as_str().expect("token id").to_owned(),
        token: body["token"].as_str().expect("token text").to_owned(),
        body,
    }
}

/// Whether a response is JSON lines (`GET /v1/audit-events/export`).
fn is_json_lines(headers: &reqwest::header::HeaderMap) -> bool {
    headers
        .get(reqwest::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/x-ndjson"))
}

/// The base64 master key, e.g. to write a key file for a binary under test.
pub fn master_key_base64(key: &MasterKey) -> String {
    key.to_base64()
}

/// A browser for SSO tests: keeps cookies (reqwest's cookie store) and never
/// follows redirects, so each hop of a login can be inspected.
pub struct SsoBrowser {
    /// The cookie-keeping client.
    pub http: reqwest::Client,
    /// The control plane's base URL.
    pub base: String,
}

impl TestControlPlane {
    /// A fresh [`SsoBrowser`] for this control plane (no cookies yet).
    pub fn sso_browser(&self) -> SsoBrowser {
        SsoBrowser::new(&self.api_url)
    }
}

impl SsoBrowser {
    /// A browser for the control plane at `base`.
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("reqwest client");
        Self { http, base: base.trim_end_matches('/').to_owned() }
    }

    /// `GET /auth/sso/{org}/login[?return_to=…]`, not followed.
    pub async fn sso_start_login(&self, org_slug: &str, return_to: Option<&str>) -> reqwest::Response {
        let mut url =
            url::Url::parse(&format!("{}/auth/sso/{org_slug}/login", self.base)).expect("login url");
        if let Some(r) = return_to {
            url.query_pairs_mut().append_pair("return_to", r);
        }
        self.http.get(url).send().await.expect("GET login")
    }

    /// Starts a login and drives the provider headlessly as `login_hint` (a user's `sub`);
    /// returns the callback URL (with `code`, `state`, `iss`) without visiting it.
    pub async fn sso_authorize(&self, org_slug: &str, return_to: Option<&str>, login_hint: &str) -> url::Url {
        let start = self.sso_start_login(org_slug, return_to).await;
        assert_eq!(
            start.status(),
            StatusCode::FOUND,
            "login did not redirect: {}",
            start.text().await.unwrap_or_default()
        );
        let location =
            start.headers()[reqwest::header::LOCATION].to_str().expect("ascii location").to_owned();
        let mut authorize = url::Url::parse(&location).expect("absolute authorization url");
        authorize.query_pairs_mut().append_pair("login_hint", login_hint);
        crate::oidc::authorize_headless(&crate::oidc::no_redirect_client(), authorize.as_str()).await
    }

    /// Visits a callback URL (not followed).
    pub async fn sso_callback(&self, callback: &url::Url) -> reqwest::Response {
        self.http.get(callback.clone()).send().await.expect("GET callback")
    }

    /// A full login as `login_hint`; panics unless the callback redirects (302) with a session.
    pub async fn sso_login(&self, org_slug: &str, login_hint: &str) -> reqwest::Response {
        let callback = self.sso_authorize(org_slug, None, login_hint).await;
        let resp = self.sso_callback(&callback).await;
        assert_eq!(
            resp.status(),
            StatusCode::FOUND,
            "callback failed: {}",
            resp.text().await.unwrap_or_default()
        );
        resp
    }

    /// `GET /v1/me` with the session cookie.
    pub async fn sso_me(&self) -> (StatusCode, Value) {
        self.sso_request(Method::GET, "/v1/me", None, None).await
    }

    /// A request with the session cookie and, when given, `X-CSRF-Token`.
    pub async fn sso_request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        csrf: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = csrf {
            req = req.header("x-csrf-token", token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("sso request");
        let status = resp.status();
        let json_lines = is_json_lines(resp.headers());
        let text = resp.text().await.unwrap_or_default();
        if json_lines {
            return (
                status,
                Value::Array(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()),
            );
        }
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

impl AdminClient {
    /// `POST /v1/sso/providers` (expects 201).
    pub async fn sso_create_provider(&self, body: Value) -> Value {
        let (status, v) = self.request(Method::POST, "/v1/sso/providers", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "create sso provider: {v}");
        v
    }
}
