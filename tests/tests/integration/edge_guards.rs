//! The edge's guards against its own config being turned on it: which addresses it
//! connects to, what its `Debug` output shows, and which cached config it serves.
//!
//! A hand-made snapshot and the real `proxy::router` on a real listener, in front of a
//! real upstream on loopback.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use gatehouse_config::address_filter::AddressPolicy;
use gatehouse_config::token_hash::hash_token;
use gatehouse_data_plane::config::ProxySettings;
use gatehouse_data_plane::config_cache::ConfigCache;
use gatehouse_data_plane::config_view::ConfigView;
use gatehouse_data_plane::proxy::{self, ProxyState};
use gatehouse_data_plane::EdgeState;
use gatehouse_proto::config::v1 as pb;
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::identity_edge::EcKey;

const TOKEN: &str = "gth_edge_guards_token_000000000000000000000000";
const HEADER_SECRET: &str = "static-header-secret-5b1e0c";
/// The browser origin every server of these tests allows.
const APP_ORIGIN: &str = "https://app.example.com";

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// An upstream that counts the requests reaching it and answers every one.
async fn counting_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let handler = |State(hits): State<Arc<AtomicUsize>>, body: String| async move {
        hits.fetch_add(1, Ordering::SeqCst);
        let id = serde_json::from_str::<Value>(&body).ok().and_then(|v| v.get("id").cloned());
        axum::Json(json!({"jsonrpc":"2.0","id":id,"result":{"tools":[]}}))
    };
    let addr =
        serve(axum::Router::new().route("/mcp", axum::routing::post(handler)).with_state(hits.clone())).await;
    (addr, hits)
}

fn snapshot(servers: &[(&str, String)], identity_key: &EcKey) -> pb::Snapshot {
    let servers: Vec<pb::Server> = servers
        .iter()
        .map(|(slug, url)| pb::Server {
            id: format!("s-{slug}"),
            org_id: "org1".into(),
            slug: (*slug).into(),
            name: (*slug).into(),
            url: url.clone(),
            auth_type: "headers".into(),
            headers: [("x-upstream-key".to_owned(), HEADER_SECRET.to_owned())].into(),
            advanced_config: Some(pb::AdvancedConfig {
                allowed_origins: vec![APP_ORIGIN.into()],
                ..Default::default()
            }),
            oauth: None,
        })
        .collect();
    pb::Snapshot {
        version: 1,
        state: Some(pb::ConfigState {
            provisions: servers
                .iter()
                .map(|s| pb::Provision {
                    workspace_id: "ws1".into(),
                    server_id: s.id.clone(),
                    ..Default::default()
                })
                .collect(),
            servers,
            workspaces: vec![pb::Workspace {
                id: "ws1".into(),
                org_id: "org1".into(),
                slug: "team".into(),
                name: "Team".into(),
            }],
            tokens: vec![pb::GatewayToken {
                id: "t1".into(),
                org_id: "org1".into(),
                token_hash: hash_token(TOKEN).to_vec(),
                user: "alice".into(),
                workspace_id: "ws1".into(),
                scopes: vec!["mcp".into()],
                ..Default::default()
            }],
            settings: Some(pb::EdgeSettings {
                session_binding_key: vec![9; 32],
                identity_signing_jwk: identity_key.private_jwk().to_string(),
                ..Default::default()
            }),
            orgs: vec![pb::Org { id: "org1".into(), slug: "default".into(), ..Default::default() }],
            ..Default::default()
        }),
    }
}

/// An edge serving `servers` whose outbound calls follow `addresses`; returns its base URL.
async fn edge(servers: &[(&str, String)], addresses: AddressPolicy) -> String {
    edge_with(servers, ProxySettings { upstream_addresses: addresses, ..ProxySettings::default() }).await
}

async fn edge_with(servers: &[(&str, String)], settings: ProxySettings) -> String {
    let state = EdgeState::new();
    state.install(ConfigView::from_snapshot(snapshot(servers, &EcKey::generate("id-1"))));
    let proxy = ProxyState::new(state, settings).unwrap();
    format!("http://{}", serve(proxy::router(proxy)).await)
}

async fn call(base: &str, slug: &str) -> (u16, Value) {
    call_from(base, slug, None).await
}

