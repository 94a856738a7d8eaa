//! The listener's rustls acceptor, built once at start, and the handshake of
//! each accepted connection.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::settings::{ClientAuth, TlsSettings, TLS_CERT, TLS_CLIENT_CA, TLS_KEY};
use crate::config::ConfigError;
use crate::identity::client_cert::ClientCertificate;

/// What a request learns about the TLS connection it came on (a request
/// extension on every request of a TLS connection).
#[derive(Debug, Clone)]
pub struct TlsSession {
    /// The verified client certificate, when the client presented one.
    pub client_certificate: Option<ClientCertificate>,
}

/// The loaded TLS configuration of the edge listener.
#[derive(Clone)]
pub struct EdgeTls {
    acceptor: TlsAcceptor,
    client_auth: ClientAuth,
    handshake_timeout: Duration,
}

impl fmt::Debug for EdgeTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key material: only what an operator needs to see.
        f.debug_struct("EdgeTls")
            .field("client_auth", &self.client_auth)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { setting, reason: reason.into() }
}

fn read(setting: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| invalid(setting, format!("cannot read {}: {e}", path.display())))
}

fn certificates(setting: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let pem = read(setting, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(setting, format!("{} is not valid PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(invalid(setting, format!("{} holds no PEM CERTIFICATE block", path.display())));
    }
    Ok(certs)
}

impl EdgeTls {
    /// Reads the certificate, key and client CA bundle and builds the acceptor;
    /// every failure names the variable to fix (and never shows key material).
    pub fn load(settings: &TlsSettings) -> Result<Self, ConfigError> {
        // Explicit provider: rustls is built with both aws-lc-rs and ring in this tree,
        // so the process default would be ambiguous.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let chain = certificates(TLS_CERT, &settings.cert_path)?;
        let key_pem = read(TLS_KEY, &settings.key_path)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
            invalid(
                TLS_KEY,
                format!("{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)", settings.key_path.display()),
            )
        })?;

        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(TLS_CERT, format!("no usable TLS versions: {e}")))?;
        let builder = match (settings.client_auth, &settings.client_ca_path) {
            (ClientAuth::None, _) => builder.with_no_client_auth(),
            (mode, Some(ca_path)) => {
                let mut roots = RootCertStore::empty();
                for (i, ca) in certificates(TLS_CLIENT_CA, ca_path)?.into_iter().enumerate() {
                    roots.add(ca).map_err(|e| {
                        invalid(
                            TLS_CLIENT_CA,
                            format!("certificate {i} of {} is unusable: {e}", ca_path.display()),
                        )
                    })?;
                }
                let mut verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                if mode == ClientAuth::Optional {
                    verifier = verifier.allow_unauthenticated();
                }
                let verifier = verifier.build().map_err(|e| invalid(TLS_CLIENT_CA, e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
            (_, None) => {
                return Err(invalid(TLS_CLIENT_CA, "is required when client certificates are requested"));
            }
        };
        let mut config = builder.with_single_cert(chain, key).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => invalid(
                TLS_KEY,
                format!(
                    "the key in {} does not match the certificate in {}",
                    settings.key_path.display(),
                    settings.cert_path.display()
                ),
            ),
            other => invalid(TLS_KEY, format!("unusable certificate or key: {other}")),
        })?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            client_auth: settings.client_auth,
            handshake_timeout: settings.handshake_timeout,
        })
    }

    /// Whether and how clients are asked for a certificate.
    pub fn client_auth(&self) -> ClientAuth {
        self.client_auth
    }

    /// Runs the TLS handshake of one accepted connection, within the handshake
    /// timeout. `None` when it failed (logged; the connection is dropped).
    pub async fn handshake(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> Option<(TlsStream<TcpStream>, TlsSession)> {
        let stream = match tokio::time::timeout(self.handshake_timeout, self.acceptor.accept(stream)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => {
                log_refused(peer, &err);
                return None;
            }
            Err(_) => {
                tracing::debug!(
                    %peer,
                    timeout_ms = self.handshake_timeout.as_millis() as u64,
                    "tls handshake timed out"
                );
                return None;
            }
        };
        let (_, connection) = stream.get_ref();
        let client_certificate = match connection.peer_certificates() {
            None | Some([]) => None,
            Some(chain) => match ClientCertificate::from_chain(chain.to_vec()) {
                Ok(cert) => {
                    tracing::debug!(
                        %peer,
                        subject = cert.subject(),
                        fingerprint = %cert.fingerprint_hex(),
                        "client certificate verified"
                    );
                    Some(cert)
                }
                Err(err) => {
                    // Verified by webpki but unreadable here: refuse rather than ignore it.
                    tracing::info!(%peer, %err, "refusing a connection with an unreadable client certificate");
                    return None;
                }
            },
        };
        Some((stream, TlsSession { client_certificate }))
    }
}

