//! Remembers recent events by key so that repeats within a window are skipped
//! (step-up prompts, proactive refresh attempts).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept before stale ones are swept.
const SWEEP_AT: usize = 10_000;

/// Allows one event per key per window.
#[derive(Debug)]
pub struct Throttle {
    window: Duration,
    last: Mutex<HashMap<String, Instant>>,
}

impl Throttle {
    /// A throttle allowing one event per key every `window`.
    pub fn new(window: Duration) -> Self {
        Self { window, last: Mutex::default() }
    }

    /// Whether an event for `key` may happen now; records it if so.
    pub fn allow(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.len() >= SWEEP_AT {
            last.retain(|_, at| now.duration_since(*at) < self.window);
        }
        match last.get(key) {
            Some(at) if now.duration_since(*at) < self.window => false,
            _ => {
                last.insert(key.to_owned(), now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_key_per_window() {
        let throttle = Throttle::new(Duration::from_secs(600));
        assert!(throttle.allow("a"));
        assert!(!throttle.allow("a"));
        assert!(throttle.allow("b"));
        let zero = Throttle::new(Duration::ZERO);
        assert!(zero.allow("a") && zero.allow("a"));
    }
}
