//! The config stream, from a raw tonic client against a real control plane.

use std::time::Duration;

use gatehouse_config::state::{ConfigState, NoObserver};
use gatehouse_proto::config::v1 as pb;
use gatehouse_proto::config::v1::config_distribution_client::ConfigDistributionClient;
use gatehouse_tests::control_plane::TestControlPlane;
use gatehouse_tests::db::TestDb;
use pb::change::Kind;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Streaming};

const WAIT: Duration = Duration::from_secs(5);

/// A raw edge: sends Hello/Acks, reads config messages.
struct RawEdge {
    tx: mpsc::Sender<pb::EdgeMessage>,
    rx: Streaming<pb::ConfigMessage>,
}

async fn open(cp: &TestControlPlane, token: Option<&str>) -> Result<RawEdge, tonic::Status> {
    let mut client = ConfigDistributionClient::connect(cp.grpc_url.clone()).await.expect("connect grpc");
    let (tx, out) = mpsc::channel(16);
    let mut request = tonic::Request::new(ReceiverStream::new(out));
    if let Some(token) = token {
        request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    let rx = client.subscribe(request).await?.into_inner();
    Ok(RawEdge { tx, rx })
}

async fn subscribe(cp: &TestControlPlane, node_id: &str) -> (RawEdge, pb::Snapshot) {
    let mut edge = open(cp, Some(&cp.node_token)).await.expect("subscribe");
    edge.send(pb::edge_message::Kind::Hello(pb::Hello {
        node_id: node_id.into(),
        have_version: 0,
        software_version: "test".into(),
    }))
    .await;
    match edge.next().await.kind {
        Some(pb::config_message::Kind::Snapshot(s)) => (edge, s),
        other => panic!("expected a snapshot, got {other:?}"),
    }
}

impl RawEdge {
    async fn send(&self, kind: pb::edge_message::Kind) {
        self.tx.send(pb::EdgeMessage { kind: Some(kind) }).await.expect("send to control plane");
    }

    async fn next(&mut self) -> pb::ConfigMessage {
        tokio::time::timeout(WAIT, self.rx.message())
            .await
            .expect("timed out waiting for a config message")
            .expect("stream error")
            .expect("stream ended")
    }

    async fn next_delta(&mut self) -> pb::Delta {
        match self.next().await.kind {
            Some(pb::config_message::Kind::Delta(d)) => d,
            other => panic!("expected a delta, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn config_stream_cp_rejects_bad_node_tokens() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    for token in [None, Some("wrong-node-token-123456"), Some("")] {
        let err = open(&cp, token).await.err().expect("must be rejected");
        assert_eq!(err.code(), Code::Unauthenticated, "{token:?}: {err:?}");
    }
    // The first message must be Hello.
    let mut edge = open(&cp, Some(&cp.node_token)).await.unwrap();
    edge.send(pb::edge_message::Kind::Ack(pb::Ack { version: 1 })).await;
    let status = tokio::time::timeout(WAIT, edge.rx.message()).await.unwrap().unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    cp.stop().await;
}

#[tokio::test]
async fn config_stream_cp_snapshot_then_chained_deltas() {
    for db in TestDb::all().await {
        let cp = TestControlPlane::start(db).await;
        let admin = cp.admin();
        admin.create_workspace("ws").await;
        admin
            .create_server(
                "github",
                "https://mcp.example.com/mcp",
                &[("Authorization", "Bearer upstream-xyz")],
            )
            .await;
        admin.provision("ws", "github", &["get_*"], &["get_secret"]).await;
        let version = admin.config_version().await;

        let (mut edge, snapshot) = subscribe(&cp, "edge-1").await;
        assert_eq!(snapshot.version, version);
        let state = snapshot.state.unwrap();
        assert_eq!(state.servers.len(), 1);
        let server = &state.servers[0];
        assert_eq!(server.slug, "github");
        assert_eq!(server.auth_type, "headers");
        assert_eq!(server.headers["authorization"], "Bearer upstream-xyz", "headers arrive decrypted");
        assert_eq!(state.workspaces[0].slug, "ws");
        assert_eq!(state.provisions[0].tool_allow, vec!["get_*"]);
        assert_eq!(state.provisions[0].tool_deny, vec!["get_secret"]);
        assert_eq!(state.settings.unwrap().session_binding_key.len(), 32);
        assert!(state.tokens.is_empty());

        // A mutation arrives as a delta from the version the edge has.
        let minted = admin.mint_token("alice", "ws").await;
        let delta = edge.next_delta().await;
        assert_eq!(delta.from_version, version);
        assert_eq!(delta.version, version + 1);
        let token = match &delta.changes[..] {
            [pb::Change { kind: Some(Kind::UpsertToken(t)) }] => t.clone(),
            other => panic!("unexpected changes {other:?}"),
        };
        assert_eq!(token.id, minted.id);
        assert_eq!(token.token_hash, gatehouse_config::token_hash::hash_token(&minted.token).to_vec());
        assert_eq!(token.workspace_id, state.workspaces[0].id);
        assert!(token.expires_at > 0);

        // Concurrent mutations: deltas chain without gaps.
        let (a, b) = tokio::join!(admin.create_workspace("ws-a"), admin.create_workspace("ws-b"));
        assert!(a["id"].is_string() && b["id"].is_string());
        let mut at = delta.version;
        let mut seen = Vec::new();
        while at < version + 3 {
            let d = edge.next_delta().await;
            assert_eq!(d.from_version, at, "deltas must chain");
            assert!(d.version > at);
            at = d.version;
            for c in d.changes {
                if let Some(Kind::UpsertWorkspace(w)) = c.kind {
                    seen.push(w.slug);
                }
            }
        }
        seen.sort();
        assert_eq!(seen, vec!["ws-a", "ws-b"], "{}", cp.db().backend());
        cp.stop().await;
    }
}

#[tokio::test]
async fn config_stream_cp_revocation_and_rotation_reach_edges_fast() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let admin = cp.admin();
    admin.create_workspace("ws").await;
    let minted = admin.mint_token("alice", "ws").await;
    let (mut edge, snapshot) = subscribe(&cp, "edge-fast").await;
    assert_eq!(snapshot.state.unwrap().tokens.len(), 1);

    let started = std::time::Instant::now();
    let rotated = admin.rotate(&minted.id).await;
    let delta = edge.next_delta().await;
    assert!(started.elapsed() < Duration::from_millis(900), "rotation took {:?}", started.elapsed());
    match &delta.changes[..] {
        [pb::Change { kind: Some(Kind::UpsertToken(t)) }] => {
            assert_eq!(t.token_hash, gatehouse_config::token_hash::hash_token(&rotated.token).to_vec());
        }
        other => panic!("unexpected changes {other:?}"),
    }

    let started = std::time::Instant::now();
    admin.revoke(&minted.id).await;
    let delta = edge.next_delta().await;
    assert!(started.elapsed() < Duration::from_millis(900), "revocation took {:?}", started.elapsed());
    assert_eq!(delta.changes, vec![pb::Change { kind: Some(Kind::DeleteToken(minted.id.clone())) }]);

    // Server deletion removes its provisions in the same delta.
    admin.create_server("s", "https://example.com/mcp", &[]).await;
    admin.provision("ws", "s", &[], &[]).await;
    edge.next_delta().await;
    edge.next_delta().await;
    admin.delete_server("s").await;
    let delta = edge.next_delta().await;
    let kinds: Vec<_> = delta.changes.into_iter().filter_map(|c| c.kind).collect();
    assert!(matches!(&kinds[..], [Kind::DeleteProvision(_), Kind::DeleteServer(_)]), "{kinds:?}");
    cp.stop().await;
}

#[tokio::test]
async fn config_stream_cp_acks_show_up_in_edges() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let admin = cp.admin();
    let (edge, snapshot) = subscribe(&cp, "edge-ack").await;
    edge.send(pb::edge_message::Kind::Ack(pb::Ack { version: snapshot.version })).await;

    let edges = gatehouse_tests::eventually(WAIT, "the ack in GET /v1/edges", || {
        let admin = admin.clone();
        let want = snapshot.version;
        async move {
            let v = admin.edges().await;
            let acked = v["edges"]
                .as_array()?
                .iter()
                .any(|e| e["node_id"] == "edge-ack" && e["acked_version"] == want);
            acked.then_some(v)
        }
    })
    .await;
    assert_eq!(edges["config_version"], snapshot.version);
    let entry = &edges["edges"][0];
    assert_eq!(entry["connected"], true);
    assert_eq!(entry["in_sync"], true);
    assert_eq!(entry["software_version"], "test");
    assert!(entry["last_seen"].is_string());

    drop(edge);
    gatehouse_tests::eventually(WAIT, "the edge to show as disconnected", || {
        let admin = admin.clone();
        async move {
            let v = admin.edges().await;
            (v["edges"][0]["connected"] == json!(false)).then_some(())
        }
    })
    .await;
    cp.stop().await;
}

#[tokio::test]
async fn config_stream_cp_streams_end_on_shutdown() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let (mut edge, _) = subscribe(&cp, "edge-shutdown").await;
    // `stop` panics if graceful shutdown hangs on the open stream.
    let stopped = cp.stop().await;
    let end = tokio::time::timeout(WAIT, edge.rx.message()).await.expect("stream should end on shutdown");
    assert!(!matches!(end, Ok(Some(_))), "no more messages after shutdown");

    // Restarted on the same port, a new subscription works again.
    let cp = stopped.start_again().await;
    let (_edge, snapshot) = subscribe(&cp, "edge-shutdown").await;
    assert!(snapshot.version > 0);
    cp.stop().await;
}