async fn call_from(base: &str, slug: &str, origin: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(format!("{base}/mcp/{slug}"));
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let response = request
        .bearer_auth(TOKEN)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}).to_string())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn the_edge_refuses_loopback_private_and_metadata_upstreams_by_address_and_by_name() {
    let (upstream, hits) = counting_upstream().await;
    let port = upstream.port();
    let servers = [
        ("literal", format!("http://127.0.0.1:{port}/mcp")),
        ("mapped", format!("http://[::ffff:127.0.0.1]:{port}/mcp")),
        // A name is checked on what it resolves to, at every connection.
        ("named", format!("http://localhost:{port}/mcp")),
        ("metadata", "http://169.254.169.254/latest/meta-data/iam".to_owned()),
        ("private", "http://10.0.0.1/mcp".to_owned()),
    ];
    let strict = edge(&servers, AddressPolicy::default()).await;
    for (slug, _) in &servers {
        let (status, body) = call(&strict, slug).await;
        assert_eq!(status, 502, "{slug}: {body}");
        assert_eq!(
            body["error"]["data"],
            json!({"reason":"upstream_address_blocked","source":"gateway","retryable":false}),
            "{slug}"
        );
        assert!(!body.to_string().contains("169.254"), "{body}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "no refused request reached the upstream");

    // The same upstream, allowed by a network on the allowlist, or by name.
    let allow = AddressPolicy::parse_allowlist("127.0.0.0/8").unwrap();
    let allowed = edge(&servers, AddressPolicy { allow_loopback: false, allow }).await;
    assert_eq!(call(&allowed, "literal").await.0, 200);
    assert_eq!(call(&allowed, "named").await.0, 200);
    assert_eq!(call(&allowed, "metadata").await.1["error"]["data"]["reason"], "upstream_address_blocked");
    let by_name =
        AddressPolicy { allow_loopback: false, allow: AddressPolicy::parse_allowlist("localhost").unwrap() };
    let by_name = edge(&servers, by_name).await;
    assert_eq!(call(&by_name, "named").await.0, 200);
    assert_eq!(call(&by_name, "literal").await.0, 502, "a host entry admits only that name");
    // `GATEHOUSE_ALLOW_LOOPBACK_UPSTREAMS=true` (dev, tests) admits loopback and nothing else.
    let dev = edge(&servers, AddressPolicy::new(true)).await;
    assert_eq!(call(&dev, "literal").await.0, 200);
    assert_eq!(call(&dev, "private").await.1["error"]["data"]["reason"], "upstream_address_blocked");
    assert_eq!(hits.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn debug_output_of_the_served_config_holds_no_header_secret_or_private_key() {
    let key = EcKey::generate("id-1");
    let state = EdgeState::new();
    state.install(ConfigView::from_snapshot(snapshot(&[("s", "http://127.0.0.1:1/mcp".into())], &key)));
    let view = state.config();
    let server = view.server("org1", "s").expect("the server is served");
    let proxy = ProxyState::new(state.clone(), ProxySettings::default()).unwrap();
    let outputs = [
        format!("{view:?}"),
        format!("{:#?}", *view),
        format!("{state:?}"),
        format!("{proxy:?}"),
        format!("{server:?}"),
    ];
    let private_d = key.private_jwk()["d"].as_str().unwrap().to_owned();
    for output in &outputs {
        assert!(!output.contains(HEADER_SECRET), "{output}");
        assert!(!output.contains(&private_d), "{output}");
    }
    assert!(outputs[0].contains("version: 1"), "{}", outputs[0]);
    assert!(outputs[4].contains("x-upstream-key"), "the header name is still shown: {}", outputs[4]);
}

#[tokio::test]
async fn a_cache_older_than_the_served_version_is_never_installed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edge-config.bin");
    let node_token = "edge-guards-node-token";
    let key = EcKey::generate("id-1");
    let mut old = snapshot(&[("s", "http://127.0.0.1:1/mcp".into())], &key);
    old.version = 10;
    let cache = ConfigCache::new(path.clone(), &SecretString::from(node_token.to_owned()));
    cache.store(Arc::new(ConfigView::from_snapshot(old))).await.unwrap();

    // The edge already serves version 50 when it reads its cache.
    let mut served = snapshot(&[], &key);
    served.version = 50;
    let state = EdgeState::new();
    state.install(ConfigView::from_snapshot(served));
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let env: std::collections::BTreeMap<String, String> = [
        ("GATEHOUSE_NODE_TOKEN", node_token.to_owned()),
        ("GATEHOUSE_CONTROL_PLANE_URL", format!("http://{closed}")),
        ("GATEHOUSE_EDGE_CACHE", path.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = gatehouse_data_plane::EdgeConfig::from_env(&env).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let edge = tokio::spawn(gatehouse_data_plane::run_with_state(config, state.clone(), listener, async {
        let _ = stopped.await;
    }));
    // Serving means the cache was read.
    gatehouse_tests::eventually(Duration::from_secs(5), "the edge to serve", || async {
        reqwest::get(format!("http://{addr}/healthz")).await.ok().filter(|r| r.status() == 200).map(|_| ())
    })
    .await;
    assert_eq!(state.config().version(), 50, "the older cached version was not installed");
    assert!(state.config().server("org1", "s").is_none());
    let _ = stop.send(());
    edge.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_browser_origin_the_server_does_not_allow_is_refused_403() {
    let (upstream, hits) = counting_upstream().await;
    let servers = [("tools", format!("http://{upstream}/mcp"))];
    let settings = ProxySettings {
        upstream_addresses: AddressPolicy::new(true),
        public_base_url: Some(url::Url::parse("https://mcp.example.com/").unwrap()),
        ..ProxySettings::default()
    };
    let base = edge_with(&servers, settings).await;

    // Non-browser clients send no Origin; the edge's own origin and the server's list pass.
    assert_eq!(call_from(&base, "tools", None).await.0, 200);
    assert_eq!(call_from(&base, "tools", Some("https://mcp.example.com")).await.0, 200);
    assert_eq!(call_from(&base, "tools", Some("HTTPS://APP.example.com:443")).await.0, 200);
    assert_eq!(hits.load(Ordering::SeqCst), 3);

    // A page on another origin, including one whose DNS name was rebound to the edge (its
    // Origin then names the edge's address), never reaches the upstream.
    let rebound = base.clone();
    for origin in ["https://evil.example", "http://app.example.com", rebound.as_str(), "null"] {
        let (status, body) = call_from(&base, "tools", Some(origin)).await;
        assert_eq!(status, 403, "{origin}: {body}");
        assert_eq!(body["jsonrpc"], "2.0");
        assert_eq!(
            body["error"]["data"],
            json!({"reason":"origin_not_allowed","source":"client","retryable":false}),
            "{origin}"
        );
    }
    // Another server's URL (unknown here) is refused the same way, before anything else.
    assert_eq!(call_from(&base, "nope", Some("https://evil.example")).await.0, 403);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn unauthenticated_requests_of_one_client_cause_a_bounded_number_of_introspection_calls() {
    let (upstream, _) = counting_upstream().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let introspect = |State(calls): State<Arc<AtomicUsize>>| async move {
        calls.fetch_add(1, Ordering::SeqCst);
        let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 300;
        axum::Json(json!({"active": true, "sub": "svc", "exp": exp}))
    };
    let idp = serve(
        axum::Router::new().route("/introspect", axum::routing::post(introspect)).with_state(calls.clone()),
    )
    .await;
    let mut snapshot = snapshot(&[], &EcKey::generate("id-1"));
    let state_pb = snapshot.state.as_mut().unwrap();
    state_pb.servers.push(pb::Server {
        id: "s-opaque".into(),
        org_id: "org1".into(),
        slug: "opaque".into(),
        name: "opaque".into(),
        url: format!("http://{upstream}/mcp"),
        auth_type: "none".into(),
        advanced_config: Some(gatehouse_config::identity::wire::advanced_config_to_wire(&json!({
            "jwt_validation": {"introspectEndpoint": format!("http://{idp}/introspect"), "workspace": "team",
                               "skipIssuerAndAudienceCheck": true}}))),
        ..Default::default()
    });
    state_pb.provisions.push(pb::Provision {
        workspace_id: "ws1".into(),
        server_id: "s-opaque".into(),
        ..Default::default()
    });
    let edge = EdgeState::new();
    edge.install(ConfigView::from_snapshot(snapshot));
    let settings = ProxySettings {
        upstream_addresses: AddressPolicy::new(true),
        idp_calls_per_minute: 3,
        ..ProxySettings::default()
    };
    let proxy = ProxyState::new(edge, settings).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // The edge's own accept loop: it tells the request path the client's address.
    tokio::spawn(gatehouse_data_plane::server::serve(
        listener,
        proxy::router(proxy),
        None,
        std::future::pending(),
        Duration::from_secs(1),
    ));
    let send = |token: String| async move {
        let response = reqwest::Client::new()
            .post(format!("http://{addr}/mcp/opaque"))
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}).to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
        (status, retry_after, response.json::<Value>().await.unwrap())
    };
    for i in 0..3 {
        assert_eq!(send(format!("opaque-token-{i}")).await.0, 200, "token {i}");
    }
    // Made-up tokens beyond the budget are refused without calling the identity provider.
    for i in 3..8 {
        let (status, retry_after, body) = send(format!("opaque-token-{i}")).await;
        assert_eq!(status, 429, "{body}");
        assert_eq!(retry_after.as_deref(), Some("60"));
        assert_eq!(body["error"]["data"]["reason"], "identity_checks_rate_limited");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // An answer already cached costs nothing: its caller still gets in.
    assert_eq!(send("opaque-token-0".to_owned()).await.0, 200);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}
