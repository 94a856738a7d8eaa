//! Which network addresses Gatehouse may open connections to on an admin's or a
//! stranger's say-so (upstream MCP servers, token endpoints, JWKS, introspection,
//! discovery, client metadata documents): the one classification both planes use.
//!
//! Pure data: no resolver and no runtime. Each plane resolves names in its own
//! HTTP client and asks [`AddressPolicy::check`] about every address a name
//! resolves to, on every resolution, so a DNS answer that changes between two
//! requests (rebinding) is checked again.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of destination an address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// Routable on the internet.
    Public,
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// Link-local (169.254.0.0/16 with the cloud metadata endpoints, fe80::/10).
    LinkLocal,
    /// Private networks: RFC 1918, CGNAT 100.64.0.0/10 (Alibaba's metadata endpoint),
    /// unique-local fc00::/7 (AWS's IPv6 metadata endpoint), site-local.
    Private,
    /// Unspecified, multicast, broadcast, documentation, benchmarking, reserved, NAT64.
    Reserved,
}

/// The class of `ip`; an IPv4-mapped IPv6 address is classed as its IPv4 address.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_link_local() {
        AddressClass::LinkLocal
    } else if ip.is_private() || (a == 100 && (64..=127).contains(&b)) {
        AddressClass::Private
    } else if ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..=19).contains(&b)) // benchmarking
        || a >= 240
    {
        AddressClass::Reserved
    } else {
        AddressClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let [first, second, ..] = ip.segments();
    if ip.is_loopback() {
        AddressClass::Loopback
    } else if (first & 0xffc0) == 0xfe80 {
        AddressClass::LinkLocal
    } else if (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfec0 {
        AddressClass::Private
    } else if ip.is_unspecified()
        || ip.is_multicast()
        || (first == 0x2001 && second == 0x0db8) // documentation
        || (first == 0x0064 && second == 0xff9b) // NAT64 reaches private IPv4
        || ip.to_ipv4().is_some_and(|_| first == 0)
    // IPv4-compatible (deprecated)
    {
        AddressClass::Reserved
    } else {
        AddressClass::Public
    }
}

/// A network in CIDR notation (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `fd00::/8` or a bare address.
    pub fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let network: IpAddr = addr.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { network, prefix })
    }

    /// Whether `ip` is inside the network (IPv4-mapped addresses as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// One entry of an allowlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowEntry {
    /// Any address in this network may be reached, whatever its class.
    Network(Cidr),
    /// This host name (lowercase, no trailing dot) may resolve to non-public addresses
    /// other than link-local ones; `.example.internal` matches every subdomain.
    Host(String),
}

/// Why an allowlist does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry:?} is neither a CIDR, an IP address nor a host name")]
pub struct AllowlistError {
    /// The entry as written.
    pub entry: String,
}

/// A destination the policy refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{address} is not an allowed destination ({class:?} address)")]
pub struct BlockedAddress {
    /// The refused address.
    pub address: IpAddr,
    /// Its class.
    pub class: AddressClass,
}

/// Which destinations outbound connections may reach: public addresses, loopback when
/// allowed, and whatever the allowlist names. The default refuses everything non-public.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Whether loopback is allowed (`gatehouse dev`, single-box installs, tests).
    pub allow_loopback: bool,
    /// Networks and hosts allowed besides public addresses.
    pub allow: Vec<AllowEntry>,
}

impl AddressPolicy {
    /// A policy allowing public addresses, and loopback when `allow_loopback`.
    pub fn new(allow_loopback: bool) -> Self {
        Self { allow_loopback, allow: Vec::new() }
    }

    /// Parses a comma-separated allowlist of CIDRs, addresses and host names.
    pub fn parse_allowlist(text: &str) -> Result<Vec<AllowEntry>, AllowlistError> {
        text.split(',').map(str::trim).filter(|e| !e.is_empty()).map(parse_entry).collect()
    }

    /// Whether `ip`, one of the addresses `host` resolved to (`None` for an address
    /// literal), may be contacted.
    pub fn check(&self, host: Option<&str>, ip: IpAddr) -> Result<(), BlockedAddress> {
        let class = classify(ip);
        let blocked = Err(BlockedAddress { address: ip, class });
        if self.allow.iter().any(|e| matches!(e, AllowEntry::Network(net) if net.contains(ip))) {
            return Ok(());
        }
        match class {
            AddressClass::Public => Ok(()),
            AddressClass::Loopback if self.allow_loopback => Ok(()),
            // A name on the allowlist may be internal, but the metadata endpoints are
            // reachable only through a network entry that names them.
            AddressClass::Loopback | AddressClass::Private if host.is_some_and(|h| self.host_allowed(h)) => {
                Ok(())
            }
            _ => blocked,
        }
    }

