//! Control-plane configuration: read from an environment map in one place,
//! validated once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gatehouse_config::limits::MAX_GATEHOUSE_ACCESS_TOKEN_TTL;
use secrecy::{ExposeSecret, SecretString};

use crate::credentials::{Keyring, MasterKey};
use crate::listener_tls::ListenerTlsSettings;

/// Database URL used when `GATEHOUSE_DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://gatehouse.db?mode=rwc";
/// Shortest admin or node token accepted, so weak secrets are refused at start.
pub const MIN_SECRET_LEN: usize = 16;

const VAR_DATABASE_URL: &str = "GATEHOUSE_DATABASE_URL";
const VAR_MASTER_KEY: &str = "GATEHOUSE_MASTER_KEY";
const VAR_MASTER_KEY_FILE: &str = "GATEHOUSE_MASTER_KEY_FILE";
const VAR_MASTER_KEY_PREVIOUS: &str = "GATEHOUSE_MASTER_KEY_PREVIOUS";
const VAR_ADMIN_TOKEN: &str = "GATEHOUSE_ADMIN_TOKEN";
const VAR_ADMIN_TOKEN_FILE: &str = "GATEHOUSE_ADMIN_TOKEN_FILE";
const VAR_NODE_TOKEN: &str = "GATEHOUSE_NODE_TOKEN";
const VAR_PUBLIC_URL: &str = "GATEHOUSE_PUBLIC_URL";
const VAR_ALLOW_LOOPBACK_UPSTREAMS: &str = "GATEHOUSE_ALLOW_LOOPBACK_UPSTREAMS";
// Gatehouse's own OAuth authorization server.
const VAR_EDGE_PUBLIC_URL: &str = "GATEHOUSE_EDGE_PUBLIC_URL";
const VAR_OAUTH_ACCESS_TOKEN_TTL: &str = "GATEHOUSE_OAUTH_ACCESS_TOKEN_TTL_SECS";
const VAR_OAUTH_REFRESH_TOKEN_TTL: &str = "GATEHOUSE_OAUTH_REFRESH_TOKEN_TTL_SECS";
const VAR_OAUTH_REFRESH_FAMILY_LIFETIME: &str = "GATEHOUSE_OAUTH_REFRESH_FAMILY_MAX_LIFETIME_SECS";
const VAR_OAUTH_REGISTRATION_PER_MINUTE: &str = "GATEHOUSE_OAUTH_REGISTRATION_PER_MINUTE";
const VAR_OAUTH_REGISTRATION_BURST: &str = "GATEHOUSE_OAUTH_REGISTRATION_BURST";
const VAR_TRUSTED_PROXY_HOPS: &str = "GATEHOUSE_TRUSTED_PROXY_HOPS";
// SSO console sessions.
const VAR_REDIS_URL: &str = "GATEHOUSE_REDIS_URL";
const VAR_REDIS_KEY_PREFIX: &str = "GATEHOUSE_REDIS_KEY_PREFIX";
const VAR_SESSION_TTL: &str = "GATEHOUSE_SESSION_TTL_SECS";
const VAR_SESSION_IDLE_TIMEOUT: &str = "GATEHOUSE_SESSION_IDLE_TIMEOUT_SECS";
// Audit export delivery.
const VAR_AUDIT_EXPORT_INTERVAL: &str = "GATEHOUSE_AUDIT_EXPORT_INTERVAL_SECS";
const VAR_AUDIT_EXPORT_MAX_BACKOFF: &str = "GATEHOUSE_AUDIT_EXPORT_MAX_BACKOFF_SECS";
/// Edge public base URL used when `GATEHOUSE_EDGE_PUBLIC_URL` is not set.
pub const DEFAULT_EDGE_PUBLIC_URL: &str = "http://127.0.0.1:8787";

/// A configuration problem, naming the variable (or setting) at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    /// The environment variable or setting.
    pub var: &'static str,
    /// What is wrong (never contains a secret).
    pub message: String,
}

impl ConfigError {
    fn new(var: &'static str, message: impl Into<String>) -> Self {
        Self { var, message: message.into() }
    }
}

