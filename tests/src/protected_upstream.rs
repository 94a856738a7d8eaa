//! An upstream MCP server that requires OAuth access tokens, as the MCP
//! authorization spec describes: the [`TestTools`] server behind bearer-token
//! middleware that trusts one [`TestOidcProvider`] and serves RFC 9728 Protected
//! Resource Metadata.
//!
//! - no/invalid/expired token: `401` with
//!   `WWW-Authenticate: Bearer resource_metadata="<prm_url>", scope="…"`;
//! - a `tools/call` whose tool needs a scope the token lacks: `403` with
//!   `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use http::{header, StatusCode};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::oidc::TestOidcProvider;
use crate::upstream::{CallLog, SessionMode, TestTools};

/// Largest JSON-RPC request body the middleware reads to find the tool name.
const MAX_BODY: usize = 1 << 20;

/// How the protected upstream checks tokens.
#[derive(Debug, Clone)]
pub struct ProtectedOptions {
    /// Sessions or not.
    pub session_mode: SessionMode,
    /// `scopes_supported` in the metadata, and the `scope` of 401 challenges.
    pub scopes_supported: Vec<String>,
    /// Scopes a token must hold for every request (none by default).
    pub required_scopes: Vec<String>,
    /// Extra scope a `tools/call` of the named tool needs (403 `insufficient_scope` without it).
    pub tool_scopes: BTreeMap<String, String>,
    /// Validate tokens by introspection (RFC 7662) at the OP, authenticating as this
    /// client, instead of as JWTs: for an OP with [`crate::oidc::OidcConfig::opaque_access_tokens`].
    pub introspection_client: Option<(String, String)>,
}

impl Default for ProtectedOptions {
    fn default() -> Self {
        Self {
            session_mode: SessionMode::Stateless,
            scopes_supported: vec!["mcp:read".to_owned(), "mcp:write".to_owned()],
            required_scopes: Vec::new(),
            tool_scopes: BTreeMap::new(),
            introspection_client: None,
        }
    }
}

impl ProtectedOptions {
    /// Requires `scope` for calls of `tool`.
    pub fn tool_scope(mut self, tool: &str, scope: &str) -> Self {
        self.tool_scopes.insert(tool.to_owned(), scope.to_owned());
        self
    }

    /// Requires `scopes` for every request.
    pub fn required_scopes(mut self, scopes: &[&str]) -> Self {
        self.required_scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Sets `scopes_supported`.
    pub fn scopes_supported(mut self, scopes: &[&str]) -> Self {
        self.scopes_supported = scopes.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Validates tokens by introspection instead of as JWTs, authenticating as this client.
    pub fn introspect_as(mut self, client_id: &str, client_secret: &str) -> Self {
        self.introspection_client = Some((client_id.to_owned(), client_secret.to_owned()));
        self
    }

    /// Sets the session mode.
    pub fn session_mode(mut self, mode: SessionMode) -> Self {
        self.session_mode = mode;
        self
    }
}

/// One access token the upstream accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedToken {
    /// The raw bearer token.
    pub token: String,
    /// Its `sub` (the user, or the client for client-credentials tokens).
    pub sub: String,
    /// Its `client_id`.
    pub client_id: Option<String>,
    /// Its space-separated `scope`.
    pub scope: String,
}

/// The claims the middleware reads from a JWT access token.
#[derive(Debug, serde::Deserialize)]
struct AccessClaims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    client_id: Option<String>,
}

/// What the upstream saw; shared with the middleware.
#[derive(Debug, Default)]
pub struct ProtectedLog {
    accepted: Mutex<Vec<AcceptedToken>>,
    unauthorized: AtomicU64,
    forbidden: AtomicU64,
}

impl ProtectedLog {
    /// Every token accepted so far, oldest first (one entry per request).
    pub fn accepted(&self) -> Vec<AcceptedToken> {
        self.accepted.lock().unwrap().clone()
    }

