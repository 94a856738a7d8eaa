//! The control plane as an MCP client of its own: an upstream server's live
//! tool list for the console (`GET /v1/servers/{slug}/tools`), fetched with the
//! credential an edge would inject (`credential.rs`) through the SSRF guard of
//! `upstream_oauth`, and the MCP session both that and "Try a tool" (which goes
//! through an edge) speak (`mcp_client.rs`).

pub mod credential;
pub mod mcp_client;

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::accounts::AuthenticatedUser;
use crate::store::{Server, StoreError};
use crate::upstream_oauth::{OAuthError, UpstreamOAuth};
use mcp_client::{McpError, McpHttp, McpSession};

/// How long fetching a tool list may take in all (session, every page, close).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

/// Why an upstream's tool list could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ToolsError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The server's OAuth set-up or token endpoint failed.
    #[error("{0}")]
    OAuth(OAuthError),
    /// The MCP exchange failed.
    #[error(transparent)]
    Mcp(#[from] McpError),
    /// Per-user OAuth, and the caller is no person (an API key, the admin token).
    #[error("no person")]
    NoPerson,
    /// Per-user OAuth, and the person has no usable grant.
    #[error("not connected")]
    NotConnected {
        /// Whether there was a grant that can no longer be used.
        expired: bool,
    },
    /// Another refresh of the person's grant is under way.
    #[error("the connection is being refreshed")]
    Busy,
    /// The whole exchange took longer than [`FETCH_TIMEOUT`].
    #[error("timed out")]
    Timeout,
}

/// One tool as the upstream describes it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Tool {
    /// The tool's name.
    pub name: String,
    /// Display title (2025-06-18 and later).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub title: Option<String>,
    /// What it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub description: Option<String>,
    /// JSON Schema of its arguments.
    #[serde(rename = "inputSchema")]
    #[schema(value_type = Object)]
    pub input_schema: Value,
    /// Behaviour hints (`readOnlyHint`, `destructiveHint`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>, required = false)]
    pub annotations: Option<Value>,
}

impl Tool {
    /// A tool of a `tools/list` result; `None` when it has no name.
    fn from_value(value: &Value) -> Option<Tool> {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        let name = text("name").filter(|n| !n.is_empty())?;
        let input_schema = match value.get("inputSchema") {
            Some(schema @ Value::Object(_)) => schema.clone(),
            _ => serde_json::json!({"type": "object"}),
        };
        Some(Tool {
            name,
            title: text("title"),
            description: text("description"),
            input_schema,
            annotations: value.get("annotations").filter(|a| a.is_object()).cloned(),
        })
    }
}

/// The live tool list of `server`, fetched as `user` (the signed-in person, if any).
pub async fn fetch_tools(
    ctx: &UpstreamOAuth,
    server: &Server,
    user: Option<&AuthenticatedUser>,
) -> Result<Vec<Tool>, ToolsError> {
    let work = async {
        let headers = credential::upstream_headers(ctx, server, user).await?;
        let url = url::Url::parse(&server.url)
            .map_err(|_| McpError::Protocol("the server's URL is not valid".into()))?;
        let mut session = McpSession::open(McpHttp::Guarded(ctx.http().clone()), url, headers).await?;
        let listed = session.list_tools().await;
        session.close().await;
        Ok::<_, ToolsError>(listed?.iter().filter_map(Tool::from_value).collect())
    };
    tokio::time::timeout(FETCH_TIMEOUT, work).await.map_err(|_| ToolsError::Timeout)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tools_keep_what_the_console_shows_and_skip_nameless_ones() {
        let tool = Tool::from_value(&json!({
            "name": "echo", "title": "Echo", "description": "Echo the text back",
            "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
            "annotations": {"readOnlyHint": true}, "_meta": {"x": 1},
        }))
        .unwrap();
        let shown = serde_json::to_value(&tool).unwrap();
        assert_eq!(shown["inputSchema"]["properties"]["text"]["type"], "string");
        assert_eq!(shown["annotations"]["readOnlyHint"], true);
        assert!(shown.get("_meta").is_none());
        let bare = serde_json::to_value(Tool::from_value(&json!({"name": "x"})).unwrap()).unwrap();
        assert_eq!(bare, json!({"name": "x", "inputSchema": {"type": "object"}}));
        assert!(Tool::from_value(&json!({"description": "no name"})).is_none());
    }
}
