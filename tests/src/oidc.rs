//! A real OpenID Provider / OAuth authorization server for tests: `oidc-provider`
//! (Node) from `tests/oidc/server.mjs`, one process per test on 127.0.0.1:0.
//!
//! Interactions are headless: `/auth` logs in the default user (or the one named by
//! `login_hint`) and consents to everything requested, so [`authorize_headless`]
//! drives a full authorization-code flow with a plain HTTP client.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use url::Url;

pub use crate::node::ensure_npm_install;

/// How long the harness waits for the node process to print its JSON line.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times a start that hangs is tried.
const START_ATTEMPTS: u32 = 3;

/// Why one start of the provider failed.
enum StartFailure {
    /// No ready line in time (the process is killed); what it wrote to stderr.
    Hung(String),
    /// It exited or closed stdout; what it said.
    Died(String),
}
/// Most redirects [`authorize_headless`] follows before giving up.
const MAX_REDIRECTS: usize = 20;

/// The npm project that holds `server.mjs`.
pub fn oidc_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("oidc")
}

/// A static client registered at start-up.
#[derive(Debug, Clone, Serialize)]
pub struct OidcClient {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret` (absent for public clients).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Allowed redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Allowed grant types.
    pub grant_types: Vec<String>,
    /// Allowed response types (`code` unless the client has no redirect URIs).
    pub response_types: Vec<String>,
    /// `client_secret_basic`, `client_secret_post` or `none`.
    pub token_endpoint_auth_method: String,
}

impl OidcClient {
    /// A confidential client (`client_secret_basic`) allowed every grant this OP supports.
    pub fn confidential(client_id: &str, client_secret: &str) -> Self {
        Self {
            client_id: client_id.to_owned(),
            client_secret: Some(client_secret.to_owned()),
            redirect_uris: Vec::new(),
            grant_types: ["authorization_code", "refresh_token", "client_credentials"]
                .map(str::to_owned)
                .to_vec(),
            response_types: vec!["code".to_owned()],
            token_endpoint_auth_method: "client_secret_basic".to_owned(),
        }
    }

    /// A public client (`none` auth, PKCE only) for the authorization-code flow.
    pub fn public(client_id: &str) -> Self {
        Self {
            client_id: client_id.to_owned(),
            client_secret: None,
            redirect_uris: Vec::new(),
            grant_types: ["authorization_code", "refresh_token"].map(str::to_owned).to_vec(),
            response_types: vec!["code".to_owned()],
            token_endpoint_auth_method: "none".to_owned(),
        }
    }

    /// Adds an allowed redirect URI.
    pub fn redirect_uri(mut self, uri: &str) -> Self {
        self.redirect_uris.push(uri.to_owned());
        self
    }

    /// Replaces the allowed grant types.
    pub fn grant_types(mut self, grants: &[&str]) -> Self {
        self.grant_types = grants.iter().map(|g| (*g).to_owned()).collect();
        if !self.grant_types.iter().any(|g| g == "authorization_code") {
            self.response_types.clear();
        }
        self
    }

    /// Sets `token_endpoint_auth_method`.
    pub fn auth_method(mut self, method: &str) -> Self {
        method.clone_into(&mut self.token_endpoint_auth_method);
        self
    }
}

/// A static user the headless login can sign in.
#[derive(Debug, Clone, Serialize)]
pub struct OidcUser {
    /// Subject identifier.
    pub sub: String,
    /// `email` claim.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `name` claim.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `groups` claim.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// `roles` claim.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// Any other claims, released with the `openid` scope.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl OidcUser {
    /// A user with only a subject.
    pub fn new(sub: &str) -> Self {
        Self {
            sub: sub.to_owned(),
            email: None,
            name: None,
            groups: None,
            roles: None,
            claims: serde_json::Map::new(),
        }
    }

    /// Sets `email` (and `email_verified: true`).
    pub fn email(mut self, email: &str) -> Self {
        self.email = Some(email.to_owned());
        self
    }

    /// Sets `name`.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// Sets `groups`.
    pub fn groups(mut self, groups: &[&str]) -> Self {
        self.groups = Some(groups.iter().map(|g| (*g).to_owned()).collect());
        self
    }

    /// Sets `roles`.
    pub fn roles(mut self, roles: &[&str]) -> Self {
        self.roles = Some(roles.iter().map(|r| (*r).to_owned()).collect());
        self
    }

    /// Adds a custom claim.
    pub fn claim(mut self, name: &str, value: serde_json::Value) -> Self {
        self.claims.insert(name.to_owned(), value);
        self
    }
}

/// How to configure the provider; serialized as the `OIDC_CONFIG` JSON.
#[derive(Debug, Clone, Serialize)]
pub struct OidcConfig {
    clients: Vec<OidcClient>,
    users: Vec<OidcUser>,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_user: Option<String>,
    access_token_ttl: u64,
    refresh_token_ttl: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_scopes: Option<Vec<String>>,
    registration: bool,
    rotate_refresh_tokens: bool,
    access_token_format: &'static str,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            clients: Vec::new(),
            users: Vec::new(),
            default_user: None,
            access_token_ttl: 3600,
            refresh_token_ttl: 14 * 24 * 3600,
            resource_scopes: None,
            registration: true,
            rotate_refresh_tokens: true,
            access_token_format: "jwt",
        }
    }
}

impl OidcConfig {
    /// No static clients, user `alice` (alice@example.com), one-hour access tokens,
    /// dynamic registration on, refresh tokens rotated on every use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a static client.
    pub fn client(mut self, client: OidcClient) -> Self {
        self.clients.push(client);
        self
    }

    /// Adds a user; the first user added is the default unless [`Self::default_user`] says otherwise.
    pub fn user(mut self, user: OidcUser) -> Self {
        self.users.push(user);
        self
    }

    /// The user the headless login signs in when there is no (matching) `login_hint`.
    pub fn default_user(mut self, sub: &str) -> Self {
        self.default_user = Some(sub.to_owned());
        self
    }

    /// Access-token lifetime (whole seconds, at least one).
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.access_token_ttl = ttl.as_secs().max(1);
        self
    }

    /// Refresh-token lifetime (whole seconds, at least one).
    pub fn refresh_token_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_token_ttl = ttl.as_secs().max(1);
        self
    }

    /// Scopes every resource accepts, besides whatever non-OIDC scope a request names.
    pub fn resource_scopes(mut self, scopes: &[&str]) -> Self {
        self.resource_scopes = Some(scopes.iter().map(|s| (*s).to_owned()).collect());
        self
    }

    /// Turns dynamic client registration (RFC 7591) on or off.
    pub fn registration(mut self, enabled: bool) -> Self {
        self.registration = enabled;
        self
    }

    /// Turns refresh-token rotation on (default) or off.
    pub fn rotate_refresh_tokens(mut self, enabled: bool) -> Self {
        self.rotate_refresh_tokens = enabled;
        self
    }

    /// Issues opaque access tokens (introspectable, RFC 7662) instead of JWTs for resources.
    /// `oidc-provider` cannot introspect its JWT access tokens.
    pub fn opaque_access_tokens(mut self) -> Self {
        self.access_token_format = "opaque";
        self
    }

    fn to_json(&self) -> String {
        let mut config = self.clone();
        if config.users.is_empty() {
            config.users.push(OidcUser::new("alice").email("alice@example.com").name("Alice"));
        }
        serde_json::to_string(&config).expect("the OIDC config serializes")
    }
}

/// What `GET /__test/stats` counts since start or the last reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct OidcStats {
    /// Token-endpoint requests by `grant_type` (successful or not).
    pub token_requests: BTreeMap<String, u64>,
    /// Token-endpoint errors by OAuth error code.
    pub token_errors: BTreeMap<String, u64>,
    /// Token-endpoint requests with `grant_type=refresh_token`.
    pub refresh_requests: u64,
    /// Successful dynamic client registrations.
    pub registrations: u64,
    /// Successful authorization responses (codes issued).
    pub authorizations: u64,
    /// Introspection requests.
    pub introspections: u64,
    /// Revocation requests.
    pub revocations: u64,
}

impl OidcStats {
    /// Token-endpoint requests with this `grant_type`.
    pub fn token_requests(&self, grant_type: &str) -> u64 {
        self.token_requests.get(grant_type).copied().unwrap_or(0)
    }
}

/// The JSON line `server.mjs` prints once listening.
#[derive(Debug, Deserialize)]
struct Ready {
    issuer: String,
    port: u16,
}

/// A running provider; the node process is killed when this is dropped.
pub struct TestOidcProvider {
    /// The issuer, `http://127.0.0.1:<port>` (no trailing slash).
    pub issuer: String,
    /// The port it listens on.
    pub port: u16,
    http: reqwest::Client,
    stderr: Arc<Mutex<Vec<String>>>,
    _child: Child,
    _stdin: Option<ChildStdin>,
}

