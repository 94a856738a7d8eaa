//! TLS on the control plane's two listeners: the gRPC listener the edges connect
//! to (it carries every secret they need, so it is the one to protect first;
//! with a client CA, edges must present a certificate it signed) and the admin
//! API. Settings come from the environment with the rest of the config; the
//! files are loaded at start and reloaded when they change.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_tls::{ClientAuth, PemFile, Reloading, ServerTls, TlsAccepted};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

/// A TLS setting that is unusable, naming the variable (the config maps it to its own error).
pub type SettingError = gatehouse_tls::TlsError;

impl ListenerTlsSettings {
    fn error(var: &'static str, message: impl Into<String>) -> SettingError {
        SettingError::new(var, message)
    }
}

/// PEM certificate chain of the gRPC listener.
pub const VAR_GRPC_TLS_CERT: &str = "GATEHOUSE_GRPC_TLS_CERT";
/// PEM private key of the gRPC listener.
pub const VAR_GRPC_TLS_KEY: &str = "GATEHOUSE_GRPC_TLS_KEY";
/// PEM bundle of the CAs that sign edges' client certificates; set: edges must present one.
pub const VAR_GRPC_CLIENT_CA: &str = "GATEHOUSE_GRPC_CLIENT_CA";
/// PEM certificate chain of the admin API listener.
pub const VAR_API_TLS_CERT: &str = "GATEHOUSE_API_TLS_CERT";
/// PEM private key of the admin API listener.
pub const VAR_API_TLS_KEY: &str = "GATEHOUSE_API_TLS_KEY";
/// How often the TLS files are checked for changes, in milliseconds (`0`: never).
pub const VAR_TLS_RELOAD_INTERVAL_MS: &str = "GATEHOUSE_TLS_RELOAD_INTERVAL_MS";

/// Default interval between checks of the TLS files.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(30);
/// Time a client gets to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS settings of both listeners; `None` = plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerTlsSettings {
    /// The gRPC listener (config stream, credential broker).
    pub grpc: Option<ServerTls>,
    /// The admin API listener.
    pub api: Option<ServerTls>,
    /// How often the files are checked for changes; `None`: read once at start.
    pub reload_interval: Option<Duration>,
}

impl Default for ListenerTlsSettings {
    fn default() -> Self {
        Self { grpc: None, api: None, reload_interval: Some(DEFAULT_RELOAD_INTERVAL) }
    }
}

impl ListenerTlsSettings {
    /// Reads the variables; an inconsistent combination is an error naming the variable.
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Self, SettingError> {
        let get = |var: &str| env.get(var).map(|v| v.trim()).filter(|v| !v.is_empty());
        let pair = |cert_var: &'static str, key_var: &'static str| match (get(cert_var), get(key_var)) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(Self::error(key_var, format!("is required when {cert_var} is set"))),
            (None, Some(_)) => Err(Self::error(cert_var, format!("is required when {key_var} is set"))),
            (Some(cert), Some(key)) => Ok(Some((PemFile::new(cert_var, cert), PemFile::new(key_var, key)))),
        };
        let grpc = match (pair(VAR_GRPC_TLS_CERT, VAR_GRPC_TLS_KEY)?, get(VAR_GRPC_CLIENT_CA)) {
            (None, Some(_)) => {
                return Err(Self::error(
                    VAR_GRPC_TLS_CERT,
                    format!("client certificates need TLS: set {VAR_GRPC_TLS_CERT} and {VAR_GRPC_TLS_KEY}"),
                ))
            }
            (None, None) => None,
            (Some((cert, key)), ca) => Some(ServerTls {
                cert,
                key,
                client_auth: if ca.is_some() { ClientAuth::Required } else { ClientAuth::None },
                client_ca: ca.map(|path| PemFile::new(VAR_GRPC_CLIENT_CA, PathBuf::from(path))),
                // gRPC is HTTP/2 only.
                alpn: vec![b"h2".to_vec()],
                name: "grpc listener",
            }),
        };
        let api = pair(VAR_API_TLS_CERT, VAR_API_TLS_KEY)?.map(|(cert, key)| ServerTls {
            cert,
            key,
            client_ca: None,
            client_auth: ClientAuth::None,
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            name: "admin api listener",
        });
        let reload_interval = match get(VAR_TLS_RELOAD_INTERVAL_MS) {
            None => Some(DEFAULT_RELOAD_INTERVAL),
            Some("0") => None,
            Some(raw) => match raw.parse::<u64>() {
                Ok(ms) if (100..=86_400_000).contains(&ms) => Some(Duration::from_millis(ms)),
                _ => {
                    return Err(Self::error(
                        VAR_TLS_RELOAD_INTERVAL_MS,
                        "must be 0 (never) or an integer from 100 to 86400000",
                    ))
                }
            },
        };
        Ok(Self { grpc, api, reload_interval })
    }
}

