//! Edge tokens: created through the admin API, used by raw gRPC clients and
//! real edges; tokens scoped to orgs give edges only those orgs' config and
//! grants; revocation closes open streams; the bootstrap token keeps working.

use std::collections::BTreeSet;
use std::time::Duration;

use gatehouse_control_plane::store::grants::{GrantTokens, NewTokens};
use gatehouse_control_plane::store::{NewServer, NewToken, NewWorkspace, Store, ToolRules};
use gatehouse_control_plane::tokens::{self, Lifetime};
use gatehouse_data_plane::config_cache::ConfigCache;
use gatehouse_proto::config::v1 as pb;
use gatehouse_proto::config::v1::config_distribution_client::ConfigDistributionClient;
use gatehouse_proto::config::v1::credential_broker_client::CredentialBrokerClient;
use gatehouse_tests::control_plane::TestControlPlane;
use gatehouse_tests::db::TestDb;
use gatehouse_tests::edge::TestEdge;
use gatehouse_tests::eventually;
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Streaming};

const WAIT: Duration = Duration::from_secs(10);
const ACME_SECRET: &str = "acme-header-secret-77c1";
const DEFAULT_SECRET: &str = "default-header-secret-3f9a";

/// A raw edge on the config stream.
struct RawEdge {
    _tx: mpsc::Sender<pb::EdgeMessage>,
    rx: Streaming<pb::ConfigMessage>,
}

async fn open(cp: &TestControlPlane, token: &str, node_id: &str) -> Result<RawEdge, tonic::Status> {
    let mut client = ConfigDistributionClient::connect(cp.grpc_url.clone()).await.expect("connect grpc");
    let (tx, out) = mpsc::channel(16);
    let mut request = tonic::Request::new(ReceiverStream::new(out));
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let rx = client.subscribe(request).await?.into_inner();
    let hello = pb::Hello { node_id: node_id.into(), have_version: 0, software_version: "test".into() };
    tx.send(pb::EdgeMessage { kind: Some(pb::edge_message::Kind::Hello(hello)) }).await.unwrap();
    Ok(RawEdge { _tx: tx, rx })
}

impl RawEdge {
    async fn next(&mut self) -> Result<Option<pb::ConfigMessage>, tonic::Status> {
        tokio::time::timeout(WAIT, self.rx.message()).await.expect("timed out waiting for the config stream")
    }

    async fn snapshot(&mut self) -> pb::Snapshot {
        match self.next().await.expect("stream error").expect("stream ended").kind {
            Some(pb::config_message::Kind::Snapshot(s)) => s,
            other => panic!("expected a snapshot, got {other:?}"),
        }
    }

    /// Deltas until one reaches `version`, as one list of changes.
    async fn changes_until(&mut self, version: u64) -> Vec<pb::Change> {
        let mut changes = Vec::new();
        loop {
            match self.next().await.expect("stream error").expect("stream ended").kind {
                Some(pb::config_message::Kind::Delta(d)) => {
                    changes.extend(d.changes);
                    if d.version >= version {
                        return changes;
                    }
                }
                other => panic!("expected a delta, got {other:?}"),
            }
        }
    }
}

fn broker(cp: &TestControlPlane) -> CredentialBrokerClient<tonic::transport::Channel> {
    let channel = tonic::transport::Endpoint::from_shared(cp.grpc_url.clone()).unwrap().connect_lazy();
    CredentialBrokerClient::new(channel)
}

fn authorized<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

