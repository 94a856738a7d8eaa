//! `gatehouse-config`: the typed edge configuration the control plane and the
//! edges agree on.
//!
//! Both planes depend on this crate and never on each other: the control plane
//! builds [`state::ConfigState`] and diffs it, the edge applies the diffs.
//! Besides the collections it holds what both must read the same way: the
//! identity schemas the control plane validates and the edge runs
//! ([`identity`]), the gateway token hash ([`token_hash`]), the MCP URLs of
//! servers ([`mcp_path`]), the time limits whose order spans the two ([`limits`]) and
//! which network addresses outbound calls may reach ([`address_filter`]), and what
//! an audit record may hold ([`audit`]: opt-in argument and result recording, redaction).

pub mod address_filter;
pub mod audit;
pub mod field_error;
pub mod grant_identity;
pub mod identity;
pub mod limits;
pub mod mcp_path;
pub mod mcp_scopes;
pub mod rate_limit;
pub mod scope;
pub mod state;
pub mod token_hash;
pub mod tool_glob;
