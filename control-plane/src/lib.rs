//! Gatehouse control plane: registry, credential store, admin API and config distribution.
//!
//! The binary and the tests call [`run`] with a validated [`ControlPlaneConfig`]
//! and already-bound [`Listeners`]; it serves until `shutdown` resolves.

pub mod api;
pub mod bootstrap;
pub mod config;
pub mod config_stream;
pub mod credentials;
pub mod store;
pub mod tokens;
pub mod validation;

use std::future::{Future, IntoFuture};
use std::sync::Arc;

use anyhow::Context;
use gatehouse_proto::config::v1::config_distribution_server::ConfigDistributionServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

pub use config::{ConfigError, ControlPlaneConfig};
pub use credentials::{Keyring, MasterKey};

use config_stream::{ConfigService, EdgeRegistry, Publisher};
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
    config.validate()?;
    let store = Store::connect(&config.database_url, config.keyring.clone())
        .await
        .context("connecting to the database and migrating the schema")?;
    let boot = bootstrap::bootstrap(&store, &config).await?;
    let publisher = Arc::new(Publisher::load(store.clone()).await.context("loading the edge config")?);
    let edges = Arc::new(EdgeRegistry::new(config.edge_retention));

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
    let poller = tokio::spawn(publisher.clone().poll(config.version_poll_interval, cancel.clone()));

    let state = api::AppState {
        store: store.clone(),
        org_id: boot.org.id.as_str().into(),
        admin_token_hashes: boot.admin_token_hashes.into(),
        publisher: publisher.clone(),
        edges: edges.clone(),
    };
    let api_addr = listeners.api.local_addr().ok();
    let grpc_addr = listeners.grpc.local_addr().ok();
    let api = axum::serve(listeners.api, api::router(state))
        .with_graceful_shutdown(cancel.clone().cancelled_owned())
        .into_future();

    let node_token_hashes = config.node_tokens.iter().map(tokens::hash_secret).collect();
    let service = ConfigService::new(publisher.clone(), edges, node_token_hashes, cancel.clone());
    let grpc = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .add_service(ConfigDistributionServer::new(service))
        .serve_with_incoming_shutdown(
            TcpListenerStream::new(listeners.grpc),
            cancel.clone().cancelled_owned(),
        );

    let config_version = publisher.version().await;
    tracing::info!(
        api_addr = ?api_addr,
        grpc_addr = ?grpc_addr,
        config_version,
        org_id = %boot.org.id,
        "control plane serving"
    );
    let served = tokio::try_join!(async { api.await.context("admin api server failed") }, async {
        grpc.await.context("config stream server failed")
    },);
    cancel.cancel();
    let _ = poller.await;
    store.close().await.context("closing the database")?;
    tracing::info!("control plane stopped");
    served.map(|_| ())
}
