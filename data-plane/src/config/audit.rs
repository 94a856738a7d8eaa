//! The edge's audit settings: whether it records MCP requests and refused
//! credentials (`GATEHOUSE_EDGE_AUDIT`), how many events it buffers while the
//! control plane is away (`GATEHOUSE_EDGE_AUDIT_BUFFER`), and how many it ships
//! per batch (`GATEHOUSE_EDGE_AUDIT_BATCH`).

use std::collections::BTreeMap;

use super::error::ConfigError;

const AUDIT: &str = "GATEHOUSE_EDGE_AUDIT";
const AUDIT_BUFFER: &str = "GATEHOUSE_EDGE_AUDIT_BUFFER";
const AUDIT_BATCH: &str = "GATEHOUSE_EDGE_AUDIT_BATCH";
/// The largest buffer (events held in memory).
const MAX_BUFFER: usize = 1_000_000;
/// The largest batch the control plane accepts.
const MAX_BATCH: usize = 1000;

/// Audit recording and shipping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSettings {
    /// Whether requests are recorded (default true).
    pub enabled: bool,
    /// Events buffered before the oldest are dropped (default 10 000).
    pub buffer: usize,
    /// Events per shipped batch (default 500).
    pub batch: usize,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self { enabled: true, buffer: 10_000, batch: 500 }
    }
}

impl AuditSettings {
    /// Reads the settings from `env`; unset ones keep their defaults.
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let get = |key: &str| env.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
        let mut settings = Self::default();
        match get(AUDIT) {
            None => {}
            Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => settings.enabled = true,
            Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => settings.enabled = false,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    setting: AUDIT,
                    reason: "must be true or false".to_owned(),
                })
            }
        }
        let count = |setting: &'static str, max: usize| -> Result<Option<usize>, ConfigError> {
            match get(setting) {
                None => Ok(None),
                Some(v) => match v.parse::<usize>() {
                    Ok(n) if (1..=max).contains(&n) => Ok(Some(n)),
                    _ => Err(ConfigError::Invalid {
                        setting,
                        reason: format!("must be an integer from 1 to {max}"),
                    }),
                },
            }
        };
        if let Some(n) = count(AUDIT_BUFFER, MAX_BUFFER)? {
            settings.buffer = n;
        }
        if let Some(n) = count(AUDIT_BATCH, MAX_BATCH)? {
            settings.batch = n;
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(AuditSettings::from_env(&env(&[])).unwrap(), AuditSettings::default());
        let s = AuditSettings::from_env(&env(&[(AUDIT, "false"), (AUDIT_BUFFER, "5"), (AUDIT_BATCH, "2")]))
            .unwrap();
        assert_eq!(s, AuditSettings { enabled: false, buffer: 5, batch: 2 });
        for bad in [(AUDIT, "maybe"), (AUDIT_BUFFER, "0"), (AUDIT_BATCH, "1001"), (AUDIT_BUFFER, "x")] {
            let err = AuditSettings::from_env(&env(&[bad])).unwrap_err().to_string();
            assert!(err.contains(bad.0), "{err}");
        }
    }
}
