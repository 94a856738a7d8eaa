//! The one integration-test binary (one link, not many): every module starts
//! the real pieces in-process on port 0 through `gatehouse_tests`.

mod admin_api;
mod api_contract;
mod config_as_code;
mod config_stream_cp;
mod config_stream_edge;
mod conformance;
mod conformance_as;
mod console;
mod dev_mode;
mod edge_guards;
mod edge_limits;
mod edge_messages;
mod edge_tokens;
mod ha_control_plane;
mod identity_edge;
mod mcp_e2e;
mod mtls;
mod oauth_server;
mod oidc_harness;
mod proxy;
mod redis_cache;
mod secrets;
mod sso;
mod storage;
mod tenancy;
mod tenancy_edge;
mod transport_tls;
mod upstream_oauth_cp;
mod upstream_oauth_edge;
mod user_deactivation;
