//! The edge's start-up settings, read once from the environment and validated.
//!
//! Everything the edge reads from its environment lives here and depends on
//! nothing else in the crate: [`EdgeConfig`] with the request-path
//! ([`proxy`]), upstream credential ([`credentials`]) and listener TLS
//! ([`tls`]) settings, which addresses outbound calls may reach ([`egress`]), and
//! their errors ([`ConfigError`]).

pub mod audit;
pub mod control_plane;
pub mod credentials;
pub mod egress;
mod error;
pub mod limits;
pub mod proxy;
pub mod tls;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};

pub use audit::AuditSettings;
pub use control_plane::ControlPlaneTls;
pub use credentials::{CredentialSettings, CredentialSettingsError};
pub use error::ConfigError;
pub use limits::{EdgeLimits, LimitsConfigError};
pub use proxy::{ProxyConfigError, ProxySettings};
pub use tls::{ClientAuth, TlsSettings};

/// Control plane config-stream URL used when `GATEHOUSE_CONTROL_PLANE_URL` is unset.
pub const DEFAULT_CONTROL_PLANE_URL: &str = "http://127.0.0.1:50051";
/// First reconnect delay after the config stream drops.
pub const DEFAULT_RECONNECT_MIN: Duration = Duration::from_millis(100);
/// Default of `GATEHOUSE_EDGE_CACHE_MAX_AGE`.
pub const DEFAULT_CACHE_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// Longest reconnect delay while the control plane stays unreachable.
pub const DEFAULT_RECONNECT_MAX: Duration = Duration::from_secs(5);

use control_plane::{ALLOW_INSECURE_CONTROL_PLANE, CONTROL_PLANE_URL};
const NODE_TOKEN: &str = "GATEHOUSE_NODE_TOKEN";
const NODE_ID: &str = "GATEHOUSE_NODE_ID";
const EDGE_CACHE: &str = "GATEHOUSE_EDGE_CACHE";
const EDGE_CACHE_MAX_AGE: &str = "GATEHOUSE_EDGE_CACHE_MAX_AGE";
/// Set by Kubernetes and most container runtimes to the pod or container name.
const HOSTNAME: &str = "HOSTNAME";
const MAX_NODE_ID_LEN: usize = 253;

/// Everything the edge needs to start.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// gRPC URL(s) of the control plane, comma-separated (`http://` or `https://`, not mixed).
    pub control_plane_url: String,
    /// The CA the control plane's certificate must chain to, and the edge's client certificate.
    pub control_plane_tls: ControlPlaneTls,
    /// Allows a plaintext control-plane URL to another host.
    pub allow_insecure_control_plane: bool,
    /// Token the edge authenticates with; also keys the local cache encryption.
    pub node_token: SecretString,
    /// Stable name of this edge in the control plane's edge list.
    pub node_id: String,
    /// Where to keep the encrypted copy of the served config; `None` disables it.
    pub cache_path: Option<PathBuf>,
    /// A cache older than this is not loaded (default 24 h).
    pub cache_max_age: Duration,
    /// First reconnect delay.
    pub reconnect_min: Duration,
    /// Reconnect delay cap.
    pub reconnect_max: Duration,
    /// Request-path settings (timeouts, limits).
    pub proxy: ProxySettings,
    /// Upstream token cache and refresh settings (`GATEHOUSE_REDIS_URL`, …).
    pub credentials: CredentialSettings,
    /// TLS (and client certificates) on the listener; `None` = plain HTTP.
    pub tls: Option<TlsSettings>,
    /// Connection, HTTP/2 and identity-provider call limits.
    pub limits: EdgeLimits,
    /// Audit recording and shipping (`GATEHOUSE_EDGE_AUDIT*`).
    pub audit: AuditSettings,
}

impl EdgeConfig {
    /// An edge config with defaults for everything but the node token.
    pub fn new(node_token: SecretString) -> Self {
        Self {
            control_plane_url: DEFAULT_CONTROL_PLANE_URL.to_owned(),
            control_plane_tls: ControlPlaneTls::default(),
            allow_insecure_control_plane: false,
            node_token,
            node_id: random_node_id(),
            cache_path: None,
            cache_max_age: DEFAULT_CACHE_MAX_AGE,
            reconnect_min: DEFAULT_RECONNECT_MIN,
            reconnect_max: DEFAULT_RECONNECT_MAX,
            proxy: ProxySettings::default(),
            credentials: CredentialSettings::default(),
            tls: None,
            limits: EdgeLimits::default(),
            audit: AuditSettings::default(),
        }
    }

