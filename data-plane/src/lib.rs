//! Gatehouse edge (data plane): authenticates MCP clients, applies tool
//! policy and proxies to upstream servers, from config pushed by the control plane.
//!
//! [`run`] wires it together: local cache → config client → HTTP server.
//!
//! Modules, each importing only the ones before it (`scripts/import-cycles`
//! checks there is no circle): [`metrics`] (Prometheus families, imports no other module) →
//! [`config`] (settings from the environment) →
//! [`control_plane`] (the one gRPC channel) → [`identity`] (verifiers compiled
//! into the view), [`upstream_oauth_client`], [`limit_rules`] → [`config_view`], [`state`], [`config_client`] → [`auth`],
//! [`policy`] → [`limits`], [`credentials`] → [`proxy`] → [`server`] → [`run`].

pub mod audit;
pub mod auth;
pub mod config;
pub mod config_cache;
pub mod config_client;
mod config_map;
pub mod config_view;
pub mod control_plane;
pub mod credentials;
pub mod egress;
pub mod elicitation;
pub mod elicitation_streams;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod identity;
pub mod jsonrpc;
pub mod limit_rules;
pub mod limits;
pub mod metrics;
pub mod policy;
pub mod proxy;
pub mod rate_limited;
mod reusable_sleep;
pub mod scopes;
pub mod server;
pub mod state;
pub mod tls;
pub mod upstream_client;
pub mod upstream_oauth_client;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{ConfigError, EdgeConfig};
pub use state::EdgeState;

use config_cache::ConfigCache;
use config_client::ConfigClient;
use control_plane::ControlPlaneChannel;

/// How long shutdown waits for the last config to reach the local cache.
const CACHE_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs an edge on `listener` until `shutdown` completes.
pub async fn run(
    config: EdgeConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with_state(config, EdgeState::new(), listener, shutdown).await
}

/// Like [`run`], with the caller holding the [`EdgeState`] (to observe the served config).
pub async fn run_with_state(
    config: EdgeConfig,
    state: Arc<EdgeState>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with_metrics(config, state, listener, None, shutdown).await
}

