//! The edge request path against a real recording upstream.
//!
//! The `ConfigView` is built from a hand-made snapshot and the real
//! `proxy::router` runs on a real listener, so this exercises the whole
//! request path (auth, policy, headers, sessions, streaming, errors) without
//! a control plane.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use futures::StreamExt as _;
use gatehouse_config::address_filter::AddressPolicy;
use gatehouse_config::token_hash::hash_token;
use gatehouse_data_plane::config::ProxySettings;
use gatehouse_data_plane::config_view::ConfigView;
use gatehouse_data_plane::proxy::session::{self, SessionBinding};
use gatehouse_data_plane::proxy::{self, ProxyState};
use gatehouse_data_plane::EdgeState;
use gatehouse_proto::config::v1 as pb;
use http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value};

const GOOD: &str = "gth_good_token_for_tests_000000000000000000000";
const OTHER_USER: &str = "gth_other_user_token_for_tests_000000000000000";
const NARROW: &str = "gth_narrow_token_only_stream_0000000000000000";
const EXPIRED: &str = "gth_expired_token_for_tests_00000000000000000";
const UPSTREAM_SECRET: &str = "upstream-secret-value-9f8e7d";
const UPSTREAM_SESSION: &str = "upstream-session-1";
const SESSION_KEY: [u8; 32] = [42; 32];
const TOOLS: &str = r#"[{"name":"get_weather","inputSchema":{"type":"object"}},{"name":"delete_everything"},{"name":"echo"}]"#;

/// One request as the upstream received it.
#[derive(Debug, Clone)]
struct Recorded {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone, Default)]
struct Upstream {
    requests: Arc<Mutex<Vec<Recorded>>>,
    /// `/hold` sends its final event only once this is notified.
    release: Arc<tokio::sync::Notify>,
}

impl Upstream {
    fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    fn last(&self) -> Recorded {
        self.requests.lock().unwrap().last().cloned().expect("the upstream received a request")
    }
}

