//! TLS shared by the control plane's listeners, the edge's listener and the
//! edge's connection to the control plane: PEM files read and turned into
//! rustls configurations, rebuilt when the files change, so certificates rotate
//! without a restart.
//!
//! - [`files`]: the PEM files of one configuration, read together, and their fingerprint.
//! - [`server`]: a server configuration (certificate, key, optional client CA).
//! - [`client`]: a client configuration (trusted CA or the system roots, optional client certificate).
//! - [`reload`]: a configuration rebuilt and swapped when its files change.
//! - [`listener`]: accepted connections with the handshake in each connection's own task.
//!
//! Every error names the setting (environment variable) to fix and never shows key material.

pub mod client;
pub mod files;
pub mod listener;
pub mod reload;
pub mod server;

pub use client::ClientTls;
pub use files::{PemFile, TlsError};
pub use listener::{spawn_tls_accept, TlsAccepted};
pub use reload::Reloading;
pub use server::{ClientAuth, ServerTls};

/// The crypto provider every configuration is built with. Explicit because rustls is
/// built with both aws-lc-rs and ring in this tree, so the process default is ambiguous.
pub fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}
