//! What a credential's `mcp:read` / `mcp:write` scopes let it do, decided from the
//! JSON-RPC method name alone (the peek already has it: no extra parse, no allocation).
//!
//! - neither scope: everything (tokens minted before scopes meant anything, Gatehouse
//!   access tokens granted `mcp`, which is full access);
//! - `mcp:read`: discovery and reading: `initialize`, `ping`, every `*/list`,
//!   `resources/read`, `resources/(un)subscribe`, `prompts/get`, `completion/complete`,
//!   `tasks/get` and `tasks/result`, notifications, and answers to the server's requests;
//! - `mcp:write`: everything, `tools/call` and any other method included (write implies
//!   read: a client that may call tools must be able to initialize and list them).
//!
//! A method not known to be read-only needs `mcp:write`, so a method added to MCP later
//! is refused to read-only tokens until it is listed here.
//!
//! The scopes are those Gatehouse grants: a gateway token's, a certificate identity's, a
//! Gatehouse access token's. A bring-your-own token's scopes are its identity provider's
//! vocabulary, granted for its own reasons; they are not read this way (an org that wants
//! them to count says so with a `claimValues` rule on its scope claim).

pub use gatehouse_config::mcp_scopes::{MCP_READ, MCP_WRITE};

use crate::identity::{AuthSource, Caller};

/// What a caller's scopes allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McpAccess {
    /// No MCP scope among the caller's scopes: no restriction.
    Unscoped,
    /// `mcp:read` without `mcp:write`.
    ReadOnly,
    /// `mcp:write`.
    ReadWrite,
}

impl McpAccess {
    /// The access `caller`'s scopes grant.
    pub fn of(caller: &Caller) -> Self {
        match caller.source {
            AuthSource::ExternalJwt | AuthSource::Introspection => McpAccess::Unscoped,
            AuthSource::GatewayToken | AuthSource::GatehouseJwt | AuthSource::ClientCertificate => {
                Self::from_scopes(caller.scopes.iter().map(String::as_str))
            }
        }
    }

    /// The access a list of scopes grants.
    pub fn from_scopes<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Self {
        let mut access = McpAccess::Unscoped;
        for scope in scopes {
            match scope {
                MCP_WRITE => return McpAccess::ReadWrite,
                MCP_READ => access = McpAccess::ReadOnly,
                _ => {}
            }
        }
        access
    }

    /// The scope `method` needs that this access lacks, if any. `method` is `None` for a
    /// message without one (a JSON-RPC response to the server's request).
    pub fn missing_for(self, method: Option<&str>) -> Option<&'static str> {
        match (self, method) {
            (McpAccess::ReadOnly, Some(method)) if !is_read_only(method) => Some(MCP_WRITE),
            _ => None,
        }
    }
}

/// Whether `method` only discovers or reads.
pub fn is_read_only(method: &str) -> bool {
    matches!(
        method,
        "initialize"
            | "ping"
            | "resources/read"
            | "resources/subscribe"
            | "resources/unsubscribe"
            | "prompts/get"
            | "completion/complete"
            | "tasks/get"
            | "tasks/result"
    ) || method.ends_with("/list")
        || method.starts_with("notifications/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_tokens_discover_and_read_but_never_call_tools() {
        let read = McpAccess::from_scopes(["openid", MCP_READ]);
        assert_eq!(read, McpAccess::ReadOnly);
        for method in [
            "initialize",
            "ping",
            "tools/list",
            "resources/list",
            "resources/templates/list",
            "prompts/list",
            "resources/read",
            "prompts/get",
            "notifications/initialized",
            "notifications/cancelled",
        ] {
            assert_eq!(read.missing_for(Some(method)), None, "{method}");
        }
        for method in
            ["tools/call", "logging/setLevel", "tasks/cancel", "sampling/createMessage", "x/unknown", ""]
        {
            assert_eq!(read.missing_for(Some(method)), Some(MCP_WRITE), "{method}");
        }
        assert_eq!(read.missing_for(None), None, "an answer to the server's request");
    }

    #[test]
    fn write_implies_read_and_no_mcp_scope_is_unrestricted() {
        assert_eq!(McpAccess::from_scopes([MCP_WRITE]), McpAccess::ReadWrite);
        assert_eq!(McpAccess::from_scopes([MCP_READ, MCP_WRITE]), McpAccess::ReadWrite);
        assert_eq!(McpAccess::from_scopes([MCP_WRITE, MCP_READ]), McpAccess::ReadWrite);
        assert_eq!(McpAccess::from_scopes(["mcp", "offline_access"]), McpAccess::Unscoped);
        assert_eq!(McpAccess::from_scopes([]), McpAccess::Unscoped);
        for access in [McpAccess::ReadWrite, McpAccess::Unscoped] {
            assert_eq!(access.missing_for(Some("tools/call")), None);
            assert_eq!(access.missing_for(Some("initialize")), None);
        }
    }
}
