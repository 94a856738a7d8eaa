//! Deciding on this edge alone, when Redis is absent or down: the same GCRA and
//! budget counters as the Redis script, in process memory. Approximate across a
//! fleet: every edge lets through the full limit.

use std::collections::HashMap;
use std::sync::Mutex;

use super::check::{Check, Op};

/// Entries kept before expired ones are swept.
const SWEEP_AT: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// GCRA: the theoretical arrival time; budget: the count.
    value: i64,
    /// When the entry no longer matters (µs).
    expires_us: i64,
}

/// In-process counters.
#[derive(Debug, Default)]
pub(crate) struct LocalCounters {
    slots: Mutex<HashMap<String, Slot>>,
}

impl LocalCounters {
    /// Passes every check or none: `Err((index, wait_ms))` names the check that
    /// refuses with the longest wait, and nothing is counted.
    pub fn decide(&self, checks: &[Check<'_>], now_us: i64) -> Result<(), (usize, u64)> {
        let mut slots = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut worst: Option<(usize, i64)> = None;
        let mut next = Vec::with_capacity(checks.len());
        for (i, check) in checks.iter().enumerate() {
            let slot = slots.get(&*check.key).filter(|s| s.expires_us > now_us).copied();
            let wait = match check.op {
                Op::Gcra { interval_us, tolerance_us } => {
                    let tat = slot.map_or(now_us, |s| s.value.max(now_us));
                    let wait = tat - tolerance_us as i64 - now_us;
                    let new_tat = tat + interval_us as i64;
                    next.push(Slot { value: new_tat, expires_us: new_tat });
                    wait
                }
                Op::Budget { calls, window_end_us } => {
                    let used = slot.map_or(0, |s| s.value);
                    next.push(Slot { value: used + 1, expires_us: window_end_us });
                    if used as u64 >= calls {
                        window_end_us - now_us
                    } else {
                        0
                    }
                }
            };
            if wait > 0 && worst.is_none_or(|(_, w)| wait > w) {
                worst = Some((i, wait));
            }
        }
        if let Some((i, wait_us)) = worst {
            return Err((i, (wait_us as u64).div_ceil(1000)));
        }
        if slots.len() >= SWEEP_AT {
            slots.retain(|_, s| s.expires_us > now_us);
        }
        for (check, slot) in checks.iter().zip(next) {
            // A counter already kept is updated in place: no key copied.
            match slots.get_mut(&*check.key) {
                Some(kept) => *kept = slot,
                None => {
                    slots.insert(check.key.clone().into_owned(), slot);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limit_rules::LimitRule;
    use gatehouse_config::rate_limit::{LimitKind, Period};
    use std::sync::Arc;

    fn rule(kind: LimitKind, amount: u64, period: Period, burst: u64) -> Arc<LimitRule> {
        Arc::new(LimitRule {
            id: "l".into(),
            org_id: "o".into(),
            name: "n".into(),
            workspace: None,
            user: None,
            tool: None,
            per_caller: false,
            kind,
            amount,
            period,
            burst,
            shared_key: Default::default(),
        })
    }

    #[test]
    fn a_limit_lets_the_burst_through_then_one_per_interval() {
        let counters = LocalCounters::default();
        let limit = rule(LimitKind::Limit, 60, Period::Minute, 3);
        let checks = [Check::new("p:", &limit, "u", 0)];
        let t0 = 1_000_000_000;
        for _ in 0..3 {
            assert!(counters.decide(&checks, t0).is_ok());
        }
        let (i, wait_ms) = counters.decide(&checks, t0).unwrap_err();
        assert_eq!((i, wait_ms), (0, 1000), "one request a second once the burst is spent");
        assert!(counters.decide(&checks, t0 + 999_000).is_err());
        assert!(counters.decide(&checks, t0 + 1_000_000).is_ok());
        assert!(counters.decide(&checks, t0 + 1_000_000).is_err());
    }

    #[test]
    fn a_budget_counts_to_its_calls_and_a_refusal_counts_nothing() {
        let counters = LocalCounters::default();
        let day = rule(LimitKind::Budget, 2, Period::Day, 2);
        let per_second = rule(LimitKind::Limit, 1, Period::Second, 1);
        let now_ms = 1_796_622_000_000;
        let now_us = now_ms * 1000;
        let budget = Check::new("p:", &day, "u", now_ms);
        let limit = Check { key: "other".into(), ..Check::new("p:", &per_second, "u", now_ms) };
        assert!(counters.decide(std::slice::from_ref(&limit), now_us).is_ok());
        // The limit refuses: the budget must not be spent by this request.
        assert_eq!(counters.decide(&[budget.clone(), limit], now_us).unwrap_err().0, 1);
        let budget = [budget];
        assert!(counters.decide(&budget, now_us).is_ok());
        assert!(counters.decide(&budget, now_us).is_ok());
        let (i, wait_ms) = counters.decide(&budget, now_us).unwrap_err();
        assert_eq!(i, 0);
        assert_eq!(wait_ms, 18 * 3_600_000 + 20 * 60_000, "until the next UTC day");
    }
}
