//! Enforcing rate limits and budgets at the edge.
//!
//! A request's counters ([`check::Check`], one per matching rule) are decided in
//! one Redis script call shared by every edge (`shared`), or, while Redis is absent
//! or unreachable, in this process (`local`): the same algorithm per edge, so a
//! fleet of N edges lets through up to N times the limit. That fallback is logged
//! (at most once a minute) and counted ([`RateLimitStats::local_decisions`]).
//!
//! A request no rule matches costs two hash lookups and no allocation.

mod check;
mod local;
mod shared;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::CredentialSettings;
use crate::config_view::ConfigView;
use crate::limit_rules::{LimitRule, Refusal};
use crate::policy::glob_match;
use check::Check;
use local::LocalCounters;
use shared::{RedisCounters, RedisError};

/// First pause before Redis is tried again after a failure.
const PROBE_MIN: Duration = Duration::from_secs(1);
/// Longest pause between tries of an unreachable Redis.
const PROBE_MAX: Duration = Duration::from_secs(15);
/// The "deciding alone" warning is logged at most this often.
const WARN_EVERY_SECS: i64 = 60;

/// What a request is, as far as limits care.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The caller's org.
    pub org_id: &'a str,
    /// The server slug of the URL.
    pub server_slug: &'a str,
    /// The workspace the request is routed through.
    pub workspace_id: &'a str,
    /// The caller's user.
    pub user: &'a str,
    /// The caller's e-mail, when known (a `match.user` may name it).
    pub email: Option<&'a str>,
    /// The tool of a `tools/call`; `None` for every other request.
    pub tool: Option<&'a str>,
}

/// How a request fared: the hook the audit trail and metrics read.
#[derive(Debug, Clone)]
pub enum RateLimitOutcome {
    /// No limit matched.
    Unlimited,
    /// Every matching limit let it through; `local`: decided by this edge alone.
    Allowed {
        /// Whether this edge decided alone (Redis unavailable).
        local: bool,
    },
    /// A limit refused it.
    Refused(Refusal),
}

/// Counters of the decisions so far (for `/readyz` and metrics).
#[derive(Debug, Clone, Copy, Default, serde::Serialize, PartialEq, Eq)]
pub struct RateLimitStats {
    /// Requests at least one limit matched that were let through.
    pub allowed: u64,
    /// Requests refused.
    pub refused: u64,
    /// Decisions this edge made alone (Redis absent or unavailable).
    pub local_decisions: u64,
    /// Redis calls that failed.
    pub redis_failures: u64,
}

#[derive(Debug, Default)]
struct Health {
    /// Since the last failure, until a call succeeds again.
    failing: bool,
    /// Redis is not tried before this instant.
    retry_at: Option<Instant>,
    backoff: Duration,
}

/// The edge's rate limiter: Redis when configured and reachable, else this process.
#[derive(Debug)]
pub struct RateLimiter {
    redis: Option<RedisCounters>,
    prefix: String,
    local: LocalCounters,
    health: Mutex<Health>,
    last_warned: AtomicI64,
    allowed: AtomicU64,
    refused: AtomicU64,
    local_decisions: AtomicU64,
    redis_failures: AtomicU64,
}

/// Why the limiter could not be built.
#[derive(Debug, thiserror::Error)]
#[error("rate limiter: GATEHOUSE_REDIS_URL is invalid")]
pub struct RateLimiterError;

impl RateLimiter {
    /// A limiter deciding in this process only.
    pub fn local_only(prefix: &str) -> Self {
        Self::with(None, prefix)
    }

    /// A limiter on the token cache's Redis (`GATEHOUSE_REDIS_URL`, same key prefix), or
    /// local only when none is configured.
    pub fn from_settings(settings: &CredentialSettings) -> Result<Self, RateLimiterError> {
        let prefix = &settings.redis_key_prefix;
        let redis = match &settings.redis_url {
            Some(url) => Some(RedisCounters::new(url, prefix).map_err(|_| RateLimiterError)?),
            None => None,
        };
        Ok(Self::with(redis, prefix))
    }

    fn with(redis: Option<RedisCounters>, prefix: &str) -> Self {
        Self {
            prefix: redis.as_ref().map_or(prefix, RedisCounters::prefix).to_owned(),
            redis,
            local: LocalCounters::default(),
            health: Mutex::new(Health::default()),
            last_warned: AtomicI64::new(i64::MIN),
            allowed: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            local_decisions: AtomicU64::new(0),
            redis_failures: AtomicU64::new(0),
        }
    }

    /// Whether a Redis is configured: a local decision then means Redis failed.
    pub fn shares_through_redis(&self) -> bool {
        self.redis.is_some()
    }