    /// Reads `GATEHOUSE_CONTROL_PLANE_URL`, `GATEHOUSE_NODE_TOKEN` (required),
    /// `GATEHOUSE_NODE_ID` (default: `HOSTNAME`, else random), `GATEHOUSE_EDGE_CACHE`,
    /// the proxy settings and `GATEHOUSE_EDGE_TLS_*` from `env`.
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let get = |key: &str| env.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
        let node_token = get(NODE_TOKEN).ok_or(ConfigError::Missing {
            var: NODE_TOKEN,
            what: "the node token the control plane issued for edges",
        })?;
        let proxy = ProxySettings::from_env(env)?;
        let credentials = CredentialSettings::from_env(env)?;
        let tls = TlsSettings::from_env(env)?;
        let limits = EdgeLimits::from_env(env)?;
        let audit = AuditSettings::from_env(env)?;
        let allow_insecure_control_plane = match get(ALLOW_INSECURE_CONTROL_PLANE) {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => true,
            Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => false,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    setting: ALLOW_INSECURE_CONTROL_PLANE,
                    reason: "must be true or false".to_owned(),
                })
            }
        };
        Ok(Self {
            control_plane_url: get(CONTROL_PLANE_URL).unwrap_or(DEFAULT_CONTROL_PLANE_URL).to_owned(),
            control_plane_tls: ControlPlaneTls::from_env(env)?,
            allow_insecure_control_plane,
            node_token: SecretString::from(node_token.to_owned()),
            node_id: get(NODE_ID).or_else(|| get(HOSTNAME)).map_or_else(random_node_id, str::to_owned),
            cache_path: get(EDGE_CACHE).map(PathBuf::from),
            cache_max_age: match get(EDGE_CACHE_MAX_AGE) {
                Some(text) => parse_duration(text).ok_or_else(|| ConfigError::Invalid {
                    setting: EDGE_CACHE_MAX_AGE,
                    reason: "expected a positive duration such as 24h, 90m or 3600s".to_owned(),
                })?,
                None => DEFAULT_CACHE_MAX_AGE,
            },
            reconnect_min: DEFAULT_RECONNECT_MIN,
            reconnect_max: DEFAULT_RECONNECT_MAX,
            proxy,
            credentials,
            tls,
            limits,
            audit,
        })
    }

    /// Checks every setting, so a bad value fails at start-up and not on first use.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting, reason: &str| ConfigError::Invalid { setting, reason: reason.to_owned() };

        control_plane::validate(
            &self.control_plane_url,
            &self.control_plane_tls,
            self.allow_insecure_control_plane,
        )?;

        let token = self.node_token.expose_secret();
        if token.is_empty() {
            return Err(ConfigError::Missing { var: NODE_TOKEN, what: "the node token must not be empty" });
        }
        // The value itself is never echoed: it is a credential.
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(NODE_TOKEN, "must be printable ASCII without spaces"));
        }

        if self.node_id.is_empty() {
            return Err(invalid(NODE_ID, "must not be empty"));
        }
        if self.node_id.len() > MAX_NODE_ID_LEN || self.node_id.chars().any(char::is_control) {
            return Err(invalid(NODE_ID, "must be at most 253 characters without control characters"));
        }

        if let Some(path) = &self.cache_path {
            if path.file_name().is_none() {
                return Err(invalid(EDGE_CACHE, "must be a file path, not a directory"));
            }
        }

        if self.reconnect_min.is_zero() {
            return Err(invalid("reconnect_min", "must be greater than zero"));
        }
        if self.reconnect_min > self.reconnect_max {
            return Err(invalid("reconnect_max", "must not be less than reconnect_min"));
        }
        self.credentials.validate()?;
        Ok(())
    }
}

/// `90`, `90s`, `15m`, `24h` or `7d`; zero is refused.
fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_secs = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    let secs = number.parse::<u64>().ok()?.checked_mul(unit_secs)?;
    (secs > 0).then(|| Duration::from_secs(secs))
}

