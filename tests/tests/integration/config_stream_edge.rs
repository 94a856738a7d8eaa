//! The config stream from the edge's side: a real control plane feeding a real
//! edge, through propagation, control-plane outages, restarts from the
//! encrypted local cache and a corrupt cache.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gatehouse_data_plane::config_cache::{self, CacheKey, ConfigCache};
use secrecy::SecretString;

use gatehouse_tests::control_plane::TestControlPlane;
use gatehouse_tests::db::TestDb;
use gatehouse_tests::edge::{Readiness, TestEdge};
use gatehouse_tests::upstream::{McpUpstream, SessionMode};
use gatehouse_tests::{eventually, TestStack};
use reqwest::StatusCode;

/// Upper bound for a config change to reach an edge.
const PROPAGATION: Duration = Duration::from_secs(1);
const WAIT: Duration = Duration::from_secs(10);
const HEADER_SECRET: &str = "cache-hdr-secret-5e0d7a41";

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"config-stream-test","version":"1"}}}"#;

/// Sends an MCP `initialize` through the edge and returns the status.
async fn initialize(edge: &TestEdge, slug: &str, token: &str) -> StatusCode {
    let response = reqwest::Client::new()
        .post(edge.mcp_url(slug))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(INITIALIZE)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("the edge answers");
    let status = response.status();
    let _ = response.bytes().await;
    status
}

/// Registers a stateless upstream as `slug` (with a static secret header),
/// provisions it to `platform` and mints a token; waits for the edge.
async fn setup(
    stack: &TestStack,
    upstream: &McpUpstream,
    slug: &str,
) -> gatehouse_tests::control_plane::MintedToken {
    let admin = stack.cp.admin();
    admin.create_workspace("platform").await;
    admin.create_server(slug, &upstream.url, &[("x-upstream-key", HEADER_SECRET)]).await;
    admin.provision("platform", slug, &[], &[]).await;
    let minted = admin.mint_token("alice@example.com", "platform").await;
    stack.sync().await;
    minted
}

async fn readiness(edge: &TestEdge) -> Readiness {
    edge.readiness().await.expect("the edge answers /readyz")
}

/// Waits until the edge reports the config stream as `connected`.
async fn wait_connected(edge: &TestEdge, connected: bool) {
    eventually(WAIT, &format!("the edge to report connected={connected}"), || async {
        edge.readiness().await.filter(|r| r.connected == connected).map(|_| ())
    })
    .await
}

#[tokio::test]
async fn edge_becomes_ready_with_the_current_version_and_acks_it() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let admin = cp.admin();
    admin.create_workspace("platform").await;
    let version = admin.config_version().await;

    let edge = TestEdge::start(&cp.grpc_url, &cp.node_token).await;
    edge.wait_ready().await;
    let ready = readiness(&edge).await;
    assert_eq!(ready, Readiness { status: "ready".into(), config_version: version, connected: true });

    let listed = eventually(WAIT, "the control plane to list the edge's ack", || async {
        let edges = admin.edges().await;
        let entry =
            edges["edges"].as_array()?.iter().find(|e| e["node_id"] == edge.node_id.as_str())?.clone();
        (entry["acked_version"] == version).then_some(entry)
    })
    .await;
    assert_eq!(listed["connected"], true);
    assert_eq!(listed["in_sync"], true);
    assert_eq!(listed["software_version"], env!("CARGO_PKG_VERSION"));

    // Every later change is acknowledged too.
    admin.create_workspace("second").await;
    let next = admin.config_version().await;
    assert!(next > version);
    edge.wait_for_version(next).await;
    eventually(WAIT, "the ack of the next version", || async {
        let edges = admin.edges().await;
        edges["edges"]
            .as_array()?
            .iter()
            .any(|e| e["node_id"] == edge.node_id.as_str() && e["acked_version"] == next)
            .then_some(())
    })
    .await;
    edge.stop().await;
}