    /// The most recently accepted token.
    pub fn last_accepted(&self) -> Option<AcceptedToken> {
        self.accepted.lock().unwrap().last().cloned()
    }

    /// How many requests got a 401.
    pub fn unauthorized(&self) -> u64 {
        self.unauthorized.load(Ordering::SeqCst)
    }

    /// How many requests got a 403 `insufficient_scope`.
    pub fn forbidden(&self) -> u64 {
        self.forbidden.load(Ordering::SeqCst)
    }
}

struct Guard {
    resource: String,
    prm_url: String,
    issuer: String,
    jwks_uri: String,
    introspection_endpoint: String,
    options: ProtectedOptions,
    jwks: tokio::sync::Mutex<JwkSet>,
    http: reqwest::Client,
    log: Arc<ProtectedLog>,
}

/// A running protected upstream; stops when dropped.
pub struct ProtectedUpstream {
    /// The MCP endpoint (and OAuth resource identifier), `http://127.0.0.1:<port>/mcp`.
    pub url: String,
    /// Its Protected Resource Metadata URL, `http://127.0.0.1:<port>/.well-known/oauth-protected-resource/mcp`.
    pub prm_url: String,
    /// Tool calls that got through.
    pub calls: CallLog,
    /// Accepted tokens and refusal counts.
    pub log: Arc<ProtectedLog>,
    cancel: CancellationToken,
}

impl ProtectedUpstream {
    /// Starts the server on a fresh port, trusting tokens `op` issues for its URL.
    pub async fn start(op: &TestOidcProvider, options: ProtectedOptions) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!("http://{addr}/mcp");
        let prm_url = format!("http://{addr}/.well-known/oauth-protected-resource/mcp");
        let calls = CallLog::default();
        let log = Arc::new(ProtectedLog::default());
        let cancel = CancellationToken::new();
        let guard = Arc::new(Guard {
            resource: url.clone(),
            prm_url: prm_url.clone(),
            issuer: op.issuer.clone(),
            jwks_uri: op.jwks_uri(),
            introspection_endpoint: op.introspection_endpoint(),
            options: options.clone(),
            jwks: tokio::sync::Mutex::new(JwkSet { keys: Vec::new() }),
            http: reqwest::Client::new(),
            log: log.clone(),
        });
        let config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(options.session_mode == SessionMode::Stateful)
            .with_sse_keep_alive(None)
            .with_cancellation_token(cancel.child_token());
        let tools = TestTools::new(calls.clone());
        let service: StreamableHttpService<TestTools, LocalSessionManager> =
            StreamableHttpService::new(move || Ok(tools.clone()), Default::default(), config);
        let router = axum::Router::new()
            .nest_service("/mcp", service)
            .layer(middleware::from_fn_with_state(guard.clone(), require_token))
            .route("/.well-known/oauth-protected-resource/mcp", get(metadata).with_state(guard));
        let stop = cancel.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).with_graceful_shutdown(stop.cancelled_owned()).await;
        });
        Self { url, prm_url, calls, log, cancel }
    }
}

impl Drop for ProtectedUpstream {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// RFC 9728 Protected Resource Metadata.
async fn metadata(State(guard): State<Arc<Guard>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "resource": guard.resource,
        "authorization_servers": [guard.issuer],
        "scopes_supported": guard.options.scopes_supported,
        "bearer_methods_supported": ["header"],
    }))
}

/// Why a request was refused.
enum Refusal {
    Unauthorized { invalid_token: bool },
    InsufficientScope(String),
}