async fn create_edge_token(cp: &TestControlPlane, name: &str, orgs: Option<&[&str]>) -> Value {
    let body = match orgs {
        Some(orgs) => json!({"name": name, "orgs": orgs}),
        None => json!({"name": name}),
    };
    let (status, body) = cp.admin().request(Method::POST, "/v1/edges/tokens", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// The org `acme` with a workspace, a server (with a secret header) provisioned
/// to it and a gateway token, all written through the store.
async fn seed_acme(store: &Store) -> String {
    let org = store.ensure_org("acme", "Acme").await.unwrap();
    store
        .create_workspace(&org.id, NewWorkspace { slug: "acme-team".into(), name: "Acme team".into() })
        .await
        .unwrap();
    let server = NewServer {
        slug: "acme-tools".into(),
        name: "Acme tools".into(),
        url: "https://acme.example.com/mcp".into(),
        auth_type: "headers".into(),
        headers: [("x-key".to_owned(), SecretString::from(ACME_SECRET))].into(),
        advanced_config: json!({}),
        auto_provision: false,
    };
    store.create_server(&org.id, server).await.unwrap();
    store.provision(&org.id, "acme-team", "acme-tools", ToolRules::default()).await.unwrap();
    let generated = tokens::generate();
    let token = NewToken {
        team: "acme-team".into(),
        user: "alice@example.com".into(),
        scopes: vec![],
        server_permissions: vec![],
        tool_permissions: vec![],
        lifetime: Lifetime::Never,
        hash: generated.hash,
        hint: generated.hint,
    };
    store.create_token(&org.id, token).await.unwrap();
    org.id
}

/// A workspace, a server with a secret header and a token in the default org, through the admin API.
async fn seed_default(cp: &TestControlPlane) {
    let admin = cp.admin();
    admin.create_workspace("platform").await;
    admin.create_server("tools", "https://tools.example.com/mcp", &[("x-key", DEFAULT_SECRET)]).await;
    admin.provision("platform", "tools", &[], &[]).await;
    admin.mint_token("alice@example.com", "platform").await;
}

/// Waits until the control plane published its current version (changes
/// written through a second store arrive by polling).
async fn published(cp: &TestControlPlane) {
    let version = cp.admin().config_version().await;
    eventually(WAIT, "the control plane to publish", || async {
        let edges = cp.admin().edges().await;
        (edges["published_version"].as_u64() >= Some(version)).then_some(())
    })
    .await;
}

/// The org ids every entry of `state` belongs to (provisions through their server).
fn orgs_in(state: &pb::ConfigState) -> BTreeSet<String> {
    let mut orgs: BTreeSet<String> = state.orgs.iter().map(|o| o.id.clone()).collect();
    orgs.extend(state.workspaces.iter().map(|w| w.org_id.clone()));
    orgs.extend(state.servers.iter().map(|s| s.org_id.clone()));
    orgs.extend(state.tokens.iter().map(|t| t.org_id.clone()));
    orgs.extend(state.certificate_identities.iter().map(|c| c.org_id.clone()));
    orgs.extend(state.completed_elicitations.iter().map(|c| c.org_id.clone()));
    for p in &state.provisions {
        let server =
            state.servers.iter().find(|s| s.id == p.server_id).expect("a provision's server is sent");
        orgs.insert(server.org_id.clone());
    }
    orgs
}

#[tokio::test]
async fn edge_tokens_admin_api_creates_lists_and_revokes() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    cp.store().await.ensure_org("acme", "Acme").await.unwrap();
    let admin = cp.admin();

    let (status, body) = admin
        .request(Method::POST, "/v1/edges/tokens", Some(json!({"name": "eu", "orgs": ["acme", "nope"]})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "orgs[1]", "{body}");
    let (status, body) = admin.request(Method::POST, "/v1/edges/tokens", Some(json!({"name": " "}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let scoped = create_edge_token(&cp, "eu", Some(&["acme"])).await;
    let token = scoped["token"].as_str().unwrap();
    assert!(token.starts_with("ghn_") && token.len() == 50, "{token}");
    assert_eq!(scoped["orgs"], json!(["acme"]));
    assert_eq!(scoped["name"], "eu");
    let unscoped = create_edge_token(&cp, "everywhere", None).await;
    assert_eq!(unscoped["orgs"], Value::Null);

    let (status, page) = admin.request(Method::GET, "/v1/edges/tokens?limit=1", None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["tokens"].as_array().unwrap().len(), 1);
    assert_eq!(page["tokens"][0]["id"], scoped["id"]);
    assert!(page["tokens"][0].get("token").is_none(), "the token text is never listed");
    assert!(!page.to_string().contains(token));
    let cursor = page["next_cursor"].as_str().expect("a next page").to_owned();
    let (_, page) =
        admin.request(Method::GET, &format!("/v1/edges/tokens?limit=1&cursor={cursor}"), None).await;
    assert_eq!(page["tokens"][0]["id"], unscoped["id"]);
    assert_eq!(page["next_cursor"], Value::Null);
    let (status, _) = admin.request(Method::GET, "/v1/edges/tokens?limit=1001", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let id = scoped["id"].as_str().unwrap();
    let (status, _) = admin.request(Method::DELETE, &format!("/v1/edges/tokens/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = admin.request(Method::DELETE, "/v1/edges/tokens/no-such-token", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, page) = admin.request(Method::GET, "/v1/edges/tokens", None).await;
    assert!(page["tokens"][0]["revoked_at"].is_string(), "{page}");

    // Only admins manage edge tokens.
    let anonymous = admin.with_token(None);
    let (status, _) = anonymous.request(Method::GET, "/v1/edges/tokens", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (_, doc) = admin.request(Method::GET, "/v1/openapi.json", None).await;
    assert!(doc["paths"]["/v1/edges/tokens"]["post"].is_object());
    assert!(doc["paths"]["/v1/edges/tokens/{id}"]["delete"].is_object());
    assert!(doc["components"]["schemas"]["CreateEdgeToken"].is_object());
}

#[tokio::test]
async fn edge_tokens_scoped_stream_gets_only_its_orgs_and_revocation_closes_it() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    seed_default(&cp).await;
    let store = cp.store().await;
    let default_org = store.org_by_slug("default").await.unwrap().unwrap().id;
    store.ensure_org("acme", "Acme").await.unwrap();
    // The token names acme before acme has any config: it appears as it is written.
    let scoped = create_edge_token(&cp, "acme-edges", Some(&["acme"])).await;
    let scoped_token = scoped["token"].as_str().unwrap().to_owned();
    published(&cp).await;

    let mut edge = open(&cp, &scoped_token, "acme-edge-1").await.expect("a scoped token subscribes");
    let snapshot = edge.snapshot().await;
    let state = snapshot.state.clone().unwrap();
    assert!(!orgs_in(&state).contains(&default_org), "{state:?}");
    assert_eq!(state.orgs.len(), 1);
    assert_eq!(state.orgs[0].slug, "acme");
    assert!(state.settings.is_some(), "edge-wide settings reach every edge");
    let mut whole =
        open(&cp, &cp.node_token, "bootstrap-edge").await.expect("the bootstrap token still works");
    let full = whole.snapshot().await.state.unwrap();
    assert!(orgs_in(&full).contains(&default_org));
    assert_eq!(full.orgs.len(), 2);

    // A change in acme reaches it; one in the default org advances its version with nothing in it.
    let acme = seed_acme(&store).await;
    let admin = cp.admin();
    admin.create_server("more-tools", "https://more.example.com/mcp", &[("x-key", DEFAULT_SECRET)]).await;
    let version = admin.config_version().await;
    let changes = edge.changes_until(version).await;
    let delta_state = pb::ConfigState {
        servers: changes
            .iter()
            .filter_map(|c| match &c.kind {
                Some(pb::change::Kind::UpsertServer(s)) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        ..Default::default()
    };
    assert_eq!(delta_state.servers.len(), 1, "{changes:?}");
    assert_eq!(delta_state.servers[0].org_id, acme);
    for change in &changes {
        let text = format!("{change:?}");
        assert!(!text.contains(&default_org) && !text.contains(DEFAULT_SECRET), "{text}");
    }
    assert!(changes
        .iter()
        .any(|c| matches!(&c.kind, Some(pb::change::Kind::UpsertToken(t)) if t.org_id == acme)));
    let all = whole.changes_until(version).await;
    assert!(all
        .iter()
        .any(|c| matches!(&c.kind, Some(pb::change::Kind::UpsertServer(s)) if s.org_id == default_org)));

    // Grant tombstones: only acme's reach it, in deltas and in a new snapshot.
    let tombstone = |org: String| {
        let store = store.clone();
        async move {
            let tokens =
                GrantTokens { access_token: SecretString::from("upstream-access"), refresh_token: None };
            let new = NewTokens { tokens, access_expires_at: 0, scopes: vec![] };
            let grant = store.store_grant(&org, "alice@example.com", "server-1", new, None).await.unwrap();
            store.delete_grant(&org, &grant.id).await.unwrap();
            grant.id
        }
    };
    let (acme_tombstone, default_tombstone) =
        (tombstone(acme.clone()).await, tombstone(default_org.clone()).await);
    published(&cp).await;
    let version = admin.config_version().await;
    let revoked = |changes: &[pb::Change]| -> BTreeSet<String> {
        changes
            .iter()
            .filter_map(|c| match &c.kind {
                Some(pb::change::Kind::RevokeGrant(id)) => Some(id.clone()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(revoked(&edge.changes_until(version).await), BTreeSet::from([acme_tombstone.clone()]));
    assert_eq!(
        revoked(&whole.changes_until(version).await),
        BTreeSet::from([acme_tombstone.clone(), default_tombstone])
    );
    let mut late = open(&cp, &scoped_token, "acme-edge-late").await.unwrap();
    let late_state = late.snapshot().await.state.unwrap();
    assert_eq!(late_state.revoked_grants, [acme_tombstone]);
    drop(late);

    // `GET /v1/edges` names each edge's token.
    let edges = admin.edges().await;
    let token_of = |node: &str| {
        edges["edges"].as_array().unwrap().iter().find(|e| e["node_id"] == node).map(|e| e["token"].clone())
    };
    assert_eq!(token_of("acme-edge-1").unwrap(), json!({"id": scoped["id"], "name": "acme-edges"}));
    assert_eq!(token_of("bootstrap-edge").unwrap(), json!({"id": "bootstrap", "name": "bootstrap"}));

    // Revoking closes the open stream at once and refuses new ones.
    let id = scoped["id"].as_str().unwrap();
    let (status, _) = admin.request(Method::DELETE, &format!("/v1/edges/tokens/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let ended = loop {
        match edge.next().await {
            Ok(Some(_)) => continue,
            Ok(None) => break None,
            Err(status) => break Some(status.code()),
        }
    };
    assert_eq!(ended, Some(Code::Unauthenticated));
    let refused = open(&cp, &scoped_token, "acme-edge-2").await.err().expect("a revoked token is refused");
    assert_eq!(refused.code(), Code::Unauthenticated);
    let refused = broker(&cp)
        .get_grant(authorized(
            pb::GrantRequest {
                org_id: acme.clone(),
                user: "alice".into(),
                server_id: "s".into(),
                ..Default::default()
            },
            &scoped_token,
        ))
        .await
        .expect_err("a revoked token cannot call the broker");
    assert_eq!(refused.code(), Code::Unauthenticated);
    // The bootstrap stream is untouched.
    admin.create_workspace("after-revocation").await;
    whole.changes_until(admin.config_version().await).await;
}

#[tokio::test]
async fn edge_tokens_scoped_broker_refuses_other_orgs_grants() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let store = cp.store().await;
    let acme = seed_acme(&store).await;
    let default_org = store.org_by_slug("default").await.unwrap().unwrap().id;
    let grant = |org: String| {
        let store = store.clone();
        async move {
            let tokens =
                GrantTokens { access_token: SecretString::from("upstream-access"), refresh_token: None };
            let new = NewTokens { tokens, access_expires_at: 0, scopes: vec![] };
            store.store_grant(&org, "alice@example.com", "server-1", new, None).await.unwrap()
        }
    };
    let default_grant = grant(default_org.clone()).await;
    let acme_grant = grant(acme.clone()).await;
    let scoped = create_edge_token(&cp, "acme-edges", Some(&["acme"])).await;
    let token = scoped["token"].as_str().unwrap();
    let mut broker = broker(&cp);

    let request = |org: &str| pb::GrantRequest {
        org_id: org.to_owned(),
        user: "alice@example.com".into(),
        server_id: "server-1".into(),
        ..Default::default()
    };
    let own = broker.get_grant(authorized(request(&acme), token)).await.expect("its own org's grant");
    assert_eq!(own.into_inner().grant.unwrap().id, acme_grant.id);
    let denied = broker.get_grant(authorized(request(&default_org), token)).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    let lease = pb::LeaseRequest {
        grant_id: default_grant.id.clone(),
        version: default_grant.version,
        node_id: "n".into(),
    };
    let denied = broker.acquire_refresh_lease(authorized(lease, token)).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let dead = pb::MarkGrantDeadRequest {
        grant_id: default_grant.id.clone(),
        expected_version: default_grant.version,
        reason: "test".into(),
    };
    let denied = broker.mark_grant_dead(authorized(dead, token)).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let link = pb::AuthorizationLinkRequest {
        org_id: default_org.clone(),
        user: "alice@example.com".into(),
        server_id: "server-1".into(),
        ..Default::default()
    };
    let denied = broker.create_authorization_link(authorized(link, token)).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    // The bootstrap token reaches every org.
    let any = broker.get_grant(authorized(request(&default_org), &cp.node_token)).await.unwrap();
    assert_eq!(any.into_inner().grant.unwrap().id, default_grant.id);
}

#[tokio::test]
async fn edge_tokens_scoped_edge_serves_and_persists_only_its_orgs() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    seed_default(&cp).await;
    let store = cp.store().await;
    let acme = seed_acme(&store).await;
    let default_org = store.org_by_slug("default").await.unwrap().unwrap().id;
    let scoped = create_edge_token(&cp, "acme-edges", Some(&["acme"])).await;
    let token = scoped["token"].as_str().unwrap().to_owned();

    let edge = TestEdge::start(&cp.grpc_url, &token).await;
    edge.wait_ready().await;
    // A later change of each org: the edge's version follows, its content only acme's.
    cp.admin().create_server("later", "https://later.example.com/mcp", &[("x-key", DEFAULT_SECRET)]).await;
    let version = cp.admin().config_version().await;
    edge.wait_for_version(version).await;
    let view = edge.state.config();
    let served = view.to_snapshot().state.unwrap();
    assert_eq!(orgs_in(&served), BTreeSet::from([acme.clone()]));
    assert!(view.server(&acme, "acme-tools").is_some());
    assert!(view.server(&default_org, "tools").is_none() && view.server(&default_org, "later").is_none());

    edge.wait_for_cached_version(version).await;
    let cache = ConfigCache::new(edge.cache_path(), &SecretString::from(token.clone()));
    let cached = eventually(WAIT, "the cache to hold the current version", || async {
        cache.load().await.ok().flatten().filter(|v| v.version() >= version)
    })
    .await;
    let persisted = cached.to_snapshot().state.unwrap();
    assert_eq!(orgs_in(&persisted), BTreeSet::from([acme]));
    let bytes = format!("{persisted:?}");
    assert!(!bytes.contains(DEFAULT_SECRET) && bytes.contains(ACME_SECRET));
    edge.stop().await;
}

#[tokio::test]
async fn edge_tokens_revoked_on_one_replica_close_streams_on_another() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let replica = cp.start_replica().await;
    let created = create_edge_token(&cp, "roaming", None).await;
    let token = created["token"].as_str().unwrap();
    let mut edge = open(&replica, token, "replica-edge").await.expect("the replica accepts the token");
    edge.snapshot().await;

    let id = created["id"].as_str().unwrap();
    let (status, _) = cp.admin().request(Method::DELETE, &format!("/v1/edges/tokens/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // The replica refuses new streams at once and closes the open one when it next checks.
    let refused = open(&replica, token, "replica-edge-2").await.err().expect("refused on the replica too");
    assert_eq!(refused.code(), Code::Unauthenticated);
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match edge.rx.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => break None,
                Err(status) => break Some(status.code()),
            }
        }
    })
    .await
    .expect("the replica closes the stream within its check interval");
    assert_eq!(ended, Some(Code::Unauthenticated));
}