    /// Checks a URL whose host is an address literal (names are checked when resolved).
    pub fn check_url(&self, url: &url::Url) -> Result<(), BlockedAddress> {
        match url.host() {
            Some(url::Host::Ipv4(v4)) => self.check(None, IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => self.check(None, IpAddr::V6(v6)),
            _ => Ok(()),
        }
    }

    /// Whether `host` is on the allowlist by name.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allow.iter().any(|e| match e {
            AllowEntry::Host(name) if name.starts_with('.') => host.ends_with(name.as_str()),
            AllowEntry::Host(name) => *name == host,
            AllowEntry::Network(_) => false,
        })
    }
}

fn parse_entry(entry: &str) -> Result<AllowEntry, AllowlistError> {
    if let Some(net) = Cidr::parse(entry) {
        return Ok(AllowEntry::Network(net));
    }
    let name = entry.trim_end_matches('.').to_ascii_lowercase();
    let label_ok =
        |l: &str| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let body = name.strip_prefix('.').unwrap_or(&name);
    if !body.is_empty() && !entry.contains('/') && body.split('.').all(label_ok) {
        Ok(AllowEntry::Host(name))
    } else {
        Err(AllowlistError { entry: entry.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const STRICT: AddressPolicy = AddressPolicy { allow_loopback: false, allow: Vec::new() };

    #[test]
    fn refuses_every_non_public_range() {
        for bad in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.100.100.200",
            "224.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "127.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "::a00:1",
        ] {
            assert!(STRICT.check(None, ip(bad)).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn allows_public_addresses() {
        for good in ["8.8.8.8", "1.1.1.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(STRICT.check(None, ip(good)).is_ok(), "{good} should be allowed");
        }
    }

    #[test]
    fn loopback_only_when_allowed() {
        let dev = AddressPolicy::new(true);
        assert!(dev.check(None, ip("127.0.0.1")).is_ok());
        assert!(dev.check(None, ip("::1")).is_ok());
        assert!(dev.check(None, ip("10.0.0.1")).is_err());
        assert!(dev.check(None, ip("169.254.169.254")).is_err());
    }

    #[test]
    fn the_allowlist_admits_networks_and_hosts_but_hosts_never_reach_metadata() {
        let allow =
            AddressPolicy::parse_allowlist(" 10.0.0.0/8, fd00::/8 ,mcp.internal, .svc.cluster.local.")
                .unwrap();
        let policy = AddressPolicy { allow_loopback: false, allow };
        assert!(policy.check(None, ip("10.9.8.7")).is_ok());
        assert!(policy.check(None, ip("fd12::1")).is_ok());
        assert!(policy.check(None, ip("192.168.0.1")).is_err());
        assert!(policy.check(Some("MCP.internal."), ip("192.168.0.1")).is_ok());
        assert!(policy.check(Some("a.b.svc.cluster.local"), ip("172.16.0.1")).is_ok());
        assert!(policy.check(Some("mcp.internal"), ip("169.254.169.254")).is_err());
        assert!(policy.check(Some("other.internal"), ip("192.168.0.1")).is_err());
        let metadata = AddressPolicy {
            allow_loopback: false,
            allow: AddressPolicy::parse_allowlist("169.254.169.254").unwrap(),
        };
        assert!(metadata.check(None, ip("169.254.169.254")).is_ok());
    }

    #[test]
    fn bad_allowlist_entries_are_named() {
        for bad in ["10.0.0.0/33", "not a host", "a..b", "http://x/"] {
            let err = AddressPolicy::parse_allowlist(&format!("10.0.0.0/8,{bad}")).unwrap_err();
            assert_eq!(err.entry, bad);
        }
        assert_eq!(AddressPolicy::parse_allowlist(" , ").unwrap(), vec![]);
    }

    #[test]
    fn literal_urls_are_checked() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        assert!(STRICT.check_url(&url("http://169.254.169.254/latest/meta-data")).is_err());
        assert!(STRICT.check_url(&url("http://[fe80::1]/")).is_err());
        assert!(STRICT.check_url(&url("http://[::ffff:a9fe:a9fe]/")).is_err());
        assert!(STRICT.check_url(&url("https://example.com/")).is_ok());
    }
}
