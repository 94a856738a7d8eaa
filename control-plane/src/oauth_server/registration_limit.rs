//! Per-address token buckets for Dynamic Client Registration: the endpoint is
//! anonymous, so without a limit anyone could fill the database with clients.
//!
//! In process: registrations reach the control plane directly, and each
//! replica limiting on its own bounds the total at `replicas × rate`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most addresses tracked at once; beyond that (after dropping full buckets)
/// new addresses are refused until buckets refill, so memory stays bounded.
const MAX_TRACKED: usize = 65_536;

/// A token bucket: `tokens` left as of `at`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Registrations allowed per address: `burst` at once, refilled at `per_minute`.
#[derive(Debug)]
pub struct RegistrationLimiter {
    per_minute: u32,
    burst: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RegistrationLimiter {
    /// A limiter; `per_minute == 0` allows everything.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self { per_minute, burst: burst.max(1), buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one registration for `key` at `now`; `Err(wait)` says how long until the next is allowed.
    pub fn check(&self, key: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let rate = f64::from(self.per_minute) / 60.0;
        let burst = f64::from(self.burst);
        let refill =
            |b: &Bucket| (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate).min(burst);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if !buckets.contains_key(&key) && buckets.len() >= MAX_TRACKED {
            // A full bucket is the same as none.
            buckets.retain(|_, b| refill(b) < burst);
            if buckets.len() >= MAX_TRACKED {
                tracing::warn!(
                    tracked = buckets.len(),
                    "client registration limiter is full; refusing new addresses"
                );
                return Err(Duration::from_secs_f64(1.0 / rate).max(Duration::from_secs(1)));
            }
        }
        let bucket = buckets.entry(key).or_insert(Bucket { tokens: burst, at: now });
        let tokens = refill(bucket);
        if tokens >= 1.0 {
            *bucket = Bucket { tokens: tokens - 1.0, at: now };
            Ok(())
        } else {
            *bucket = Bucket { tokens, at: now };
            Err(Duration::from_secs_f64((1.0 - tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn burst_then_the_rate_per_address() {
        let limiter = RegistrationLimiter::new(6, 3); // one every 10 s
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        for _ in 0..3 {
            assert!(limiter.check(a, t0).is_ok());
        }
        let wait = limiter.check(a, t0).unwrap_err();
        assert!((Duration::from_secs(9)..=Duration::from_secs(10)).contains(&wait), "{wait:?}");
        // Another address has its own bucket.
        assert!(limiter.check(ip("192.0.2.2"), t0).is_ok());
        // Refilled one token after 10 s, not two.
        let t1 = t0 + Duration::from_secs(10);
        assert!(limiter.check(a, t1).is_ok());
        assert!(limiter.check(a, t1).is_err());
        // Never more than the burst, however long it waited.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert!(limiter.check(a, t2).is_ok());
        }
        assert!(limiter.check(a, t2).is_err());
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let limiter = RegistrationLimiter::new(0, 1);
        let now = Instant::now();
        for _ in 0..100 {
            assert!(limiter.check(ip("192.0.2.1"), now).is_ok());
        }
    }

    #[test]
    fn tracked_addresses_are_bounded() {
        let limiter = RegistrationLimiter::new(1, 1);
        let now = Instant::now();
        for i in 0..MAX_TRACKED as u32 {
            assert!(limiter.check(IpAddr::from(i.to_be_bytes()), now).is_ok());
        }
        // Every bucket is empty: a new address is refused rather than tracked.
        assert!(limiter.check(ip("203.0.113.1"), now).is_err());
        // Once buckets have refilled they are dropped and new addresses fit again.
        assert!(limiter.check(ip("203.0.113.1"), now + Duration::from_secs(60)).is_ok());
        assert!(limiter.buckets.lock().unwrap().len() <= MAX_TRACKED);
    }
}
