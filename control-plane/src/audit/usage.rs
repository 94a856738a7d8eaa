//! Usage for the console's charts, aggregated from the stored request events:
//! per time bucket (hour or day) and group (server, tool, user or workspace),
//! the calls, errors, denials and latency percentiles.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::AuditEvent;

/// What usage rows are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// The server slug.
    Server,
    /// The tool (tool calls only).
    Tool,
    /// The caller's user.
    User,
    /// The workspace id.
    Workspace,
}

impl GroupBy {
    /// Parses `server`, `tool`, `user` or `workspace`.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "server" => Some(Self::Server),
            "tool" => Some(Self::Tool),
            "user" => Some(Self::User),
            "workspace" => Some(Self::Workspace),
            _ => None,
        }
    }

    fn key(self, e: &AuditEvent) -> Option<&str> {
        match self {
            Self::Server => e.server.as_deref(),
            Self::Tool => e.tool.as_deref(),
            Self::User => e.user.as_deref(),
            Self::Workspace => e.workspace.as_deref(),
        }
    }
}

/// The width of a usage bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// One hour.
    Hour,
    /// One day (UTC).
    Day,
}

impl Interval {
    /// Parses `hour` or `day`.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "hour" => Some(Self::Hour),
            "day" => Some(Self::Day),
            _ => None,
        }
    }

    fn delta(self) -> TimeDelta {
        match self {
            Self::Hour => TimeDelta::hours(1),
            Self::Day => TimeDelta::days(1),
        }
    }
}

/// One bucket of one group.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct UsageRow {
    /// Start of the bucket.
    pub bucket: DateTime<Utc>,
    /// The group's value (server slug, tool, user or workspace id).
    pub key: String,
    /// Requests decided (allowed and denied).
    pub calls: u64,
    /// Allowed requests that failed: a JSON-RPC error from the edge or an upstream status of 400 or more.
    pub errors: u64,
    /// Requests the edge denied.
    pub denials: u64,
    /// Median latency to the response head, in milliseconds.
    pub latency_p50_ms: u64,
    /// 95th percentile latency.
    pub latency_p95_ms: u64,
    /// 99th percentile latency.
    pub latency_p99_ms: u64,
}

#[derive(Default)]
struct Acc {
    calls: u64,
    errors: u64,
    denials: u64,
    latencies: Vec<u64>,
}

/// Aggregates `events` into rows ordered by bucket, then key. Events without the
/// group's field (a `tools/list` grouped by tool) are left out.
pub fn aggregate(events: &[AuditEvent], group_by: GroupBy, interval: Interval) -> Vec<UsageRow> {
    let mut groups: BTreeMap<(DateTime<Utc>, &str), Acc> = BTreeMap::new();
    for e in events {
        let Some(key) = group_by.key(e) else { continue };
        let bucket = e.occurred_at.duration_trunc(interval.delta()).unwrap_or(e.occurred_at);
        let acc = groups.entry((bucket, key)).or_default();
        acc.calls += 1;
        if e.decision.as_deref() == Some("deny") {
            acc.denials += 1;
        } else if e.jsonrpc_code.is_some() || e.upstream_status.is_some_and(|s| s >= 400) {
            acc.errors += 1;
        }
        acc.latencies.push(e.latency_ms.and_then(|l| u64::try_from(l).ok()).unwrap_or(0));
    }
    groups
        .into_iter()
        .map(|((bucket, key), mut acc)| {
            acc.latencies.sort_unstable();
            UsageRow {
                bucket,
                key: key.to_owned(),
                calls: acc.calls,
                errors: acc.errors,
                denials: acc.denials,
                latency_p50_ms: percentile(&acc.latencies, 50),
                latency_p95_ms: percentile(&acc.latencies, 95),
                latency_p99_ms: percentile(&acc.latencies, 99),
            }
        })
        .collect()
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(minute: i64, tool: &str, decision: &str, latency: i64, code: Option<i32>) -> AuditEvent {
        AuditEvent {
            occurred_at: DateTime::from_timestamp(1_700_000_000 + minute * 60, 0).unwrap(),
            tool: Some(tool.into()),
            decision: Some(decision.into()),
            latency_ms: Some(latency),
            jsonrpc_code: code,
            ..AuditEvent::default()
        }
    }

    #[test]
    fn buckets_count_calls_errors_denials_and_percentiles() {
        let mut events: Vec<AuditEvent> = (1..=100).map(|i| event(0, "echo", "allow", i, None)).collect();
        events.push(event(1, "echo", "deny", 0, Some(-32003)));
        events.push(event(2, "echo", "allow", 5, Some(-32603)));
        events.push(event(3, "add", "allow", 7, None));
        let rows = aggregate(&events, GroupBy::Tool, Interval::Hour);
        assert_eq!(rows.len(), 2, "{rows:?}");
        let echo = rows.iter().find(|r| r.key == "echo").unwrap();
        assert_eq!((echo.calls, echo.errors, echo.denials), (102, 1, 1));
        assert_eq!(echo.latency_p99_ms, 99);
        assert_eq!(rows.iter().find(|r| r.key == "add").unwrap().latency_p50_ms, 7);
        assert!(aggregate(&events, GroupBy::Server, Interval::Day).is_empty(), "no server named");
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        assert_eq!(percentile(&[], 50), 0);
        assert_eq!(percentile(&[3], 99), 3);
        assert_eq!(percentile(&[1, 2, 3, 4], 50), 2);
        assert_eq!(percentile(&[1, 2, 3, 4], 95), 4);
    }
}
