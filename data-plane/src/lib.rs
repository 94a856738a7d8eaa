//! Gatehouse edge (data plane).

pub mod config_view;
pub mod state;
