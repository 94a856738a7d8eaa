//! [`RequestRecord`]: what the request path learns about one MCP request, turned into its
//! metrics once the response head is ready.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::labels::{self, RequestLabels, ServerLabels, ToolLabels, ALLOW, DENY};
use super::EdgeMetrics;

/// Edge error reasons counted as authentication failures: the credential was missing,
/// unknown, expired, of the wrong kind, or lacked the MCP scope.
const AUTH_FAILURE_REASONS: &[&str] = &[
    "missing_token",
    "invalid_token",
    "not_a_gateway_token",
    "token_expired",
    "certificate_not_mapped",
    "insufficient_scope",
];

/// The edge error reason of a request refused by a rate limit.
const RATE_LIMITED: &str = "rate_limited";
/// The edge error reason of a `tools/call` the tool policy refused.
const TOOL_DENIED: &str = "tool_denied";

/// Filled in as the request goes through the edge; [`RequestRecord::finish`] records it.
#[derive(Debug, Default)]
pub struct RequestRecord {
    org: Option<Arc<str>>,
    server: Option<Arc<str>>,
    method: Option<&'static str>,
    tool: Option<Arc<str>>,
    upstream_started: Option<Instant>,
}

impl RequestRecord {
    /// The URL's org, as the config names it.
    pub fn set_org(&mut self, label: &Arc<str>) {
        self.org = Some(label.clone());
    }

    /// The URL's server, as the config names it.
    pub fn set_server(&mut self, label: &Arc<str>) {
        self.server = Some(label.clone());
    }

    /// Whether the server is known yet.
    pub fn has_server(&self) -> bool {
        self.server.is_some()
    }

    /// The POSTed JSON-RPC method (folded into the bounded set).
    pub fn set_method(&mut self, method: &str) {
        self.method = Some(labels::method_label(method));
    }

    /// The tool a `tools/call` names (once org and server are known).
    pub fn set_tool(&mut self, metrics: &EdgeMetrics, tool: &str) {
        if let (Some(org), Some(server)) = (&self.org, &self.server) {
            self.tool = Some(metrics.tool_label(org, server, tool));
        }
    }

    /// The request is about to go upstream: from here on it was allowed.
    pub fn upstream_started(&mut self) {
        self.upstream_started = Some(Instant::now());
    }

    /// The upstream answered (or failed): its latency goes into the upstream histogram.
    pub fn upstream_finished(&self, metrics: &EdgeMetrics) {
        if let Some(started) = self.upstream_started {
            metrics.upstream_request(&self.server_labels(metrics), started.elapsed());
        }
    }

    fn server_labels(&self, metrics: &EdgeMetrics) -> ServerLabels {
        let unknown = || metrics.unknown().clone();
        ServerLabels {
            org: self.org.clone().unwrap_or_else(unknown),
            server: self.server.clone().unwrap_or_else(unknown),
        }
    }

    /// Records the request: `http_method` for requests without a JSON-RPC method, the
    /// response `status`, the edge error `reason` if the edge answered itself, and the time
    /// to the response head.
    pub fn finish(
        self,
        metrics: &EdgeMetrics,
        http_method: &http::Method,
        status: u16,
        reason: Option<&'static str>,
        elapsed: Duration,
    ) {
        let ServerLabels { org, server } = self.server_labels(metrics);
        let forwarded = self.upstream_started.is_some();
        let decision = if forwarded { ALLOW } else { DENY };
        let method = self.method.unwrap_or_else(|| labels::http_method_label(http_method));
        if let Some(tool) = self.tool {
            let decision = if reason == Some(TOOL_DENIED) { DENY } else { decision };
            metrics.tool_call(&ToolLabels { org: org.clone(), server: server.clone(), tool, decision });
        }
        if let Some(reason) = reason {
            if AUTH_FAILURE_REASONS.contains(&reason) {
                metrics.auth_failure(reason);
            } else if reason == RATE_LIMITED {
                metrics.rate_limited(&ServerLabels { org: org.clone(), server: server.clone() });
            }
        }
        metrics.mcp_request(&RequestLabels { org, server, method, decision, status }, elapsed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape_line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    /// The metrics after one `tools/call` of `tool` on acme's github, denied by the policy.
    fn denied_tool_call(tool: &str) -> String {
        let metrics = EdgeMetrics::new();
        let (org, server): (Arc<str>, Arc<str>) = (Arc::from("acme"), Arc::from("github"));
        let mut record = RequestRecord::default();
        record.set_org(&org);
        record.set_server(&server);
        record.set_method("tools/call");
        record.set_tool(&metrics, tool);
        record.finish(&metrics, &http::Method::POST, 200, Some(TOOL_DENIED), Duration::from_millis(3));
        metrics.render()
    }

    #[test]
    fn a_denied_tool_call_counts_as_a_denied_request_and_tool_call() {
        let text = denied_tool_call("delete_repo");
        let line = scrape_line(&text, "gatehouse_tool_calls_total{").unwrap();
        assert_eq!(
            line,
            r#"gatehouse_tool_calls_total{org="acme",server="github",tool="delete_repo",decision="deny"} 1"#
        );
        let line = scrape_line(&text, "gatehouse_mcp_requests_total{").unwrap();
        assert_eq!(
            line,
            r#"gatehouse_mcp_requests_total{org="acme",server="github",method="tools/call",decision="deny",status="200"} 1"#
        );
    }

    #[test]
    fn an_unknown_org_and_a_missing_token_fold_into_unknown_and_count_as_auth_failures() {
        let metrics = EdgeMetrics::new();
        RequestRecord::default().finish(
            &metrics,
            &http::Method::POST,
            401,
            Some("missing_token"),
            Duration::ZERO,
        );
        let text = metrics.render();
        assert!(text.contains(r#"gatehouse_auth_failures_total{reason="missing_token"} 1"#), "{text}");
        assert!(text.contains(
            r#"gatehouse_mcp_requests_total{org="unknown",server="unknown",method="POST",decision="deny",status="401"} 1"#
        ));
    }

    #[test]
    fn a_tool_name_cannot_break_the_text_format() {
        let text = denied_tool_call("x\"} 99\nfake_metric 1");
        assert!(!text.lines().any(|l| l.starts_with("fake_metric")), "{text}");
        assert!(text.contains(r#"tool="x\"} 99\nfake_metric 1""#), "{text}");
    }
}
