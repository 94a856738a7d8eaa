//! `gatehouse dev`: a control plane and one edge in one process, with all
//! state (SQLite database, master key, admin and node tokens, edge cache) in
//! one data directory so a restart picks up where it left off.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use rand::RngCore as _;
use tokio_util::sync::CancellationToken;

use crate::roles;

/// Files `gatehouse dev` keeps in its data directory.
#[derive(Debug, Clone)]
pub struct DevLayout {
    /// The data directory (`GATEHOUSE_DATA_DIR`, default `./.gatehouse`).
    pub data_dir: PathBuf,
    /// Where the admin token is written on first start.
    pub admin_token_file: PathBuf,
}

/// Fills in dev defaults for every setting the caller left unset, creating
/// the data directory, a master key file and a node token file (0600) as needed.
pub fn prepare(env: &mut BTreeMap<String, String>) -> anyhow::Result<DevLayout> {
    let data_dir =
        PathBuf::from(env.get("GATEHOUSE_DATA_DIR").filter(|v| !v.is_empty()).map_or(".gatehouse", |v| v));
    create_private_dir(&data_dir)?;
    let data_dir = data_dir.canonicalize().with_context(|| format!("resolving {}", data_dir.display()))?;

    let unset = |env: &BTreeMap<String, String>, k: &str| env.get(k).is_none_or(|v| v.is_empty());
    if unset(env, "GATEHOUSE_MASTER_KEY") && unset(env, "GATEHOUSE_MASTER_KEY_FILE") {
        let key_file = data_dir.join("master.key");
        if !key_file.exists() {
            let key = gatehouse_control_plane::credentials::MasterKey::generate();
            write_private_file(&key_file, key.to_base64().as_bytes())?;
            eprintln!("gatehouse dev: generated a master key in {}", key_file.display());
        }
        env.insert("GATEHOUSE_MASTER_KEY_FILE".into(), key_file.display().to_string());
    }
    if unset(env, "GATEHOUSE_NODE_TOKEN") {
        let token_file = data_dir.join("node-token");
        if !token_file.exists() {
            write_private_file(&token_file, random_token("ghn_").as_bytes())?;
        }
        let token = std::fs::read_to_string(&token_file)
            .with_context(|| format!("reading {}", token_file.display()))?;
        env.insert("GATEHOUSE_NODE_TOKEN".into(), token.trim().to_owned());
    }
    let admin_token_file = match env.get("GATEHOUSE_ADMIN_TOKEN_FILE").filter(|v| !v.is_empty()) {
        Some(f) => PathBuf::from(f),
        None => data_dir.join("admin-token"),
    };
    env.insert("GATEHOUSE_ADMIN_TOKEN_FILE".into(), admin_token_file.display().to_string());
    let defaults = [
        ("GATEHOUSE_DATABASE_URL", format!("sqlite://{}?mode=rwc", data_dir.join("gatehouse.db").display())),
        ("GATEHOUSE_EDGE_CACHE", data_dir.join("edge-config.bin").display().to_string()),
        ("GATEHOUSE_NODE_ID", "dev-edge".to_owned()),
        // Local MCP servers are the point of dev mode: allow loopback upstreams.
        ("GATEHOUSE_ALLOW_LOOPBACK_UPSTREAMS", "true".to_owned()),
        // Metrics on by default, on loopback (set empty to turn one off).
        (roles::EDGE_METRICS_ADDR_VAR, roles::DEV_EDGE_METRICS_ADDR.to_owned()),
        (roles::METRICS_ADDR_VAR, roles::DEV_METRICS_ADDR.to_owned()),
    ];
    for (k, v) in defaults {
        env.entry(k.to_owned()).or_insert(v);
    }
    let grpc = roles::addr(env, "GATEHOUSE_GRPC_ADDR", roles::DEFAULT_GRPC_ADDR)?;
    // The edge reaches the control plane in the same process: on loopback, so plaintext is
    // allowed unless the gRPC listener serves TLS (then the edge needs GATEHOUSE_CONTROL_PLANE_CA).
    let grpc_tls = env.get("GATEHOUSE_GRPC_TLS_CERT").is_some_and(|v| !v.trim().is_empty());
    let host = if grpc.ip().is_unspecified() {
        std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), grpc.port())
    } else {
        grpc
    };
    let scheme = if grpc_tls { "https" } else { "http" };
    env.entry("GATEHOUSE_CONTROL_PLANE_URL".into()).or_insert_with(|| format!("{scheme}://{host}"));
    // The public URLs follow the ports, so metadata, challenges and links name the real ones.
    let edge = roles::addr(env, "GATEHOUSE_EDGE_ADDR", roles::DEFAULT_EDGE_ADDR)?;
    let edge_scheme =
        if env.get("GATEHOUSE_EDGE_TLS_CERT").is_some_and(|v| !v.is_empty()) { "https" } else { "http" };
    if unset(env, "GATEHOUSE_EDGE_PUBLIC_URL") && unset(env, "GATEHOUSE_PUBLIC_BASE_URL") {
        env.insert("GATEHOUSE_EDGE_PUBLIC_URL".into(), format!("{edge_scheme}://{edge}"));
    }
    let api = roles::addr(env, "GATEHOUSE_API_ADDR", roles::DEFAULT_API_ADDR)?;
    env.entry("GATEHOUSE_PUBLIC_URL".into()).or_insert_with(|| format!("http://{api}"));
    Ok(DevLayout { data_dir, admin_token_file })
}