/// When the audit export deliverer sends and retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditExportTiming {
    /// How often each destination's new events are sent (bursts wake it sooner).
    pub interval: Duration,
    /// The first retry's delay after a failed batch; doubled per failure, with jitter.
    pub retry_min: Duration,
    /// The longest delay between retries.
    pub retry_max: Duration,
    /// Timeout of one delivery request.
    pub request_timeout: Duration,
}

impl Default for AuditExportTiming {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Everything the control plane needs to start.
#[derive(Clone, Debug)]
pub struct ControlPlaneConfig {
    /// `sqlite://path?mode=rwc` or `postgres://…`.
    pub database_url: String,
    /// Master keys sealing upstream secrets and settings.
    pub keyring: Keyring,
    /// Bootstrap admin token; when `None` one is generated on first start.
    pub admin_token: Option<SecretString>,
    /// Where a generated admin token is written (mode 0600).
    pub admin_token_file: Option<PathBuf>,
    /// Bootstrap edge tokens (unscoped, named `bootstrap`, `bootstrap-2`, …), accepted
    /// beside the edge tokens stored in the database.
    pub node_tokens: Vec<SecretString>,
    /// How often the config version is polled for changes made by other replicas.
    pub version_poll_interval: Duration,
    /// How long a disconnected edge stays listed by `GET /v1/edges`.
    pub edge_retention: Duration,
    /// Externally visible base URL of the control plane (authorization links,
    /// OAuth callbacks); `None` = `http://<api listen address>`.
    pub public_url: Option<String>,
    /// Lets upstream OAuth discovery reach loopback addresses (`gatehouse dev`, tests).
    pub allow_loopback_upstreams: bool,
    /// Externally visible base URL of the edges; OAuth resources are `{this}/mcp/{slug}`.
    pub edge_public_url: String,
    /// Lifetime of access tokens issued by the OAuth authorization server.
    pub oauth_access_token_ttl: Duration,
    /// Lifetime of refresh tokens issued by the OAuth authorization server.
    pub oauth_refresh_token_ttl: Duration,
    /// Absolute lifetime of a refresh-token family (one authorization), however often refreshed.
    pub oauth_refresh_family_lifetime: Duration,
    /// Dynamic Client Registrations each client address may make per minute (0 = unlimited).
    pub oauth_registration_per_minute: u32,
    /// Registrations a client address may make at once before the per-minute rate applies.
    pub oauth_registration_burst: u32,
    /// Reverse proxies in front of the control plane that append to `X-Forwarded-For`;
    /// the client address is the entry that many from the right (0 = the TCP peer).
    pub trusted_proxy_hops: usize,
    /// Absolute lifetime of an SSO console session.
    pub session_ttl: Duration,
    /// An SSO session unused this long expires.
    pub session_idle_timeout: Duration,
    /// TLS on the gRPC and admin API listeners (`GATEHOUSE_GRPC_TLS_*`, `GATEHOUSE_API_TLS_*`).
    pub tls: ListenerTlsSettings,
    /// The Redis the edges count rate limits in (`GATEHOUSE_REDIS_URL`), read for budget
    /// usage; `None` = usage is unavailable.
    pub redis_url: Option<SecretString>,
    /// The edges' Redis key prefix (`GATEHOUSE_REDIS_KEY_PREFIX`).
    pub redis_key_prefix: String,
    /// Audit export delivery (`GATEHOUSE_AUDIT_EXPORT_*`).
    pub audit_export: AuditExportTiming,
}

impl ControlPlaneConfig {
    /// A config with default knobs.
    pub fn new(database_url: impl Into<String>, keyring: Keyring, node_tokens: Vec<SecretString>) -> Self {
        Self {
            database_url: database_url.into(),
            keyring,
            admin_token: None,
            admin_token_file: None,
            node_tokens,
            version_poll_interval: Duration::from_secs(1),
            edge_retention: Duration::from_secs(3600),
            public_url: None,
            allow_loopback_upstreams: false,
            edge_public_url: DEFAULT_EDGE_PUBLIC_URL.to_owned(),
            oauth_access_token_ttl: Duration::from_secs(600),
            oauth_refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            oauth_refresh_family_lifetime: Duration::from_secs(30 * 24 * 3600),
            oauth_registration_per_minute: 10,
            oauth_registration_burst: 20,
            trusted_proxy_hops: 0,
            session_ttl: Duration::from_secs(12 * 3600),
            session_idle_timeout: Duration::from_secs(3600),
            tls: ListenerTlsSettings::default(),
            redis_url: None,
            redis_key_prefix: gatehouse_config::rate_limit::DEFAULT_REDIS_KEY_PREFIX.to_owned(),
            audit_export: AuditExportTiming::default(),
        }
    }