    /// `redis`, `local`, or `local (redis unavailable)`.
    pub fn backend(&self) -> &'static str {
        let failing = self.health.lock().unwrap_or_else(std::sync::PoisonError::into_inner).failing;
        match (&self.redis, failing) {
            (None, _) => "local",
            (Some(_), false) => "redis",
            (Some(_), true) => "local (redis unavailable)",
        }
    }

    /// The decisions so far.
    pub fn stats(&self) -> RateLimitStats {
        RateLimitStats {
            allowed: self.allowed.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            local_decisions: self.local_decisions.load(Ordering::Relaxed),
            redis_failures: self.redis_failures.load(Ordering::Relaxed),
        }
    }

    /// Decides `request` against every limit of `view` that matches it, spending the
    /// counters of all of them or of none.
    pub async fn check(&self, view: &ConfigView, request: &RequestFacts<'_>) -> RateLimitOutcome {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let checks = self.checks(view, request, now);
        if checks.is_empty() {
            return RateLimitOutcome::Unlimited;
        }
        let (decision, local) = match self.decide_in_redis(&checks).await {
            Some(decision) => (decision, false),
            None => {
                self.local_decisions.fetch_add(1, Ordering::Relaxed);
                self.warn_local(now.as_secs() as i64);
                let now_us = i64::try_from(now.as_micros()).unwrap_or(i64::MAX);
                (self.local.decide(&checks, now_us), true)
            }
        };
        match decision {
            Ok(()) => {
                self.allowed.fetch_add(1, Ordering::Relaxed);
                RateLimitOutcome::Allowed { local }
            }
            Err((index, retry_after_ms)) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                let check = &checks[index.min(checks.len() - 1)];
                RateLimitOutcome::Refused(Refusal {
                    rule: Arc::clone(check.rule),
                    retry_after_ms,
                    window_secs: check.window_secs,
                    tool_call: request.tool.is_some(),
                    local,
                })
            }
        }
    }

    /// The counters of every rule that matches `request` (none allocated when none match).
    fn checks<'v>(&self, view: &'v ConfigView, request: &RequestFacts<'_>, now: Duration) -> Vec<Check<'v>> {
        let now_ms = i64::try_from(now.as_millis()).unwrap_or(i64::MAX);
        view.rate_limits()
            .candidates(request.org_id, request.server_slug)
            .filter(|rule| matches(view, rule, request))
            .map(|rule| Check::new(&self.prefix, rule, request.user, now_ms))
            .collect()
    }

    /// Redis' decision, or `None` when Redis is absent, known down, or fails now.
    async fn decide_in_redis(&self, checks: &[Check<'_>]) -> Option<Result<(), (usize, u64)>> {
        let redis = self.redis.as_ref()?;
        if self.wait_before_retry() {
            return None;
        }
        // On the heap: the request path's own future then need not make room for Redis's.
        match Box::pin(redis.decide(checks)).await {
            Ok(decision) => {
                self.redis_up();
                Some(decision)
            }
            Err(e) => {
                self.redis_failures.fetch_add(1, Ordering::Relaxed);
                self.redis_failed(e);
                None
            }
        }
    }

    /// Whether Redis failed recently enough not to be tried yet.
    fn wait_before_retry(&self) -> bool {
        let health = self.health.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        health.retry_at.is_some_and(|at| Instant::now() < at)
    }

    fn redis_up(&self) {
        let mut health = self.health.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if health.failing {
            *health = Health::default();
            tracing::info!("rate limits are shared through redis again");
        }
    }

    fn redis_failed(&self, e: RedisError) {
        let mut health = self.health.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        health.failing = true;
        health.backoff = (health.backoff * 2).clamp(PROBE_MIN, PROBE_MAX);
        health.retry_at = Some(Instant::now() + health.backoff);
        tracing::debug!(reason = %e, retry_in_ms = health.backoff.as_millis() as u64, "rate limit decision in redis failed");
    }

    /// Says, at most once a minute, that limits are being enforced per edge.
    fn warn_local(&self, now_secs: i64) {
        let last = self.last_warned.load(Ordering::Relaxed);
        if now_secs.saturating_sub(last) < WARN_EVERY_SECS {
            return;
        }
        if self.last_warned.compare_exchange(last, now_secs, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            let configured = self.redis.is_some();
            tracing::warn!(
                redis_configured = configured,
                "rate limits are enforced by this edge alone (approximate: each edge allows the full limit) because redis is {}",
                if configured { "unavailable" } else { "not configured (GATEHOUSE_REDIS_URL)" }
            );
        }
    }
}

