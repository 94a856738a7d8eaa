//! Rate limits and budgets as both planes read them: the kinds and periods an
//! admin may name, and the budget windows (UTC day, calendar month) that the
//! edges count in and the control plane reports usage for.

/// The Redis key prefix both planes use when `GATEHOUSE_REDIS_KEY_PREFIX` is unset.
pub const DEFAULT_REDIS_KEY_PREFIX: &str = "gatehouse:";

/// Whether an entry limits the request rate or budgets tool calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// Requests per period, smoothed (GCRA) with a burst.
    Limit,
    /// Tool calls per UTC day or calendar month, counted.
    Budget,
}

impl LimitKind {
    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Limit => "limit",
            LimitKind::Budget => "budget",
        }
    }

    /// The kind a wire or database name denotes.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "limit" => Some(LimitKind::Limit),
            "budget" => Some(LimitKind::Budget),
            _ => None,
        }
    }
}

/// The period of a limit or budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// One second.
    Second,
    /// One minute.
    Minute,
    /// One hour.
    Hour,
    /// A day: 24 hours for a limit, the UTC calendar day for a budget.
    Day,
    /// The UTC calendar month (budgets only).
    Month,
}

/// Periods a limit may use.
pub const LIMIT_PERIODS: &[&str] = &["second", "minute", "hour", "day"];
/// Periods a budget may use.
pub const BUDGET_PERIODS: &[&str] = &["day", "month"];

impl Period {
    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Second => "second",
            Period::Minute => "minute",
            Period::Hour => "hour",
            Period::Day => "day",
            Period::Month => "month",
        }
    }

    /// The period a name denotes, if `kind` may use it.
    pub fn parse(kind: LimitKind, s: &str) -> Option<Self> {
        let period = match s {
            "second" => Period::Second,
            "minute" => Period::Minute,
            "hour" => Period::Hour,
            "day" => Period::Day,
            "month" => Period::Month,
            _ => return None,
        };
        let allowed = match kind {
            LimitKind::Limit => LIMIT_PERIODS,
            LimitKind::Budget => BUDGET_PERIODS,
        };
        allowed.contains(&s).then_some(period)
    }

    /// The period's length in milliseconds, for a rolling limit (`None` for a month).
    pub fn millis(self) -> Option<u64> {
        match self {
            Period::Second => Some(1_000),
            Period::Minute => Some(60_000),
            Period::Hour => Some(3_600_000),
            Period::Day => Some(86_400_000),
            Period::Month => None,
        }
    }
}

/// The Redis key of a limit's counter (a GCRA theoretical arrival time). The org id is
/// the key's hash tag, so every key one request touches is in one Redis Cluster slot.
pub fn limit_key(prefix: &str, org_id: &str, limit_id: &str, caller: Option<&str>) -> String {
    match caller {
        Some(caller) => format!("{prefix}rl:{{{org_id}}}:{limit_id}:u:{caller}"),
        None => format!("{prefix}rl:{{{org_id}}}:{limit_id}"),
    }
}

/// The Redis key of a budget's counter in the window starting at `window_start_ms`.
pub fn budget_key(
    prefix: &str,
    org_id: &str,
    limit_id: &str,
    window_start_ms: i64,
    caller: Option<&str>,
) -> String {
    match caller {
        Some(caller) => format!("{prefix}rb:{{{org_id}}}:{limit_id}:{window_start_ms}:u:{caller}"),
        None => format!("{prefix}rb:{{{org_id}}}:{limit_id}:{window_start_ms}"),
    }
}

/// The budget window holding `now_ms` (Unix milliseconds): `[start, end)` in Unix
/// milliseconds, the UTC day or the UTC calendar month. Other periods are treated as a day.
pub fn budget_window(period: Period, now_ms: i64) -> (i64, i64) {
    const DAY: i64 = 86_400_000;
    let day = now_ms.div_euclid(DAY);
    match period {
        Period::Month => {
            let (y, m, _) = civil_from_days(day);
            let start = days_from_civil(y, m, 1);
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            (start * DAY, days_from_civil(ny, nm, 1) * DAY)
        }
        _ => (day * DAY, (day + 1) * DAY),
    }
}

// Howard Hinnant's civil-calendar algorithms (proleptic Gregorian, days since 1970-01-01).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn periods_are_checked_against_the_kind() {
        assert_eq!(Period::parse(LimitKind::Limit, "minute"), Some(Period::Minute));
        assert_eq!(Period::parse(LimitKind::Limit, "month"), None);
        assert_eq!(Period::parse(LimitKind::Budget, "month"), Some(Period::Month));
        assert_eq!(Period::parse(LimitKind::Budget, "hour"), None);
        assert_eq!(Period::parse(LimitKind::Limit, "Minute"), None);
    }

    #[test]
    fn a_day_window_is_the_utc_day() {
        // 2026-12-07T05:40:00Z
        let now = 1_796_622_000_000;
        let (start, end) = budget_window(Period::Day, now);
        assert_eq!(start % DAY, 0);
        assert_eq!(end - start, DAY);
        assert!(start <= now && now < end);
    }

    #[test]
    fn a_month_window_is_the_calendar_month() {
        // 2024-02-15T12:00:00Z: a leap February.
        let now = 1_707_998_400_000;
        let (start, end) = budget_window(Period::Month, now);
        assert_eq!(start, 1_706_745_600_000, "2024-02-01T00:00:00Z");
        assert_eq!(end, 1_709_251_200_000, "2024-03-01T00:00:00Z");
        // December rolls over into January of the next year.
        let (start, end) = budget_window(Period::Month, 1_796_622_000_000);
        assert_eq!(start, 1_796_083_200_000, "2026-12-01T00:00:00Z");
        assert_eq!(end, 1_798_761_600_000, "2027-01-01T00:00:00Z");
    }

    #[test]
    fn keys_are_tagged_by_org_and_name_the_caller_last() {
        assert_eq!(limit_key("g:", "o1", "l1", None), "g:rl:{o1}:l1");
        assert_eq!(limit_key("g:", "o1", "l1", Some("a:b")), "g:rl:{o1}:l1:u:a:b");
        assert_eq!(budget_key("g:", "o1", "b1", 86_400_000, None), "g:rb:{o1}:b1:86400000");
        assert_eq!(budget_key("g:", "o1", "b1", 0, Some("ann")), "g:rb:{o1}:b1:0:u:ann");
    }

    #[test]
    fn civil_conversions_round_trip() {
        for day in [-800_000, -1, 0, 1, 11_016, 19_768, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
    }
}
