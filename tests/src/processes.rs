//! The `gatehouse` binary run as separate child processes, for benchmarks that
//! read each process's CPU time and memory from `/proc` (Linux only).

use std::collections::BTreeMap;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use anyhow::{bail, ensure, Context as _};

/// Names a prebuilt `gatehouse` binary; when unset, [`gatehouse_binary`] builds one.
pub const BINARY_VAR: &str = "GATEHOUSE_BENCH_BIN";

/// The `gatehouse` binary to run: `GATEHOUSE_BENCH_BIN` when set, else the one
/// `cargo build --release -p gatehouse` produces, built now so that it always
/// matches the checked-out code (the path comes from cargo, so `CARGO_TARGET_DIR`
/// is honoured).
pub fn gatehouse_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(BINARY_VAR).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        ensure!(path.is_file(), "{BINARY_VAR}={} is not a file", path.display());
        return Ok(path);
    }
    // `cargo bench` sets CARGO to the cargo running it.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("locating the workspace root")?;
    eprintln!("building the gatehouse binary: cargo build --release -p gatehouse");
    let mut command = Command::new(cargo);
    // Cargo gives the bench the package's own variables (CARGO_PKG_NAME, …); build
    // scripts that watch them (ring's) would rebuild half the tree if the nested
    // cargo saw them.
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let set_for_the_bench = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_CRATE_", "CARGO_BIN_"]
            .iter()
            .any(|p| key.starts_with(p))
            || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "CARGO_RUSTC_CURRENT_DIR", "OUT_DIR"]
                .contains(&key);
        if set_for_the_bench {
            command.env_remove(key);
        }
    }
    let output = command
        .current_dir(workspace)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "gatehouse",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo build --release -p gatehouse")?;
    ensure!(output.status.success(), "cargo build --release -p gatehouse failed ({})", output.status);
    for line in output.stdout.split(|b| *b == b'\n') {
        let Ok(message) = serde_json::from_slice::<serde_json::Value>(line) else { continue };
        if message["reason"] == "compiler-artifact" && message["target"]["name"] == "gatehouse" {
            if let Some(exe) = message["executable"].as_str() {
                return Ok(PathBuf::from(exe));
            }
        }
    }
    bail!("cargo build --release -p gatehouse reported no gatehouse executable")
}

/// `gatehouse keygen`: a fresh base64 master key.
pub fn keygen(binary: &Path) -> anyhow::Result<String> {
    let output =
        Command::new(binary).arg("keygen").env_clear().output().context("running gatehouse keygen")?;
    ensure!(output.status.success(), "gatehouse keygen failed ({})", output.status);
    let key = String::from_utf8(output.stdout).context("gatehouse keygen printed non-UTF-8")?;
    Ok(key.trim().to_owned())
}

/// A loopback port that was free a moment ago (bound on port 0, then released),
/// for a child process to listen on.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// CPU time and resident memory of one process.
#[derive(Debug, Clone, Copy)]
pub struct ProcessStats {
    /// User plus system CPU time of all its threads so far.
    pub cpu: Duration,
    /// Resident set size (`VmRSS`), in bytes.
    pub rss: u64,
}

/// A running `gatehouse <role>` child process, killed when dropped (also when the
/// caller unwinds from a panic). Its stdout and stderr go to a log file.
pub struct GatehouseProcess {
    name: String,
    pid: u32,
    child: Mutex<Child>,
    log: PathBuf,
}

impl GatehouseProcess {
    /// Starts `binary role` with exactly `env` (nothing is inherited, so stray
    /// `GATEHOUSE_*` or `OTEL_*` settings of the caller cannot change what runs),
    /// writing its output to `log`.
    pub fn spawn(
        name: &str,
        binary: &Path,
        role: &str,
        env: &BTreeMap<String, String>,
        log: &Path,
    ) -> anyhow::Result<Self> {
        let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let child = Command::new(binary)
            .arg(role)
            .env_clear()
            .envs(env)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {name}: {} {role}", binary.display()))?;
        Ok(Self { name: name.to_owned(), pid: child.id(), child: Mutex::new(child), log: log.to_owned() })
    }

    /// What the process is called in messages (e.g. `edge 3`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Fails, quoting the end of its log, if the process has exited.
    pub fn ensure_running(&self) -> anyhow::Result<()> {
        let exited = self.child.lock().unwrap_or_else(|e| e.into_inner()).try_wait();
        match exited {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                bail!("{} exited ({status}); its log ends with:\n{}", self.name, self.log_tail())
            }
            Err(e) => bail!("checking on {}: {e}", self.name),
        }
    }

    /// CPU time and RSS so far, from `/proc/<pid>/stat` and `/proc/<pid>/status`.
    pub fn stats(&self) -> anyhow::Result<ProcessStats> {
        let pid = self.pid();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("reading /proc/{pid}/stat of {}", self.name))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status of {}", self.name))?;
        let ticks = cpu_ticks(&stat).with_context(|| format!("parsing /proc/{pid}/stat of {}", self.name))?;
        let rss_kib = vm_rss_kib(&status).with_context(|| format!("no VmRSS for {}", self.name))?;
        let per_sec = clock_ticks_per_sec();
        Ok(ProcessStats {
            cpu: Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / per_sec),
            rss: rss_kib * 1024,
        })
    }

    /// The last few kilobytes of its log.
    pub fn log_tail(&self) -> String {
        const TAIL: u64 = 4096;
        let Ok(mut file) = std::fs::File::open(&self.log) else {
            return format!("(no log at {})", self.log.display());
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = file.seek(SeekFrom::Start(len.saturating_sub(TAIL)));
        let mut tail = String::new();
        let _ = file.read_to_string(&mut tail);
        tail
    }
}

impl Drop for GatehouseProcess {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// utime + stime, in clock ticks, from the text of `/proc/<pid>/stat`.
fn cpu_ticks(stat: &str) -> anyhow::Result<u64> {
    // The command name (field 2) is in parentheses and may itself contain spaces
    // or parentheses: count fields from the last `)`. utime and stime are fields
    // 14 and 15, i.e. the 12th and 13th after the name.
    let (_, rest) = stat.rsplit_once(')').context("no `)` after the command name")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> anyhow::Result<u64> {
        fields.get(i).context("too few fields")?.parse().context("a CPU time field is not a number")
    };
    Ok(field(11)? + field(12)?)
}

/// `VmRSS` in KiB from the text of `/proc/<pid>/status`.
fn vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `USER_HZ`, the unit of the CPU times in `/proc/<pid>/stat` (100 on nearly every Linux).
fn clock_ticks_per_sec() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|t| *t > 0)
            .unwrap_or(100)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_count_fields_from_the_end_of_the_command_name() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 1000 123456 789";
        assert_eq!(cpu_ticks(stat).unwrap(), 325);
    }

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status = "Name:\tgatehouse\nVmPeak:\t  9999 kB\nVmRSS:\t   12345 kB\nThreads:\t4\n";
        assert_eq!(vm_rss_kib(status), Some(12345));
    }

    #[test]
    fn stats_of_this_process_are_readable() {
        let me = std::fs::read_to_string("/proc/self/stat").unwrap();
        cpu_ticks(&me).unwrap();
        assert!(vm_rss_kib(&std::fs::read_to_string("/proc/self/status").unwrap()).unwrap() > 0);
    }
}
