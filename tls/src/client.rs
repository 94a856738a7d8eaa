//! A rustls client configuration: the CA bundle a server must chain to (or the
//! system roots) and, for mutual TLS, a client certificate and key.

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};

use crate::files::{FileContents, PemFile, TlsError};
use crate::reload::TlsSource;

/// The files of a TLS client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTls {
    /// CAs the server certificate must chain to; `None`: the system's roots.
    pub ca: Option<PemFile>,
    /// Whether the system's roots are trusted besides `ca` (for clients that reach both
    /// public servers and servers of a private CA).
    pub with_system_roots: bool,
    /// Client certificate chain and key, presented when the server asks.
    pub identity: Option<(PemFile, PemFile)>,
    /// ALPN protocols offered.
    pub alpn: Vec<Vec<u8>>,
    /// What the log lines call this client.
    pub name: &'static str,
}

impl TlsSource for ClientTls {
    type Built = tokio_rustls::TlsConnector;

    fn files(&self) -> Vec<PemFile> {
        let mut files = Vec::new();
        if let Some((cert, key)) = &self.identity {
            files.extend([cert.clone(), key.clone()]);
        }
        files.extend(self.ca.clone());
        files
    }

    fn build(&self, contents: &FileContents) -> Result<Self::Built, TlsError> {
        let offset = if self.identity.is_some() { 2 } else { 0 };
        let roots = match &self.ca {
            Some(ca) if self.with_system_roots => {
                let mut roots = system_roots();
                roots.roots.extend(crate::server::roots(ca, contents.get(offset))?.roots);
                roots
            }
            Some(ca) => crate::server::roots(ca, contents.get(offset))?,
            None => system_roots(),
        };
        let builder = ClientConfig::builder_with_provider(crate::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::new(self.name, format!("no usable TLS versions: {e}")))?
            .with_root_certificates(roots);
        let mut config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = cert.certificates(contents.get(0))?;
                let private = key.private_key(contents.get(1))?;
                builder.with_client_auth_cert(chain, private).map_err(|e| match e {
                    rustls::Error::InconsistentKeys(_) => TlsError::new(
                        key.setting,
                        format!(
                            "the key in {} does not match the certificate in {}",
                            key.path.display(),
                            cert.path.display()
                        ),
                    ),
                    other => TlsError::new(key.setting, format!("unusable certificate or key: {other}")),
                })?
            }
        };
        config.alpn_protocols = self.alpn.clone();
        Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
    }

    fn name(&self) -> &'static str {
        self.name
    }
}

/// The operating system's trusted roots (certificates it cannot parse are skipped).
fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::debug!(%error, "skipping unreadable system root certificates");
    }
    let (_added, _ignored) = roots.add_parsable_certificates(found.certs);
    roots
}