impl TestOidcProvider {
    /// Starts a provider with `config`, installing `tests/oidc/node_modules` first if missing.
    ///
    /// A node process that has not said it is listening within [`START_TIMEOUT`] is killed and
    /// started again, up to [`START_ATTEMPTS`] times: on a loaded machine one start now and then
    /// hangs, and a test should not fail for it. A process that exits is not retried.
    pub async fn start(config: OidcConfig) -> Self {
        ensure_npm_install(oidc_dir()).await;
        let config = config.to_json();
        let mut failures = Vec::new();
        for attempt in 1..=START_ATTEMPTS {
            match Self::start_once(&config).await {
                Ok(provider) => return provider,
                Err(StartFailure::Hung(stderr)) => {
                    tracing::warn!(attempt, "oidc provider did not start in time; starting it again");
                    failures.push(format!(
                        "attempt {attempt}: no ready line within {START_TIMEOUT:?}; stderr:\n{stderr}"
                    ));
                }
                Err(StartFailure::Died(report)) => panic!("oidc provider did not start: {report}"),
            }
        }
        panic!("oidc provider did not start:\n{}", failures.join("\n"));
    }

    async fn start_once(config: &str) -> Result<Self, StartFailure> {
        let dir = oidc_dir();
        let mut child = Command::new(crate::node::node22().await)
            .arg(dir.join("server.mjs"))
            .current_dir(&dir)
            .env("OIDC_CONFIG", config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn Node 22 with tests/oidc/server.mjs");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = stderr.clone();
        let mut err_reader = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = err_reader.next_line().await {
                tracing::debug!(target: "test_oidc", %line, "oidc provider stderr");
                lines.lock().unwrap().push(line);
            }
        });
        let mut out_reader = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let first = tokio::time::timeout(START_TIMEOUT, out_reader.next_line()).await;
        let ready: Ready = match first {
            Ok(Ok(Some(line))) => serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("oidc provider printed {line:?}, not its JSON line: {e}")),
            Err(_elapsed) => {
                // Killed when `child` drops.
                return Err(StartFailure::Hung(stderr.lock().unwrap().join("\n")));
            }
            other => {
                // Give the stderr task a moment to drain what the process said before dying.
                let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
                tokio::task::yield_now().await;
                return Err(StartFailure::Died(format!(
                    "{other:?}; stderr:\n{}",
                    stderr.lock().unwrap().join("\n")
                )));
            }
        };
        // Keep draining stdout so the process never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = out_reader.next_line().await {} });
        let stdin = child.stdin.take();
        Ok(Self {
            issuer: ready.issuer,
            port: ready.port,
            http: reqwest::Client::new(),
            stderr,
            _child: child,
            _stdin: stdin,
        })
    }

    /// `{issuer}/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    /// The authorization endpoint.
    pub fn authorization_endpoint(&self) -> String {
        format!("{}/auth", self.issuer)
    }

    /// The token endpoint.
    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.issuer)
    }

    /// The JWKS endpoint.
    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.issuer)
    }

    /// The dynamic client registration endpoint (RFC 7591).
    pub fn registration_endpoint(&self) -> String {
        format!("{}/reg", self.issuer)
    }

    /// The introspection endpoint (RFC 7662).
    pub fn introspection_endpoint(&self) -> String {
        format!("{}/token/introspection", self.issuer)
    }

    /// The revocation endpoint (RFC 7009).
    pub fn revocation_endpoint(&self) -> String {
        format!("{}/token/revocation", self.issuer)
    }

    /// An authorization URL with these query parameters (add `code_challenge` yourself).
    pub fn authorize_url(&self, params: &[(&str, &str)]) -> String {
        let mut url = Url::parse(&self.authorization_endpoint()).expect("valid issuer");
        url.query_pairs_mut().extend_pairs(params);
        url.into()
    }

    /// Counters since start or the last [`Self::reset_stats`].
    pub async fn stats(&self) -> OidcStats {
        self.control(reqwest::Method::GET, "stats").await.json().await.expect("stats JSON")
    }

    /// Zeroes the counters.
    pub async fn reset_stats(&self) {
        self.control(reqwest::Method::POST, "reset-stats").await;
    }

    /// Destroys every grant of `sub`: its refresh tokens then fail with `invalid_grant`.
    pub async fn revoke_grants(&self, sub: &str) -> u64 {
        let path = format!("revoke-grants?sub={}", urlencode(sub));
        let body: serde_json::Value =
            self.control(reqwest::Method::POST, &path).await.json().await.expect("JSON");
        body["revoked"].as_u64().unwrap_or(0)
    }

    /// Signs with a fresh key from now on; keeps the old keys in the JWKS when `keep_old`.
    /// Returns the new key's `kid`.
    pub async fn rotate_keys(&self, keep_old: bool) -> String {
        let path = format!("rotate-keys?keep_old={keep_old}");
        let body: serde_json::Value =
            self.control(reqwest::Method::POST, &path).await.json().await.expect("JSON");
        body["kid"].as_str().expect("kid").to_owned()
    }

    /// The current JWKS document.
    pub async fn jwks(&self) -> serde_json::Value {
        let resp = self.http.get(self.jwks_uri()).send().await.expect("GET jwks");
        resp.json().await.expect("JWKS JSON")
    }

    /// Everything the node process wrote to stderr so far.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    async fn control(&self, method: reqwest::Method, path: &str) -> reqwest::Response {
        let url = format!("{}/__test/{path}", self.issuer);
        let resp = self.http.request(method, &url).send().await.expect("test control request");
        assert!(resp.status().is_success(), "{url} answered {}", resp.status());
        resp
    }
}

