//! One counter a request must pass, whichever backend decides: a GCRA limit or a
//! budget counter, under the key both backends and every edge agree on.

use std::borrow::Cow;
use std::sync::Arc;

use gatehouse_config::rate_limit::{budget_key, budget_window, limit_key, LimitKind};

use crate::limit_rules::LimitRule;

/// What a counter allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// GCRA: one request per `interval_us`, up to `tolerance_us` ahead of schedule
    /// (`burst - 1` intervals).
    Gcra { interval_us: u64, tolerance_us: u64 },
    /// At most `calls` in the window ending at `window_end_us`.
    Budget { calls: u64, window_end_us: i64 },
}

/// One counter of one rule for one request.
#[derive(Debug, Clone)]
pub(crate) struct Check<'r> {
    /// The counter's key; a limit shared by every caller reuses its rule's, made once.
    pub key: Cow<'r, str>,
    pub op: Op,
    pub rule: &'r Arc<LimitRule>,
    /// The `RateLimit-Policy` window, in seconds.
    pub window_secs: u64,
}

impl<'r> Check<'r> {
    /// The counter `rule` keeps for `caller` (when per caller) at `now_ms`.
    pub fn new(prefix: &str, rule: &'r Arc<LimitRule>, caller: &str, now_ms: i64) -> Self {
        let caller = rule.per_caller.then_some(caller);
        match rule.kind {
            LimitKind::Limit => {
                let period_us = rule.period.millis().unwrap_or(86_400_000).saturating_mul(1000);
                let interval_us = (period_us / rule.amount).max(1);
                let tolerance_us = interval_us.saturating_mul(rule.burst.saturating_sub(1));
                let key = match caller {
                    Some(_) => Cow::Owned(limit_key(prefix, &rule.org_id, &rule.id, caller)),
                    None => rule
                        .shared_key
                        .get_or_make(prefix, || limit_key(prefix, &rule.org_id, &rule.id, None)),
                };
                Check {
                    key,
                    op: Op::Gcra { interval_us, tolerance_us },
                    rule,
                    window_secs: period_us / 1_000_000,
                }
            }
            LimitKind::Budget => {
                let (start, end) = budget_window(rule.period, now_ms);
                Check {
                    key: Cow::Owned(budget_key(prefix, &rule.org_id, &rule.id, start, caller)),
                    op: Op::Budget { calls: rule.amount, window_end_us: end.saturating_mul(1000) },
                    rule,
                    window_secs: u64::try_from((end - start) / 1000).unwrap_or(0),
                }
            }
        }
    }
}
