//! TLS, and optionally mutual TLS, on the edge listener.
//!
//! - [`settings`]: the `GATEHOUSE_EDGE_TLS_*` variables and their combinations.
//! - [`acceptor`]: certificates and keys loaded into a rustls acceptor
//!   (aws-lc-rs, ALPN `h2` + `http/1.1`) at start and again whenever the files
//!   change, and the per-connection handshake with its timeout.
//!
//! What a verified client certificate *means* (which caller it is) is decided
//! per request from the config pushed by the control plane: see
//! [`crate::identity::client_cert`] and [`crate::auth`].

pub mod acceptor;
pub mod settings;

pub use acceptor::{EdgeTls, TlsSession};
pub use settings::{ClientAuth, TlsSettings};
