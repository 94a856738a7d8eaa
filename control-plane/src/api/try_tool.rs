//! `POST /v1/servers/{slug}/tools/{tool}/call` ("Try a tool"): calls one tool
//! as the caller, through an edge, exactly as an MCP client would. The control
//! plane mints a gateway token for the caller scoped to the workspace, the
//! server and that one tool, living at most [`TRY_TOKEN_LIFETIME`], waits until
//! the edges it streams to hold it, calls the tool at
//! `{edge_public_url}/mcp/{org}/{slug}`, and revokes the token whatever
//! happened. The edge decides as for any client: policy, credential injection,
//! rate limits and audit all apply.
//!
//! Who it acts as: a person signed in with SSO calls as their user id; an org
//! API key as the service identity `api-key:{id}`, the platform admin token as
//! `platform-admin` (each named in the edge's audit events). Per-user OAuth
//! servers need a person's own connection, so a caller without one is refused.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::Json;
use gatehouse_config::grant_identity::GrantIdentity;
use gatehouse_config::mcp_path::McpPath;
use gatehouse_config::tool_glob::glob_match;
use reqwest::header::AUTHORIZATION;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tracing::instrument;
use utoipa::ToSchema;

use super::server_tools::tools_error;
use super::servers::visible_server;
use super::ApiState;
use crate::accounts::{OrgScope, Principal};
use crate::rest::json::{ApiJson, ApiPath};
use crate::rest::{ApiError, ErrorBody};
use crate::store::{NewToken, Server};
use crate::tokens::{self, Lifetime};
use crate::upstream_tools::mcp_client::{InjectedHeaders, McpError, McpHttp, McpSession};
use crate::upstream_tools::ToolsError;
use crate::validation::{self, FieldError};

/// How long the token minted for one try lives, at most.
pub const TRY_TOKEN_LIFETIME: Duration = Duration::from_secs(120);
/// How long a try may take in all (waiting for the edges, the session, the call).
const TRY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to wait for the connected edges to hold the minted token.
const EDGE_SYNC_TIMEOUT: Duration = Duration::from_secs(5);

/// Body of `POST /v1/servers/{slug}/tools/{tool}/call`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TryTool {
    /// Slug of the workspace to call the tool in: the server must be provisioned
    /// there and its globs must let the tool through.
    #[schema(pattern = r"^[a-z0-9][a-z0-9-]{0,62}$", max_length = 63)]
    pub workspace: String,
    /// The tool's arguments (default `{}`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub arguments: Option<Map<String, Value>>,
}

/// What the tool answered, through the edge.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolCallResult {
    /// The result's content blocks (text, images, resources, …) as the tool sent them.
    #[schema(value_type = Vec<Object>)]
    pub content: Vec<Value>,
    /// Structured result, when the tool gave one.
    #[serde(rename = "structuredContent", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>, required = false)]
    pub structured_content: Option<Value>,
    /// Whether the tool reported an error (its content says what).
    #[serde(rename = "isError")]
    pub is_error: bool,
    /// Who the call acted as at the edge (the gateway token's `user`).
    pub user: String,
    /// The workspace it ran in.
    pub workspace: String,
    /// How long the call took through the edge, in milliseconds.
    pub duration_ms: u64,
}

/// Calls one tool as the caller, through an edge, with a gateway token minted for this call only.
#[utoipa::path(post, path = "/v1/servers/{slug}/tools/{tool}/call", tag = "servers", request_body = TryTool,
    security(("admin_token" = [])),
    params(("slug" = String, Path, description = "Server slug"),
        ("tool" = String, Path, description = "Tool name: printable, without whitespace, `*` or `?`",
            min_length = 1, max_length = 256, pattern = r"^[^\s\x00-\x1f\x7f-\x9f*?]+$")),
    responses((status = 200, body = ToolCallResult), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "The workspace's provisioning does not let the tool through"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Per-user OAuth and the caller has no connection (`connection_required`), or the server is not provisioned to the workspace"),
        (status = 502, body = ErrorBody, description = "The edge refused the call or the upstream failed; the message is the edge's"),
        (status = 504, body = ErrorBody, description = "No answer in time")))]
