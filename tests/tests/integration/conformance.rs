//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, pinned in
//! `tests/conformance/package.json`) run against Gatehouse: the suite's client
//! scenarios start a scenario MCP server, and `tests/conformance/gatehouse-client.mjs`
//! registers it in a real control plane and drives the MCP calls through a real edge.
//!
//! Only the scenarios that pass today are asserted; `tests/conformance/README.md`
//! lists every scenario with its status and the reason.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use futures::StreamExt as _;
use gatehouse_tests::control_plane::TestControlPlane;
use gatehouse_tests::db::TestDb;
use gatehouse_tests::edge::TestEdge;
use gatehouse_tests::node::node22;
use serde_json::Value;
use tokio::time::Instant;

/// Client scenarios the suite must pass outright (exit 0, no failed or warned check).
const CLIENT_SCENARIOS: &[&str] = &[
    "initialize",
    "tools_call",
    "http-standard-headers",
    "json-schema-ref-no-deref",
    "json-schema-2020-12-preservation",
    "auth/metadata-default",
    "auth/metadata-var1",
    "auth/metadata-var2",
    "auth/metadata-var3",
    "auth/scope-from-www-authenticate",
    "auth/scope-from-scopes-supported",
    "auth/scope-omitted-when-undefined",
    "auth/scope-step-up",
    "auth/scope-retry-limit",
    "auth/token-endpoint-auth-basic",
    "auth/token-endpoint-auth-post",
    "auth/token-endpoint-auth-none",
    "auth/pre-registration",
    "auth/2025-03-26-oauth-metadata-backcompat",
    "auth/2025-03-26-oauth-endpoint-fallback",
    "auth/resource-mismatch",
    "auth/offline-access-scope",
    "auth/offline-access-not-supported",
    "auth/authorization-server-migration",
    "auth/iss-supported",
    "auth/iss-not-advertised",
    "auth/iss-supported-missing",
    "auth/iss-wrong-issuer",
    "auth/iss-unexpected",
    "auth/iss-normalized",
    "auth/metadata-issuer-mismatch",
    "auth/client-credentials-basic",
];
/// Gatehouse uses its own Client ID Metadata Document URL; the scenario expects
/// its fixed `https://conformance-test.local/client-metadata.json` and warns
/// otherwise. Asserted: that warning is the only non-success, and it names
/// Gatehouse's document URL as the client id used.
const CIMD_SCENARIO: &str = "auth/basic-cimd";
/// Scenarios run at once, each with its own edge (a Node suite process each; 2 cores).
const CONCURRENCY: usize = 3;
/// Upper bound for one scenario (the suite's own client timeout is 20 s here).
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(25);
/// How long the suite may take to stop its servers once its results are written.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

/// What one scenario run produced.
struct Outcome {
    scenario: &'static str,
    status: ExitStatus,
    checks: Vec<Value>,
    output: String,
}