/// A listener's loaded TLS configuration.
pub(crate) type LoadedTls = Arc<Reloading<ServerTls>>;

/// Loads a listener's files; a failure names the variable and stops the start.
pub(crate) fn load(settings: &Option<ServerTls>) -> Result<Option<LoadedTls>, SettingError> {
    settings.clone().map(Reloading::load).transpose()
}

/// Watches the files of `tls` for changes until `shutdown`.
pub(crate) fn spawn_watch(tls: &LoadedTls, interval: Option<Duration>, shutdown: CancellationToken) {
    if let Some(interval) = interval {
        tokio::spawn(tls.clone().watch(interval, shutdown));
    }
}

/// TLS connections of a listener, handshakes done in their own tasks.
pub(crate) fn accept(
    listener: TcpListener,
    tls: LoadedTls,
    shutdown: CancellationToken,
) -> mpsc::Receiver<TlsAccepted> {
    gatehouse_tls::spawn_tls_accept(listener, tls, HANDSHAKE_TIMEOUT, shutdown)
}

/// The admin API's TLS connections as an axum listener.
pub(crate) struct TlsListener {
    accepted: mpsc::Receiver<TlsAccepted>,
    local_addr: SocketAddr,
}

impl TlsListener {
    pub(crate) fn new(
        listener: TcpListener,
        tls: LoadedTls,
        shutdown: CancellationToken,
    ) -> std::io::Result<Self> {
        let local_addr = listener.local_addr()?;
        Ok(Self { accepted: accept(listener, tls, shutdown), local_addr })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(accepted) => accepted,
            // The accept loop stopped at shutdown: graceful shutdown ends the server.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn nothing_set_is_plaintext_and_every_variable_is_read() {
        assert_eq!(ListenerTlsSettings::from_env(&env(&[])).unwrap(), ListenerTlsSettings::default());
        let s = ListenerTlsSettings::from_env(&env(&[
            (VAR_GRPC_TLS_CERT, "/g.crt"),
            (VAR_GRPC_TLS_KEY, "/g.key"),
            (VAR_GRPC_CLIENT_CA, "/ca.crt"),
            (VAR_API_TLS_CERT, "/a.crt"),
            (VAR_API_TLS_KEY, "/a.key"),
            (VAR_TLS_RELOAD_INTERVAL_MS, "0"),
        ]))
        .unwrap();
        let grpc = s.grpc.unwrap();
        assert_eq!(grpc.client_auth, ClientAuth::Required);
        assert_eq!(grpc.client_ca.unwrap().path, PathBuf::from("/ca.crt"));
        assert_eq!(s.api.unwrap().key.path, PathBuf::from("/a.key"));
        assert_eq!(s.reload_interval, None);
    }

    #[test]
    fn inconsistent_combinations_name_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[(VAR_GRPC_TLS_CERT, "c")], VAR_GRPC_TLS_KEY),
            (&[(VAR_GRPC_TLS_KEY, "k")], VAR_GRPC_TLS_CERT),
            (&[(VAR_GRPC_CLIENT_CA, "ca")], VAR_GRPC_TLS_CERT),
            (&[(VAR_API_TLS_CERT, "c")], VAR_API_TLS_KEY),
            (&[(VAR_API_TLS_KEY, "k")], VAR_API_TLS_CERT),
            (&[(VAR_TLS_RELOAD_INTERVAL_MS, "5")], VAR_TLS_RELOAD_INTERVAL_MS),
        ];
        for (pairs, var) in cases {
            let err = ListenerTlsSettings::from_env(&env(pairs)).unwrap_err();
            assert_eq!(err.setting, *var, "{pairs:?}");
        }
    }
}
