//! Gatehouse control plane: registry, credential store, admin API and config distribution.
//!
//! The binary and the tests call [`run`] with a validated [`ControlPlaneConfig`]
//! and already-bound [`Listeners`]; it serves until `shutdown` resolves.

pub mod accounts;
pub mod api;
pub mod audit;
pub mod bootstrap;
pub mod client_ip;
pub mod config;
pub mod config_stream;
pub mod console;
pub mod credential_broker;
pub mod credentials;
mod http;
pub mod listener_tls;
pub mod metrics;
pub mod oauth_server;
pub mod rate_limit_counters;
pub mod rest;
pub mod sso;
pub mod store;
pub mod tokens;
pub mod upstream_oauth;
pub mod upstream_tools;
pub mod validation;

use std::future::{Future, IntoFuture};
use std::sync::Arc;

use anyhow::Context;
use gatehouse_proto::audit::v1::audit_sink_server::AuditSinkServer;
use gatehouse_proto::config::v1::config_distribution_server::ConfigDistributionServer;
use gatehouse_proto::config::v1::credential_broker_server::CredentialBrokerServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_util::sync::CancellationToken;

pub use config::{ConfigError, ControlPlaneConfig};
pub use credentials::{Keyring, MasterKey};

use config_stream::{ConfigService, EdgeAuth, EdgeRegistry, Publisher};
use store::Store;

/// The sockets the control plane serves on, bound by the caller.
#[derive(Debug)]
pub struct Listeners {
    /// Admin REST API (HTTP/1.1).
    pub api: TcpListener,
    /// Config stream for edges (gRPC).
    pub grpc: TcpListener,
}

/// Connects to the database, migrates, bootstraps, then serves the admin API
/// and the config stream until `shutdown` resolves; every edge stream is
/// closed on shutdown so the servers drain.
pub async fn run(
    config: ControlPlaneConfig,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with_metrics(config, listeners, None, shutdown).await
}

