//! The MCP Streamable HTTP proxy at `/mcp/{org}/{server_slug}` (and the default org's
//! `/mcp/{server_slug}`).
//!
//! Every request is authenticated and authorised from one in-memory
//! [`ConfigView`](crate::config_view::ConfigView), peeked (never re-serialised),
//! checked against the tool policy, then forwarded with bodies streamed in
//! both directions. Only `tools/list` responses of restricted callers are
//! rewritten. See `forward` for the request path and ARCHITECTURE.md
//! ("Edge request order", "MCP sessions") for the contract.
//!
//! - `forward`: the request path, in the order of the contract.
//! - [`headers`]: which headers cross the gateway, and the one place their priority is applied.
//! - `upstream`: the upstream call, its credential, and everything an upstream 401 or 403 leads to.
//! - [`prm`]: RFC 9728 protected resource metadata and the `WWW-Authenticate` challenge.
//! - `response`, [`sse`], `sse_notify`, [`tools_filter`]: the response back to the client.

mod audit;
mod forward;
pub mod headers;
pub mod prm;
pub mod request_metadata;
mod response;
pub mod session;
pub mod sse;
mod sse_notify;
mod state;
pub mod tools_filter;
pub mod trace;
mod upstream;

use axum::routing::any;
use axum::Router;
use gatehouse_config::mcp_path::McpPath;

pub use forward::Handled;
#[doc(hidden)]
pub use sse_notify::splice_everywhere;
pub use state::ProxyState;

/// The MCP routes: POST, GET and DELETE on `/mcp/{org}/{slug}`, and on `/mcp/{slug}` for the
/// default org's servers; other methods get a JSON 405. Also serves RFC 9728 protected
/// resource metadata for every one of those URLs.
pub fn router(state: ProxyState) -> Router {
    let prm_route = |path: &str| format!("{}{path}", prm::WELL_KNOWN_PREFIX);
    Router::new()
        .route("/mcp/{org}/{slug}", any(forward::handle))
        .route("/mcp/{slug}", any(forward::handle_legacy))
        // Near misses get a JSON-RPC error saying where servers are, not a bare 404.
        .route("/mcp", any(no_such_path))
        .route("/mcp/", any(no_such_path))
        .route("/mcp/{slug}/", any(no_such_path))
        .route("/mcp/{org}/{slug}/", any(no_such_path))
        .route("/mcp/{org}/{slug}/{*rest}", any(no_such_path))
        .route(&prm_route("/mcp/{org}/{slug}"), axum::routing::get(prm::handler))
        .route(&prm_route("/mcp/{slug}"), axum::routing::get(prm::legacy_handler))
        .with_state(state)
}

/// Serves `request`, whose path is `path` ([`direct_path`]), without the router.
pub fn serve_direct(state: &ProxyState, path: McpPath, request: axum::extract::Request) -> Handled {
    forward::handled(state.clone(), path, request)
}

/// The MCP endpoint `path` names when the proxy can serve it without the router: a path the
/// router would hand the proxy verbatim, `/mcp/{slug}` or `/mcp/{org}/{slug}`, each segment
/// non-empty and with no `%` escape to decode. The router's matching, its percent-decoding
/// path extractor and its per-request extensions cost more than the rest of a small request's
/// own work. Every other path (near misses, escaped segments, other routes) is `None` and goes
/// through the router, which answers it as before.
pub fn direct_path(path: &str) -> Option<McpPath> {
    if path.contains('%') {
        return None;
    }
    McpPath::parse(path)
}

/// A path under `/mcp` that names no server.
async fn no_such_path() -> axum::response::Response {
    axum::response::IntoResponse::into_response(crate::error::EdgeError::NoSuchPath)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_endpoint_paths_skip_the_router() {
        assert_eq!(direct_path("/mcp/github"), Some(McpPath::legacy("github")));
        assert_eq!(direct_path("/mcp/acme/github"), Some(McpPath::qualified("acme", "github")));
        for routed in [
            "/mcp",
            "/mcp/",
            "/mcp/github/",
            "/mcp/acme/github/",
            "/mcp/acme/github/x",
            "/mcp//github",
            "/mcp/git%68ub",
            "/mcp/acme/git%2Fhub",
            "/healthz",
            "/readyz",
            "/.well-known/oauth-protected-resource/mcp/acme/github",
        ] {
            assert_eq!(direct_path(routed), None, "{routed} goes through the router");
        }
    }
}
