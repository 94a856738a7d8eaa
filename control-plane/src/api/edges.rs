//! `GET /v1/edges`: edges connected now and recently, and the config version.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiState;
use crate::rest::json::ApiQuery;
use crate::rest::{ApiError, ErrorBody, PageQuery};

/// One edge node, as seen by this control-plane replica.
#[derive(Debug, Serialize, ToSchema)]
pub struct EdgeView {
    /// Node id from the edge's `Hello`.
    pub node_id: String,
    /// Whether a config stream from it is open now.
    pub connected: bool,
    /// Last config version it acknowledged.
    pub acked_version: Option<u64>,
    /// Whether it acknowledged the current version.
    pub in_sync: bool,
    /// Gatehouse version it reported.
    pub software_version: String,
    /// Peer address of its latest stream.
    pub remote_addr: Option<String>,
    /// When its latest stream opened.
    pub connected_at: DateTime<Utc>,
    /// Last message or disconnection.
    pub last_seen: DateTime<Utc>,
    /// The edge token its latest stream was opened with.
    pub token: EdgeTokenRef,
}

/// The edge token an edge uses (`bootstrap` for `GATEHOUSE_NODE_TOKEN`).
#[derive(Debug, Serialize, ToSchema)]
pub struct EdgeTokenRef {
    /// Token id (`bootstrap` for the environment's token).
    pub id: String,
    /// Token name.
    pub name: String,
}

/// Edges and the current config version.
#[derive(Debug, Serialize, ToSchema)]
pub struct EdgeList {
    /// Current config version in the database.
    pub config_version: u64,
    /// Version this replica last published to its edges.
    pub published_version: u64,
    /// Edges by node id.
    pub edges: Vec<EdgeView>,
    /// Cursor of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// Lists the edges connected now and recently.
#[utoipa::path(get, path = "/v1/edges", tag = "edges", params(PageQuery), security(("admin_token" = [])),
    responses((status = 200, body = EdgeList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<EdgeList>, ApiError> {
    let page = query.page()?;
    let config_version = state.store.config_version().await?;
    let published_version = state.publisher.version().await;
    let edges = state
        .edges
        .list()
        .into_iter()
        .map(|e| EdgeView {
            in_sync: e.acked_version == Some(config_version),
            node_id: e.node_id,
            connected: e.connected,
            acked_version: e.acked_version,
            software_version: e.software_version,
            remote_addr: e.remote_addr,
            connected_at: e.connected_at,
            last_seen: e.last_seen,
            token: EdgeTokenRef { id: e.token_id, name: e.token_name },
        })
        .collect::<Vec<_>>();
    let page = page.slice(edges, |e| e.node_id.clone());
    Ok(Json(EdgeList { config_version, published_version, edges: page.items, next_cursor: page.next_cursor }))
}
