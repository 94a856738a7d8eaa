//! The listener's rustls acceptor, built at start and rebuilt when its files
//! change (certificate rotation without a restart), and the handshake of each
//! accepted connection.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use sha2::{Digest as _, Sha256};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::config::tls::{ClientAuth, TlsSettings, TLS_CERT, TLS_CLIENT_CA, TLS_KEY};
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
    /// Swapped whole when the files change; a handshake uses the one it loaded.
    acceptor: Arc<ArcSwap<TlsAcceptor>>,
    /// The fingerprint of the files the acceptor was first built from.
    loaded: Fingerprint,
    settings: Arc<TlsSettings>,
}

/// SHA-256 over the contents of the TLS files: a change of any of them is a change.
type Fingerprint = [u8; 32];

impl fmt::Debug for EdgeTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key material: only what an operator needs to see.
        f.debug_struct("EdgeTls")
            .field("client_auth", &self.settings.client_auth)
            .field("handshake_timeout", &self.settings.handshake_timeout)
            .finish_non_exhaustive()
    }
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { setting, reason: reason.into() }
}

fn read(setting: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| invalid(setting, format!("cannot read {}: {e}", path.display())))
}

fn certificates(
    setting: &'static str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_slice_iter(pem)
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
        let files = TlsFiles::read(settings)?;
        let acceptor = build(settings, &files)?;
        Ok(Self {
            acceptor: Arc::new(ArcSwap::from_pointee(acceptor)),
            loaded: files.fingerprint(),
            settings: Arc::new(settings.clone()),
        })
    }

    /// Checks the files every `GATEHOUSE_EDGE_TLS_RELOAD_INTERVAL_MS` until
    /// `shutdown` and swaps in a new acceptor when they changed. New connections
    /// use it; open ones keep the certificate they were made with. Files that
    /// do not make a usable configuration (e.g. a certificate written before
    /// its key) are logged and the current one is kept, until they do.
    pub async fn watch(self, shutdown: tokio_util::sync::CancellationToken) {
        let Some(interval) = self.settings.reload_interval else { return };
        let mut current = self.loaded;
        let mut refused: Option<Fingerprint> = None;
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let settings = self.settings.clone();
            let read = tokio::task::spawn_blocking(move || TlsFiles::read(&settings)).await;
            let files = match read {
                Ok(Ok(files)) => files,
                Ok(Err(error)) => {
                    // Mid-rotation a file may be missing for a moment: try again next time.
                    tracing::debug!(%error, "tls files unreadable; keeping the current certificate");
                    continue;
                }
                Err(_) => continue,
            };
            let fingerprint = files.fingerprint();
            if fingerprint == current || Some(fingerprint) == refused {
                continue;
            }
            match build(&self.settings, &files) {
                Ok(acceptor) => {
                    self.acceptor.store(Arc::new(acceptor));
                    current = fingerprint;
                    refused = None;
                    tracing::info!(
                        "tls certificate, key or client ca changed on disk; new connections use them"
                    );
                }
                Err(error) => {
                    refused = Some(fingerprint);
                    tracing::warn!(%error, "changed tls files are not usable; keeping the current certificate");
                }
            }
        }
    }
}

/// The contents of the TLS files.
struct TlsFiles {
    cert: Vec<u8>,
    key: zeroize::Zeroizing<Vec<u8>>,
    client_ca: Option<Vec<u8>>,
}

impl TlsFiles {
    fn read(settings: &TlsSettings) -> Result<Self, ConfigError> {
        Ok(Self {
            cert: read(TLS_CERT, &settings.cert_path)?,
            key: zeroize::Zeroizing::new(read(TLS_KEY, &settings.key_path)?),
            client_ca: match &settings.client_ca_path {
                Some(path) => Some(read(TLS_CLIENT_CA, path)?),
                None => None,
            },
        })
    }

    fn fingerprint(&self) -> Fingerprint {
        let mut hash = Sha256::new();
        for part in [&self.cert[..], &self.key[..], self.client_ca.as_deref().unwrap_or_default()] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        hash.finalize().into()
    }
}

/// Builds the acceptor from the files' contents; every failure names the
/// variable to fix (and never shows key material).
fn build(settings: &TlsSettings, files: &TlsFiles) -> Result<TlsAcceptor, ConfigError> {
    // Explicit provider: rustls is built with both aws-lc-rs and ring in this tree,
    // so the process default would be ambiguous.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain = certificates(TLS_CERT, &settings.cert_path, &files.cert)?;
    let key = PrivateKeyDer::from_pem_slice(&files.key).map_err(|_| {
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
            let pem = files.client_ca.as_deref().unwrap_or_default();
            for (i, ca) in certificates(TLS_CLIENT_CA, ca_path, pem)?.into_iter().enumerate() {
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
    Ok(TlsAcceptor::from(Arc::new(config)))
}

impl EdgeTls {
    /// Whether and how clients are asked for a certificate.
    pub fn client_auth(&self) -> ClientAuth {
        self.settings.client_auth
    }

    /// Runs the TLS handshake of one accepted connection, within the handshake
    /// timeout. `None` when it failed (logged; the connection is dropped).
    pub async fn handshake(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> Option<(TlsStream<TcpStream>, TlsSession)> {
        let acceptor = self.acceptor.load_full();
        let timeout = self.settings.handshake_timeout;
        let stream = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => {
                log_refused(peer, &err);
                return None;
            }
            Err(_) => {
                tracing::debug!(
                    %peer,
                    timeout_ms = timeout.as_millis() as u64,
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
    use std::time::Duration;

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
            reload_interval: Some(Duration::from_millis(100)),
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