    /// Reads the config from environment variables (passed in as a map) and validates it.
    ///
    /// `GATEHOUSE_DATABASE_URL` (default `sqlite://gatehouse.db?mode=rwc`),
    /// `GATEHOUSE_MASTER_KEY` or `GATEHOUSE_MASTER_KEY_FILE` (exactly one),
    /// `GATEHOUSE_MASTER_KEY_PREVIOUS` (comma-separated), `GATEHOUSE_ADMIN_TOKEN`,
    /// `GATEHOUSE_ADMIN_TOKEN_FILE`, `GATEHOUSE_NODE_TOKEN` (comma-separated),
    /// `GATEHOUSE_PUBLIC_URL` (default `http://<api address>`),
    /// `GATEHOUSE_ALLOW_LOOPBACK_UPSTREAMS` (`true`/`false`, default `false`).
    /// Empty values count as unset.
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let get = |var: &str| env.get(var).map(|v| v.trim()).filter(|v| !v.is_empty());

        let database_url = get(VAR_DATABASE_URL).unwrap_or(DEFAULT_DATABASE_URL).to_owned();

        let primary = match (get(VAR_MASTER_KEY), get(VAR_MASTER_KEY_FILE)) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    VAR_MASTER_KEY,
                    format!("set either {VAR_MASTER_KEY} or {VAR_MASTER_KEY_FILE}, not both"),
                ))
            }
            (Some(text), None) => parse_key(VAR_MASTER_KEY, text)?,
            (None, Some(path)) => read_key_file(Path::new(path))?,
            (None, None) => {
                return Err(ConfigError::new(
                    VAR_MASTER_KEY,
                    format!("a master key is required: set {VAR_MASTER_KEY} or {VAR_MASTER_KEY_FILE} to base64 of 32 random bytes"),
                ))
            }
        };
        let previous = split_list(get(VAR_MASTER_KEY_PREVIOUS))
            .map(|k| parse_key(VAR_MASTER_KEY_PREVIOUS, k))
            .collect::<Result<Vec<_>, _>>()?;

        let mut config = Self::new(
            database_url,
            Keyring::new(primary, previous),
            split_list(get(VAR_NODE_TOKEN)).map(SecretString::from).collect(),
        );
        config.admin_token = get(VAR_ADMIN_TOKEN).map(SecretString::from);
        config.admin_token_file = get(VAR_ADMIN_TOKEN_FILE).map(PathBuf::from);
        config.public_url = get(VAR_PUBLIC_URL).map(|u| u.trim_end_matches('/').to_owned());
        config.allow_loopback_upstreams = match get(VAR_ALLOW_LOOPBACK_UPSTREAMS) {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => true,
            Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => false,
            Some(_) => return Err(ConfigError::new(VAR_ALLOW_LOOPBACK_UPSTREAMS, "must be true or false")),
        };
        if let Some(url) = get(VAR_EDGE_PUBLIC_URL) {
            config.edge_public_url = url.trim_end_matches('/').to_owned();
        }
        if let Some(secs) = get(VAR_OAUTH_ACCESS_TOKEN_TTL) {
            config.oauth_access_token_ttl =
                parse_secs(VAR_OAUTH_ACCESS_TOKEN_TTL, secs, 60, MAX_GATEHOUSE_ACCESS_TOKEN_TTL.as_secs())?;
        }
        if let Some(secs) = get(VAR_OAUTH_REFRESH_TOKEN_TTL) {
            config.oauth_refresh_token_ttl =
                parse_secs(VAR_OAUTH_REFRESH_TOKEN_TTL, secs, 300, 365 * 24 * 3600)?;
        }
        if let Some(secs) = get(VAR_OAUTH_REFRESH_FAMILY_LIFETIME) {
            config.oauth_refresh_family_lifetime =
                parse_secs(VAR_OAUTH_REFRESH_FAMILY_LIFETIME, secs, 300, 365 * 24 * 3600)?;
        }
        if let Some(n) = get(VAR_OAUTH_REGISTRATION_PER_MINUTE) {
            config.oauth_registration_per_minute =
                parse_count(VAR_OAUTH_REGISTRATION_PER_MINUTE, n, 0, 100_000)?;
        }
        if let Some(n) = get(VAR_OAUTH_REGISTRATION_BURST) {
            config.oauth_registration_burst = parse_count(VAR_OAUTH_REGISTRATION_BURST, n, 1, 100_000)?;
        }
        if let Some(n) = get(VAR_TRUSTED_PROXY_HOPS) {
            config.trusted_proxy_hops = parse_count(VAR_TRUSTED_PROXY_HOPS, n, 0, 10)? as usize;
        }
        if let Some(secs) = get(VAR_SESSION_TTL) {
            config.session_ttl = parse_secs(VAR_SESSION_TTL, secs, 60, 30 * 24 * 3600)?;
        }
        if let Some(secs) = get(VAR_SESSION_IDLE_TIMEOUT) {
            config.session_idle_timeout = parse_secs(VAR_SESSION_IDLE_TIMEOUT, secs, 60, 30 * 24 * 3600)?;
        }
        config.redis_url = get(VAR_REDIS_URL).map(SecretString::from);
        if let Some(prefix) = get(VAR_REDIS_KEY_PREFIX) {
            config.redis_key_prefix = prefix.to_owned();
        }
        if let Some(secs) = get(VAR_AUDIT_EXPORT_INTERVAL) {
            config.audit_export.interval = parse_secs(VAR_AUDIT_EXPORT_INTERVAL, secs, 1, 3600)?;
        }
        if let Some(secs) = get(VAR_AUDIT_EXPORT_MAX_BACKOFF) {
            config.audit_export.retry_max = parse_secs(VAR_AUDIT_EXPORT_MAX_BACKOFF, secs, 1, 86_400)?;
        }
        config.tls = ListenerTlsSettings::from_env(env).map_err(|e| ConfigError::new(e.setting, e.reason))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the values are usable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = self.database_url.as_str();
        let supported = ["sqlite:", "postgres://", "postgresql://"].iter().any(|p| url.starts_with(p));
        if !supported {
            return Err(ConfigError::new(
                VAR_DATABASE_URL,
                "must start with sqlite: (e.g. sqlite://gatehouse.db?mode=rwc) or postgres://",
            ));
        }
        if let Some(url) = &self.redis_url {
            // The URL may carry a password: say what is wrong, never the value.
            let scheme = url.expose_secret().split("://").next().unwrap_or_default();
            if !matches!(scheme, "redis" | "rediss") {
                return Err(ConfigError::new(VAR_REDIS_URL, "must be a redis:// or rediss:// URL"));
            }
        }
        if let Some(token) = &self.admin_token {
            check_secret(VAR_ADMIN_TOKEN, token)?;
        }
        if self.node_tokens.is_empty() {
            return Err(ConfigError::new(
                VAR_NODE_TOKEN,
                "at least one node token is required for edges to connect",
            ));
        }
        for token in &self.node_tokens {
            check_secret(VAR_NODE_TOKEN, token)?;
        }
        if let Some(url) = &self.public_url {
            let parsed = url::Url::parse(url)
                .map_err(|_| ConfigError::new(VAR_PUBLIC_URL, "must be an absolute http or https URL"))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(ConfigError::new(VAR_PUBLIC_URL, "must be an absolute http or https URL"));
            }
        }
        let edge = url::Url::parse(&self.edge_public_url)
            .map_err(|_| ConfigError::new(VAR_EDGE_PUBLIC_URL, "must be an absolute http or https URL"))?;
        if !matches!(edge.scheme(), "http" | "https") || edge.host_str().is_none() || edge.query().is_some() {
            return Err(ConfigError::new(
                VAR_EDGE_PUBLIC_URL,
                "must be an absolute http or https URL without a query",
            ));
        }
        if self.oauth_registration_burst == 0 {
            return Err(ConfigError::new(VAR_OAUTH_REGISTRATION_BURST, "must be at least 1"));
        }
        let export = &self.audit_export;
        if export.interval.is_zero() || export.retry_min.is_zero() || export.request_timeout.is_zero() {
            return Err(ConfigError::new("audit_export", "intervals and timeouts must be greater than zero"));
        }
        if export.retry_max < export.retry_min {
            return Err(ConfigError::new(
                VAR_AUDIT_EXPORT_MAX_BACKOFF,
                "must be at least the first retry's delay",
            ));
        }
        if self.version_poll_interval.is_zero() {
            return Err(ConfigError::new("version_poll_interval", "must be greater than zero"));
        }
        Ok(())
    }
}