/// Like [`run_with_state`], also serving `GET /metrics` on `metrics_listener` when given
/// (`GATEHOUSE_EDGE_METRICS_ADDR`; kept off the MCP listener, which is public).
pub async fn run_with_metrics(
    config: EdgeConfig,
    state: Arc<EdgeState>,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.validate()?;
    // Certificates and keys are read here first: a bad file stops the edge before it serves.
    let tls = config.tls.as_ref().map(tls::EdgeTls::load).transpose()?;
    let addr = listener.local_addr().context("reading the edge listener address")?;
    let cache = config
        .cache_path
        .clone()
        .map(|path| ConfigCache::new(path, &config.node_token).with_max_age(config.cache_max_age));
    if let Some(cache) = &cache {
        load_cache(cache, &state).await;
    }
    // One channel to the control plane, for the config stream and the credential broker.
    let control_plane = ControlPlaneChannel::new(&config)?;
    let client = ConfigClient::new(&config, control_plane.clone(), state.clone());
    let proxy = proxy::ProxyState::new(state.clone(), config.proxy.clone()).context("building the proxy")?;
    let upstream_client = proxy.upstream_client().clone();
    // Upstream credential broker: token cache (Redis or memory) + control plane client.
    let token_cache = credentials::EdgeTokenCache::from_settings(&config.credentials)
        .context("configuring the upstream token cache (GATEHOUSE_REDIS_URL)")?;
    tracing::info!(token_cache = token_cache.status().backend, "upstream token cache configured");
    let broker_client = credentials::ControlPlaneClient::new(&control_plane);
    let broker = credentials::CredentialBroker::new(
        token_cache,
        broker_client,
        config.credentials.refresh_skew,
        config.proxy.upstream_addresses.clone(),
    )
    .context("building the upstream token client")?;
    let broker = broker.with_metrics(state.metrics().clone());
    let probe = Arc::downgrade(&broker);
    state.metrics().watch_redis(Box::new(move || probe.upgrade().and_then(|b| b.redis_status())));
    let limiter = Arc::new(
        limits::RateLimiter::from_settings(&config.credentials)
            .context("configuring rate limits (GATEHOUSE_REDIS_URL)")?,
    );
    tracing::info!(rate_limits = limiter.backend(), "rate limits configured");
    let proxy = proxy.with_credential_broker(broker.clone()).with_rate_limiter(limiter.clone());
    let audit =
        config.audit.enabled.then(|| audit::shipper::spawn(&config, &control_plane, state.metrics().clone()));
    let proxy = match &audit {
        Some(audit) => proxy.with_audit(audit.queue()),
        None => proxy,
    };
    let router = server::router(state.clone(), proxy::router(proxy.clone()))
        .layer(axum::Extension(broker))
        .layer(axum::Extension(limiter));
    let app = server::EdgeApp::new(router, proxy);

    let writer = cache.map(|cache| config_cache::spawn_writer(cache, state.clone(), client.subscribe()));
    let stop_client = CancellationToken::new();
    let client = tokio::spawn(client.run(stop_client.clone()));
    tracing::info!(
        %addr,
        node_id = %config.node_id,
        control_plane = %config.control_plane_url,
        control_plane_tls = config.control_plane_url.contains("https://"),
        config_version = state.config().version(),
        tls = tls.is_some(),
        client_auth = tls.as_ref().map_or("none", |t| t.client_auth().as_str()),
        "edge serving"
    );

    // Certificate rotation without a restart: the files are checked for changes.
    let stop_tls_watch = CancellationToken::new();
    if let Some(tls) = &tls {
        tokio::spawn(tls.clone().watch(stop_tls_watch.clone()));
    }
    tokio::spawn(control_plane.clone().watch_tls(stop_tls_watch.clone()));
    tokio::spawn(upstream_client.watch_tls(stop_tls_watch.clone()));
    let stop_metrics = CancellationToken::new();
    let metrics_server = metrics_listener.map(|listener| {
        let addr = listener.local_addr().ok();
        tracing::info!(addr = ?addr, "edge metrics serving on /metrics");
        let stop = stop_metrics.clone().cancelled_owned();
        tokio::spawn(metrics::serve(listener, state.metrics().clone(), stop))
    });
    server::serve_with_limits(listener, app, tls, &config.limits, shutdown, server::SHUTDOWN_GRACE).await;
    stop_tls_watch.cancel();
    stop_metrics.cancel();
    if let Some(Ok(Err(err))) = match metrics_server {
        Some(task) => Some(task.await),
        None => None,
    } {
        tracing::error!(%err, "edge metrics server failed");
    }

    stop_client.cancel();
    if let Some(audit) = audit {
        audit.stop().await;
    }
    if let Err(err) = client.await {
        tracing::error!(%err, "config client task failed");
    }
    // The client owned the update channel: the writer now flushes the last config and ends.
    if let Some(writer) = writer {
        match tokio::time::timeout(CACHE_FLUSH_TIMEOUT, writer).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(%err, "config cache writer failed"),
            Err(_) => tracing::warn!("config cache writer did not finish in time"),
        }
    }
    tracing::info!(%addr, "edge stopped");
    Ok(())
}

/// Installs the cached config, if any, so the edge serves before the control plane answers.
async fn load_cache(cache: &ConfigCache, state: &EdgeState) {
    let path = cache.path().display();
    match cache.load().await {
        // Never step back: a copy older than what this edge already serves would revive
        // what was revoked since.
        Ok(Some(view)) if state.is_loaded() && view.version() <= state.config().version() => {
            tracing::warn!(
                version = view.version(),
                served = state.config().version(),
                %path,
                "ignoring a local config cache older than the config already served"
            );
        }
        Ok(Some(view)) => {
            let version = view.version();
            let (servers, workspaces, provisions, tokens) = view.counts();
            state.install(view);
            tracing::info!(
                version,
                servers,
                workspaces,
                provisions,
                tokens,
                %path,
                "config loaded from the local cache"
            );
        }
        Ok(None) => tracing::info!(%path, "no local config cache yet"),
        Err(err) => tracing::warn!(%path, %err, "ignoring the local config cache"),
    }
}