async fn require_token(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with("/mcp") {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    match guard.check(&parts, &bytes).await {
        Ok(()) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Err(refusal) => guard.refuse(refusal),
    }
}

impl Guard {
    async fn check(&self, parts: &http::request::Parts, body: &Bytes) -> Result<(), Refusal> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(Refusal::Unauthorized { invalid_token: false })?;
        let claims = if self.options.introspection_client.is_some() {
            self.introspect(token).await
        } else {
            self.validate(token).await
        };
        let claims = claims.ok_or(Refusal::Unauthorized { invalid_token: true })?;
        let held: Vec<&str> = claims.scope.split(' ').collect();
        if let Some(missing) = self.options.required_scopes.iter().find(|s| !held.contains(&s.as_str())) {
            return Err(Refusal::InsufficientScope(missing.clone()));
        }
        if let Some(scope) = tool_called(body).and_then(|tool| self.options.tool_scopes.get(&tool)) {
            if !held.contains(&scope.as_str()) {
                return Err(Refusal::InsufficientScope(scope.clone()));
            }
        }
        self.log.accepted.lock().unwrap().push(AcceptedToken {
            token: token.to_owned(),
            sub: claims.sub.or_else(|| claims.client_id.clone()).unwrap_or_default(),
            client_id: claims.client_id,
            scope: claims.scope,
        });
        Ok(())
    }

    /// Verifies signature, `iss`, `aud` = this resource and `exp` (no leeway).
    async fn validate(&self, token: &str) -> Option<AccessClaims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let kid = header.kid?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.resource]);
        validation.leeway = 0;
        jsonwebtoken::decode::<AccessClaims>(token, &key, &validation).ok().map(|t| t.claims)
    }

    /// The key with `kid`, refetching the JWKS once when it is unknown (key rotation).
    async fn key(&self, kid: &str) -> Option<DecodingKey> {
        let mut jwks = self.jwks.lock().await;
        if jwks.find(kid).is_none() {
            let resp = self.http.get(&self.jwks_uri).send().await.ok()?;
            *jwks = resp.json().await.ok()?;
        }
        DecodingKey::from_jwk(jwks.find(kid)?).ok()
    }

    /// Asks the OP (RFC 7662): the token must be active and for this resource.
    async fn introspect(&self, token: &str) -> Option<AccessClaims> {
        let (id, secret) = self.options.introspection_client.as_ref()?;
        let resp = self
            .http
            .post(&self.introspection_endpoint)
            .basic_auth(id, Some(secret))
            .form(&[("token", token)])
            .send()
            .await
            .ok()?;
        let body: serde_json::Value = resp.json().await.ok()?;
        let audience_ok = match &body["aud"] {
            serde_json::Value::String(aud) => *aud == self.resource,
            serde_json::Value::Array(auds) => auds.iter().any(|a| *a == *self.resource),
            _ => false,
        };
        if body["active"] != true || !audience_ok {
            return None;
        }
        serde_json::from_value(body).ok()
    }

    fn refuse(&self, refusal: Refusal) -> Response {
        let (status, challenge) = match refusal {
            Refusal::Unauthorized { invalid_token } => {
                self.log.unauthorized.fetch_add(1, Ordering::SeqCst);
                let error = if invalid_token { "error=\"invalid_token\", " } else { "" };
                let scope = self.options.scopes_supported.join(" ");
                let challenge =
                    format!("Bearer {error}resource_metadata=\"{}\", scope=\"{scope}\"", self.prm_url);
                (StatusCode::UNAUTHORIZED, challenge)
            }
            Refusal::InsufficientScope(scope) => {
                self.log.forbidden.fetch_add(1, Ordering::SeqCst);
                let challenge = format!(
                    "Bearer error=\"insufficient_scope\", scope=\"{scope}\", resource_metadata=\"{}\"",
                    self.prm_url
                );
                (StatusCode::FORBIDDEN, challenge)
            }
        };
        (status, [(header::WWW_AUTHENTICATE, challenge)]).into_response()
    }
}

/// The tool a JSON-RPC `tools/call` request names, if that's what `body` is.
fn tool_called(body: &[u8]) -> Option<String> {
    let msg: serde_json::Value = serde_json::from_slice(body).ok()?;
    if msg["method"] != "tools/call" {
        return None;
    }
    msg["params"]["name"].as_str().map(str::to_owned)
}
