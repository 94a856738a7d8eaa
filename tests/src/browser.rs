//! The console's browser scenarios: `node web/e2e/<scenario>.mjs` drives real
//! Chromium (Debian's package, through playwright-core) and reports each step
//! as one JSON line on its standard output; the test reads those steps, checks
//! what the browser did from outside (API, edge, MCP clients), and tells the
//! scenario to go on with a line on its standard input.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// The console's sources (`web/`).
pub fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../web")
}

/// `<target>/console-screenshots`, kept as a CI artifact.
pub fn screenshot_dir() -> PathBuf {
    // Cargo sets CARGO_TARGET_TMPDIR only when compiling integration tests, not this library.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("console-screenshots")
}

/// A running browser scenario.
pub struct BrowserScenario {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
}

impl BrowserScenario {
    /// Starts `web/e2e/<script>` with `env` (and `SCREENSHOT_DIR`) in its environment.
    pub fn start(script: &str, env: &[(&str, &str)]) -> Self {
        let web = web_dir();
        assert!(
            web.join("node_modules/playwright-core").is_dir(),
            "web/node_modules is missing: building the control plane installs it (or run npm --prefix web ci)"
        );
        let mut command = tokio::process::Command::new("node");
        command
            .arg(format!("e2e/{script}"))
            .current_dir(&web)
            .env("SCREENSHOT_DIR", screenshot_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("node runs the browser scenario");
        let stdin = child.stdin.take();
        let lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        Self { child, stdin, lines }
    }

    /// The scenario's next step; panics with the scenario's message if it failed.
    pub async fn next_step(&mut self) -> Value {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(90), self.lines.next_line())
                .await
                .expect("the browser scenario answers within 90 s")
                .expect("reading the scenario's output")
                .expect("the scenario ended early (see its stderr above)");
            if let Ok(step) = serde_json::from_str::<Value>(&line) {
                assert_ne!(
                    step["step"],
                    "failed",
                    "the browser scenario failed: {}",
                    step["error"].as_str().unwrap_or_default()
                );
                return step;
            }
            eprintln!("browser scenario: {line}");
        }
    }

    /// The next step, which must be `name`.
    pub async fn expect_step(&mut self, name: &str) -> Value {
        let step = self.next_step().await;
        assert_eq!(step["step"], name, "{step}");
        step
    }

    /// Tells the scenario to go on (`waitForGo()` in `web/e2e/browser.mjs` reads one line).
    pub async fn send(&mut self, line: &str) {
        let mut stdin = self.stdin.take().expect("the scenario reads one line on its standard input");
        stdin.write_all(format!("{line}\n").as_bytes()).await.unwrap();
    }

    /// Waits for the scenario's `done` step and its successful exit.
    pub async fn finish(mut self) {
        self.expect_step("done").await;
        drop(self.stdin.take());
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the scenario exits after its last step")
            .unwrap();
        assert!(status.success(), "the browser scenario exited with {status}");
    }
}
