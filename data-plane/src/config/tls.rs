//! `GATEHOUSE_EDGE_TLS_*`: where the listener's certificate, key and client CA
//! bundle are, and whether clients must present a certificate.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::error::ConfigError;

/// PEM file with the listener's certificate chain (leaf first).
pub const TLS_CERT: &str = "GATEHOUSE_EDGE_TLS_CERT";
/// PEM file with the listener's private key (PKCS#8, PKCS#1 or SEC1).
pub const TLS_KEY: &str = "GATEHOUSE_EDGE_TLS_KEY";
/// PEM bundle of the CAs that sign client certificates.
pub const TLS_CLIENT_CA: &str = "GATEHOUSE_EDGE_TLS_CLIENT_CA";
/// `none` | `optional` | `required`.
pub const TLS_CLIENT_AUTH: &str = "GATEHOUSE_EDGE_TLS_CLIENT_AUTH";
/// Time a client gets to complete the TLS handshake, in milliseconds.
pub const TLS_HANDSHAKE_TIMEOUT_MS: &str = "GATEHOUSE_EDGE_TLS_HANDSHAKE_TIMEOUT_MS";
/// How often the certificate, key and client CA files are checked for
/// changes, in milliseconds (`0`: never; they are read once at start).
pub const TLS_RELOAD_INTERVAL_MS: &str = "GATEHOUSE_EDGE_TLS_RELOAD_INTERVAL_MS";

/// Default time a client gets to complete the TLS handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default interval between checks of the TLS files.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(30);

/// Whether the listener asks clients for a certificate (shared with the control plane's listeners).
pub use gatehouse_tls::ClientAuth;

/// The listener's TLS settings, as read from the environment (files are read by
/// [`crate::tls::EdgeTls::load`] at start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// `GATEHOUSE_EDGE_TLS_CERT`.
    pub cert_path: PathBuf,
    /// `GATEHOUSE_EDGE_TLS_KEY`.
    pub key_path: PathBuf,
    /// `GATEHOUSE_EDGE_TLS_CLIENT_CA`; required unless `client_auth` is `none`.
    pub client_ca_path: Option<PathBuf>,
    /// `GATEHOUSE_EDGE_TLS_CLIENT_AUTH`.
    pub client_auth: ClientAuth,
    /// `GATEHOUSE_EDGE_TLS_HANDSHAKE_TIMEOUT_MS`.
    pub handshake_timeout: Duration,
    /// `GATEHOUSE_EDGE_TLS_RELOAD_INTERVAL_MS`; `None`: files are read once.
    pub reload_interval: Option<Duration>,
}

