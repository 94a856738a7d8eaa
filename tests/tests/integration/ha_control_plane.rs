//! Two control-plane replicas on one database, as a production deployment runs
//! them: both start at once on a fresh PostgreSQL database (migrations and
//! first-start writes under an advisory lock), an edge given both URLs moves to
//! the survivor when one is killed, and edges come back within a second of a
//! control plane that was down for long enough for their backoff to grow.

use std::time::{Duration, Instant};

use gatehouse_tests::control_plane::{AdminClient, TestControlPlane};
use gatehouse_tests::db::TestDb;
use gatehouse_tests::edge::TestEdge;
use gatehouse_tests::eventually;
use reqwest::StatusCode;

const WAIT: Duration = Duration::from_secs(10);
/// The promise: a token minted on a live control plane reaches the edges within this.
const PROPAGATION: Duration = Duration::from_secs(1);

/// Polls until `token` works at the edge, returning how long that took from `since`.
async fn time_until_token_works(edge: &TestEdge, token: &str, since: Instant) -> Duration {
    let deadline = since + WAIT;
    loop {
        if edge.list_tools("tools", token).await.status() == StatusCode::OK {
            return since.elapsed();
        }
        assert!(Instant::now() < deadline, "the token never reached the edge");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn replicas_started_at_once_on_a_fresh_postgres_database_both_start() {
    let Some(db) = TestDb::postgres().await else {
        eprintln!("skipped: GATEHOUSE_TEST_DATABASE_URL is not set");
        return;
    };
    // Both run migrations and bootstrap against an empty database at the same moment.
    let (first, second) = TestControlPlane::start_pair(db).await;
    // One schema, one default org: each sees what the other writes.
    first.admin().create_workspace("made-on-first").await;
    let (status, body) = second.admin().request(reqwest::Method::GET, "/v1/workspaces", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.to_string().contains("made-on-first"), "{body}");
}

#[tokio::test]
async fn edge_moves_to_the_other_replica_when_one_is_killed() {
    let db = match TestDb::postgres().await {
        Some(db) => db,
        None => TestDb::sqlite().await,
    };
    let survivor = TestControlPlane::start(db).await;
    let _upstream = survivor.admin().platform_with_tools().await;
    let doomed = survivor.start_replica_killable().await;

    // The doomed replica first: the edge streams from it.
    let urls = format!("{},{}", doomed.grpc_url, survivor.grpc_url);
    let edge = TestEdge::start_with_default_backoff(&urls, &survivor.node_token).await;
    edge.wait_ready().await;
    let doomed_admin = AdminClient::new(&doomed.api_url, Some(&survivor.admin_token));
    let edges = doomed_admin.edges().await;
    assert!(edges.to_string().contains(&edge.node_id), "the edge streams from the doomed replica: {edges}");

    doomed.kill();
    let minted = survivor.admin().mint_token("alice@example.com", "platform").await;
    let took = time_until_token_works(&edge, &minted.token, Instant::now()).await;
    eprintln!("token minted on the survivor reached the edge {took:?} after the kill");
    assert!(took < PROPAGATION, "took {took:?}");
}

#[tokio::test]
async fn edges_reconnect_within_a_second_of_the_control_plane_coming_back() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let _upstream = cp.admin().platform_with_tools().await;
    let edge = TestEdge::start_with_default_backoff(&cp.grpc_url, &cp.node_token).await;
    edge.wait_ready().await;

    let stopped = cp.stop().await;
    // Long enough for the reconnect backoff to reach its 5 s cap.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let cp = stopped.start_again().await;
    let back = Instant::now();
    let minted = cp.admin().mint_token("alice@example.com", "platform").await;
    let took = time_until_token_works(&edge, &minted.token, back).await;
    eprintln!("token reached the edge {took:?} after the control plane answered again");
    assert!(took < PROPAGATION, "took {took:?}");
    eventually(WAIT, "the edge to report connected", || async { edge.state.is_connected().then_some(()) })
        .await;
}