fn random_node_id() -> String {
    format!("edge-{:08x}", rand::random::<u32>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_apply_with_only_a_token() {
        let config = EdgeConfig::from_env(&env(&[(NODE_TOKEN, "gnt_abc")])).unwrap();
        config.validate().unwrap();
        assert_eq!(config.control_plane_url, DEFAULT_CONTROL_PLANE_URL);
        assert_eq!(config.node_token.expose_secret(), "gnt_abc");
        assert!(config.node_id.starts_with("edge-"));
        assert_eq!(config.cache_path, None);
        assert_eq!(
            (config.reconnect_min, config.reconnect_max),
            (DEFAULT_RECONNECT_MIN, DEFAULT_RECONNECT_MAX)
        );
    }

    #[test]
    fn every_variable_is_read() {
        let config = EdgeConfig::from_env(&env(&[
            (CONTROL_PLANE_URL, "https://cp.internal:443"),
            (NODE_TOKEN, " gnt_abc\n"),
            (NODE_ID, "edge-eu-1"),
            (HOSTNAME, "pod-7"),
            (EDGE_CACHE, "/var/lib/gatehouse/edge.bin"),
        ]))
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.control_plane_url, "https://cp.internal:443");
        assert_eq!(config.node_token.expose_secret(), "gnt_abc", "surrounding whitespace is trimmed");
        assert_eq!(config.node_id, "edge-eu-1");
        assert_eq!(config.cache_path, Some(PathBuf::from("/var/lib/gatehouse/edge.bin")));
    }

    #[test]
    fn tls_settings_are_read_with_the_rest() {
        let config = EdgeConfig::from_env(&env(&[
            (NODE_TOKEN, "t"),
            ("GATEHOUSE_EDGE_TLS_CERT", "/tls/tls.crt"),
            ("GATEHOUSE_EDGE_TLS_KEY", "/tls/tls.key"),
        ]))
        .unwrap();
        let tls = config.tls.expect("TLS settings");
        assert_eq!(tls.client_auth, ClientAuth::None);
        assert_eq!(EdgeConfig::from_env(&env(&[(NODE_TOKEN, "t")])).unwrap().tls, None);
        let err = EdgeConfig::from_env(&env(&[(NODE_TOKEN, "t"), ("GATEHOUSE_EDGE_TLS_CERT", "/c")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("GATEHOUSE_EDGE_TLS_KEY"), "{err}");
    }

    #[test]
    fn cache_max_age_defaults_to_a_day_and_takes_units() {
        let age = |v: &str| EdgeConfig::from_env(&env(&[(NODE_TOKEN, "t"), (EDGE_CACHE_MAX_AGE, v)]));
        assert_eq!(
            EdgeConfig::from_env(&env(&[(NODE_TOKEN, "t")])).unwrap().cache_max_age,
            DEFAULT_CACHE_MAX_AGE
        );
        assert_eq!(age("90m").unwrap().cache_max_age, Duration::from_secs(5400));
        assert_eq!(age("7d").unwrap().cache_max_age, Duration::from_secs(7 * 86_400));
        assert_eq!(age("3600").unwrap().cache_max_age, Duration::from_secs(3600));
        for bad in ["0", "1w", "-1h", "soon"] {
            let err = age(bad).unwrap_err().to_string();
            assert!(err.contains(EDGE_CACHE_MAX_AGE), "{err}");
        }
    }

    #[test]
    fn node_id_falls_back_to_hostname() {
        let config = EdgeConfig::from_env(&env(&[(NODE_TOKEN, "t"), (HOSTNAME, "pod-7")])).unwrap();
        assert_eq!(config.node_id, "pod-7");
    }

    #[test]
    fn missing_token_names_the_variable() {
        for env in [env(&[]), env(&[(NODE_TOKEN, "  ")])] {
            let err = EdgeConfig::from_env(&env).unwrap_err().to_string();
            assert!(err.contains(NODE_TOKEN), "{err}");
        }
    }

    #[test]
    fn invalid_values_name_the_setting_without_echoing_secrets() {
        let base = EdgeConfig::from_env(&env(&[(NODE_TOKEN, "t")])).unwrap();
        let cases: Vec<(EdgeConfig, &str)> = vec![
            (EdgeConfig { control_plane_url: "cp:50051".into(), ..base.clone() }, CONTROL_PLANE_URL),
            (EdgeConfig { control_plane_url: "ftp://cp:21".into(), ..base.clone() }, CONTROL_PLANE_URL),
            (EdgeConfig { control_plane_url: "not a url".into(), ..base.clone() }, CONTROL_PLANE_URL),
            (EdgeConfig { control_plane_url: "http://u:p@cp:1".into(), ..base.clone() }, CONTROL_PLANE_URL),
            (EdgeConfig { node_token: SecretString::from("has space-s3cr3t"), ..base.clone() }, NODE_TOKEN),
            (EdgeConfig { node_token: SecretString::from(""), ..base.clone() }, NODE_TOKEN),
            (EdgeConfig { node_id: String::new(), ..base.clone() }, NODE_ID),
            (EdgeConfig { node_id: "a\nb".into(), ..base.clone() }, NODE_ID),
            (EdgeConfig { cache_path: Some(PathBuf::from("/")), ..base.clone() }, EDGE_CACHE),
            (EdgeConfig { reconnect_min: Duration::ZERO, ..base.clone() }, "reconnect_min"),
            (EdgeConfig { reconnect_max: Duration::from_millis(1), ..base.clone() }, "reconnect_max"),
        ];
        for (config, setting) in cases {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(setting), "{err:?} should name {setting}");
            assert!(!err.contains("s3cr3t"), "{err:?} leaks the token");
        }
    }
}