impl TlsSettings {
    /// Reads the TLS variables: `None` when neither certificate nor key is set
    /// (plain HTTP), an error naming the variable for any inconsistent combination.
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Option<Self>, ConfigError> {
        let get = |key: &str| env.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
        let invalid = |setting, reason: &str| ConfigError::Invalid { setting, reason: reason.to_owned() };
        let client_auth = match get(TLS_CLIENT_AUTH) {
            None | Some("none") => ClientAuth::None,
            Some("optional") => ClientAuth::Optional,
            Some("required") => ClientAuth::Required,
            Some(_) => return Err(invalid(TLS_CLIENT_AUTH, "must be none, optional or required")),
        };
        let handshake_timeout = match get(TLS_HANDSHAKE_TIMEOUT_MS) {
            None => DEFAULT_HANDSHAKE_TIMEOUT,
            Some(raw) => match raw.parse::<u64>() {
                Ok(ms) if (1..=300_000).contains(&ms) => Duration::from_millis(ms),
                _ => return Err(invalid(TLS_HANDSHAKE_TIMEOUT_MS, "must be an integer from 1 to 300000")),
            },
        };
        let reload_interval = match get(TLS_RELOAD_INTERVAL_MS) {
            None => Some(DEFAULT_RELOAD_INTERVAL),
            Some("0") => None,
            Some(raw) => match raw.parse::<u64>() {
                Ok(ms) if (100..=86_400_000).contains(&ms) => Some(Duration::from_millis(ms)),
                _ => {
                    return Err(invalid(
                        TLS_RELOAD_INTERVAL_MS,
                        "must be 0 (never) or an integer from 100 to 86400000",
                    ))
                }
            },
        };
        let client_ca_path = get(TLS_CLIENT_CA).map(PathBuf::from);
        let (cert, key) = match (get(TLS_CERT), get(TLS_KEY)) {
            (None, None) => {
                // Client authentication is a TLS feature: asking for it without TLS is a mistake.
                if client_auth != ClientAuth::None || client_ca_path.is_some() {
                    return Err(invalid(
                        TLS_CERT,
                        "client certificates need TLS: set GATEHOUSE_EDGE_TLS_CERT and GATEHOUSE_EDGE_TLS_KEY",
                    ));
                }
                return Ok(None);
            }
            (Some(_), None) => {
                return Err(invalid(TLS_KEY, "is required when GATEHOUSE_EDGE_TLS_CERT is set"));
            }
            (None, Some(_)) => {
                return Err(invalid(TLS_CERT, "is required when GATEHOUSE_EDGE_TLS_KEY is set"));
            }
            (Some(cert), Some(key)) => (PathBuf::from(cert), PathBuf::from(key)),
        };
        match (client_auth, &client_ca_path) {
            (ClientAuth::Optional | ClientAuth::Required, None) => {
                return Err(invalid(
                    TLS_CLIENT_CA,
                    "is required when GATEHOUSE_EDGE_TLS_CLIENT_AUTH is optional or required",
                ));
            }
            // A CA without a mode would silently accept every client without a certificate.
            (ClientAuth::None, Some(_)) => {
                return Err(invalid(
                    TLS_CLIENT_AUTH,
                    "must be optional or required when GATEHOUSE_EDGE_TLS_CLIENT_CA is set",
                ));
            }
            _ => {}
        }
        Ok(Some(Self {
            cert_path: cert,
            key_path: key,
            client_ca_path,
            client_auth,
            handshake_timeout,
            reload_interval,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn nothing_set_is_plain_http() {
        assert_eq!(TlsSettings::from_env(&env(&[])).unwrap(), None);
        assert_eq!(TlsSettings::from_env(&env(&[(TLS_CLIENT_AUTH, "none")])).unwrap(), None);
    }

    #[test]
    fn every_variable_is_read() {
        let settings = TlsSettings::from_env(&env(&[
            (TLS_CERT, "/tls/tls.crt"),
            (TLS_KEY, " /tls/tls.key "),
            (TLS_CLIENT_CA, "/tls/ca.crt"),
            (TLS_CLIENT_AUTH, "required"),
            (TLS_HANDSHAKE_TIMEOUT_MS, "2500"),
            (TLS_RELOAD_INTERVAL_MS, "1500"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(settings.cert_path, PathBuf::from("/tls/tls.crt"));
        assert_eq!(settings.key_path, PathBuf::from("/tls/tls.key"));
        assert_eq!(settings.client_ca_path, Some(PathBuf::from("/tls/ca.crt")));
        assert_eq!(settings.client_auth, ClientAuth::Required);
        assert_eq!(settings.handshake_timeout, Duration::from_millis(2500));
        assert_eq!(settings.reload_interval, Some(Duration::from_millis(1500)));

        let plain = TlsSettings::from_env(&env(&[(TLS_CERT, "c"), (TLS_KEY, "k")])).unwrap().unwrap();
        assert_eq!(
            (plain.client_auth, plain.handshake_timeout, plain.reload_interval),
            (ClientAuth::None, DEFAULT_HANDSHAKE_TIMEOUT, Some(DEFAULT_RELOAD_INTERVAL))
        );
        let once = [(TLS_CERT, "c"), (TLS_KEY, "k"), (TLS_RELOAD_INTERVAL_MS, "0")];
        assert_eq!(TlsSettings::from_env(&env(&once)).unwrap().unwrap().reload_interval, None);
    }

    #[test]
    fn inconsistent_combinations_name_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[(TLS_CERT, "c")], TLS_KEY),
            (&[(TLS_KEY, "k")], TLS_CERT),
            (&[(TLS_CLIENT_AUTH, "required")], TLS_CERT),
            (&[(TLS_CLIENT_CA, "ca")], TLS_CERT),
            (&[(TLS_CERT, "c"), (TLS_KEY, "k"), (TLS_CLIENT_AUTH, "optional")], TLS_CLIENT_CA),
            (&[(TLS_CERT, "c"), (TLS_KEY, "k"), (TLS_CLIENT_AUTH, "required")], TLS_CLIENT_CA),
            (&[(TLS_CERT, "c"), (TLS_KEY, "k"), (TLS_CLIENT_CA, "ca")], TLS_CLIENT_AUTH),
            (&[(TLS_CERT, "c"), (TLS_KEY, "k"), (TLS_CLIENT_AUTH, "yes")], TLS_CLIENT_AUTH),
            (&[(TLS_CERT, "c"), (TLS_KEY, "k"), (TLS_HANDSHAKE_TIMEOUT_MS, "0")], TLS_HANDSHAKE_TIMEOUT_MS),
            (
                &[(TLS_CERT, "c"), (TLS_KEY, "k"), (TLS_HANDSHAKE_TIMEOUT_MS, "soon")],
                TLS_HANDSHAKE_TIMEOUT_MS,
            ),
            (&[(TLS_CERT, "c"), (TLS_KEY, "k"), (TLS_RELOAD_INTERVAL_MS, "5")], TLS_RELOAD_INTERVAL_MS),
            (&[(TLS_CERT, "c"), (TLS_KEY, "k"), (TLS_RELOAD_INTERVAL_MS, "-1")], TLS_RELOAD_INTERVAL_MS),
        ];
        for (pairs, var) in cases {
            let err = TlsSettings::from_env(&env(pairs)).unwrap_err().to_string();
            assert!(err.contains(var), "{pairs:?}: {err:?} should name {var}");
        }
    }
}
