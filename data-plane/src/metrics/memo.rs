//! A per-thread memo of the metric handles recent requests recorded into.
//!
//! Recording through a family means hashing the label set, taking the family's read lock
//! and comparing the label strings: about 400 instructions per family, four families per
//! forwarded request. The request path's label sets repeat: org and server are the config's
//! own `Arc<str>`s, every other label a `&'static str` or a status code. So each thread keeps
//! the handles (counters and histograms share their value with the family's) in small
//! direct-mapped tables keyed by the identity of those strings: a hit is a few word
//! compares. A miss, or a key whose strings are equal but not the same allocation, looks the
//! handle up in the family as before and keeps it in its slot. Families never drop a label
//! set, so a kept handle records exactly where a lookup would.

use std::cell::RefCell;
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;

use super::labels::{RequestLabels, ServerLabels, ToolLabels};

/// Slots per table (a power of two).
const SLOTS: usize = 64;

type Table<K, V> = [Option<(K, V)>; SLOTS];

/// One thread's handles, for one [`super::EdgeMetrics`].
pub(super) struct Memo {
    /// The metrics these handles belong to (`EdgeMetrics::id`); another's clear the memo.
    owner: u64,
    /// `gatehouse_mcp_requests_total`, and the request duration of the same org and server.
    requests: Table<RequestLabels, (Counter, Histogram)>,
    upstream: Table<ServerLabels, Histogram>,
    tools: Table<ToolLabels, Counter>,
}

thread_local! {
    static MEMO: RefCell<Option<Box<Memo>>> = const { RefCell::new(None) };
}

impl Memo {
    fn new(owner: u64) -> Box<Self> {
        Box::new(Self {
            owner,
            requests: std::array::from_fn(|_| None),
            upstream: std::array::from_fn(|_| None),
            tools: std::array::from_fn(|_| None),
        })
    }
}

/// Runs `f` on this thread's memo for the metrics `owner`; `None` (and `f` not run) when
/// the memo is out of reach: while the thread is exiting, or from inside `f`.
pub(super) fn with<R>(owner: u64, f: impl FnOnce(&mut Memo) -> R) -> Option<R> {
    MEMO.try_with(|memo| {
        let mut memo = memo.try_borrow_mut().ok()?;
        let memo = match &mut *memo {
            Some(memo) if memo.owner == owner => memo,
            other => other.insert(Memo::new(owner)),
        };
        Some(f(memo))
    })
    .ok()
    .flatten()
}

impl Memo {
    /// The request counter and duration histogram of `labels`, from `lookup` on a miss.
    pub(super) fn request(
        &mut self,
        labels: &RequestLabels,
        lookup: impl FnOnce() -> (Counter, Histogram),
    ) -> &(Counter, Histogram) {
        let words = [
            ptr(&labels.org),
            ptr(&labels.server),
            labels.method.as_ptr() as usize,
            usize::from(labels.status),
        ];
        let same = |k: &RequestLabels| {
            Arc::ptr_eq(&k.org, &labels.org)
                && Arc::ptr_eq(&k.server, &labels.server)
                && std::ptr::eq(k.method, labels.method)
                && std::ptr::eq(k.decision, labels.decision)
                && k.status == labels.status
        };
        cached(&mut self.requests[slot(&words)], same, labels, lookup)
    }

    /// The upstream duration histogram of `labels`, from `lookup` on a miss.
    pub(super) fn upstream(
        &mut self,
        labels: &ServerLabels,
        lookup: impl FnOnce() -> Histogram,
    ) -> &Histogram {
        let same =
            |k: &ServerLabels| Arc::ptr_eq(&k.org, &labels.org) && Arc::ptr_eq(&k.server, &labels.server);
        cached(&mut self.upstream[slot(&[ptr(&labels.org), ptr(&labels.server)])], same, labels, lookup)
    }

    /// The tool-call counter of `labels`, from `lookup` on a miss.
    pub(super) fn tool(&mut self, labels: &ToolLabels, lookup: impl FnOnce() -> Counter) -> &Counter {
        let same = |k: &ToolLabels| {
            Arc::ptr_eq(&k.org, &labels.org)
                && Arc::ptr_eq(&k.server, &labels.server)
                && Arc::ptr_eq(&k.tool, &labels.tool)
                && std::ptr::eq(k.decision, labels.decision)
        };
        let words =
            [ptr(&labels.org), ptr(&labels.server), ptr(&labels.tool), labels.decision.as_ptr() as usize];
        cached(&mut self.tools[slot(&words)], same, labels, lookup)
    }
}

/// The value in `entry` if its key is `same`, else `lookup`'s, kept under `key`.
fn cached<'m, K: Clone, V>(
    entry: &'m mut Option<(K, V)>,
    same: impl Fn(&K) -> bool,
    key: &K,
    lookup: impl FnOnce() -> V,
) -> &'m V {
    if !entry.as_ref().is_some_and(|(k, _)| same(k)) {
        *entry = None;
    }
    &entry.get_or_insert_with(|| (key.clone(), lookup())).1
}

