//! SSRF guard for URLs discovered from upstream servers: every host is resolved
//! and refused if any address is not public by `gatehouse_config::address_filter`
//! (the classification the edges and client metadata fetches use too), and
//! redirects are checked the same way. Loopback can be allowed for local
//! development (`gatehouse dev`, tests).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use gatehouse_config::address_filter::AddressPolicy;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// How many redirects a guarded client follows.
const MAX_REDIRECTS: usize = 5;
/// Timeout of one guarded request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Which destinations a guarded client may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SsrfPolicy {
    /// Whether loopback addresses (127.0.0.0/8, ::1) are allowed.
    pub allow_loopback: bool,
}

/// A destination the guard refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a public address")]
pub struct BlockedAddress(pub IpAddr);

impl SsrfPolicy {
    /// The shared address filter this policy stands for.
    fn filter(&self) -> AddressPolicy {
        AddressPolicy::new(self.allow_loopback)
    }

    /// Whether `ip` may be contacted.
    pub fn check(&self, ip: IpAddr) -> Result<(), BlockedAddress> {
        self.filter().check(None, ip).map_err(|b| BlockedAddress(b.address))
    }

    /// Checks a URL whose host is an IP literal (names are checked at resolution).
    pub fn check_url(&self, url: &url::Url) -> Result<(), BlockedAddress> {
        match url.host() {
            Some(url::Host::Ipv4(v4)) => self.check(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => self.check(IpAddr::V6(v6)),
            _ => Ok(()),
        }
    }

    /// A client that resolves through the guard, re-checks every redirect
    /// target and ignores proxies (a proxy would resolve names itself).
    pub fn client(&self) -> GuardedClient {
        GuardedClient { policy: *self, inner: self.reqwest_client() }
    }

    /// A client that resolves through the guard, follows no redirect (a POST body
    /// must not be replayed elsewhere) and ignores proxies: for deliveries to
    /// admin-set URLs such as the audit export's.
    pub fn delivery_client(&self, timeout: Duration) -> reqwest::Client {
        reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver { policy: *self }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .build()
            .expect("building the delivery http client")
    }

    fn reqwest_client(&self) -> reqwest::Client {
        let policy = *self;
        let redirect = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error("too many redirects");
            }
            match policy.check_url(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(blocked) => attempt.error(blocked),
            }
        });
        reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver { policy }))
            .redirect(redirect)
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("building the guarded http client")
    }
}

/// An HTTP client that only reaches addresses its [`SsrfPolicy`] allows.
#[derive(Debug, Clone)]
pub struct GuardedClient {
    policy: SsrfPolicy,
    inner: reqwest::Client,
}

impl GuardedClient {
    /// Checks a URL the browser (not Gatehouse) will be sent to, by the same rules.
    pub fn check(&self, url: &url::Url) -> Result<(), BlockedAddress> {
        self.policy.check_url(url)
    }

    /// Starts a request after checking an IP-literal host (names are checked when resolved).
    pub fn request(
        &self,
        method: reqwest::Method,
        url: &url::Url,
    ) -> Result<reqwest::RequestBuilder, BlockedAddress> {
        self.policy.check_url(url)?;
        Ok(self.inner.request(method, url.clone()))
    }
}

/// Resolves names with the system resolver and refuses blocked addresses.
struct GuardedResolver {
    policy: SsrfPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(format!("{host} did not resolve").into());
            }
            // Refuse the name if any address is blocked, so DNS rebinding can't pick one.
            for addr in &addrs {
                policy.check(addr.ip()).map_err(|e| format!("{host}: {e}"))?;
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: SsrfPolicy = SsrfPolicy { allow_loopback: false };
    const DEV: SsrfPolicy = SsrfPolicy { allow_loopback: true };

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn refuses_non_public_ranges() {
        for bad in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "127.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
        ] {
            assert!(STRICT.check(ip(bad)).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn allows_public_addresses() {
        for good in ["8.8.8.8", "1.1.1.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(STRICT.check(ip(good)).is_ok(), "{good} should be allowed");
        }
    }

    #[test]
    fn loopback_only_when_allowed() {
        assert!(DEV.check(ip("127.0.0.1")).is_ok());
        assert!(DEV.check(ip("::1")).is_ok());
        assert!(DEV.check(ip("10.0.0.1")).is_err());
        assert!(DEV.check(ip("169.254.169.254")).is_err());
    }

    #[test]
    fn literal_urls_are_checked() {
        let url = url::Url::parse("http://169.254.169.254/latest/meta-data").unwrap();
        assert!(STRICT.check_url(&url).is_err());
        let url = url::Url::parse("http://[fe80::1]/").unwrap();
        assert!(STRICT.check_url(&url).is_err());
        let url = url::Url::parse("https://example.com/").unwrap();
        assert!(STRICT.check_url(&url).is_ok());
    }

    #[tokio::test]
    async fn guarded_client_refuses_blocked_targets() {
        let client = STRICT.client();
        let literal = url::Url::parse("http://10.0.0.1/").unwrap();
        assert!(client.request(reqwest::Method::GET, &literal).is_err());
        // A name goes through the guarded resolver.
        let named = url::Url::parse("http://localhost:9/").unwrap();
        let err = client.request(reqwest::Method::GET, &named).unwrap().send().await.unwrap_err();
        assert!(format!("{err:?}").contains("not a public address"), "{err:?}");
    }
}
