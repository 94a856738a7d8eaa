//! Wire types for the Gatehouse config stream (control plane → edges).
//!
//! These prost/tonic types stay at the boundary: the control plane and the
//! edge convert them to their own domain types.

/// `gatehouse.config.v1`: config distribution service and messages.
pub mod config {
    /// Version 1 of the config protocol.
    pub mod v1 {
        #![allow(missing_docs, clippy::all)]
        tonic::include_proto!("gatehouse.config.v1");
    }
}