/// Runs one client scenario with Gatehouse as the client, through an edge of its own.
///
/// The suite's output goes to a file, not a pipe: a pipe would keep `wait` from
/// returning while any process the suite started still holds it.
///
/// Once the suite has written its results it stops its scenario servers, and
/// Node's `server.close()` waits for every connection that has not yet carried a
/// request (it treats them as active). The edge's HTTP client (hyper's pool) can
/// hold exactly such a connection: when a request finds no idle connection it
/// dials a new one while waiting, and pools the new one unused if an old one was
/// freed first. A gateway keeping idle connections to an upstream is normal, so
/// the edge is stopped (dropping its pool) once the results are on disk; the
/// suite then exits with its own verdict.
async fn run_client_scenario(cp: &TestControlPlane, workspace: &str, scenario: &'static str) -> Outcome {
    let dir = conformance_dir();
    let node = node22().await;
    let edge = TestEdge::start(&cp.grpc_url, &cp.node_token).await;
    edge.wait_ready().await;
    let results = tempfile::tempdir().unwrap();
    let log_path = results.path().join("suite.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let client = format!("{} {}", node.display(), dir.join("gatehouse-client.mjs").display());
    let mut suite = tokio::process::Command::new(&node)
        .arg(dir.join("node_modules/@modelcontextprotocol/conformance/dist/index.js"))
        .args(["client", "--scenario", scenario, "--timeout", "20000", "--command", &client, "-o"])
        .arg(results.path())
        .current_dir(&dir)
        .env("GATEHOUSE_ADMIN_URL", &cp.api_url)
        .env("GATEHOUSE_ADMIN_TOKEN", &cp.admin_token)
        .env("GATEHOUSE_EDGE_URL", &edge.url)
        .env("GATEHOUSE_WORKSPACE", workspace)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("run the conformance suite");
    let output = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let deadline = Instant::now() + SCENARIO_TIMEOUT;
    let mut exited = None;
    while exited.is_none() && !has_checks(results.path()) {
        assert!(Instant::now() < deadline, "conformance scenario {scenario} timed out:\n{}", output());
        tokio::time::sleep(Duration::from_millis(50)).await;
        exited = suite.try_wait().expect("poll the conformance suite");
    }
    edge.stop().await;
    let status = match exited {
        Some(status) => status,
        None => tokio::time::timeout(SHUTDOWN_TIMEOUT, suite.wait())
            .await
            .unwrap_or_else(|_| {
                panic!("conformance scenario {scenario} did not shut down after its results:\n{}", output())
            })
            .expect("wait for the conformance suite"),
    };
    let checks = read_checks(results.path());
    Outcome { scenario, status, checks, output: output() }
}

fn has_checks(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|e| {
        let path = e.path();
        path.is_dir() && (path.join("checks.json").exists() || has_checks(&path))
    })
}

/// Every `checks.json` the suite wrote under `dir`, concatenated.
fn read_checks(dir: &Path) -> Vec<Value> {
    let mut checks = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            checks.extend(read_checks(&path));
        } else if path.file_name().is_some_and(|n| n == "checks.json") {
            let text = std::fs::read_to_string(&path).unwrap();
            let parsed: Vec<Value> = serde_json::from_str(&text).unwrap();
            checks.extend(parsed);
        }
    }
    checks
}

fn with_status<'a>(checks: &'a [Value], status: &str) -> Vec<&'a Value> {
    checks.iter().filter(|c| c["status"] == status).collect()
}

/// Why `outcome` does not meet its expectation, if it doesn't.
fn problem(outcome: &Outcome, cimd_client_id: &str) -> Option<String> {
    let Outcome { scenario, status, checks, output } = outcome;
    let failed = with_status(checks, "FAILURE");
    let warned = with_status(checks, "WARNING");
    let problem = if checks.is_empty() {
        "recorded no checks".to_owned()
    } else if !failed.is_empty() {
        format!("failed checks {failed:#?}")
    } else if with_status(checks, "SUCCESS").is_empty() {
        "nothing succeeded".to_owned()
    } else if *scenario == CIMD_SCENARIO {
        let only_cimd = warned.len() == 1 && warned[0]["id"] == "cimd-client-id-used";
        if only_cimd && warned[0]["details"]["actualClientId"] == cimd_client_id {
            return None;
        }
        format!("expected only the cimd-client-id-used warning naming {cimd_client_id}, got {warned:#?}")
    } else if !warned.is_empty() {
        format!("warned checks {warned:#?}")
    } else if !status.success() {
        format!("the suite exited with {status}")
    } else {
        return None;
    };
    Some(format!("scenario {scenario}: {problem}\n{output}"))
}

/// Gatehouse as the MCP and OAuth client of the suite's servers: registered through
/// the admin API, called through the edge, authorized by the upstream OAuth broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gatehouse_passes_the_client_conformance_scenarios_through_the_edge() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    cp.admin().create_workspace("conformance").await;
    // Gatehouse's client id at authorization servers that accept metadata documents.
    let cimd_client_id = format!("{}/oauth/client-metadata.json", cp.api_url);
    let scenarios = CLIENT_SCENARIOS.iter().copied().chain([CIMD_SCENARIO]);
    let outcomes: Vec<Outcome> = futures::stream::iter(scenarios)
        .map(|scenario| run_client_scenario(&cp, "conformance", scenario))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let problems: Vec<String> = outcomes.iter().filter_map(|o| problem(o, &cimd_client_id)).collect();
    assert!(problems.is_empty(), "{} scenario(s) did not pass:\n{}", problems.len(), problems.join("\n\n"));
}
