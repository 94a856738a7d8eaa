//! The one integration-test binary (one link, not many): every module starts
//! the real pieces in-process on port 0 through `gatehouse_tests`.

mod admin_api;
mod config_stream_cp;
mod config_stream_edge;
mod mcp_e2e;
mod proxy;
mod secrets;
mod storage;