impl Drop for TestOidcProvider {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- oidc provider stderr ---\n{}", self.stderr().join("\n"));
        }
    }
}

/// A fresh PKCE pair: `(code_verifier, S256 code_challenge)`.
pub fn pkce_pair() -> (String, String) {
    let verifier = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let challenge =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// An HTTP client that never follows redirects, as [`authorize_headless`] needs.
pub fn no_redirect_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("reqwest client")
}

/// A browser: keeps cookies (as a browser does, by host, whatever the port) and does not
/// follow redirects, so [`authorize_headless`] can drive it. Upstream OAuth flows need
/// it: the callback must come from the browser whose start set the binding cookie.
pub fn browser_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client")
}

/// Follows the redirects of an authorization request (through the OP's headless
/// login and consent, and any redirects before it) and returns the authorization
/// response: the first redirect whose query carries `code` or `error`, without
/// fetching it. Cookies are kept per host for the duration of the call.
///
/// `http` must not follow redirects itself (see [`no_redirect_client`]).
pub async fn authorize_headless(http: &reqwest::Client, authorize_url: &str) -> Url {
    let mut jar: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut url = Url::parse(authorize_url).expect("authorize_url is a valid URL");
    for _ in 0..MAX_REDIRECTS {
        let host = host_key(&url);
        let cookie = jar
            .iter()
            .filter(|((h, _), _)| *h == host)
            .map(|((_, name), value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut req = http.get(url.clone());
        if !cookie.is_empty() {
            req = req.header(reqwest::header::COOKIE, cookie);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert_eq!(
            resp.url(),
            &url,
            "authorize_headless needs a client that does not follow redirects (no_redirect_client)"
        );
        for set_cookie in resp.headers().get_all(reqwest::header::SET_COOKIE) {
            store_cookie(&mut jar, &host, set_cookie.to_str().unwrap_or_default());
        }
        let status = resp.status();
        let Some(location) = resp.headers().get(reqwest::header::LOCATION) else {
            let body = resp.text().await.unwrap_or_default();
            panic!("GET {url} answered {status} without a redirect: {body}");
        };
        let next = url.join(location.to_str().expect("ASCII Location")).expect("valid Location");
        if next.query_pairs().any(|(k, _)| k == "code" || k == "error") {
            return next;
        }
        url = next;
    }
    panic!("authorize_headless: more than {MAX_REDIRECTS} redirects from {authorize_url}");
}

fn host_key(url: &Url) -> String {
    format!("{}:{}", url.host_str().unwrap_or_default(), url.port_or_known_default().unwrap_or(0))
}

fn store_cookie(jar: &mut BTreeMap<(String, String), String>, host: &str, header: &str) {
    let mut parts = header.split(';');
    let Some((name, value)) = parts.next().and_then(|kv| kv.split_once('=')) else { return };
    let expired = value.is_empty()
        || parts.any(|attr| {
            let attr = attr.trim().to_ascii_lowercase();
            attr == "max-age=0" || attr.starts_with("expires=thu, 01 jan 1970")
        });
    let key = (host.to_owned(), name.trim().to_owned());
    if expired {
        jar.remove(&key);
    } else {
        jar.insert(key, value.trim().to_owned());
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