/// Checks every setting of both roles before anything binds or starts, so a
/// mistake in one is reported with the other's, not after the other started.
pub fn validate(env: &BTreeMap<String, String>) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    match gatehouse_control_plane::ControlPlaneConfig::from_env(env) {
        Ok(config) => problems.extend(config.validate().err().map(|e| format!("control plane: {e}"))),
        Err(e) => problems.push(format!("control plane: {e}")),
    }
    match gatehouse_data_plane::EdgeConfig::from_env(env) {
        Ok(config) => problems.extend(config.validate().err().map(|e| format!("edge: {e}"))),
        Err(e) => problems.push(format!("edge: {e}")),
    }
    for (key, default) in [
        ("GATEHOUSE_API_ADDR", roles::DEFAULT_API_ADDR),
        ("GATEHOUSE_GRPC_ADDR", roles::DEFAULT_GRPC_ADDR),
        ("GATEHOUSE_EDGE_ADDR", roles::DEFAULT_EDGE_ADDR),
    ] {
        if let Err(e) = roles::addr(env, key, default) {
            problems.push(e.to_string());
        }
    }
    for key in [roles::METRICS_ADDR_VAR, roles::EDGE_METRICS_ADDR_VAR] {
        if let Err(e) = roles::optional_addr(env, key) {
            problems.push(e.to_string());
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    anyhow::bail!("invalid settings, nothing started:\n  {}", problems.join("\n  "))
}

/// Runs the dev stack until Ctrl-C; either half failing stops both.
pub async fn run(env: BTreeMap<String, String>) -> anyhow::Result<()> {
    let token = CancellationToken::new();
    tokio::spawn(roles::shutdown_signal(token.clone()));
    run_until(env, token).await
}

/// Runs the dev stack until `token` is cancelled (or either half fails).
pub async fn run_until(mut env: BTreeMap<String, String>, token: CancellationToken) -> anyhow::Result<()> {
    let layout = prepare(&mut env)?;
    validate(&env)?;

    let cp = {
        let (env, token) = (env.clone(), token.clone());
        tokio::spawn(async move {
            let result = roles::control_plane(&env, token.clone().cancelled_owned()).await;
            token.cancel();
            result
        })
    };
    let edge = {
        let (env, token) = (env.clone(), token.clone());
        tokio::spawn(async move {
            let result = roles::edge(&env, token.clone().cancelled_owned()).await;
            token.cancel();
            result
        })
    };
    print_banner(&env, &layout);
    let (cp, edge) = tokio::join!(cp, edge);
    cp.context("control plane task panicked")??;
    edge.context("edge task panicked")??;
    Ok(())
}

fn print_banner(env: &BTreeMap<String, String>, layout: &DevLayout) {
    let api = env.get("GATEHOUSE_API_ADDR").map_or(roles::DEFAULT_API_ADDR, |v| v);
    let edge = env.get("GATEHOUSE_EDGE_ADDR").map_or(roles::DEFAULT_EDGE_ADDR, |v| v);
    let scheme =
        if env.get("GATEHOUSE_EDGE_TLS_CERT").is_some_and(|v| !v.is_empty()) { "https" } else { "http" };
    let edge_url =
        env.get("GATEHOUSE_EDGE_PUBLIC_URL").cloned().unwrap_or_else(|| format!("{scheme}://{edge}"));
    eprintln!(
        "\ngatehouse dev\n  admin API   http://{api}  (token in {})\n  MCP edge    {}/mcp/default/<server-slug>  (or /mcp/<server-slug>)\n  metrics     {}\n  data        {}\n",
        layout.admin_token_file.display(),
        edge_url.trim_end_matches('/'),
        metrics_line(env),
        layout.data_dir.display()
    );
}

/// Where the banner says the two `/metrics` endpoints are.
fn metrics_line(env: &BTreeMap<String, String>) -> String {
    let url = |key: &str| match env.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        Some(addr) => format!("http://{addr}/metrics"),
        None => "off".to_owned(),
    };
    format!("control plane {}  edge {}", url(roles::METRICS_ADDR_VAR), url(roles::EDGE_METRICS_ADDR_VAR))
}

fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", dir.display()))?;
    }
    Ok(())
}

fn write_private_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents).with_context(|| format!("writing {}", path.display()))?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_creates_private_key_files_once_and_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut env = BTreeMap::from([("GATEHOUSE_DATA_DIR".to_string(), dir.path().display().to_string())]);
        prepare(&mut env).unwrap();
        let key_file = PathBuf::from(&env["GATEHOUSE_MASTER_KEY_FILE"]);
        let key = std::fs::read_to_string(&key_file).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
            assert_eq!(
                std::fs::metadata(dir.path().join("node-token")).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let node_token = env["GATEHOUSE_NODE_TOKEN"].clone();
        assert!(node_token.starts_with("ghn_"));
        assert!(env["GATEHOUSE_DATABASE_URL"].starts_with("sqlite://"));

        let mut again =
            BTreeMap::from([("GATEHOUSE_DATA_DIR".to_string(), dir.path().display().to_string())]);
        prepare(&mut again).unwrap();
        assert_eq!(
            std::fs::read_to_string(&key_file).unwrap(),
            key,
            "the master key must never be regenerated"
        );
        assert_eq!(again["GATEHOUSE_NODE_TOKEN"], node_token);
    }

    #[test]
    fn explicit_settings_win_over_dev_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let mut env = BTreeMap::from([
            ("GATEHOUSE_DATA_DIR".to_string(), dir.path().display().to_string()),
            ("GATEHOUSE_DATABASE_URL".to_string(), "postgres://db/x".to_string()),
            ("GATEHOUSE_MASTER_KEY".to_string(), "k".to_string()),
        ]);
        prepare(&mut env).unwrap();
        assert_eq!(env["GATEHOUSE_DATABASE_URL"], "postgres://db/x");
        assert!(!env.contains_key("GATEHOUSE_MASTER_KEY_FILE"));
        assert!(!dir.path().join("master.key").exists());
    }

    #[test]
    fn the_dev_edge_reaches_its_control_plane_on_loopback() {
        let dir = tempfile::tempdir().unwrap();
        let mut env = BTreeMap::from([
            ("GATEHOUSE_DATA_DIR".to_string(), dir.path().display().to_string()),
            ("GATEHOUSE_GRPC_ADDR".to_string(), "0.0.0.0:50061".to_string()),
        ]);
        prepare(&mut env).unwrap();
        // Loopback, so the edge accepts the plaintext URL without an opt-in.
        assert_eq!(env["GATEHOUSE_CONTROL_PLANE_URL"], "http://127.0.0.1:50061");

        let mut env = BTreeMap::from([
            ("GATEHOUSE_DATA_DIR".to_string(), dir.path().display().to_string()),
            ("GATEHOUSE_GRPC_TLS_CERT".to_string(), "/tls/grpc.crt".to_string()),
        ]);
        prepare(&mut env).unwrap();
        assert_eq!(env["GATEHOUSE_CONTROL_PLANE_URL"], "https://127.0.0.1:50051");
    }
}