/// Like [`run`], also serving `GET /metrics` on `metrics_listener` when given
/// (`GATEHOUSE_METRICS_ADDR`; never on the admin API listener, which is public and
/// metrics name every org's servers).
pub async fn run_with_metrics(
    config: ControlPlaneConfig,
    listeners: Listeners,
    metrics_listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.validate()?;
    // Certificates and keys are read first: a bad file stops the start before anything else.
    let grpc_tls = listener_tls::load(&config.tls.grpc)?;
    let api_tls = listener_tls::load(&config.tls.api)?;
    // Replicas starting at once migrate and bootstrap one after the other.
    let startup_lock = store::StartupLock::acquire(&config.database_url)
        .await
        .context("taking the start-up lock on the database")?;
    let store = Store::connect(&config.database_url, config.keyring.clone())
        .await
        .context("connecting to the database and migrating the schema")?;
    let boot = bootstrap::bootstrap(&store, &config).await?;
    if store.ensure_token_cache_key().await.context("creating the upstream token-cache key")? {
        tracing::info!("generated the upstream token-cache key");
    }
    let oauth_server = oauth_server::AuthServer::start(
        store.clone(),
        oauth_server::AuthServerSettings {
            issuer: config.public_url.clone().unwrap_or_else(|| match listeners.api.local_addr() {
                Ok(addr) => format!("http://{addr}"),
                Err(_) => "http://127.0.0.1".to_owned(),
            }),
            edge_public_url: config.edge_public_url.clone(),
            access_token_ttl: config.oauth_access_token_ttl,
            refresh_token_ttl: config.oauth_refresh_token_ttl,
            refresh_family_lifetime: config.oauth_refresh_family_lifetime,
            allow_loopback_metadata: config.allow_loopback_upstreams,
            registration_per_minute: config.oauth_registration_per_minute,
            registration_burst: config.oauth_registration_burst,
            trusted_proxy_hops: config.trusted_proxy_hops,
        },
    )
    .await
    .context("starting the oauth authorization server")?;
    startup_lock.release().await.context("releasing the start-up lock")?;
    let metrics = Arc::new(metrics::ControlPlaneMetrics::new());
    let publisher = Publisher::load(store.clone()).await.context("loading the edge config")?;
    let publisher = Arc::new(publisher.with_metrics(metrics.clone()));
    let edges = Arc::new(EdgeRegistry::new(config.edge_retention));
    let probe = Arc::downgrade(&edges);
    metrics.watch_edges(Box::new(move || {
        let Some(edges) = probe.upgrade() else { return Vec::new() };
        let sample = |e: config_stream::EdgeStatus| metrics::EdgeSample {
            node_id: e.node_id,
            connected: e.connected,
            acked_version: e.acked_version,
        };
        edges.list().into_iter().map(sample).collect()
    }));

    let cancel = CancellationToken::new();
    tokio::spawn({
        let cancel = cancel.clone();
        async move {
            tokio::select! {
                () = shutdown => {}
                () = cancel.cancelled() => {}
            }
            cancel.cancel();
        }
    });
    let poller = tokio::spawn(publisher.clone().run(config.version_poll_interval, cancel.clone()));
    tokio::spawn(sso::purge_expired(store.clone(), cancel.clone()));
    tokio::spawn(audit::run_retention(store.clone(), cancel.clone()));
    let egress = upstream_oauth::ssrf::SsrfPolicy { allow_loopback: config.allow_loopback_upstreams };
    let exporter = tokio::spawn(audit::run_exports(
        store.clone(),
        metrics.clone(),
        config.audit_export,
        egress,
        cancel.clone(),
    ));

    let upstream = upstream_oauth::UpstreamOAuth::new(
        store.clone(),
        upstream_oauth::ssrf::SsrfPolicy { allow_loopback: config.allow_loopback_upstreams },
        config.public_url.clone().unwrap_or_else(|| match api_addr_for_sso(&listeners) {
            Some(addr) => format!("http://{addr}"),
            None => "http://127.0.0.1".to_owned(),
        }),
    );
    tokio::spawn(upstream.clone().retry_unresolved(upstream_oauth::RESOLVE_RETRY_INTERVAL, cancel.clone()));
    let org_id: Arc<str> = boot.org.id.as_str().into();
    let sso = sso_context(&store, &config, api_addr_for_sso(&listeners))?;
    let states = http::HttpStates {
        admin_auth: api::auth::AdminAuth {
            admin_token_hashes: boot.admin_token_hashes.into(),
            store: store.clone(),
            sso: sso.clone(),
            trusted_proxy_hops: config.trusted_proxy_hops,
            metrics: metrics.clone(),
        },
        api: api::ApiState {
            store: store.clone(),
            publisher: publisher.clone(),
            edges: edges.clone(),
            upstream_oauth: upstream.clone(),
            rate_limit_counters: rate_limit_counters(&config)?,
            edge_public_url: config.edge_public_url.clone(),
            egress,
        },
        sso: sso::SsoState { context: sso.clone() },
        oauth_server: oauth_server::AuthServerState { server: oauth_server, sso: sso.clone(), org_id },
        upstream_oauth: upstream_oauth::UpstreamOAuthState { upstream: upstream.clone(), sso },
        metrics: metrics.clone(),
    };
    let api_addr = listeners.api.local_addr().ok();
    let grpc_addr = listeners.grpc.local_addr().ok();
    // Peer addresses reach the handlers (per-client limits such as Dynamic Client Registration's).
    let router = http::router(states);
    let api: futures::future::BoxFuture<'static, std::io::Result<()>> = match api_tls.clone() {
        None => Box::pin(
            axum::serve(listeners.api, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
                .with_graceful_shutdown(cancel.clone().cancelled_owned())
                .into_future(),
        ),
        Some(tls) => {
            let listener = listener_tls::TlsListener::new(listeners.api, tls, cancel.clone())?;
            // `tap_io` gives the TLS listener's peer address to handlers as `ConnectInfo`.
            let listener = axum::serve::ListenerExt::tap_io(listener, |_| {});
            Box::pin(
                axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
                    .with_graceful_shutdown(cancel.clone().cancelled_owned())
                    .into_future(),
            )
        }
    };
    for tls in [&grpc_tls, &api_tls].into_iter().flatten() {
        listener_tls::spawn_watch(tls, config.tls.reload_interval, cancel.clone());
    }

    let edge_auth = EdgeAuth::new(store.clone(), &config.node_tokens);
    let service = ConfigService::new(publisher.clone(), edges, edge_auth.clone(), cancel.clone());
    let grpc_router = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .add_service(ConfigDistributionServer::new(service))
        .add_service(CredentialBrokerServer::new(credential_broker::BrokerService::new(
            upstream.clone(),
            edge_auth.clone(),
        )))
        .add_service(AuditSinkServer::new(audit::AuditSinkService::new(
            store.clone(),
            edge_auth,
            metrics.clone(),
            cancel.clone(),
        )));
    let grpc: futures::future::BoxFuture<'static, Result<(), tonic::transport::Error>> = match grpc_tls {
        None => Box::pin(grpc_router.serve_with_incoming_shutdown(
            TcpListenerStream::new(listeners.grpc),
            cancel.clone().cancelled_owned(),
        )),
        Some(tls) => {
            let accepted = listener_tls::accept(listeners.grpc, tls, cancel.clone());
            let incoming = tokio_stream::StreamExt::map(ReceiverStream::new(accepted), |(stream, _)| {
                Ok::<_, std::io::Error>(stream)
            });
            Box::pin(grpc_router.serve_with_incoming_shutdown(incoming, cancel.clone().cancelled_owned()))
        }
    };

    let config_version = publisher.version().await;
    tracing::info!(
        api_addr = ?api_addr,
        grpc_addr = ?grpc_addr,
        grpc_tls = config.tls.grpc.is_some(),
        grpc_client_certificates = config.tls.grpc.as_ref().is_some_and(|t| t.client_ca.is_some()),
        api_tls = config.tls.api.is_some(),
        config_version,
        org_id = %boot.org.id,
        "control plane serving"
    );
    let metrics_server = metrics_listener.map(|listener| {
        tracing::info!(addr = ?listener.local_addr().ok(), "control plane metrics serving on /metrics");
        tokio::spawn(metrics::serve(listener, metrics.clone(), cancel.clone().cancelled_owned()))
    });
    let served = tokio::try_join!(async { api.await.context("admin api server failed") }, async {
        grpc.await.context("config stream server failed")
    },);
    cancel.cancel();
    let _ = poller.await;
    // The deliverer gives its leases back before the database closes.
    let _ = exporter.await;
    if let Some(Ok(Err(err))) = match metrics_server {
        Some(task) => Some(task.await),
        None => None,
    } {
        tracing::error!(%err, "control plane metrics server failed");
    }
    store.close().await.context("closing the database")?;
    tracing::info!("control plane stopped");
    served.map(|_| ())
}