#[tokio::test]
async fn config_stream_cp_replicas_pick_up_each_others_changes() {
    for db in TestDb::all().await {
        let primary = TestControlPlane::start(db).await;
        let replica = primary.start_replica().await;
        let (mut edge, snapshot) = subscribe(&replica, "edge-on-replica").await;

        // A change made through the other replica reaches this edge via the version poller.
        primary.admin().create_workspace("from-primary").await;
        let delta = edge.next_delta().await;
        assert_eq!(delta.from_version, snapshot.version);
        assert!(
            delta
                .changes
                .iter()
                .any(|c| matches!(&c.kind, Some(Kind::UpsertWorkspace(w)) if w.slug == "from-primary")),
            "{}: {:?}",
            primary.db().backend(),
            delta.changes
        );
        replica.stop().await;
        primary.stop().await;
    }
}

/// Follows `edge`'s deltas from `state` at `version` until `target`, checking they chain.
async fn follow(edge: &mut RawEdge, state: &mut ConfigState, version: &mut u64, target: u64) {
    while *version < target {
        let delta = edge.next_delta().await;
        assert_eq!(delta.from_version, *version, "deltas chain");
        assert!(delta.version > *version);
        state.apply(delta.changes, &mut NoObserver);
        *version = delta.version;
    }
}

