//! Rate limits and budgets as the request path reads them: compiled once from
//! the wire when they change, indexed by org and server so a request looks
//! only at the limits that name its server or no server. Deciding is
//! [`crate::limits`]' job.

use std::sync::Arc;

use gatehouse_config::rate_limit::{LimitKind, Period};
use gatehouse_proto::config::v1 as pb;

use crate::config_map::Map;

/// One rate limit or budget, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitRule {
    pub id: String,
    pub org_id: String,
    pub name: String,
    /// Match fields; `None` matches every value.
    pub workspace: Option<String>,
    pub user: Option<String>,
    pub tool: Option<String>,
    /// One counter per caller.
    pub per_caller: bool,
    pub kind: LimitKind,
    /// Requests (limit) or calls (budget) per period.
    pub amount: u64,
    pub period: Period,
    /// Requests let through at once (limits; `amount` when unset).
    pub burst: u64,
    /// The counter key of a limit shared by every caller, made on first use.
    pub shared_key: KeyCache,
}

/// A key made once per rule (and key prefix) rather than formatted on every request.
/// Not part of the rule's identity: clones start empty and every cache compares equal.
#[derive(Debug, Default)]
pub struct KeyCache(std::sync::OnceLock<(Box<str>, Box<str>)>);

impl KeyCache {
    /// The key for `prefix`, made by `make` the first time; a different prefix (another
    /// limiter over the same config) gets its own key, made anew.
    pub fn get_or_make(&self, prefix: &str, make: impl Fn() -> String) -> std::borrow::Cow<'_, str> {
        let (cached_prefix, key) = self.0.get_or_init(|| (prefix.into(), make().into()));
        if &**cached_prefix == prefix {
            std::borrow::Cow::Borrowed(key)
        } else {
            std::borrow::Cow::Owned(make())
        }
    }
}

impl Clone for KeyCache {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for KeyCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for KeyCache {}

impl LimitRule {
    /// The rule a wire entry describes, or why it is unusable (a newer control plane's kind).
    pub fn from_wire(r: &pb::RateLimit) -> Result<Self, String> {
        let kind = LimitKind::parse(&r.kind).ok_or_else(|| format!("unknown kind {:?}", r.kind))?;
        let period =
            Period::parse(kind, &r.period).ok_or_else(|| format!("unknown period {:?}", r.period))?;
        if r.amount == 0 {
            return Err("amount is 0".to_owned());
        }
        let set = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Ok(Self {
            id: r.id.clone(),
            org_id: r.org_id.clone(),
            name: r.name.clone(),
            workspace: set(&r.workspace),
            user: set(&r.user),
            tool: set(&r.tool),
            per_caller: r.per_caller,
            kind,
            amount: r.amount,
            period,
            burst: if r.burst == 0 { r.amount } else { r.burst },
            shared_key: KeyCache::default(),
        })
    }

    /// Whether only `tools/call` requests count (budgets, and limits naming a tool).
    pub fn counts_tool_calls_only(&self) -> bool {
        self.kind == LimitKind::Budget || self.tool.is_some()
    }
}

/// A request a limit refused: what the client is told (and the audit and metrics read).
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The limit or budget that refused.
    pub rule: Arc<LimitRule>,
    /// How long until the request would be let through.
    pub retry_after_ms: u64,
    /// The window the `RateLimit-Policy` header names, in seconds.
    pub window_secs: u64,
    /// Whether the request was a `tools/call` (answered with a JSON-RPC error in a 200).
    pub tool_call: bool,
    /// Whether this edge decided alone (Redis unavailable): counts are per edge then.
    pub local: bool,
}

type Rules = imbl::OrdMap<String, Arc<LimitRule>>;

/// org id → server slug (`""`: limits naming no server) → rules by id.
#[derive(Debug, Default, Clone)]
pub struct LimitIndex {
    by_org: Map<String, Map<String, Rules>>,
}