fn split_list(value: Option<&str>) -> impl Iterator<Item = &str> {
    value.into_iter().flat_map(|v| v.split(',')).map(str::trim).filter(|s| !s.is_empty())
}

/// Parses a whole number of seconds within `min..=max`.
fn parse_secs(var: &'static str, text: &str, min: u64, max: u64) -> Result<Duration, ConfigError> {
    match text.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Duration::from_secs(n)),
        _ => Err(ConfigError::new(var, format!("must be a whole number of seconds between {min} and {max}"))),
    }
}

/// Parses a whole number within `min..=max`.
fn parse_count(var: &'static str, text: &str, min: u32, max: u32) -> Result<u32, ConfigError> {
    match text.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ConfigError::new(var, format!("must be a whole number between {min} and {max}"))),
    }
}

fn check_secret(var: &'static str, token: &SecretString) -> Result<(), ConfigError> {
    let text = token.expose_secret();
    if text.len() < MIN_SECRET_LEN {
        return Err(ConfigError::new(var, format!("tokens must be at least {MIN_SECRET_LEN} characters")));
    }
    if !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConfigError::new(var, "tokens must be visible ASCII without spaces"));
    }
    Ok(())
}

fn parse_key(var: &'static str, text: &str) -> Result<MasterKey, ConfigError> {
    MasterKey::from_base64(text).map_err(|_| ConfigError::new(var, "must be base64 of exactly 32 bytes"))
}