#[instrument(skip(state, scope, body), fields(workspace = %body.workspace))]
pub(crate) async fn call(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiPath((slug, tool)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<TryTool>,
) -> Result<Json<ToolCallResult>, ApiError> {
    validation::slug("workspace", &body.workspace)?;
    tool_name(&tool)?;
    let server = visible_server(&state, &scope, &slug).await?;
    let workspace = state.store.get_workspace(&scope.org_id, &body.workspace).await?;
    if scope.member_workspaces().is_some_and(|mine| !mine.contains(&workspace.id)) {
        return Err(
            FieldError::new("workspace", "members may try tools only in a workspace they belong to").into()
        );
    }
    let provisions = state.store.workspace_provisions(&scope.org_id, &body.workspace).await?;
    let Some(provision) = provisions.into_iter().find(|p| p.server_id == server.id) else {
        return Err(ApiError::Conflict {
            field: Some("workspace"),
            message: format!(
                "server {slug} is not provisioned to workspace {}; provision it first",
                body.workspace
            ),
        });
    };
    if let Some(reason) = refusal(&provision.tools.allow, &provision.tools.deny, &tool) {
        return Err(ApiError::Forbidden(format!(
            "tool {tool} is not allowed in workspace {}: {reason}",
            body.workspace
        )));
    }
    let user = acting_user(&state, &scope, &server).await?;
    let arguments = Value::Object(body.arguments.unwrap_or_default());

    let generated = tokens::generate();
    let new = NewToken {
        team: body.workspace.clone(),
        user: user.clone(),
        scopes: Vec::new(),
        server_permissions: vec![slug.clone()],
        tool_permissions: vec![tool.clone()],
        lifetime: Lifetime::For(chrono::Duration::from_std(TRY_TOKEN_LIFETIME).expect("two minutes fit")),
        hash: generated.hash,
        hint: generated.hint,
    };
    let minted = state.store.create_token(&scope.org_id, new).await?;
    tracing::info!(token_id = %minted.value.id, %user, "try-a-tool token minted");
    let url = edge_url(&state.edge_public_url, &scope.org_slug, &slug)?;
    let started = Instant::now();
    let outcome = tokio::time::timeout(TRY_TIMEOUT, async {
        wait_for_edges(&state, minted.version).await;
        call_through_edge(url, &generated.token, &tool, arguments).await
    })
    .await;
    // Whatever happened, the token ends now (it would expire within two minutes anyway).
    if let Err(error) = state.store.revoke_token(&scope.org_id, &minted.value.id).await {
        tracing::warn!(token_id = %minted.value.id, %error, "revoking the try-a-tool token failed; it expires by itself");
    }
    let result = match outcome {
        Err(_) => {
            return Err(ApiError::UpstreamTimeout(format!(
                "the call of {tool} through the edge did not finish within {} s",
                TRY_TIMEOUT.as_secs()
            )))
        }
        Ok(Err(error)) => return Err(edge_error(error, &tool)),
        Ok(Ok(result)) => result,
    };
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(Json(ToolCallResult {
        content: match result.get("content") {
            Some(Value::Array(blocks)) => blocks.clone(),
            _ => Vec::new(),
        },
        structured_content: result.get("structuredContent").filter(|v| !v.is_null()).cloned(),
        is_error: result.get("isError").and_then(Value::as_bool).unwrap_or(false),
        user,
        workspace: body.workspace,
        duration_ms,
    }))
}

/// A tool name the minted token's tool glob names exactly: no glob characters.
pub(crate) fn tool_name(tool: &str) -> Result<(), FieldError> {
    validation::tool_globs("tool", &[tool.to_owned()])?;
    if tool.contains(['*', '?']) {
        return Err(FieldError::new("tool", "must be a tool's name, without * or ?"));
    }
    Ok(())
}

/// Why a provisioning's globs refuse `tool`, naming the glob; `None` when it passes.
fn refusal(allow: &[String], deny: &[String], tool: &str) -> Option<String> {
    if let Some(glob) = deny.iter().find(|g| glob_match(g, tool)) {
        return Some(format!("it matches the deny glob {glob:?}"));
    }
    if !allow.is_empty() && !allow.iter().any(|g| glob_match(g, tool)) {
        return Some(format!("it matches none of the allow globs {allow:?}"));
    }
    None
}

/// The gateway token's `user` for this caller; a per-user OAuth server needs a
/// person, and the name their connection is stored under.
async fn acting_user(state: &ApiState, scope: &OrgScope, server: &Server) -> Result<String, ApiError> {
    let slug = &server.slug;
    match &scope.principal {
        Principal::Session(me) if server.auth_type == "oauth2" => {
            for name in [&me.user_id, &me.email] {
                if name.is_empty() {
                    continue;
                }
                let identity = GrantIdentity::gatehouse(name.clone());
                if state.store.find_grant(&scope.org_id, identity, &server.id).await?.is_some() {
                    return Ok(name.clone());
                }
            }
            Err(tools_error(ToolsError::NotConnected { expired: false }, slug))
        }
        Principal::Session(me) => Ok(me.user_id.clone()),
        _ if server.auth_type == "oauth2" => Err(tools_error(ToolsError::NoPerson, slug)),
        Principal::ApiKey { id, .. } => Ok(format!("api-key:{id}")),
        Principal::Platform => Ok("platform-admin".to_owned()),
    }
}

fn edge_url(edge_public_url: &str, org: &str, slug: &str) -> Result<url::Url, ApiError> {
    let base = edge_public_url.trim_end_matches('/');
    url::Url::parse(&format!("{base}{}", McpPath::qualified(org, slug).path())).map_err(|_| {
        tracing::error!(edge_public_url = %base, "the edges' public URL does not make a URL");
        ApiError::Internal
    })
}

/// Waits (bounded) until every edge connected to this replica acknowledged `version`.
async fn wait_for_edges(state: &ApiState, version: u64) {
    let deadline = Instant::now() + EDGE_SYNC_TIMEOUT;
    while Instant::now() < deadline {
        let behind =
            state.edges.list().into_iter().filter(|e| e.connected).any(|e| e.acked_version < Some(version));
        if !behind {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Opens a session at the edge with `token` and calls the tool. An edge of
/// another replica may not hold the token yet: a 401 is retried briefly.
async fn call_through_edge(
    url: url::Url,
    token: &SecretString,
    tool: &str,
    arguments: Value,
) -> Result<Value, McpError> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TRY_TIMEOUT)
        .build()
        .map_err(|e| McpError::Transport(e.without_url().to_string()))?;
    let mut headers = InjectedHeaders::default();
    headers.insert_secret(AUTHORIZATION, &SecretString::from(format!("Bearer {}", token.expose_secret())))?;
    let deadline = Instant::now() + EDGE_SYNC_TIMEOUT;
    let mut session = loop {
        match McpSession::open(McpHttp::Plain(http.clone()), url.clone(), headers.clone()).await {
            Err(McpError::Rpc { status: 401, .. } | McpError::Status(401)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => break other?,
        }
    };
    let result = session.call_tool(tool, arguments).await;
    session.close().await;
    result
}

fn edge_error(error: McpError, tool: &str) -> ApiError {
    match error {
        McpError::Rpc { code, message, .. } => {
            ApiError::Upstream(format!("the edge answered the call of {tool} with error {code}: {message}"))
        }
        other => ApiError::Upstream(format!("calling {tool} through the edge failed: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_glob() {
        let s = |v: &[&str]| v.iter().map(|g| g.to_string()).collect::<Vec<_>>();
        assert_eq!(refusal(&[], &[], "echo"), None);
        assert_eq!(refusal(&s(&["ec*"]), &s(&["delete_*"]), "echo"), None);
        assert_eq!(
            refusal(&[], &s(&["delete_*"]), "delete_everything").unwrap(),
            "it matches the deny glob \"delete_*\""
        );
        assert!(refusal(&s(&["get_*"]), &[], "echo").unwrap().contains("none of the allow globs"));
    }

    #[test]
    fn a_tool_name_is_no_glob() {
        assert!(tool_name("echo").is_ok());
        assert!(tool_name("get_*").is_err());
        assert!(tool_name("").is_err());
    }
}
