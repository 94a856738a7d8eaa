//! How the edge reaches the control plane: one or several gRPC URLs
//! (`GATEHOUSE_CONTROL_PLANE_URL`, comma-separated for replicas; a name may also
//! resolve to several addresses), the CA that must have signed its certificate,
//! the edge's client certificate, and whether a plaintext URL to another host is
//! allowed. The stream carries every secret the edge holds, so plaintext is
//! refused unless the control plane is on this host or the operator says so.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use super::error::ConfigError;

/// gRPC URL(s) of the control plane, comma-separated.
pub const CONTROL_PLANE_URL: &str = "GATEHOUSE_CONTROL_PLANE_URL";
/// PEM bundle of the CAs the control plane's certificate must chain to (default: system roots).
pub const CONTROL_PLANE_CA: &str = "GATEHOUSE_CONTROL_PLANE_CA";
/// PEM client certificate the edge presents to the control plane.
pub const CONTROL_PLANE_CLIENT_CERT: &str = "GATEHOUSE_CONTROL_PLANE_CLIENT_CERT";
/// PEM private key of that client certificate.
pub const CONTROL_PLANE_CLIENT_KEY: &str = "GATEHOUSE_CONTROL_PLANE_CLIENT_KEY";
/// `true`: allow an `http://` control-plane URL that is not loopback.
pub const ALLOW_INSECURE_CONTROL_PLANE: &str = "GATEHOUSE_ALLOW_INSECURE_CONTROL_PLANE";

/// TLS towards the control plane.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ControlPlaneTls {
    /// `GATEHOUSE_CONTROL_PLANE_CA`; `None`: the system's roots.
    pub ca_path: Option<PathBuf>,
    /// `GATEHOUSE_CONTROL_PLANE_CLIENT_CERT` and `_KEY`.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl ControlPlaneTls {
    /// Reads the variables; a certificate without its key (or the other way round) is an error.
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let get = |key: &str| env.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
        let invalid = |setting, reason: &str| ConfigError::Invalid { setting, reason: reason.to_owned() };
        let client_cert = match (get(CONTROL_PLANE_CLIENT_CERT), get(CONTROL_PLANE_CLIENT_KEY)) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    CONTROL_PLANE_CLIENT_KEY,
                    "is required when GATEHOUSE_CONTROL_PLANE_CLIENT_CERT is set",
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    CONTROL_PLANE_CLIENT_CERT,
                    "is required when GATEHOUSE_CONTROL_PLANE_CLIENT_KEY is set",
                ))
            }
            (Some(cert), Some(key)) => Some((PathBuf::from(cert), PathBuf::from(key))),
        };
        Ok(Self { ca_path: get(CONTROL_PLANE_CA).map(PathBuf::from), client_cert })
    }

    fn is_set(&self) -> bool {
        self.ca_path.is_some() || self.client_cert.is_some()
    }
}

/// The URLs in `GATEHOUSE_CONTROL_PLANE_URL`, in order.
pub fn split_urls(urls: &str) -> Vec<&str> {
    urls.split(',').map(str::trim).filter(|u| !u.is_empty()).collect()
}

/// Whether `host` (from a URL) is this machine.
fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        url::Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

/// Checks the URL list: every URL `http` or `https` alike, with a host, no credentials;
/// plaintext only to loopback unless `allow_insecure`; TLS files only with `https`.
pub fn validate(urls: &str, tls: &ControlPlaneTls, allow_insecure: bool) -> Result<(), ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid { setting: CONTROL_PLANE_URL, reason };
    let list = split_urls(urls);
    if list.is_empty() {
        return Err(invalid("at least one URL is required".to_owned()));
    }
    let mut schemes = Vec::new();
    for raw in &list {
        let url = url::Url::parse(raw)
            .map_err(|e| invalid(format!("{raw:?}: {e} (expected e.g. https://control-plane:50051)")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(format!("{raw:?}: scheme must be http or https")));
        }
        let Some(host) = url.host().filter(|h| !matches!(h, url::Host::Domain(""))) else {
            return Err(invalid(format!("{raw:?}: a host is required")));
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("credentials belong in GATEHOUSE_NODE_TOKEN, not the url".to_owned()));
        }
        if url.scheme() == "http" && !allow_insecure && !is_loopback(&host) {
            return Err(invalid(format!(
                "{raw:?} is plaintext to another host, and the config stream carries every upstream secret: \
                 use https:// (GATEHOUSE_CONTROL_PLANE_CA for a private CA) or set \
                 {ALLOW_INSECURE_CONTROL_PLANE}=true"
            )));
        }
        schemes.push(url.scheme().to_owned());
    }
    schemes.dedup();
    match schemes.as_slice() {
        [_] => {}
        _ => return Err(invalid("mixes http:// and https:// URLs".to_owned())),
    }
    if schemes[0] == "http" && tls.is_set() {
        let setting = if tls.ca_path.is_some() { CONTROL_PLANE_CA } else { CONTROL_PLANE_CLIENT_CERT };
        return Err(ConfigError::Invalid {
            setting,
            reason: "needs an https:// GATEHOUSE_CONTROL_PLANE_URL".to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_is_refused_unless_loopback_or_allowed() {
        let none = ControlPlaneTls::default();
        for ok in ["http://127.0.0.1:50051", "http://localhost:1", "http://[::1]:1", "https://cp:443"] {
            validate(ok, &none, false).unwrap();
        }
        let err = validate("http://control-plane:50051", &none, false).unwrap_err().to_string();
        assert!(err.contains(CONTROL_PLANE_URL) && err.contains(ALLOW_INSECURE_CONTROL_PLANE), "{err}");
        validate("http://control-plane:50051", &none, true).unwrap();
        let err = validate("http://127.0.0.1:1, http://10.0.0.2:1", &none, false).unwrap_err();
        assert!(err.to_string().contains("10.0.0.2"), "every URL of the list is checked: {err}");
    }

    #[test]
    fn lists_are_read_and_checked_as_a_whole() {
        let none = ControlPlaneTls::default();
        assert_eq!(split_urls(" https://a:1 ,https://b:2,, "), ["https://a:1", "https://b:2"]);
        validate("https://a:1,https://b:2", &none, false).unwrap();
        for bad in ["", " , ", "https://a:1,http://127.0.0.1:2", "https://a:1,cp:2"] {
            assert!(validate(bad, &none, true).is_err(), "{bad:?}");
        }
        let ca = ControlPlaneTls { ca_path: Some("/ca.crt".into()), client_cert: None };
        let err = validate("http://127.0.0.1:1", &ca, false).unwrap_err().to_string();
        assert!(err.contains(CONTROL_PLANE_CA), "{err}");
    }

    #[test]
    fn client_certificate_needs_its_key() {
        let env = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
        };
        let err = ControlPlaneTls::from_env(&env(&[(CONTROL_PLANE_CLIENT_CERT, "/c")])).unwrap_err();
        assert!(err.to_string().contains(CONTROL_PLANE_CLIENT_KEY));
        let tls = ControlPlaneTls::from_env(&env(&[
            (CONTROL_PLANE_CA, "/ca"),
            (CONTROL_PLANE_CLIENT_CERT, "/c"),
            (CONTROL_PLANE_CLIENT_KEY, "/k"),
        ]))
        .unwrap();
        assert_eq!(tls.ca_path, Some(PathBuf::from("/ca")));
        assert_eq!(tls.client_cert, Some((PathBuf::from("/c"), PathBuf::from("/k"))));
    }
}