fn ptr(text: &Arc<str>) -> usize {
    Arc::as_ptr(text).cast::<u8>() as usize
}

/// The slot of a key made of these words (the FxHash step; the top bits pick the slot).
fn slot(words: &[usize]) -> usize {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let hash = words.iter().fold(0u64, |h, &w| (h.rotate_left(5) ^ w as u64).wrapping_mul(K));
    (hash >> (64 - SLOTS.trailing_zeros())) as usize
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::labels::{ALLOW, DENY};
    use super::super::EdgeMetrics;
    use super::*;

    fn request(org: &Arc<str>, server: &Arc<str>, status: u16) -> RequestLabels {
        RequestLabels {
            org: org.clone(),
            server: server.clone(),
            method: "tools/call",
            decision: ALLOW,
            status,
        }
    }

    fn line(metrics: &EdgeMetrics, prefix: &str) -> Option<String> {
        metrics.render().lines().find(|l| l.starts_with(prefix)).map(str::to_owned)
    }

    #[test]
    fn remembered_handles_count_into_the_same_series_as_a_lookup() {
        let metrics = EdgeMetrics::new();
        let (org, server) = (Arc::from("acme"), Arc::from("github"));
        for _ in 0..3 {
            metrics.mcp_request(&request(&org, &server, 200), Duration::from_millis(2));
        }
        // Equal strings in other allocations: the same series, though not the same memo key.
        let (org2, server2): (Arc<str>, Arc<str>) = (Arc::from("acme"), Arc::from("github"));
        metrics.mcp_request(&request(&org2, &server2, 200), Duration::from_millis(2));
        metrics.mcp_request(&request(&org, &server, 502), Duration::from_millis(2));
        let ok = r#"gatehouse_mcp_requests_total{org="acme",server="github",method="tools/call",decision="allow",status="200"}"#;
        assert_eq!(line(&metrics, ok).as_deref(), Some(&*format!("{ok} 4")));
        let failed = ok.replace("200", "502");
        assert_eq!(line(&metrics, &failed).as_deref(), Some(&*format!("{failed} 1")));
        let count = r#"gatehouse_mcp_request_duration_seconds_count{org="acme",server="github"}"#;
        assert_eq!(line(&metrics, count).as_deref(), Some(&*format!("{count} 5")));

        let upstream = ServerLabels { org: org.clone(), server: server.clone() };
        metrics.upstream_request(&upstream, Duration::from_millis(1));
        metrics.upstream_request(&upstream, Duration::from_millis(1));
        let count = r#"gatehouse_upstream_request_duration_seconds_count{org="acme",server="github"}"#;
        assert_eq!(line(&metrics, count).as_deref(), Some(&*format!("{count} 2")));

        let tool: Arc<str> = Arc::from("search");
        for decision in [ALLOW, ALLOW, DENY] {
            metrics.tool_call(&ToolLabels {
                org: org.clone(),
                server: server.clone(),
                tool: tool.clone(),
                decision,
            });
        }
        let allowed =
            r#"gatehouse_tool_calls_total{org="acme",server="github",tool="search",decision="allow"}"#;
        assert_eq!(line(&metrics, allowed).as_deref(), Some(&*format!("{allowed} 2")));
        let denied = allowed.replace("allow", "deny");
        assert_eq!(line(&metrics, &denied).as_deref(), Some(&*format!("{denied} 1")));
    }

    #[test]
    fn two_metrics_handles_on_one_thread_never_share_remembered_handles() {
        let (a, b) = (EdgeMetrics::new(), EdgeMetrics::new());
        let (org, server) = (Arc::from("acme"), Arc::from("github"));
        let labels = request(&org, &server, 200);
        a.mcp_request(&labels, Duration::ZERO);
        b.mcp_request(&labels, Duration::ZERO);
        b.mcp_request(&labels, Duration::ZERO);
        a.mcp_request(&labels, Duration::ZERO);
        a.mcp_request(&labels, Duration::ZERO);
        let series = r#"gatehouse_mcp_requests_total{org="acme",server="github",method="tools/call",decision="allow",status="200"}"#;
        assert_eq!(line(&a, series).as_deref(), Some(&*format!("{series} 3")));
        assert_eq!(line(&b, series).as_deref(), Some(&*format!("{series} 2")));
    }

    #[test]
    fn a_memo_out_of_reach_is_no_memo() {
        assert_eq!(with(7, |_| with(7, |_| ()).is_none()), Some(true), "from inside: none");
    }

    #[test]
    fn a_slot_is_one_of_the_table() {
        for words in [[0usize, 0], [usize::MAX, 1], [0x7f00_1234_5678, 42]] {
            assert!(slot(&words) < SLOTS);
        }
    }
}