/// Client-certificate refusals are worth an info line (someone holds a bad or
/// untrusted certificate); other handshake failures (scanners, plain HTTP on the
/// TLS port) only a debug one.
fn log_refused(peer: SocketAddr, err: &std::io::Error) {
    let tls_error = err.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
    match tls_error {
        Some(rustls::Error::InvalidCertificate(reason)) => {
            tracing::info!(%peer, reason = ?reason, "tls handshake refused: invalid client certificate");
        }
        Some(rustls::Error::NoCertificatesPresented) => {
            tracing::info!(%peer, "tls handshake refused: no client certificate");
        }
        _ => tracing::debug!(%peer, error = %err, "tls handshake failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair};

    struct Files {
        dir: tempfile::TempDir,
    }

    impl Files {
        fn new() -> Self {
            Self { dir: tempfile::tempdir().unwrap() }
        }

        fn write(&self, name: &str, contents: &str) -> std::path::PathBuf {
            let path = self.dir.path().join(name);
            std::fs::write(&path, contents).unwrap();
            path
        }
    }

    fn self_signed(name: &str) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![name.to_owned()]).unwrap().self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn settings(files: &Files, cert: &str, key: &str, ca: Option<&str>, mode: ClientAuth) -> TlsSettings {
        TlsSettings {
            cert_path: files.write("tls.crt", cert),
            key_path: files.write("tls.key", key),
            client_ca_path: ca.map(|ca| files.write("ca.crt", ca)),
            client_auth: mode,
            handshake_timeout: Duration::from_secs(1),
        }
    }

    fn load_err(settings: &TlsSettings) -> String {
        EdgeTls::load(settings).unwrap_err().to_string()
    }

    #[test]
    fn loads_every_mode() {
        let files = Files::new();
        let (cert, key) = self_signed("edge.test");
        let (ca, _) = self_signed("client-ca");
        for mode in [ClientAuth::None, ClientAuth::Optional, ClientAuth::Required] {
            let ca = (mode != ClientAuth::None).then_some(ca.as_str());
            let tls = EdgeTls::load(&settings(&files, &cert, &key, ca, mode)).unwrap();
            assert_eq!(tls.client_auth(), mode);
            assert!(!format!("{tls:?}").contains("PRIVATE"), "debug output never shows the key");
        }
    }

    #[test]
    fn start_up_errors_name_the_variable_without_showing_the_key() {
        let files = Files::new();
        let (cert, key) = self_signed("edge.test");
        let (other_cert, _) = self_signed("other.test");

        let mut missing = settings(&files, &cert, &key, None, ClientAuth::None);
        missing.cert_path = files.dir.path().join("absent.crt");
        let err = load_err(&missing);
        assert!(err.contains(TLS_CERT) && err.contains("cannot read"), "{err}");

        let err = load_err(&settings(&files, "not pem", &key, None, ClientAuth::None));
        assert!(err.contains(TLS_CERT) && err.contains("no PEM CERTIFICATE"), "{err}");

        let err = load_err(&settings(&files, &cert, "-----BEGIN NOTHING-----\n", None, ClientAuth::None));
        assert!(err.contains(TLS_KEY) && err.contains("no PEM private key"), "{err}");

        let err = load_err(&settings(&files, &other_cert, &key, None, ClientAuth::None));
        assert!(err.contains(TLS_KEY) && err.contains("does not match"), "{err}");
        assert!(!err.contains("PRIVATE KEY"), "{err}");

        let err = load_err(&settings(&files, &cert, &key, Some("garbage"), ClientAuth::Required));
        assert!(err.contains(TLS_CLIENT_CA), "{err}");

        let mut no_ca = settings(&files, &cert, &key, None, ClientAuth::Optional);
        no_ca.client_ca_path = None;
        assert!(load_err(&no_ca).contains(TLS_CLIENT_CA));

        let broken_ca = "-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n";
        let err = load_err(&settings(&files, &cert, &key, Some(broken_ca), ClientAuth::Required));
        assert!(err.contains(TLS_CLIENT_CA) && err.contains("unusable"), "{err}");
    }
}
