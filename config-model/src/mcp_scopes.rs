//! The scopes that decide what a credential may do at an MCP URL, as both planes
//! spell them: the authorization server issues them, gateway tokens carry them, the
//! edges enforce them.

/// Full access at a server: what Gatehouse's authorization server grants by default
/// and what protected resource metadata and challenges advertise.
pub const MCP: &str = "mcp";
/// Discovery and reading only (initialize, lists, reads, notifications).
pub const MCP_READ: &str = "mcp:read";
/// Every method, `tools/call` included (implies [`MCP_READ`]).
pub const MCP_WRITE: &str = "mcp:write";

/// Whether `scope` is one of the MCP scopes above.
pub fn is_mcp_scope(scope: &str) -> bool {
    matches!(scope, MCP | MCP_READ | MCP_WRITE)
}