/// The API's local address, the public URL's default.
fn api_addr_for_sso(listeners: &Listeners) -> Option<std::net::SocketAddr> {
    listeners.api.local_addr().ok()
}

/// SSO settings from the config: the public URL (default `http://<api addr>`)
/// decides cookie security; session lifetimes and loopback issuers come from the config.
fn sso_context(
    store: &Store,
    config: &ControlPlaneConfig,
    api_addr: Option<std::net::SocketAddr>,
) -> anyhow::Result<sso::SsoContext> {
    let public = match (&config.public_url, api_addr) {
        (Some(url), _) => url.clone(),
        (None, Some(addr)) => format!("http://{addr}"),
        (None, None) => "http://127.0.0.1".to_owned(),
    };
    let public_url = url::Url::parse(&public).context("parsing the public url")?;
    let mut settings = sso::SsoSettings::new(public_url);
    settings.session_ttl = config.session_ttl;
    settings.session_idle_timeout = config.session_idle_timeout;
    settings.allow_loopback_issuers = config.allow_loopback_upstreams;
    sso::SsoContext::new(store.clone(), settings)
}

/// The Redis the edges count rate limits in, when configured (read for budget usage).
fn rate_limit_counters(
    config: &ControlPlaneConfig,
) -> anyhow::Result<Option<Arc<rate_limit_counters::RateLimitCounters>>> {
    let Some(url) = &config.redis_url else { return Ok(None) };
    let counters = rate_limit_counters::RateLimitCounters::new(url, &config.redis_key_prefix)?;
    Ok(Some(Arc::new(counters)))
}
