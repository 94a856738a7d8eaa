//! The official MCP conformance suite (`@modelcontextprotocol/conformance`,
//! pinned in `tests/conformance/package.json`): where it lives, the Node 22 it
//! needs and the checks it writes.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// `tests/conformance`.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

/// The suite's entry point (`node <this> client|server|authorization …`).
pub fn entry_point() -> PathBuf {
    dir().join("node_modules/@modelcontextprotocol/conformance/dist/index.js")
}

/// Node 22 (the suite needs it), installed with `tests/conformance`.
pub use crate::node::node22;

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
