//! [`ConfigError`]: why the edge's settings are unusable.

use super::credentials::CredentialSettingsError;
use super::limits::LimitsConfigError;
use super::proxy::ProxyConfigError;

/// Why the edge config is unusable; each message names the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required environment variable is unset or empty.
    #[error("{var} is required: {what}")]
    Missing { var: &'static str, what: &'static str },
    /// A setting has a value the edge can't use.
    #[error("{setting} is invalid: {reason}")]
    Invalid { setting: &'static str, reason: String },
    /// A request-path setting is invalid.
    #[error(transparent)]
    Proxy(#[from] ProxyConfigError),
    /// A connection or rate limit is invalid.
    #[error(transparent)]
    Limits(#[from] LimitsConfigError),
    /// An upstream credential broker setting (Redis, refresh skew) is invalid.
    #[error(transparent)]
    Credentials(#[from] CredentialSettingsError),
}
