//! TLS, and optionally mutual TLS, on the edge listener.
//!
//! - [`acceptor`]: certificates and keys loaded into a rustls acceptor
//!   (aws-lc-rs, ALPN `h2` + `http/1.1`) at start and again whenever the files
//!   change, and the per-connection handshake with its timeout.
//!
//! The `GATEHOUSE_EDGE_TLS_*` settings are read with the rest of the edge's
//! settings, in [`crate::config::tls`].
//!
//! What a verified client certificate *means* (which caller it is) is decided
//! per request from the config pushed by the control plane: see
//! [`crate::identity::client_cert`] and [`crate::auth`].

pub mod acceptor;

pub use acceptor::{EdgeTls, TlsSession};
