//! How many identity-provider calls (remote JWKS fetches, token introspection) the
//! requests of one client address may cause per minute before they are
//! authenticated: a stranger sending made-up tokens must not turn the edge into a
//! load generator against the org's identity provider.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked before windows that ended are swept.
const SWEEP_AT: usize = 100_000;

/// A fixed one-minute window of calls per client address (IPv6 per /64).
#[derive(Debug)]
pub struct IdpCallLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl IdpCallLimiter {
    /// At most `per_minute` calls per client address and minute.
    pub fn new(per_minute: u32) -> Self {
        Self { per_minute, windows: Mutex::new(HashMap::new()) }
    }

    /// Takes one call from `client`'s budget; `false` when it is spent. Requests without
    /// a known address (tests driving the router directly) are not limited.
    pub fn allow(&self, client: Option<IpAddr>) -> bool {
        let Some(client) = client.map(key) else { return true };
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let (start, count) = windows.entry(client).or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            (*start, *count) = (now, 0);
        }
        if *count >= self.per_minute {
            return false;
        }
        *count += 1;
        true
    }
}

/// The limit key: IPv4 as is (and IPv4-mapped IPv6 as IPv4), IPv6 by its /64.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_has_its_own_budget_and_ipv6_counts_per_64() {
        let limiter = IdpCallLimiter::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(limiter.allow(Some(a)) && limiter.allow(Some(a)));
        assert!(!limiter.allow(Some(a)));
        assert!(limiter.allow(Some(b)));
        let v6 = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert!(limiter.allow(v6("2001:db8::1")) && limiter.allow(v6("2001:db8::ffff")));
        assert!(!limiter.allow(v6("2001:db8::2")), "the same /64");
        assert!(limiter.allow(v6("2001:db8:0:1::1")));
        assert!(limiter.allow(None));
    }
}
