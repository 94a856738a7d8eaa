//! The listener's rustls acceptor, built at start and rebuilt when its files
//! change (certificate rotation without a restart), and the handshake of each
//! accepted connection.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use gatehouse_tls::files::FileContents;
use gatehouse_tls::reload::TlsSource;
use gatehouse_tls::{PemFile, Reloading, ServerTls, TlsError};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use crate::config::tls::{ClientAuth, TlsSettings, TLS_CERT, TLS_CLIENT_CA, TLS_KEY};
use crate::config::ConfigError;
use crate::identity::cert_issuer::ClientCas;
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
    /// Rebuilt and swapped whole when the files change; a handshake uses the one it loaded.
    acceptor: Arc<Reloading<ListenerTls>>,
    settings: Arc<TlsSettings>,
}

impl fmt::Debug for EdgeTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key material: only what an operator needs to see.
        f.debug_struct("EdgeTls")
            .field("client_auth", &self.settings.client_auth)
            .field("handshake_timeout", &self.settings.handshake_timeout)
            .finish_non_exhaustive()
    }
}

/// The listener's files, built into an acceptor and the client CAs it trusts, so the
/// issuer of a client certificate is looked up in the bundle that verified it.
struct ListenerTls(ServerTls);

/// What one load of the listener's files gives.
struct LoadedListener {
    acceptor: tokio_rustls::TlsAcceptor,
    client_cas: ClientCas,
}

impl TlsSource for ListenerTls {
    type Built = LoadedListener;

    fn files(&self) -> Vec<PemFile> {
        self.0.files()
    }

    fn build(&self, contents: &FileContents) -> Result<LoadedListener, TlsError> {
        let acceptor = self.0.build(contents)?;
        // `files()` lists the client CA bundle third, after the certificate and key.
        let client_cas = match &self.0.client_ca {
            Some(file) => ClientCas::new(&file.certificates(contents.get(2))?),
            None => ClientCas::default(),
        };
        Ok(LoadedListener { acceptor, client_cas })
    }

    fn name(&self) -> &'static str {
        self.0.name()
    }
}

fn config_error(err: TlsError) -> ConfigError {
    ConfigError::Invalid { setting: err.setting, reason: err.reason }
}

impl EdgeTls {
    /// Reads the certificate, key and client CA bundle and builds the acceptor;
    /// every failure names the variable to fix (and never shows key material).
    pub fn load(settings: &TlsSettings) -> Result<Self, ConfigError> {
        if settings.client_auth != ClientAuth::None && settings.client_ca_path.is_none() {
            return Err(ConfigError::Invalid {
                setting: TLS_CLIENT_CA,
                reason: "is required when client certificates are requested".to_owned(),
            });
        }
        let source = ServerTls {
            cert: PemFile::new(TLS_CERT, &settings.cert_path),
            key: PemFile::new(TLS_KEY, &settings.key_path),
            client_ca: settings.client_ca_path.as_ref().map(|path| PemFile::new(TLS_CLIENT_CA, path)),
            client_auth: settings.client_auth,
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            name: "edge listener",
        };
        let acceptor = Reloading::load(ListenerTls(source)).map_err(config_error)?;
        Ok(Self { acceptor, settings: Arc::new(settings.clone()) })
    }

    /// Checks the files every `GATEHOUSE_EDGE_TLS_RELOAD_INTERVAL_MS` until
    /// `shutdown` and swaps in a new acceptor when they changed. New connections
    /// use it; open ones keep the certificate they were made with. Files that
    /// do not make a usable configuration (e.g. a certificate written before
    /// its key) are logged and the current one is kept, until they do.
    pub async fn watch(self, shutdown: tokio_util::sync::CancellationToken) {
        let Some(interval) = self.settings.reload_interval else { return };
        self.acceptor.watch(interval, shutdown).await;
    }
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
        let loaded = self.acceptor.current();
        let timeout = self.settings.handshake_timeout;
        let stream = match tokio::time::timeout(timeout, loaded.acceptor.accept(stream)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => {
                gatehouse_tls::listener::log_refused("edge listener", peer, &err);
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
            Some(chain) => match ClientCertificate::from_chain(chain.to_vec(), &loaded.client_cas) {
                Ok(cert) => {
                    tracing::debug!(
                        %peer,
                        subject = cert.subject(),
                        fingerprint = %cert.fingerprint_hex(),
                        issuer_ca_known = cert.issuer_ca_sha256().is_some(),
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
