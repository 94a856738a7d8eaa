//! Which addresses the edge's outbound calls may reach (`GATEHOUSE_UPSTREAM_ALLOW`,
//! `GATEHOUSE_ALLOW_LOOPBACK_UPSTREAMS`).

use std::collections::BTreeMap;

use gatehouse_config::address_filter::{AddressPolicy, AllowlistError};

const UPSTREAM_ALLOW: &str = "GATEHOUSE_UPSTREAM_ALLOW";
const ALLOW_LOOPBACK: &str = "GATEHOUSE_ALLOW_LOOPBACK_UPSTREAMS";

/// Why the egress settings are refused.
#[derive(Debug, thiserror::Error)]
pub enum EgressConfigError {
    /// An allowlist entry does not parse.
    #[error("{UPSTREAM_ALLOW}: {0}")]
    Allowlist(#[from] AllowlistError),
    /// The loopback flag is not a boolean.
    #[error("{ALLOW_LOOPBACK} must be true or false")]
    Flag,
}

/// Reads the address policy of upstream, token-endpoint, JWKS and introspection calls:
/// public addresses, loopback when `GATEHOUSE_ALLOW_LOOPBACK_UPSTREAMS=true`, and the
/// comma-separated CIDRs and host names of `GATEHOUSE_UPSTREAM_ALLOW`.
pub fn address_policy_from_env(env: &BTreeMap<String, String>) -> Result<AddressPolicy, EgressConfigError> {
    let allow_loopback = match env.get(ALLOW_LOOPBACK).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("" | "false" | "0") => false,
        Some("true" | "1") => true,
        Some(_) => return Err(EgressConfigError::Flag),
    };
    let allow = AddressPolicy::parse_allowlist(env.get(UPSTREAM_ALLOW).map_or("", String::as_str))?;
    Ok(AddressPolicy { allow_loopback, allow })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_config::address_filter::AllowEntry;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn strict_by_default_and_both_variables_are_read() {
        assert_eq!(address_policy_from_env(&env(&[])).unwrap(), AddressPolicy::default());
        let policy = address_policy_from_env(&env(&[
            (ALLOW_LOOPBACK, "true"),
            (UPSTREAM_ALLOW, "10.0.0.0/8,mcp.internal"),
        ]))
        .unwrap();
        assert!(policy.allow_loopback);
        assert_eq!(policy.allow.len(), 2);
        assert!(matches!(&policy.allow[1], AllowEntry::Host(h) if h == "mcp.internal"));
        let err = address_policy_from_env(&env(&[(UPSTREAM_ALLOW, "10.0.0.0/99")])).unwrap_err();
        assert!(err.to_string().contains(UPSTREAM_ALLOW), "{err}");
        assert!(address_policy_from_env(&env(&[(ALLOW_LOOPBACK, "yes please")])).is_err());
    }
}