#[tokio::test]
async fn config_stream_cp_deltas_add_up_to_a_full_reload() {
    for db in TestDb::all().await {
        let cp = TestControlPlane::start(db).await;
        let admin = cp.admin();
        let (mut edge, snapshot) = subscribe(&cp, "follower").await;
        let mut version = snapshot.version;
        let mut state = ConfigState::from_wire(snapshot.state.unwrap_or_default());

        // Every kind of change, including cascades.
        admin.create_workspace("a").await;
        admin.create_workspace("b").await;
        admin.create_server("s1", "http://127.0.0.1:9/mcp", &[("authorization", "Bearer one")]).await;
        admin.create_server("s2", "http://127.0.0.1:9/mcp", &[]).await;
        admin.provision("a", "s1", &[], &["x*"]).await;
        admin.provision("b", "s1", &[], &[]).await;
        admin.provision("b", "s2", &["y"], &[]).await;
        let t1 = admin.mint_token("alice", "a").await;
        let t2 = admin.mint_token("bob", "b").await;
        admin.mint_token("carol", "a").await;
        admin.revoke(&t1.id).await;
        admin.rotate(&t2.id).await;
        admin.register_certificate_identity("san_uri", "spiffe://acme/agent", "agent", "b").await;
        admin.update_server("s1", json!({"headers": {"authorization": "Bearer two"}})).await;
        admin.provision("a", "s1", &["z"], &[]).await;
        admin.unprovision("a", "s1").await;
        admin.delete_server("s2").await;
        let (status, body) = admin.request(Method::DELETE, "/v1/workspaces/b", None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (status, body) = admin
            .request(
                Method::PATCH,
                "/v1/org",
                Some(json!({"jwt_validation": {"jwksUri": "https://idp.example/jwks", "workspace": "a",
                    "issuer": "https://idp.example", "audience": "gatehouse"}})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");

        let target = admin.config_version().await;
        follow(&mut edge, &mut state, &mut version, target).await;

        // A replica loads everything from the database; the deltas must add up to it.
        let replica = cp.start_replica().await;
        let (_fresh_edge, fresh) = subscribe(&replica, "fresh").await;
        follow(&mut edge, &mut state, &mut version, fresh.version).await;
        assert_eq!(fresh.version, version, "{}", cp.db().backend());
        let reloaded = ConfigState::from_wire(fresh.state.unwrap_or_default());
        assert_eq!(reloaded, state, "{}", cp.db().backend());
        assert_eq!(state.tokens.len(), 1, "only carol's token is live: {:?}", state.tokens);
        assert!(state.workspaces.values().all(|w| w.slug == "a"));
        assert!(state.provisions.is_empty());
        assert!(state.certificate_identities.is_empty());
        replica.stop().await;
        cp.stop().await;
    }
}

#[tokio::test]
async fn config_stream_cp_a_change_committed_without_its_publisher_is_published_from_the_outbox() {
    for db in TestDb::all().await {
        let cp = TestControlPlane::start(db).await;
        cp.admin().create_workspace("team").await;
        let (mut edge, snapshot) = subscribe(&cp, "follower").await;
        let mut version = snapshot.version;
        let mut state = ConfigState::from_wire(snapshot.state.unwrap_or_default());

        // Another process commits and dies before publishing: its store has no
        // publisher, so only the outbox row tells the running control plane.
        let orphan = cp.store().await;
        let org = orphan.org_by_slug("default").await.unwrap().expect("default org");
        let minted = gatehouse_control_plane::tokens::generate();
        let created = orphan
            .create_token(
                &org.id,
                gatehouse_control_plane::store::NewToken {
                    user: "orphan".into(),
                    team: "team".into(),
                    hash: minted.hash,
                    hint: minted.hint,
                    scopes: vec![],
                    server_permissions: vec![],
                    tool_permissions: vec![],
                    lifetime: gatehouse_control_plane::tokens::Lifetime::Never,
                },
            )
            .await
            .unwrap();
        orphan.close().await.unwrap();

        follow(&mut edge, &mut state, &mut version, created.version).await;
        assert!(state.tokens.contains_key(&created.value.id), "{}", cp.db().backend());
        cp.stop().await;
    }
}

#[tokio::test]
async fn config_stream_cp_two_replicas_publish_the_same_versions_in_order() {
    for db in TestDb::all().await {
        let primary = TestControlPlane::start(db).await;
        let replica = primary.start_replica().await;
        let (mut on_primary, first) = subscribe(&primary, "edge-on-primary").await;
        let (mut on_replica, second) = subscribe(&replica, "edge-on-replica").await;
        let (mut v1, mut s1) = (first.version, ConfigState::from_wire(first.state.unwrap_or_default()));
        let (mut v2, mut s2) = (second.version, ConfigState::from_wire(second.state.unwrap_or_default()));

        // Changes through both replicas, interleaved.
        for i in 0..4 {
            let through = if i % 2 == 0 { &primary } else { &replica };
            through.admin().create_workspace(&format!("team-{i}")).await;
            through.admin().mint_token(&format!("user-{i}"), &format!("team-{i}")).await;
        }
        let target = primary.admin().config_version().await.max(replica.admin().config_version().await);
        follow(&mut on_primary, &mut s1, &mut v1, target).await;
        follow(&mut on_replica, &mut s2, &mut v2, target).await;
        assert_eq!((v1, v2), (target, target), "{}", primary.db().backend());
        assert_eq!(s1, s2, "both replicas publish the same state at the same version");
        assert_eq!(s1.tokens.len(), 4);
        replica.stop().await;
        primary.stop().await;
    }
}
