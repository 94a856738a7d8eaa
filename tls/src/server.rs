//! A rustls server configuration from a certificate chain, its key and, for
//! client certificates, a CA bundle.

use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use crate::files::{FileContents, PemFile, TlsError};
use crate::reload::TlsSource;

/// Whether a listener asks clients for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// Plain TLS: no client certificate is requested.
    #[default]
    None,
    /// A certificate is requested; one that is presented must verify against
    /// the client CA, but a client without one still gets through.
    Optional,
    /// No certificate that verifies against the client CA, no connection.
    Required,
}

impl ClientAuth {
    /// The setting's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuth::None => "none",
            ClientAuth::Optional => "optional",
            ClientAuth::Required => "required",
        }
    }
}

/// The files and options of a TLS listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    /// Certificate chain, leaf first.
    pub cert: PemFile,
    /// The certificate's private key.
    pub key: PemFile,
    /// CAs that sign client certificates; required unless `client_auth` is `None`.
    pub client_ca: Option<PemFile>,
    /// Whether clients are asked for a certificate.
    pub client_auth: ClientAuth,
    /// ALPN protocols offered, most preferred first.
    pub alpn: Vec<Vec<u8>>,
    /// What the log lines call this listener.
    pub name: &'static str,
}

impl TlsSource for ServerTls {
    type Built = tokio_rustls::TlsAcceptor;

    fn files(&self) -> Vec<PemFile> {
        let mut files = vec![self.cert.clone(), self.key.clone()];
        files.extend(self.client_ca.clone());
        files
    }

    fn build(&self, contents: &FileContents) -> Result<Self::Built, TlsError> {
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(self.server_config(contents)?)))
    }

    fn name(&self) -> &'static str {
        self.name
    }
}

impl ServerTls {
    fn server_config(&self, contents: &FileContents) -> Result<ServerConfig, TlsError> {
        let provider = crate::provider();
        let chain = self.cert.certificates(contents.get(0))?;
        let key = self.key.private_key(contents.get(1))?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::new(self.cert.setting, format!("no usable TLS versions: {e}")))?;
        let builder = match (self.client_auth, &self.client_ca) {
            (ClientAuth::None, _) => builder.with_no_client_auth(),
            (mode, Some(ca)) => {
                let roots = roots(ca, contents.get(2))?;
                let mut verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                if mode == ClientAuth::Optional {
                    verifier = verifier.allow_unauthenticated();
                }
                let verifier = verifier.build().map_err(|e| TlsError::new(ca.setting, e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
            (_, None) => {
                return Err(TlsError::new(
                    self.cert.setting,
                    "a client CA is required when client certificates are requested",
                ));
            }
        };
        let mut config = builder.with_single_cert(chain, key).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => TlsError::new(
                self.key.setting,
                format!(
                    "the key in {} does not match the certificate in {}",
                    self.key.path.display(),
                    self.cert.path.display()
                ),
            ),
            other => TlsError::new(self.key.setting, format!("unusable certificate or key: {other}")),
        })?;
        config.alpn_protocols = self.alpn.clone();
        Ok(config)
    }
}

/// The CA certificates of `file` (contents `pem`) as a root store.
pub(crate) fn roots(file: &PemFile, pem: &[u8]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for (i, ca) in file.certificates(pem)?.into_iter().enumerate() {
        roots.add(ca).map_err(|e| {
            TlsError::new(
                file.setting,
                format!("certificate {i} of {} is unusable: {e}", file.path.display()),
            )
        })?;
    }
    Ok(roots)
}
