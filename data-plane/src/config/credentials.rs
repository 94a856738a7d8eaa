//! Start-up settings of the upstream credential broker, read from the environment.

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};

const REDIS_URL: &str = "GATEHOUSE_REDIS_URL";
const REDIS_KEY_PREFIX: &str = "GATEHOUSE_REDIS_KEY_PREFIX";
const REFRESH_SKEW_SECS: &str = "GATEHOUSE_TOKEN_REFRESH_SKEW_SECS";

/// Redis key prefix used when `GATEHOUSE_REDIS_KEY_PREFIX` is unset.
pub const DEFAULT_KEY_PREFIX: &str = gatehouse_config::rate_limit::DEFAULT_REDIS_KEY_PREFIX;
/// How long before its expiry an access token stops being used.
pub const DEFAULT_REFRESH_SKEW: Duration = Duration::from_secs(30);
/// Longest accepted skew; more would make short-lived tokens unusable.
const MAX_REFRESH_SKEW_SECS: u64 = 3600;

/// Why a credential broker setting is unusable; each message names the variable.
#[derive(Debug, thiserror::Error)]
pub enum CredentialSettingsError {
    /// The variable has a value the broker can't use.
    #[error("{var} is invalid: {reason}")]
    Invalid {
        /// The environment variable.
        var: &'static str,
        /// What is wrong (never the value itself, which may hold a password).
        reason: String,
    },
}

/// Where upstream access tokens are cached and when they are refreshed.
#[derive(Debug, Clone)]
pub struct CredentialSettings {
    /// Redis shared by all edges (`redis://` or `rediss://`); `None` = process memory only.
    pub redis_url: Option<SecretString>,
    /// Prefix of every Redis key the edge writes.
    pub redis_key_prefix: String,
    /// Tokens are not used within this margin of their expiry.
    pub refresh_skew: Duration,
}

impl Default for CredentialSettings {
    fn default() -> Self {
        Self {
            redis_url: None,
            redis_key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            refresh_skew: DEFAULT_REFRESH_SKEW,
        }
    }
}

impl CredentialSettings {
    /// Reads `GATEHOUSE_REDIS_URL`, `GATEHOUSE_REDIS_KEY_PREFIX` and
    /// `GATEHOUSE_TOKEN_REFRESH_SKEW_SECS`, validating each.
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Self, CredentialSettingsError> {
        let get = |key: &str| env.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
        let mut settings = Self::default();
        if let Some(url) = get(REDIS_URL) {
            settings.redis_url = Some(SecretString::from(url.to_owned()));
        }
        if let Some(prefix) = get(REDIS_KEY_PREFIX) {
            settings.redis_key_prefix = prefix.to_owned();
        }
        if let Some(raw) = get(REFRESH_SKEW_SECS) {
            let secs = raw.parse::<u64>().map_err(|_| CredentialSettingsError::Invalid {
                var: REFRESH_SKEW_SECS,
                reason: "must be a whole number of seconds".to_owned(),
            })?;
            settings.refresh_skew = Duration::from_secs(secs);
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Checks every setting so a bad value fails at start-up.
    pub fn validate(&self) -> Result<(), CredentialSettingsError> {
        let invalid = |var, reason: &str| CredentialSettingsError::Invalid { var, reason: reason.to_owned() };
        if let Some(url) = &self.redis_url {
            // The URL may carry a password: report what is wrong, never the value.
            let url = url::Url::parse(url.expose_secret())
                .map_err(|e| invalid(REDIS_URL, &format!("not a URL ({e})")))?;
            if !matches!(url.scheme(), "redis" | "rediss") {
                return Err(invalid(REDIS_URL, "scheme must be redis or rediss"));
            }
            if url.host_str().is_none_or(str::is_empty) {
                return Err(invalid(REDIS_URL, "a host is required"));
            }
        }
        if self.redis_key_prefix.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid(REDIS_KEY_PREFIX, "must not contain whitespace or control characters"));
        }
        if self.refresh_skew.as_secs() > MAX_REFRESH_SKEW_SECS {
            return Err(invalid(REFRESH_SKEW_SECS, "must be at most 3600"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_and_overrides() {
        let s = CredentialSettings::from_env(&env(&[])).unwrap();
        assert!(s.redis_url.is_none());
        assert_eq!((s.redis_key_prefix.as_str(), s.refresh_skew), (DEFAULT_KEY_PREFIX, DEFAULT_REFRESH_SKEW));
        let s = CredentialSettings::from_env(&env(&[
            (REDIS_URL, "redis://:pw@cache:6379/2"),
            (REDIS_KEY_PREFIX, "gh-prod:"),
            (REFRESH_SKEW_SECS, "45"),
        ]))
        .unwrap();
        assert_eq!(s.redis_url.unwrap().expose_secret(), "redis://:pw@cache:6379/2");
        assert_eq!(s.redis_key_prefix, "gh-prod:");
        assert_eq!(s.refresh_skew, Duration::from_secs(45));
    }

    #[test]
    fn invalid_values_name_the_variable_without_echoing_it() {
        for (var, value) in [
            (REDIS_URL, "http://:s3cret@cache:6379"),
            (REDIS_URL, "not a url s3cret"),
            (REDIS_KEY_PREFIX, "a b"),
            (REFRESH_SKEW_SECS, "-1"),
            (REFRESH_SKEW_SECS, "99999"),
        ] {
            let err = CredentialSettings::from_env(&env(&[(var, value)])).unwrap_err().to_string();
            assert!(err.contains(var), "{err}");
            assert!(!err.contains("s3cret"), "{err}");
        }
    }
}
