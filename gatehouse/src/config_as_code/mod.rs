//! Config as code: `gatehouse apply` reconciles an org's workspaces, servers,
//! provisioning and rate limits with a YAML or JSON file through the admin API,
//! `gatehouse export` writes the current state in the same format, and
//! `gatehouse import-client-config` turns an MCP client's configuration file
//! into registry entries.
//!
//! Everything goes through the admin API (never the database), so what these
//! commands may do is what the credential they use may do. Secrets are never
//! written in a file: header values are references (`{env: NAME}` or
//! `{file: PATH}`) resolved when applying.

mod admin_client;
pub mod apply;
pub mod export;
pub mod file;
pub mod import_client;
mod plan;

pub use admin_client::{AdminApi, ApiCallError, ApiTarget};