/// The recording upstream: `/json` answers JSON, `/sse` answers SSE, `/slow` stalls.
async fn upstream_handler(State(upstream): State<Upstream>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let path = parts.uri.path().to_owned();
    upstream.requests.lock().unwrap().push(Recorded {
        method: parts.method.clone(),
        path: path.clone(),
        headers: parts.headers.clone(),
        body: body.clone(),
    });

    if let Some(session) = parts.headers.get("mcp-session-id") {
        if session != UPSTREAM_SESSION {
            return reply(StatusCode::NOT_FOUND, "application/json", r#"{"error":"unknown session"}"#);
        }
    }
    match parts.method {
        Method::GET => {
            let last = parts.headers.get("last-event-id").map(|v| v.to_str().unwrap().to_owned());
            let event = format!(
                "id: 9\ndata: {}\n\n",
                json!({"jsonrpc":"2.0","method":"resumed","params":{"after":last}})
            );
            return reply(StatusCode::OK, "text/event-stream", event);
        }
        Method::DELETE => return reply(StatusCode::NO_CONTENT, "", ""),
        _ => {}
    }
    if path == "/slow" {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(id) = message.get("id").cloned() else {
        return reply(StatusCode::ACCEPTED, "", "");
    };
    let method = message["method"].as_str().unwrap_or_default();
    let tool = message["params"]["name"].as_str().unwrap_or_default();
    if tool == "needs_auth" {
        let mut r =
            reply(StatusCode::UNAUTHORIZED, "text/plain", "upstream says: bad key upstream-internal-detail");
        r.headers_mut().insert("www-authenticate", "Bearer realm=\"upstream\"".parse().unwrap());
        return r;
    }
    if tool == "redirect" {
        let mut r = reply(StatusCode::TEMPORARY_REDIRECT, "text/plain", "moved");
        r.headers_mut().insert("location", "http://169.254.169.254/latest/meta-data".parse().unwrap());
        return r;
    }
    if tool == "teapot" {
        return reply(StatusCode::IM_A_TEAPOT, "application/json", r#"{"teapot":true}"#);
    }
    let result = match method {
        "initialize" => {
            json!({"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"up","version":"1"}})
        }
        "tools/list" => {
            json!({"tools": serde_json::from_str::<Value>(TOOLS).unwrap(), "cacheScope": "public", "ttlMs": 60000})
        }
        "tools/call" => json!({"content":[{"type":"text","text":format!("called {tool}")}]}),
        _ => json!({}),
    };
    let response = json!({"jsonrpc":"2.0","id":id,"result":result}).to_string();
    if path == "/hold" {
        // First a notification, then nothing until the test releases the response.
        let first = "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n";
        let release = upstream.release.clone();
        let last = async move {
            release.notified().await;
            Ok::<_, Infallible>(Bytes::from(format!("data: {response}\n\n")))
        };
        let stream = futures::stream::iter([Ok(Bytes::from_static(first.as_bytes()))])
            .chain(futures::stream::once(last));
        let mut r = Response::new(Body::from_stream(stream));
        r.headers_mut().insert("content-type", "text/event-stream".parse().unwrap());
        return r;
    }
    if path == "/sse" {
        // A comment, a notification, then the response split mid-event across chunks, CRLF endings.
        let (head, tail) = response.split_at(response.len() / 2);
        let chunks = vec![
            ": upstream comment\n\n".to_owned(),
            "event: message\nid: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":1,\"message\":\"delete_everything soon\"}}\n\n".to_owned(),
            format!("event: message\r\nid: 2\r\ndata: {head}"),
            format!("{tail}\r\n\r"),
            "\n".to_owned(),
        ];
        let stream = futures::stream::iter(chunks).then(|chunk| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, Infallible>(Bytes::from(chunk))
        });
        let mut r = Response::new(Body::from_stream(stream));
        r.headers_mut().insert("content-type", "text/event-stream".parse().unwrap());
        return with_session(r, method);
    }
    with_session(reply(StatusCode::OK, "application/json", response), method)
}

fn with_session(mut r: Response, method: &str) -> Response {
    if method == "initialize" {
        r.headers_mut().insert("mcp-session-id", UPSTREAM_SESSION.parse().unwrap());
        r.headers_mut().insert("set-cookie", "affinity=node-1".parse().unwrap());
    }
    r
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    if !content_type.is_empty() {
        r.headers_mut().insert("content-type", content_type.parse().unwrap());
    }
    r
}

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

fn server(id: &str, org: &str, slug: &str, url: String, auth: &str, headers: &[(&str, &str)]) -> pb::Server {
    pb::Server {
        id: id.into(),
        org_id: org.into(),
        slug: slug.into(),
        name: slug.into(),
        url,
        auth_type: auth.into(),
        headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        advanced_config: None,
        oauth: None,
    }
}

fn org(id: &str, slug: &str) -> pb::Org {
    pb::Org { id: id.into(), slug: slug.into(), ..Default::default() }
}

fn provision(server: &str, allow: &[&str], deny: &[&str]) -> pb::Provision {
    pb::Provision {
        workspace_id: "ws1".into(),
        server_id: server.into(),
        tool_allow: allow.iter().map(|s| s.to_string()).collect(),
        tool_deny: deny.iter().map(|s| s.to_string()).collect(),
    }
}

fn token(id: &str, secret: &str, user: &str, servers: &[&str], expires_at: i64) -> pb::GatewayToken {
    pb::GatewayToken {
        id: id.into(),
        org_id: "org1".into(),
        token_hash: hash_token(secret).to_vec(),
        user: user.into(),
        workspace_id: "ws1".into(),
        scopes: vec!["mcp".into()],
        server_permissions: servers.iter().map(|s| s.to_string()).collect(),
        tool_permissions: vec![],
        expires_at,
    }
}

/// A gateway in front of the recording upstream, with this config:
///
/// | slug      | upstream | rules                         |
/// |-----------|----------|-------------------------------|
/// | `alpha`   | `/json`  | deny `delete_*`, static headers |
/// | `open`    | `/json`  | none (unrestricted)           |
/// | `stream`  | `/sse`   | allow `get_*`, `echo`          |
/// | `slow`    | `/slow`  | none                          |
/// | `held`    | `/hold`  | allow `get_*`, `echo`          |
/// | `down`    | closed port | none                       |
/// | `oauth`   | `/json`, auth `oauth2` | none            |
/// | `beta`    | `/json`  | not provisioned               |
struct Gateway {
    base: String,
    upstream: Upstream,
    upstream_addr: SocketAddr,
    http: reqwest::Client,
}

impl Gateway {
    async fn start() -> Self {
        Self::start_with_session_key(Some(SESSION_KEY)).await
    }

    async fn start_with_session_key(session_key: Option<[u8; 32]>) -> Self {
        let upstream = Upstream::default();
        let upstream_addr = serve(
            axum::Router::new()
                .route("/{*path}", axum::routing::any(upstream_handler))
                .with_state(upstream.clone()),
        )
        .await;
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        let at = |path: &str| format!("http://{upstream_addr}{path}");
        let statics =
            [("authorization", &*format!("Bearer {UPSTREAM_SECRET}")), ("mcp-tenant", "from-server")];
        let snapshot = pb::Snapshot {
            version: 1,
            state: Some(pb::ConfigState {
                servers: vec![
                    server("s-alpha", "org1", "alpha", at("/json"), "headers", &statics),
                    server("s-open", "org1", "open", at("/json"), "none", &[]),
                    server("s-stream", "org1", "stream", at("/sse"), "none", &[]),
                    server("s-slow", "org1", "slow", at("/slow"), "none", &[]),
                    server("s-held", "org1", "held", at("/hold"), "none", &[]),
                    server("s-down", "org1", "down", format!("http://{closed}/mcp"), "none", &[]),
                    server("s-oauth", "org1", "oauth", at("/json"), "oauth2", &[]),
                    server("s-beta", "org1", "beta", at("/json"), "none", &[]),
                    server("s-foreign", "org2", "foreign", at("/json"), "none", &[]),
                ],
                workspaces: vec![pb::Workspace {
                    id: "ws1".into(),
                    org_id: "org1".into(),
                    slug: "team".into(),
                    name: "Team".into(),
                }],
                provisions: vec![
                    provision("s-alpha", &[], &["delete_*"]),
                    provision("s-open", &[], &[]),
                    provision("s-stream", &["get_*", "echo"], &[]),
                    provision("s-slow", &[], &[]),
                    provision("s-held", &["get_*", "echo"], &[]),
                    provision("s-down", &[], &[]),
                    provision("s-oauth", &[], &[]),
                ],
                tokens: vec![
                    token("t-good", GOOD, "alice", &[], 0),
                    token("t-other", OTHER_USER, "bob", &[], 0),
                    token("t-narrow", NARROW, "carol", &["stream"], 0),
                    token("t-expired", EXPIRED, "dave", &[], 1),
                ],
                settings: Some(pb::EdgeSettings {
                    session_binding_key: session_key.map(|k| k.to_vec()).unwrap_or_default(),
                    ..Default::default()
                }),
                orgs: vec![org("org1", "default"), org("org2", "other")],
                ..Default::default()
            }),
        };
        let edge = EdgeState::new();
        edge.install(ConfigView::from_snapshot(snapshot));
        let settings = ProxySettings {
            max_request_body_bytes: 64 * 1024,
            upstream_connect_timeout: Duration::from_secs(2),
            upstream_response_timeout: Duration::from_millis(500),
            // The upstreams of these tests listen on loopback.
            upstream_addresses: AddressPolicy::new(true),
            ..ProxySettings::default()
        };
        let state = ProxyState::new(edge, settings).unwrap();
        let addr = serve(proxy::router(state)).await;
        Self { base: format!("http://{addr}"), upstream, upstream_addr, http: reqwest::Client::new() }
    }

    fn request(&self, method: Method, slug: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}/mcp/{slug}", self.base))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
    }

    fn post(&self, slug: &str, body: impl Into<String>) -> reqwest::RequestBuilder {
        self.request(Method::POST, slug).bearer_auth(GOOD).body(body.into())
    }
}

/// Proxy settings reaching the loopback upstreams of these tests.
fn loopback_settings() -> ProxySettings {
    ProxySettings { upstream_addresses: AddressPolicy::new(true), ..ProxySettings::default() }
}

fn call(id: u64, tool: &str) -> String {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":{}}}).to_string()
}

fn list(id: u64) -> String {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/list","params":{}}).to_string()
}

async fn json_of(response: reqwest::Response) -> Value {
    let bytes = response.bytes().await.unwrap();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not json ({e}): {}", String::from_utf8_lossy(&bytes)))
}

fn tool_names(result: &Value) -> Vec<&str> {
    result["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect()
}

/// The data of each SSE event in `text` (any line endings).
fn sse_data(text: &str) -> Vec<String> {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> =
                event.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim_start).collect();
            (!data.is_empty()).then(|| data.join("\n"))
        })
        .collect()
}

#[tokio::test]
async fn missing_unknown_or_expired_token_is_401_with_www_authenticate() {
    let gw = Gateway::start().await;
    let r = gw.request(Method::POST, "alpha").body(list(1)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let metadata = format!("{}/.well-known/oauth-protected-resource/mcp/alpha", gw.base);
    assert_eq!(
        r.headers()["www-authenticate"],
        format!(r#"Bearer realm="gatehouse", resource_metadata="{metadata}""#).as_str()
    );
    let body = json_of(r).await;
    assert_eq!(body["id"], Value::Null);
    assert_eq!(body["error"]["data"], json!({"reason":"missing_token","source":"client","retryable":false}));

    for (token, reason) in [("gth_nope", "invalid_token"), (EXPIRED, "token_expired")] {
        let r = gw.request(Method::POST, "alpha").bearer_auth(token).body(list(1)).send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.headers()["www-authenticate"],
            format!(r#"Bearer realm="gatehouse", resource_metadata="{metadata}", error="invalid_token""#)
                .as_str()
        );
        assert_eq!(json_of(r).await["error"]["data"]["reason"], reason);
    }
    assert_eq!(gw.upstream.count(), 0);
}

#[tokio::test]
async fn unknown_slug_is_404_even_if_another_org_has_it() {
    let gw = Gateway::start().await;
    for slug in ["nope", "foreign"] {
        let r = gw.post(slug, list(1)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{slug}");
        assert_eq!(json_of(r).await["error"]["data"]["reason"], "server_not_found");
    }
}

#[tokio::test]
async fn not_provisioned_or_not_permitted_is_403() {
    let gw = Gateway::start().await;
    let r = gw.post("beta", list(1)).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(json_of(r).await["error"]["data"]["reason"], "server_not_provisioned");
    let r = gw.request(Method::POST, "alpha").bearer_auth(NARROW).body(list(1)).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(json_of(r).await["error"]["data"]["reason"], "server_not_permitted");
    let r = gw.request(Method::POST, "stream").bearer_auth(NARROW).body(list(1)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(gw.upstream.count(), 1);
}

#[tokio::test]
async fn x_api_key_authenticates() {
    let gw = Gateway::start().await;
    let r = gw.request(Method::POST, "open").header("x-api-key", GOOD).body(list(1)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(gw.upstream.last().headers.get("x-api-key"), None);
}

#[tokio::test]
async fn caller_credentials_never_reach_the_upstream_and_static_headers_win() {
    let gw = Gateway::start().await;
    let r = gw
        .post("alpha", call(1, "echo"))
        .header("x-api-key", GOOD)
        .header("cookie", "session=caller-cookie")
        .header("x-forwarded-for", "10.0.0.1")
        .header("mcp-tenant", "from-client")
        .header("mcp-protocol-version", "2025-06-18")
        .header("user-agent", "test-client/1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = gw.upstream.last();
    assert_eq!(seen.headers["authorization"], format!("Bearer {UPSTREAM_SECRET}"));
    assert_eq!(seen.headers.get_all("authorization").iter().count(), 1);
    assert_eq!(seen.headers.get("x-api-key"), None);
    assert_eq!(seen.headers.get("cookie"), None);
    assert_eq!(seen.headers.get("x-forwarded-for"), None);
    assert_eq!(seen.headers.get_all("mcp-tenant").iter().collect::<Vec<_>>(), ["from-server"]);
    assert_eq!(seen.headers["host"], gw.upstream_addr.to_string(), "the upstream's own Host");
    assert_eq!(seen.headers["mcp-protocol-version"], "2025-06-18");
    assert_eq!(seen.headers["user-agent"], "test-client/1.0");
    assert_eq!(seen.headers.get("accept-encoding"), None);
    assert_eq!(seen.path, "/json");
}

#[tokio::test]
async fn denied_tool_call_never_reaches_the_upstream() {
    let gw = Gateway::start().await;
    let r = gw.post("alpha", call(17, "delete_everything")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        json_of(r).await,
        json!({"jsonrpc":"2.0","id":17,"error":{"code":-32602,"message":"tool 'delete_everything' is not permitted",
            "data":{"reason":"tool_denied","source":"gateway","retryable":false}}})
    );
    assert_eq!(gw.upstream.count(), 0);
    // A string id is echoed verbatim, and the escaped name is judged unescaped.
    let body = r#"{"jsonrpc":"2.0","id":"req-\"1\"","method":"tools\/call","params":{"name":"delete_\u0065verything"}}"#;
    let r = gw.post("alpha", body).send().await.unwrap();
    let v = json_of(r).await;
    assert_eq!(v["id"], "req-\"1\"");
    assert_eq!(v["error"]["data"]["reason"], "tool_denied");
    assert_eq!(gw.upstream.count(), 0);
    // Allowed tools go through.
    let r = gw.post("alpha", call(2, "echo")).send().await.unwrap();
    assert_eq!(json_of(r).await["result"]["content"][0]["text"], "called echo");
    assert_eq!(gw.upstream.count(), 1);
}

#[tokio::test]
async fn tools_list_is_filtered_in_json() {
    let gw = Gateway::start().await;
    let r = gw.post("alpha", list(5)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v = json_of(r).await;
    assert_eq!(tool_names(&v), ["get_weather", "echo"]);
    assert_eq!(v["id"], 5);
    assert_eq!(v["result"]["cacheScope"], "private", "a per-caller list must not be shared");

    // Unrestricted: the upstream's bytes, untouched.
    let r = gw.post("open", list(6)).send().await.unwrap();
    let tools: Value = serde_json::from_str(TOOLS).unwrap();
    let upstream_bytes =
        json!({"jsonrpc":"2.0","id":6,"result":{"tools":tools,"cacheScope":"public","ttlMs":60000}})
            .to_string();
    assert_eq!(r.text().await.unwrap(), upstream_bytes);
}

#[tokio::test]
async fn tools_list_is_filtered_in_sse() {
    let gw = Gateway::start().await;
    let r = gw.post("stream", list(8)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    assert_eq!(r.headers().get("content-length"), None);
    let text = r.text().await.unwrap();
    assert!(text.starts_with(": upstream comment\n\nevent: message\nid: 1\n"), "{text}");
    let data = sse_data(&text);
    assert_eq!(data.len(), 2, "{text}");
    let progress: Value = serde_json::from_str(&data[0]).unwrap();
    assert_eq!(progress["params"]["message"], "delete_everything soon", "other events pass untouched");
    let response: Value = serde_json::from_str(&data[1]).unwrap();
    assert_eq!(response["id"], 8);
    assert_eq!(tool_names(&response), ["get_weather", "echo"]);
    assert!(text.contains("event: message\r\nid: 2\r\ndata: {"), "fields kept in place: {text}");

    // The same stream for a tools/call passes through byte for byte.
    let r = gw.post("stream", call(9, "echo")).send().await.unwrap();
    assert!(r.text().await.unwrap().contains(r#""text":"called echo""#));
}

#[tokio::test]
async fn sse_events_stream_through_before_the_upstream_finishes() {
    let gw = Gateway::start().await;
    // Plain pass-through (tools/call) and the filtering transformer (restricted tools/list).
    for (id, body) in [(1, call(1, "echo")), (2, list(2))] {
        let mut r = gw.post("held", body).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let first = tokio::time::timeout(Duration::from_secs(5), r.chunk())
            .await
            .expect("the first event arrives while the upstream still holds the response")
            .unwrap()
            .unwrap();
        assert!(String::from_utf8_lossy(&first).contains("notifications/progress"));
        gw.upstream.release.notify_one();
        let rest = r.text().await.unwrap();
        let response: Value = serde_json::from_str(&sse_data(&rest)[0]).unwrap();
        assert_eq!(response["id"], id);
        if id == 2 {
            assert_eq!(tool_names(&response), ["get_weather", "echo"]);
        }
    }
}

#[tokio::test]
async fn session_ids_are_bound_to_the_caller() {
    let gw = Gateway::start().await;
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    let r = gw.post("alpha", init.to_string()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["set-cookie"], "affinity=node-1");
    let wrapped = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    assert_ne!(wrapped, UPSTREAM_SESSION);
    assert!(wrapped.contains('.') && wrapped.bytes().all(|b| (0x21..=0x7e).contains(&b)));

    // Round trip: the upstream sees its own id again.
    let r = gw.post("alpha", call(1, "echo")).header("mcp-session-id", &wrapped).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(gw.upstream.last().headers["mcp-session-id"], UPSTREAM_SESSION);
    let before = gw.upstream.count();

    // Another token holder, a tampered id, or the raw upstream id: "session not found".
    let mut tampered = wrapped.clone().into_bytes();
    tampered[0] = if tampered[0] == b'A' { b'B' } else { b'A' };
    let attempts = [
        (OTHER_USER, wrapped.clone()),
        (GOOD, String::from_utf8(tampered).unwrap()),
        (GOOD, UPSTREAM_SESSION.to_owned()),
    ];
    for (token, session) in attempts {
        let r = gw
            .request(Method::POST, "alpha")
            .bearer_auth(token)
            .header("mcp-session-id", &session)
            .body(call(3, "echo"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{session}");
        let v = json_of(r).await;
        assert_eq!(v["error"]["message"], "session not found");
        assert_eq!(v["id"], 3);
    }
    assert_eq!(gw.upstream.count(), before, "refused sessions never reach the upstream");

    // DELETE ends the session upstream, with the unwrapped id.
    let r = gw
        .request(Method::DELETE, "alpha")
        .bearer_auth(GOOD)
        .header("mcp-session-id", &wrapped)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let seen = gw.upstream.last();
    assert_eq!(seen.method, Method::DELETE);
    assert_eq!(seen.headers["mcp-session-id"], UPSTREAM_SESSION);
}

#[tokio::test]
async fn the_upstreams_unknown_session_404_passes_through() {
    let gw = Gateway::start().await;
    // A correctly bound id for a session the upstream has forgotten.
    let binding = SessionBinding { org: "org1", user: "alice", workspace: "ws1", server: "s-alpha" };
    let stale = session::wrap(&SESSION_KEY, &binding, b"expired-upstream-session");
    let r = gw.post("alpha", call(1, "echo")).header("mcp-session-id", &stale).send().await.unwrap();
    assert_eq!(r.status(), 404, "the client must re-initialise");
    assert_eq!(r.text().await.unwrap(), r#"{"error":"unknown session"}"#);
    assert_eq!(gw.upstream.last().headers["mcp-session-id"], "expired-upstream-session");
}

#[tokio::test]
async fn an_edge_without_config_is_not_ready() {
    let state = ProxyState::new(EdgeState::new(), loopback_settings()).unwrap();
    let addr = serve(proxy::router(state)).await;
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/mcp/alpha"))
        .bearer_auth(GOOD)
        .body(list(1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(
        json_of(r).await["error"]["data"],
        json!({"reason":"not_ready","source":"gateway","retryable":true})
    );
}

#[tokio::test]
async fn without_a_session_key_session_ids_pass_through() {
    let gw = Gateway::start_with_session_key(None).await;
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{}});
    let r = gw.post("alpha", init.to_string()).send().await.unwrap();
    assert_eq!(r.headers()["mcp-session-id"], UPSTREAM_SESSION);
    let r =
        gw.post("alpha", call(1, "echo")).header("mcp-session-id", UPSTREAM_SESSION).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(gw.upstream.last().headers["mcp-session-id"], UPSTREAM_SESSION);
}

#[tokio::test]
async fn get_stream_passes_last_event_id() {
    let gw = Gateway::start().await;
    let r =
        gw.request(Method::GET, "open").bearer_auth(GOOD).header("last-event-id", "41").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-accel-buffering"], "no");
    let text = r.text().await.unwrap();
    assert!(text.contains(r#""after":"41""#), "{text}");
    let seen = gw.upstream.last();
    assert_eq!(seen.method, Method::GET);
    assert!(seen.body.is_empty());
}

#[tokio::test]
async fn notifications_get_the_upstreams_202() {
    let gw = Gateway::start().await;
    let r =
        gw.post("alpha", r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert!(r.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn upstream_failures_are_mapped() {
    let gw = Gateway::start().await;
    // The upstream rejecting the gateway's credentials must not look like the caller's 401.
    let r = gw.post("alpha", call(4, "needs_auth")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(r.headers().get("www-authenticate"), None);
    let v = json_of(r).await;
    assert_eq!(v["id"], 4);
    assert_eq!(v["error"]["message"], "upstream rejected the gateway's credentials");
    assert_eq!(
        v["error"]["data"],
        json!({"reason":"upstream_credentials_rejected","source":"upstream","retryable":false})
    );
    assert!(!v.to_string().contains("upstream-internal-detail"));

    let r = gw.post("down", call(5, "echo")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(
        json_of(r).await["error"]["data"],
        json!({"reason":"upstream_unavailable","source":"upstream","retryable":true})
    );

    let r = gw.post("slow", call(6, "echo")).send().await.unwrap();
    assert_eq!(r.status(), 504);
    assert_eq!(json_of(r).await["error"]["data"]["retryable"], true);

    let r = gw.post("oauth", call(7, "echo")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(
        json_of(r).await["error"]["data"],
        json!({"reason":"upstream_auth_unsupported","source":"gateway","retryable":false})
    );

    // Other statuses pass through with their body.
    let r = gw.post("alpha", call(8, "teapot")).send().await.unwrap();
    assert_eq!(r.status(), 418);
    assert_eq!(r.text().await.unwrap(), r#"{"teapot":true}"#);
}

#[tokio::test]
async fn an_upstream_redirect_is_a_502_and_its_location_never_reaches_the_client() {
    let gw = Gateway::start().await;
    let r = gw.post("alpha", call(9, "redirect")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(r.headers().get("location"), None);
    let v = json_of(r).await;
    assert_eq!(v["id"], 9);
    assert_eq!(
        v["error"]["data"],
        json!({"reason":"upstream_redirect","source":"upstream","retryable":false})
    );
    assert!(!v.to_string().contains("169.254"), "{v}");
}

#[tokio::test]
async fn bad_requests_are_refused_before_the_upstream() {
    let gw = Gateway::start().await;
    let r = gw.post("alpha", "{\"jsonrpc\":\"2.0\",").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let v = json_of(r).await;
    assert_eq!(v["error"]["code"], -32700);
    assert_eq!(v["id"], Value::Null);

    let r = gw.post("alpha", format!("[{}]", call(1, "echo"))).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let v = json_of(r).await;
    assert_eq!(v["error"]["code"], -32600);
    assert_eq!(v["error"]["message"], "batch requests are not supported");

    let big = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x".repeat(70 * 1024)}}});
    let r = gw.post("alpha", big.to_string()).send().await.unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(json_of(r).await["error"]["data"]["reason"], "body_too_large");

    let r = gw.request(Method::PUT, "alpha").bearer_auth(GOOD).body(list(1)).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(json_of(r).await["error"]["data"]["reason"], "method_not_allowed");

    assert_eq!(gw.upstream.count(), 0);
}

#[tokio::test]
async fn stateless_revision_requests_pass_through_untouched() {
    let gw = Gateway::start().await;
    // Odd but valid JSON: the upstream must get these exact bytes.
    let body = "{ \"jsonrpc\": \"2.0\", \"id\": 1,\n \"method\": \"tools/call\", \"params\": { \"name\": \"get_weather\", \"arguments\": {\"city\": \"Z\u{fc}rich\"},\n \"_meta\": { \"io.modelcontextprotocol/protocolVersion\": \"2026-07-28\", \"io.modelcontextprotocol/clientCapabilities\": {} } } }";
    let headers = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "get_weather"),
        ("mcp-param-city", "=?base64?WsO8cmljaA==?="),
    ];
    let mut request = gw.post("alpha", body);
    for (k, v) in headers {
        request = request.header(k, v);
    }
    let r = request.send().await.unwrap();
    assert_eq!(r.status(), 200);
    let seen = gw.upstream.last();
    assert_eq!(seen.body, body.as_bytes());
    for (k, v) in headers {
        assert_eq!(seen.headers[k], v);
    }
    assert_eq!(seen.headers.get("mcp-session-id"), None);

    // A routing header that disagrees with the body is refused: the policy judged the body.
    let r = gw
        .post("alpha", call(2, "get_weather"))
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "delete_everything")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v = json_of(r).await;
    assert_eq!(v["error"]["code"], -32020);
    assert_eq!(v["id"], 2);
    assert_eq!(gw.upstream.count(), 1);
}

#[tokio::test]
async fn trace_context_reaches_the_upstream() {
    // The capture sets up propagation as the binary does without an exporter.
    let logs = gatehouse_tests::logs::capture();
    let gw = Gateway::start().await;
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let r = gw.post("alpha", call(1, "echo")).header("traceparent", incoming).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let seen = gw.upstream.last();
    match &logs {
        Some(_) => {
            let tp = seen.headers["traceparent"].to_str().unwrap();
            assert!(
                tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
                "continues the caller's trace: {tp}"
            );
            assert_ne!(tp, incoming, "with the gateway's own span as parent");
        }
        // Without that set-up nothing is injected, and the caller's header is not copied either.
        None => assert_eq!(seen.headers.get("traceparent"), None),
    }
    if let Some(logs) = logs {
        let text = logs.text();
        assert!(text.contains("mcp request completed"));
        for secret in [GOOD, UPSTREAM_SECRET] {
            assert!(!text.contains(secret), "a secret reached the logs");
        }
    }
}

/// An upstream that answers every request with SSE headers and then sends
/// nothing, reporting on `closed` when the edge hangs up its connection.
async fn idle_sse_upstream() -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<()>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (closed_tx, closed) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let closed_tx = closed_tx.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = socket.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                }
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                socket.write_all(head.as_bytes()).await.unwrap();
                // Idle: nothing more is written. EOF (or a reset) means the edge let go.
                loop {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
                let _ = closed_tx.send(());
            });
        }
    });
    (addr, closed)
}

#[tokio::test]
async fn a_client_leaving_an_idle_stream_closes_the_upstream_stream() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let (upstream, mut closed) = idle_sse_upstream().await;
    let snapshot = pb::Snapshot {
        version: 1,
        state: Some(pb::ConfigState {
            servers: vec![server("s-idle", "org1", "idle", format!("http://{upstream}/mcp"), "none", &[])],
            workspaces: vec![pb::Workspace {
                id: "ws1".into(),
                org_id: "org1".into(),
                slug: "team".into(),
                name: "Team".into(),
            }],
            provisions: vec![provision("s-idle", &[], &[])],
            tokens: vec![token("t-good", GOOD, "alice", &[], 0)],
            settings: None,
            orgs: vec![org("org1", "default")],
            ..Default::default()
        }),
    };
    let edge = EdgeState::new();
    edge.install(ConfigView::from_snapshot(snapshot));
    let state = ProxyState::new(edge, loopback_settings()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // The edge's own accept loop, not axum::serve: what it does with a vanished client is under test.
    tokio::spawn(gatehouse_data_plane::server::serve(
        listener,
        proxy::router(state),
        None,
        std::future::pending(),
        Duration::from_secs(1),
    ));

    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /mcp/idle HTTP/1.1\r\nhost: edge\r\naccept: text/event-stream\r\nauthorization: Bearer {GOOD}\r\n\r\n"
    );
    client.write_all(request.as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    client.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    assert!(closed.try_recv().is_err(), "the upstream stream is open while the client is");
    drop(client);
    tokio::time::timeout(Duration::from_secs(10), closed.recv())
        .await
        .expect("the edge closes the upstream stream once its client has gone")
        .unwrap();
}