impl LimitIndex {
    /// Keeps the index in step with one entry's change (`None` = absent).
    pub fn change(&mut self, old: Option<&pb::RateLimit>, new: Option<&pb::RateLimit>) {
        if let Some(r) = old {
            self.edit(&r.org_id, &r.server, |rules| {
                rules.remove(&r.id);
            });
        }
        if let Some(r) = new {
            match LimitRule::from_wire(r) {
                Ok(rule) => self.edit(&r.org_id, &r.server, |rules| {
                    rules.insert(r.id.clone(), Arc::new(rule));
                }),
                Err(reason) => tracing::warn!(rate_limit = %r.id, %reason, "skipping unusable rate limit"),
            }
        }
    }

    fn edit(&mut self, org_id: &str, server: &str, f: impl FnOnce(&mut Rules)) {
        let mut servers = self.by_org.get(org_id).cloned().unwrap_or_default();
        let mut rules = servers.get(server).cloned().unwrap_or_default();
        f(&mut rules);
        if rules.is_empty() {
            servers.remove(server);
        } else {
            servers.insert(server.to_owned(), rules);
        }
        if servers.is_empty() {
            self.by_org.remove(org_id);
        } else {
            self.by_org.insert(org_id.to_owned(), servers);
        }
    }

    /// The rules of `org_id` that name server `slug` or no server; nothing is allocated
    /// when the org has none (the common case).
    pub fn candidates<'a>(&'a self, org_id: &str, slug: &str) -> impl Iterator<Item = &'a Arc<LimitRule>> {
        let servers = self.by_org.get(org_id);
        let named = servers.and_then(|s| s.get(slug)).into_iter().flat_map(|r| r.values());
        let any = servers.and_then(|s| s.get("")).into_iter().flat_map(|r| r.values());
        named.chain(any)
    }

    /// Whether no org has a limit.
    pub fn is_empty(&self) -> bool {
        self.by_org.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(id: &str, org: &str, server: &str) -> pb::RateLimit {
        pb::RateLimit {
            id: id.into(),
            org_id: org.into(),
            server: server.into(),
            kind: "limit".into(),
            amount: 10,
            period: "minute".into(),
            ..Default::default()
        }
    }

    fn ids<'a>(index: &'a LimitIndex, org: &str, slug: &str) -> Vec<&'a str> {
        index.candidates(org, slug).map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn candidates_are_the_servers_and_the_org_wide_ones_of_the_org() {
        let mut index = LimitIndex::default();
        index.change(None, Some(&wire("a", "o1", "tools")));
        index.change(None, Some(&wire("b", "o1", "")));
        index.change(None, Some(&wire("c", "o1", "other")));
        index.change(None, Some(&wire("d", "o2", "tools")));
        assert_eq!(ids(&index, "o1", "tools"), ["a", "b"]);
        assert_eq!(ids(&index, "o1", "none"), ["b"]);
        assert_eq!(ids(&index, "o2", "tools"), ["d"]);
        assert!(ids(&index, "o3", "tools").is_empty());

        // Moving a limit to another server, then deleting it, leaves nothing behind.
        index.change(Some(&wire("a", "o1", "tools")), Some(&wire("a", "o1", "other")));
        assert_eq!(ids(&index, "o1", "tools"), ["b"]);
        index.change(Some(&wire("a", "o1", "other")), None);
        index.change(Some(&wire("c", "o1", "other")), None);
        index.change(Some(&wire("b", "o1", "")), None);
        index.change(Some(&wire("d", "o2", "tools")), None);
        assert!(index.is_empty());
    }

    #[test]
    fn burst_defaults_to_the_amount_and_unknown_kinds_are_skipped() {
        let rule = LimitRule::from_wire(&wire("a", "o", "")).unwrap();
        assert_eq!(rule.burst, 10);
        let mut index = LimitIndex::default();
        index.change(None, Some(&pb::RateLimit { kind: "quota".into(), ..wire("x", "o", "") }));
        assert!(index.is_empty());
    }
}
