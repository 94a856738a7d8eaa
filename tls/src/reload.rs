//! A TLS configuration rebuilt from its files when they change, so a rotated
//! certificate (a cert-manager renewal, a new client CA) is used without a restart.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use crate::files::{FileContents, Fingerprint, PemFile, TlsError};

/// What a reloading configuration is built from: its files, and how they become one.
pub trait TlsSource: Send + Sync + 'static {
    /// What is built (a rustls server or client configuration).
    type Built: Send + Sync + 'static;
    /// The files, read together in this order.
    fn files(&self) -> Vec<PemFile>;
    /// Builds the configuration from the files' contents (in [`Self::files`] order).
    fn build(&self, contents: &FileContents) -> Result<Self::Built, TlsError>;
    /// What the log lines call it (e.g. `grpc listener`).
    fn name(&self) -> &'static str;
}

/// The configuration built from a [`TlsSource`], swapped whole when its files change.
pub struct Reloading<S: TlsSource> {
    current: ArcSwap<S::Built>,
    loaded: Fingerprint,
    source: S,
}

impl<S: TlsSource> Reloading<S> {
    /// Reads the files and builds the configuration: a failure here stops the start.
    pub fn load(source: S) -> Result<Arc<Self>, TlsError> {
        let contents = FileContents::read(&source.files())?;
        let built = source.build(&contents)?;
        Ok(Arc::new(Self { current: ArcSwap::from_pointee(built), loaded: contents.fingerprint(), source }))
    }

    /// The configuration now in use; a connection keeps the one it started with.
    pub fn current(&self) -> Arc<S::Built> {
        self.current.load_full()
    }

    /// What it was built from.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// Checks the files every `interval` until `shutdown` and swaps in a new
    /// configuration when they changed. Files that do not make a usable
    /// configuration (e.g. a certificate written before its key) are logged and
    /// the current one is kept, until they do.
    pub async fn watch(self: Arc<Self>, interval: Duration, shutdown: CancellationToken) {
        let mut current = self.loaded;
        let mut refused: Option<Fingerprint> = None;
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        let name = self.source.name();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let files = self.source.files();
            let read = tokio::task::spawn_blocking(move || FileContents::read(&files)).await;
            let contents = match read {
                Ok(Ok(contents)) => contents,
                Ok(Err(error)) => {
                    // Mid-rotation a file may be missing for a moment: try again next time.
                    tracing::debug!(tls = name, %error, "tls files unreadable; keeping the current certificate");
                    continue;
                }
                Err(_) => continue,
            };
            let fingerprint = contents.fingerprint();
            if fingerprint == current || Some(fingerprint) == refused {
                continue;
            }
            match self.source.build(&contents) {
                Ok(built) => {
                    self.current.store(Arc::new(built));
                    current = fingerprint;
                    refused = None;
                    tracing::info!(tls = name, "tls files changed on disk; new connections use them");
                }
                Err(error) => {
                    refused = Some(fingerprint);
                    tracing::warn!(
                        tls = name,
                        %error,
                        "changed tls files are not usable; keeping the current certificate"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{ClientAuth, ServerTls};

    fn self_signed(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap().self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn write(dir: &tempfile::TempDir, name: &str, contents: &str) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[tokio::test]
    async fn swaps_on_a_usable_change_and_keeps_the_current_on_an_unusable_one() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed("a.test");
        let source = ServerTls {
            cert: PemFile::new("CERT", write(&dir, "tls.crt", &cert)),
            key: PemFile::new("KEY", write(&dir, "tls.key", &key)),
            client_ca: None,
            client_auth: ClientAuth::None,
            alpn: vec![b"h2".to_vec()],
            name: "test",
        };
        let tls = Reloading::load(source).unwrap();
        let first = tls.current();
        let shutdown = CancellationToken::new();
        tokio::spawn(tls.clone().watch(Duration::from_millis(20), shutdown.clone()));

        // A certificate without its key yet (mid-rotation): unusable, the current one stays.
        let (other_cert, other_key) = self_signed("b.test");
        write(&dir, "tls.crt", &other_cert);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(Arc::ptr_eq(&first, &tls.current()), "an unusable pair is not swapped in");

        // The key arrives: the pair is usable and replaces the old one.
        write(&dir, "tls.key", &other_key);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while Arc::ptr_eq(&first, &tls.current()) {
            assert!(tokio::time::Instant::now() < deadline, "the new pair was never loaded");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        shutdown.cancel();
    }

    #[test]
    fn errors_name_the_setting_and_never_show_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed("a.test");
        let (_, other_key) = self_signed("b.test");
        let source = |key_pem: &str| ServerTls {
            cert: PemFile::new("GRPC_CERT", write(&dir, "tls.crt", &cert)),
            key: PemFile::new("GRPC_KEY", write(&dir, "tls.key", key_pem)),
            client_ca: None,
            client_auth: ClientAuth::None,
            alpn: vec![],
            name: "test",
        };
        let err = Reloading::load(source(&other_key)).err().unwrap();
        assert_eq!(err.setting, "GRPC_KEY");
        assert!(err.reason.contains("does not match") && !err.reason.contains("PRIVATE KEY"), "{err}");
        assert!(Reloading::load(source(&key)).is_ok());
        let client = crate::ClientTls {
            ca: Some(PemFile::new("CA", dir.path().join("absent.crt"))),
            with_system_roots: false,
            identity: None,
            alpn: vec![],
            name: "client",
        };
        let err = Reloading::load(client).err().unwrap();
        assert!(err.setting == "CA" && err.reason.contains("cannot read"), "{err}");
    }
}
