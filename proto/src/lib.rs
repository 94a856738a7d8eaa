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

/// `gatehouse.audit.v1`: the audit sink edges ship their audit events to.
pub mod audit {
    /// Version 1 of the audit protocol.
    pub mod v1 {
        #![allow(missing_docs, clippy::all)]
        tonic::include_proto!("gatehouse.audit.v1");
    }
}
