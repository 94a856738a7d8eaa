//! `gatehouse-config`: the typed edge configuration the control plane and the
//! edges agree on.
//!
//! Both planes depend on this crate and never on each other: the control plane
//! builds [`state::ConfigState`] and diffs it, the edge applies the diffs.

pub mod state;
