//! Starting each role: parse config from the environment map, bind the
//! sockets, then hand them to the role's library `run` function.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Default admin API address.
pub const DEFAULT_API_ADDR: &str = "127.0.0.1:8080";
/// Default config-stream (gRPC) address.
pub const DEFAULT_GRPC_ADDR: &str = "127.0.0.1:50051";
/// Default edge (MCP proxy) address.
pub const DEFAULT_EDGE_ADDR: &str = "127.0.0.1:8787";
/// The edge's `/metrics` address in `gatehouse dev` (production: off unless set).
pub const DEV_EDGE_METRICS_ADDR: &str = "127.0.0.1:9464";
/// The control plane's `/metrics` address in `gatehouse dev` (production: off unless set).
pub const DEV_METRICS_ADDR: &str = "127.0.0.1:9465";
/// The control plane's `/metrics` address (its own listener, never the public admin API).
pub const METRICS_ADDR_VAR: &str = "GATEHOUSE_METRICS_ADDR";
/// The edge's `/metrics` address (its own listener, never the public MCP one).
pub const EDGE_METRICS_ADDR_VAR: &str = "GATEHOUSE_EDGE_METRICS_ADDR";

/// Reads a socket address from `key`, or `default` when unset.
pub fn addr(env: &BTreeMap<String, String>, key: &str, default: &str) -> anyhow::Result<SocketAddr> {
    let raw = env.get(key).map(String::as_str).filter(|v| !v.is_empty()).unwrap_or(default);
    raw.parse().with_context(|| format!("{key} must be a socket address like {default}, got {raw:?}"))
}

/// Reads an optional socket address from `key`: unset or empty means off.
pub fn optional_addr(env: &BTreeMap<String, String>, key: &str) -> anyhow::Result<Option<SocketAddr>> {
    let Some(raw) = env.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) else { return Ok(None) };
    let addr = raw.parse().with_context(|| {
        format!("{key} must be a socket address like 127.0.0.1:9464 (or empty for none), got {raw:?}")
    })?;
    Ok(Some(addr))
}

async fn bind_optional(addr: Option<SocketAddr>, what: &str) -> anyhow::Result<Option<TcpListener>> {
    match addr {
        Some(addr) => Ok(Some(bind(addr, what).await?)),
        None => Ok(None),
    }
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| format!("binding the {what} on {addr}"))
}

/// Runs the control plane until `shutdown` completes.
pub async fn control_plane(
    env: &BTreeMap<String, String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = gatehouse_control_plane::ControlPlaneConfig::from_env(env)?;
    config.validate()?;
    let (api, grpc) = (
        addr(env, "GATEHOUSE_API_ADDR", DEFAULT_API_ADDR)?,
        addr(env, "GATEHOUSE_GRPC_ADDR", DEFAULT_GRPC_ADDR)?,
    );
    let metrics = optional_addr(env, METRICS_ADDR_VAR)?;
    let api = bind(api, "admin API").await?;
    let grpc = bind(grpc, "config stream").await?;
    let metrics = bind_optional(metrics, "control plane metrics").await?;
    tracing::info!(api = %api.local_addr()?, grpc = %grpc.local_addr()?, "control plane listening");
    let listeners = gatehouse_control_plane::Listeners { api, grpc };
    gatehouse_control_plane::run_with_metrics(config, listeners, metrics, shutdown).await
}

/// Runs an edge until `shutdown` completes.
pub async fn edge(
    env: &BTreeMap<String, String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // `GATEHOUSE_EDGE_TLS_*` land in `config.tls`; `run` loads the certificate, key and client
    // CA bundle before it accepts a connection, so bad TLS files stop the edge at start.
    let config = gatehouse_data_plane::EdgeConfig::from_env(env)?;
    config.validate()?;
    let (edge, metrics) =
        (addr(env, "GATEHOUSE_EDGE_ADDR", DEFAULT_EDGE_ADDR)?, optional_addr(env, EDGE_METRICS_ADDR_VAR)?);
    let listener = bind(edge, "edge").await?;
    let metrics = bind_optional(metrics, "edge metrics").await?;
    let client_auth = config.tls.as_ref().map(|t| t.client_auth.as_str());
    tracing::info!(
        addr = %listener.local_addr()?,
        control_plane = %config.control_plane_url,
        scheme = if config.tls.is_some() { "https" } else { "http" },
        client_auth = client_auth.unwrap_or("none"),
        "edge listening"
    );
    let state = gatehouse_data_plane::EdgeState::new();
    gatehouse_data_plane::run_with_metrics(config, state, listener, metrics, shutdown).await
}

/// Completes on Ctrl-C or SIGTERM, cancelling `token`.
pub async fn shutdown_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
        _ = token.cancelled() => {}
    }
    tracing::info!("shutting down");
    token.cancel();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap().self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[tokio::test]
    async fn edge_with_unusable_tls_files_stops_at_start_naming_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = self_signed("edge.test");
        let (_, other_key) = self_signed("other.test");
        let write = |name: &str, contents: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, contents).unwrap();
            path.display().to_string()
        };
        let env: BTreeMap<String, String> = [
            ("GATEHOUSE_NODE_TOKEN", "node-token".to_owned()),
            ("GATEHOUSE_EDGE_ADDR", "127.0.0.1:0".to_owned()),
            ("GATEHOUSE_EDGE_TLS_CERT", write("tls.crt", &cert)),
            ("GATEHOUSE_EDGE_TLS_KEY", write("tls.key", &other_key)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let started =
            tokio::time::timeout(std::time::Duration::from_secs(5), edge(&env, std::future::pending()));
        let err = started.await.expect("the edge stops at once").unwrap_err();
        let message = format!("{err:#}");
        assert!(
            message.contains("GATEHOUSE_EDGE_TLS_KEY") && message.contains("does not match"),
            "{message}"
        );
        assert!(!message.contains("PRIVATE KEY"), "{message}");
    }
}