#[tokio::test]
async fn revocation_and_rotation_reach_the_edge_within_a_second() {
    let stack = TestStack::start().await;
    let upstream = McpUpstream::start(SessionMode::Stateless).await;
    let minted = setup(&stack, &upstream, "tools").await;
    let admin = stack.cp.admin();
    assert_eq!(initialize(&stack.edge, "tools", &minted.token).await, StatusCode::OK);

    // Revocation: measured from the admin API's answer to the edge serving the new version.
    let other = admin.mint_token("bob@example.com", "platform").await;
    stack.sync().await;
    let before = stack.edge.config_version().await;
    admin.revoke(&other.id).await;
    let answered = Instant::now();
    eventually(PROPAGATION, "the revocation to reach the edge", || async {
        (stack.edge.config_version().await > before).then_some(())
    })
    .await;
    let revoked_in = answered.elapsed();
    assert!(revoked_in < PROPAGATION, "revocation took {revoked_in:?}");
    assert_eq!(initialize(&stack.edge, "tools", &other.token).await, StatusCode::UNAUTHORIZED);

    // Rotation: the old text stops working and the new one works.
    let before = stack.edge.config_version().await;
    let rotated = admin.rotate(&minted.id).await;
    let answered = Instant::now();
    eventually(PROPAGATION, "the rotation to reach the edge", || async {
        (stack.edge.config_version().await > before).then_some(())
    })
    .await;
    let rotated_in = answered.elapsed();
    assert!(rotated_in < PROPAGATION, "rotation took {rotated_in:?}");
    assert_eq!(initialize(&stack.edge, "tools", &minted.token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(initialize(&stack.edge, "tools", &rotated.token).await, StatusCode::OK);
}

#[tokio::test]
async fn edge_keeps_serving_while_the_control_plane_is_down_and_catches_up_after() {
    let stack = TestStack::start().await;
    let upstream = McpUpstream::start(SessionMode::Stateless).await;
    let minted = setup(&stack, &upstream, "tools").await;
    let TestStack { cp, edge, .. } = stack;
    let version = edge.config_version().await;

    let stopped = cp.stop().await;
    wait_connected(&edge, false).await;
    let down = readiness(&edge).await;
    assert!(down.is_ready(), "still ready without the control plane: {down:?}");
    assert_eq!(down.config_version, version, "still the last good config");
    assert_eq!(initialize(&edge, "tools", &minted.token).await, StatusCode::OK, "still proxying");

    let cp = stopped.start_again().await;
    wait_connected(&edge, true).await;
    assert_eq!(edge.config_version().await, version);

    // Caught up: a change made after the restart arrives, and its token works.
    let admin = cp.admin();
    let later = admin.mint_token("carol@example.com", "platform").await;
    edge.wait_for_version(admin.config_version().await).await;
    assert_eq!(initialize(&edge, "tools", &later.token).await, StatusCode::OK);
    edge.stop().await;
}

#[tokio::test]
async fn edge_restarted_while_the_control_plane_is_down_serves_from_its_cache() {
    let stack = TestStack::start().await;
    let upstream = McpUpstream::start(SessionMode::Stateless).await;
    let minted = setup(&stack, &upstream, "tools").await;
    let TestStack { cp, edge, .. } = stack;
    let version = edge.config_version().await;
    let grpc_url = cp.grpc_url.clone();
    let node_token = cp.node_token.clone();

    let cache = edge.stop().await;
    let stopped = cp.stop().await;

    let edge = TestEdge::start_with_cache(&grpc_url, &node_token, cache).await;
    edge.wait_ready().await;
    let ready = readiness(&edge).await;
    assert_eq!(ready, Readiness { status: "ready".into(), config_version: version, connected: false });
    assert_eq!(
        initialize(&edge, "tools", &minted.token).await,
        StatusCode::OK,
        "proxying from the cached config"
    );
    assert_eq!(initialize(&edge, "tools", "gth_not_a_real_token").await, StatusCode::UNAUTHORIZED);

    // Once the control plane is back, the edge subscribes from the cached version.
    let cp = stopped.start_again().await;
    wait_connected(&edge, true).await;
    assert_eq!(edge.config_version().await, cp.admin().config_version().await);
    edge.stop().await;
}

#[tokio::test]
async fn a_cache_older_than_its_maximum_age_is_not_served() {
    let stack = TestStack::start().await;
    let upstream = McpUpstream::start(SessionMode::Stateless).await;
    let minted = setup(&stack, &upstream, "tools").await;
    let TestStack { cp, edge, .. } = stack;
    let version = edge.config_version().await;
    edge.wait_for_cached_version(version).await;
    let (grpc_url, node_token) = (cp.grpc_url.clone(), cp.node_token.clone());
    let cache = edge.stop().await;
    let _stopped = cp.stop().await;

    // The same validly sealed content, as an old copy put back would carry it: 25 hours old.
    let key = CacheKey::derive(&SecretString::from(node_token.clone()));
    let current = ConfigCache::new(cache.path(), &SecretString::from(node_token.clone()));
    let snapshot = current.load().await.unwrap().expect("the cached config").to_snapshot();
    let day_ago = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() - 25 * 3600;
    let old = config_cache::seal_at(&key, &snapshot, day_ago).unwrap();
    std::fs::write(cache.path(), &old).unwrap();
    let _ = std::fs::remove_file(format!("{}.journal", cache.path().display()));

    let edge = TestEdge::start_with_cache(&grpc_url, &node_token, cache.clone()).await;
    // Give it the time it takes to load a cache (it loads before it serves).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        readiness(&edge).await,
        Readiness { status: "not_ready".into(), config_version: 0, connected: false }
    );
    assert_eq!(initialize(&edge, "tools", &minted.token).await, StatusCode::SERVICE_UNAVAILABLE);
    edge.stop().await;

    // A longer maximum age (`GATEHOUSE_EDGE_CACHE_MAX_AGE`) admits the same file.
    std::fs::write(cache.path(), &old).unwrap();
    let edge =
        TestEdge::start_with_env(&grpc_url, &node_token, cache, &[("GATEHOUSE_EDGE_CACHE_MAX_AGE", "2d")])
            .await;
    edge.wait_ready().await;
    assert_eq!(edge.config_version().await, version);
    assert_eq!(initialize(&edge, "tools", &minted.token).await, StatusCode::OK);
    edge.stop().await;
}

#[tokio::test]
async fn cache_is_encrypted_and_a_corrupt_one_is_ignored() {
    let stack = TestStack::start().await;
    let upstream = McpUpstream::start(SessionMode::Stateless).await;
    setup(&stack, &upstream, "tools").await;
    let TestStack { cp, edge, logs } = stack;
    let (grpc_url, node_token) = (cp.grpc_url.clone(), cp.node_token.clone());
    let version = edge.config_version().await;
    edge.wait_for_cached_version(version).await;

    let cache = edge.stop().await;
    let bytes = std::fs::read(cache.path()).expect("the edge persisted its config");
    assert!(bytes.starts_with(b"GHEC\x02"), "versioned cache header");
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(HEADER_SECRET.as_bytes()), "header secret in plaintext in the cache");
    assert!(!contains(upstream.url.as_bytes()), "config in plaintext in the cache");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(cache.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "cache readable by the owner only");
    }

    // A corrupt cache is ignored: with the control plane down the edge is alive but not ready…
    std::fs::write(cache.path(), b"GHEC\x02 this is not a sealed config").unwrap();
    let stopped = cp.stop().await;
    let edge = TestEdge::start_with_cache(&grpc_url, &node_token, cache.clone()).await;
    let health = reqwest::get(format!("{}/healthz", edge.url)).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let not_ready = reqwest::get(format!("{}/readyz", edge.url)).await.unwrap();
    assert_eq!(not_ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        readiness(&edge).await,
        Readiness { status: "not_ready".into(), config_version: 0, connected: false }
    );

    // …and once the control plane is back it becomes ready and replaces the cache.
    let cp = stopped.start_again().await;
    edge.wait_ready().await;
    assert_eq!(edge.config_version().await, cp.admin().config_version().await);
    edge.wait_for_cached_version(version).await;
    edge.stop().await;

    if let Some(logs) = logs {
        let text = logs.text();
        assert!(text.contains("ignoring the local config cache"), "the corrupt cache was logged");
        assert!(!text.contains(HEADER_SECRET), "header secret in the logs");
    }
}