/// Reads a base64 key file, refusing one that group or others can read.
fn read_key_file(path: &Path) -> Result<MasterKey, ConfigError> {
    let var = VAR_MASTER_KEY_FILE;
    let meta = std::fs::metadata(path)
        .map_err(|e| ConfigError::new(var, format!("cannot read {}: {e}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(ConfigError::new(
                var,
                format!(
                    "{} is accessible by group or others (mode {mode:04o}); restrict it with `chmod 600 {}`",
                    path.display(),
                    path.display()
                ),
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(var, format!("cannot read {}: {e}", path.display())))?,
    );
    MasterKey::from_base64(&text).map_err(|_| {
        ConfigError::new(var, format!("{} must contain base64 of exactly 32 bytes", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn key() -> String {
        MasterKey::generate().to_base64()
    }

    #[test]
    fn minimal_env_uses_defaults() {
        let k = key();
        let c = ControlPlaneConfig::from_env(&env(&[
            (VAR_MASTER_KEY, &k),
            (VAR_NODE_TOKEN, "node-token-aaaaaaaaaaaa, node-token-bbbbbbbbbbbb"),
        ]))
        .unwrap();
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.node_tokens.len(), 2);
        assert!(c.admin_token.is_none());
        assert_eq!(c.keyring.primary().id(), MasterKey::from_base64(&k).unwrap().id());
    }

    #[test]
    fn errors_name_the_variable() {
        let k = key();
        let err =
            ControlPlaneConfig::from_env(&env(&[(VAR_NODE_TOKEN, "node-token-aaaaaaaaaaaa")])).unwrap_err();
        assert_eq!(err.var, VAR_MASTER_KEY);
        let err = ControlPlaneConfig::from_env(&env(&[(VAR_MASTER_KEY, "short"), (VAR_NODE_TOKEN, "x")]))
            .unwrap_err();
        assert_eq!(err.var, VAR_MASTER_KEY);
        let err = ControlPlaneConfig::from_env(&env(&[(VAR_MASTER_KEY, &k)])).unwrap_err();
        assert_eq!(err.var, VAR_NODE_TOKEN);
        let err = ControlPlaneConfig::from_env(&env(&[(VAR_MASTER_KEY, &k), (VAR_NODE_TOKEN, "short")]))
            .unwrap_err();
        assert_eq!(err.var, VAR_NODE_TOKEN);
        let err = ControlPlaneConfig::from_env(&env(&[
            (VAR_MASTER_KEY, &k),
            (VAR_NODE_TOKEN, "node-token-aaaaaaaaaaaa"),
            (VAR_DATABASE_URL, "mysql://x"),
        ]))
        .unwrap_err();
        assert_eq!(err.var, VAR_DATABASE_URL);
        let err = ControlPlaneConfig::from_env(&env(&[
            (VAR_MASTER_KEY, &k),
            (VAR_MASTER_KEY_PREVIOUS, "nope"),
            (VAR_NODE_TOKEN, "node-token-aaaaaaaaaaaa"),
        ]))
        .unwrap_err();
        assert_eq!(err.var, VAR_MASTER_KEY_PREVIOUS);
        assert!(!err.to_string().contains(&k));
    }

    #[cfg(unix)]
    #[test]
    fn key_file_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let k = key();
        std::fs::write(&path, format!("{k}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let vars = env(&[
            (VAR_MASTER_KEY_FILE, path.to_str().unwrap()),
            (VAR_NODE_TOKEN, "node-token-aaaaaaaaaaaa"),
        ]);
        let err = ControlPlaneConfig::from_env(&vars).unwrap_err();
        assert_eq!(err.var, VAR_MASTER_KEY_FILE);
        assert!(err.message.contains("chmod 600"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let c = ControlPlaneConfig::from_env(&vars).unwrap();
        assert_eq!(c.keyring.primary().id(), MasterKey::from_base64(&k).unwrap().id());
        let both = env(&[
            (VAR_MASTER_KEY_FILE, path.to_str().unwrap()),
            (VAR_MASTER_KEY, &k),
            (VAR_NODE_TOKEN, "node-token-aaaaaaaaaaaa"),
        ]);
        assert!(ControlPlaneConfig::from_env(&both).is_err());
    }

    #[test]
    fn session_lifetimes_are_read_and_bounded() {
        let k = key();
        let base = [(VAR_MASTER_KEY, k.as_str()), (VAR_NODE_TOKEN, "node-token-aaaaaaaaaaaa")];
        let c = ControlPlaneConfig::from_env(&env(&base)).unwrap();
        assert_eq!(
            (c.session_ttl, c.session_idle_timeout),
            (Duration::from_secs(43200), Duration::from_secs(3600))
        );
        let mut vars = env(&base);
        vars.insert(VAR_SESSION_TTL.into(), "7200".into());
        vars.insert(VAR_SESSION_IDLE_TIMEOUT.into(), "600".into());
        let c = ControlPlaneConfig::from_env(&vars).unwrap();
        assert_eq!(
            (c.session_ttl, c.session_idle_timeout),
            (Duration::from_secs(7200), Duration::from_secs(600))
        );
        vars.insert(VAR_SESSION_IDLE_TIMEOUT.into(), "5".into());
        assert_eq!(ControlPlaneConfig::from_env(&vars).unwrap_err().var, VAR_SESSION_IDLE_TIMEOUT);
    }

    #[test]
    fn registration_limit_and_proxy_hops_are_read_and_bounded() {
        let k = key();
        let base = [(VAR_MASTER_KEY, k.as_str()), (VAR_NODE_TOKEN, "node-token-aaaaaaaaaaaa")];
        let c = ControlPlaneConfig::from_env(&env(&base)).unwrap();
        assert_eq!(
            (c.oauth_registration_per_minute, c.oauth_registration_burst, c.trusted_proxy_hops),
            (10, 20, 0)
        );
        let mut vars = env(&base);
        vars.insert(VAR_OAUTH_REGISTRATION_PER_MINUTE.into(), "0".into());
        vars.insert(VAR_OAUTH_REGISTRATION_BURST.into(), "5".into());
        vars.insert(VAR_TRUSTED_PROXY_HOPS.into(), "2".into());
        let c = ControlPlaneConfig::from_env(&vars).unwrap();
        assert_eq!(
            (c.oauth_registration_per_minute, c.oauth_registration_burst, c.trusted_proxy_hops),
            (0, 5, 2)
        );
        for (var, bad) in [
            (VAR_OAUTH_REGISTRATION_BURST, "0"),
            (VAR_OAUTH_REGISTRATION_PER_MINUTE, "-1"),
            (VAR_OAUTH_REGISTRATION_PER_MINUTE, "ten"),
            (VAR_TRUSTED_PROXY_HOPS, "11"),
        ] {
            let mut vars = env(&base);
            vars.insert(var.into(), bad.into());
            assert_eq!(ControlPlaneConfig::from_env(&vars).unwrap_err().var, var, "{var}={bad}");
        }
    }

    #[test]
    fn public_url_and_loopback_upstreams() {
        let k = key();
        let base = [(VAR_MASTER_KEY, k.as_str()), (VAR_NODE_TOKEN, "node-token-aaaaaaaaaaaa")];
        let c = ControlPlaneConfig::from_env(&env(&base)).unwrap();
        assert_eq!(c.public_url, None);
        assert!(!c.allow_loopback_upstreams);
        let mut vars = env(&base);
        vars.insert(VAR_PUBLIC_URL.into(), "https://gatehouse.example.com/".into());
        vars.insert(VAR_ALLOW_LOOPBACK_UPSTREAMS.into(), "true".into());
        let c = ControlPlaneConfig::from_env(&vars).unwrap();
        assert_eq!(c.public_url.as_deref(), Some("https://gatehouse.example.com"));
        assert!(c.allow_loopback_upstreams);
        vars.insert(VAR_ALLOW_LOOPBACK_UPSTREAMS.into(), "yes please".into());
        assert_eq!(ControlPlaneConfig::from_env(&vars).unwrap_err().var, VAR_ALLOW_LOOPBACK_UPSTREAMS);
        vars.insert(VAR_ALLOW_LOOPBACK_UPSTREAMS.into(), "false".into());
        vars.insert(VAR_PUBLIC_URL.into(), "gatehouse.example.com".into());
        assert_eq!(ControlPlaneConfig::from_env(&vars).unwrap_err().var, VAR_PUBLIC_URL);
    }

    #[test]
    fn oauth_server_settings_are_read_and_validated() {
        let k = key();
        let base = [(VAR_MASTER_KEY, k.as_str()), (VAR_NODE_TOKEN, "node-token-aaaaaaaaaaaa")];
        let c = ControlPlaneConfig::from_env(&env(&base)).unwrap();
        assert_eq!(c.edge_public_url, DEFAULT_EDGE_PUBLIC_URL);
        assert_eq!(c.oauth_access_token_ttl, Duration::from_secs(600));
        let mut vars = base.to_vec();
        vars.extend([
            (VAR_EDGE_PUBLIC_URL, "https://mcp.example.com/"),
            (VAR_OAUTH_ACCESS_TOKEN_TTL, "300"),
            (VAR_OAUTH_REFRESH_TOKEN_TTL, "86400"),
            (VAR_OAUTH_REFRESH_FAMILY_LIFETIME, "604800"),
        ]);
        assert_eq!(c.oauth_refresh_family_lifetime, Duration::from_secs(30 * 24 * 3600));
        let c = ControlPlaneConfig::from_env(&env(&vars)).unwrap();
        assert_eq!(c.oauth_refresh_family_lifetime, Duration::from_secs(604800));
        assert_eq!(c.edge_public_url, "https://mcp.example.com");
        assert_eq!(c.oauth_access_token_ttl, Duration::from_secs(300));
        assert_eq!(c.oauth_refresh_token_ttl, Duration::from_secs(86400));
        for (var, bad) in [
            (VAR_EDGE_PUBLIC_URL, "ftp://x"),
            (VAR_OAUTH_ACCESS_TOKEN_TTL, "10"),
            (VAR_OAUTH_REFRESH_TOKEN_TTL, "soon"),
        ] {
            let mut vars = base.to_vec();
            vars.push((var, bad));
            assert_eq!(ControlPlaneConfig::from_env(&env(&vars)).unwrap_err().var, var);
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let k = key();
        let c = ControlPlaneConfig::from_env(&env(&[
            (VAR_MASTER_KEY, &k),
            (VAR_ADMIN_TOKEN, "admin-token-cccccccccccc"),
            (VAR_NODE_TOKEN, "node-token-aaaaaaaaaaaa"),
        ]))
        .unwrap();
        let text = format!("{c:?}");
        assert!(!text.contains(&k));
        assert!(!text.contains("admin-token-cccccccccccc"));
        assert!(!text.contains("node-token-aaaaaaaaaaaa"));
    }
}