/// Whether `rule` counts `request`.
fn matches(view: &ConfigView, rule: &LimitRule, request: &RequestFacts<'_>) -> bool {
    if rule.counts_tool_calls_only() && request.tool.is_none() {
        return false;
    }
    if let (Some(glob), Some(tool)) = (&rule.tool, request.tool) {
        if !glob_match(glob, tool) {
            return false;
        }
    }
    if let Some(user) = &rule.user {
        let by_email = request.email.is_some_and(|e| e.eq_ignore_ascii_case(user));
        if user != request.user && !by_email {
            return false;
        }
    }
    if let Some(slug) = &rule.workspace {
        if view.workspace(request.workspace_id).is_none_or(|w| &w.slug != slug) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_proto::config::v1 as pb;

    fn view(limits: Vec<pb::RateLimit>) -> ConfigView {
        let workspace =
            pb::Workspace { id: "w1".into(), org_id: "o".into(), slug: "eng".into(), name: "eng".into() };
        ConfigView::from_snapshot(pb::Snapshot {
            version: 1,
            state: Some(pb::ConfigState {
                workspaces: vec![workspace],
                rate_limits: limits,
                ..Default::default()
            }),
        })
    }

    fn limit(id: &str, amount: u64) -> pb::RateLimit {
        pb::RateLimit {
            id: id.into(),
            org_id: "o".into(),
            name: id.into(),
            kind: "limit".into(),
            amount,
            period: "hour".into(),
            ..Default::default()
        }
    }

    fn request<'a>(user: &'a str, tool: Option<&'a str>) -> RequestFacts<'a> {
        RequestFacts { org_id: "o", server_slug: "tools", workspace_id: "w1", user, email: None, tool }
    }

    async fn passes(limiter: &RateLimiter, view: &ConfigView, r: RequestFacts<'_>) -> bool {
        !matches!(limiter.check(view, &r).await, RateLimitOutcome::Refused(_))
    }

    #[tokio::test]
    async fn per_caller_limits_count_each_user_and_shared_ones_everyone() {
        let view = view(vec![pb::RateLimit { per_caller: true, ..limit("each", 1) }]);
        let limiter = RateLimiter::local_only("p:");
        assert!(passes(&limiter, &view, request("ann", None)).await);
        assert!(passes(&limiter, &view, request("bob", None)).await, "bob has his own counter");
        assert!(!passes(&limiter, &view, request("ann", None)).await);

        let view = self::view(vec![limit("all", 1)]);
        let limiter = RateLimiter::local_only("p:");
        assert!(passes(&limiter, &view, request("ann", None)).await);
        assert!(!passes(&limiter, &view, request("bob", None)).await, "one counter for everyone");
        assert_eq!(
            limiter.stats(),
            RateLimitStats { allowed: 1, refused: 1, local_decisions: 2, redis_failures: 0 }
        );
        assert_eq!(limiter.backend(), "local");
    }

    #[tokio::test]
    async fn match_fields_narrow_what_counts() {
        let view = view(vec![
            pb::RateLimit { tool: "search_*".into(), ..limit("tool", 1) },
            pb::RateLimit { user: "ann@example.com".into(), ..limit("user", 1) },
            pb::RateLimit { workspace: "ops".into(), ..limit("other workspace", 1) },
            pb::RateLimit { server: "other".into(), ..limit("other server", 1) },
            pb::RateLimit { org_id: "o2".into(), ..limit("other org", 1) },
        ]);
        let limiter = RateLimiter::local_only("p:");
        // A limit naming a tool counts only calls of matching tools.
        assert!(matches!(limiter.check(&view, &request("bob", None)).await, RateLimitOutcome::Unlimited));
        assert!(matches!(
            limiter.check(&view, &request("bob", Some("echo"))).await,
            RateLimitOutcome::Unlimited
        ));
        assert!(passes(&limiter, &view, request("bob", Some("search_code"))).await);
        assert!(!passes(&limiter, &view, request("bob", Some("search_issues"))).await);
        // A limit naming a user matches their id or e-mail (any case).
        let ann = RequestFacts { email: Some("Ann@Example.com"), ..request("u-1", None) };
        assert!(passes(&limiter, &view, ann).await);
        match limiter.check(&view, &ann).await {
            RateLimitOutcome::Refused(refusal) => {
                assert_eq!(refusal.rule.id, "user");
                assert!(refusal.local && !refusal.tool_call);
                assert!(refusal.retry_after_ms > 3_500_000, "{}", refusal.retry_after_ms);
            }
            other => panic!("{other:?}"),
        }
    }
}
