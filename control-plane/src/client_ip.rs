//! The address a request came from: the TCP peer, or, behind a known number of
//! reverse proxies, the `X-Forwarded-For` entry the outermost of them appended.
//!
//! Entries left of that one are whatever the client sent and are never trusted.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::http::HeaderMap;

/// Header the trusted proxies append the address they saw to.
const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The client address of a request from `peer` with `headers`, trusting
/// `trusted_hops` proxies in front of us (0 = the peer is the client).
///
/// With fewer `X-Forwarded-For` entries than trusted hops (the request did not
/// pass every proxy) or an unparsable entry, the peer is used.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted_hops: usize) -> IpAddr {
    if trusted_hops == 0 {
        return peer;
    }
    // Several headers are one list, in order (RFC 9110 §5.3).
    let entries: Vec<&str> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let Some(index) = entries.len().checked_sub(trusted_hops) else {
        return peer;
    };
    parse_entry(entries[index]).unwrap_or(peer)
}

/// An `X-Forwarded-For` entry: an IP, possibly with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    entry.parse::<IpAddr>().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// The key a per-client limit counts under: IPv4 addresses as they are,
/// IPv4-mapped IPv6 as IPv4, other IPv6 by their /64 (one host usually holds a whole /64).
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & (u128::MAX << 64);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(X_FORWARDED_FOR, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(client_ip(peer, &headers(&["203.0.113.9"]), 0), peer);
    }

    #[test]
    fn the_entry_the_outermost_trusted_proxy_appended_counts() {
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        // The client forged the first entry; one ingress appended the real address.
        let h = headers(&["198.51.100.7, 203.0.113.9"]);
        assert_eq!(client_ip(peer, &h, 1), "203.0.113.9".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(peer, &h, 2), "198.51.100.7".parse::<IpAddr>().unwrap());
        // Split over several headers, with ports.
        let h = headers(&["198.51.100.7", "[2001:db8::1]:443"]);
        assert_eq!(client_ip(peer, &h, 1), "2001:db8::1".parse::<IpAddr>().unwrap());
        // Fewer entries than hops, none at all, or garbage: the peer.
        assert_eq!(client_ip(peer, &h, 3), peer);
        assert_eq!(client_ip(peer, &HeaderMap::new(), 1), peer);
        assert_eq!(client_ip(peer, &headers(&["unknown"]), 1), peer);
    }

    #[test]
    fn ipv6_clients_count_per_64() {
        let a = limit_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = limit_key("2001:db8:1:2:bbbb::2".parse().unwrap());
        let c = limit_key("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(limit_key("::ffff:192.0.2.1".parse().unwrap()), "192.0.2.1".parse::<IpAddr>().unwrap());
    }
}
