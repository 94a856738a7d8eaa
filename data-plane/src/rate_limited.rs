//! The answer to a request a rate limit or budget refused: a JSON-RPC error whose
//! `data` says which limit and when to retry, with `Retry-After` and the
//! `RateLimit-Policy` / `RateLimit` headers of draft-ietf-httpapi-ratelimit-headers
//! (structured fields: the policy is named by the limit's id, `q` its quota, `w`
//! its window in seconds; `r` what remains, `t` seconds until it resets).

use axum::body::Body;
use axum::response::Response;
use gatehouse_config::rate_limit::LimitKind;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::value::RawValue;

use crate::limit_rules::Refusal;

/// The JSON-RPC error code of a refusal (in the implementation-defined server range).
pub const RATE_LIMITED: i32 = -32029;

/// `RateLimit-Policy`.
pub static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`.
pub static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The refusal's message.
pub fn message(refusal: &Refusal) -> String {
    let what = match refusal.rule.kind {
        LimitKind::Limit => "rate limit",
        LimitKind::Budget => "budget",
    };
    format!(
        "{what} {:?} exceeded: retry in {} s",
        refusal.rule.name,
        refusal.retry_after_ms.div_ceil(1000).max(1)
    )
}

/// A `tools/call` gets its JSON-RPC error in a 200, like an upstream's tool error, so
/// MCP clients hand it to the model; any other request gets a 429.
pub fn status(refusal: &Refusal) -> StatusCode {
    if refusal.tool_call {
        StatusCode::OK
    } else {
        StatusCode::TOO_MANY_REQUESTS
    }
}

/// The whole answer, echoing the request `id`.
pub fn response(refusal: &Refusal, id: Option<&RawValue>) -> Response {
    let rule = &refusal.rule;
    let limit = match rule.kind {
        LimitKind::Limit => serde_json::json!({
            "id": rule.id, "name": rule.name, "requests": rule.amount,
            "per": rule.period.as_str(), "burst": rule.burst,
        }),
        LimitKind::Budget => serde_json::json!({
            "id": rule.id, "name": rule.name, "calls": rule.amount, "per": rule.period.as_str(),
        }),
    };
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {
            "code": RATE_LIMITED,
            "message": message(refusal),
            "data": {
                "reason": "rate_limited",
                "source": "client",
                "retryable": true,
                "retry_after_ms": refusal.retry_after_ms,
                "limit": limit,
            },
        },
    });
    let mut response = Response::new(Body::from(serde_json::to_vec(&body).unwrap_or_default()));
    *response.status_mut() = status(refusal);
    let retry_secs = refusal.retry_after_ms.div_ceil(1000).max(1);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(RETRY_AFTER, HeaderValue::from(retry_secs));
    // Ids are generated UUIDs: always a valid structured-field string.
    let policy = format!("\"{}\";q={};w={}", rule.id, rule.amount, refusal.window_secs.max(1));
    let state = format!("\"{}\";r=0;t={retry_secs}", rule.id);
    for (name, value) in [(&RATELIMIT_POLICY, policy), (&RATELIMIT, state)] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name.clone(), value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limit_rules::LimitRule;
    use gatehouse_config::rate_limit::Period;
    use http_body_util::BodyExt as _;
    use std::sync::Arc;

    fn refusal(tool_call: bool) -> Refusal {
        Refusal {
            rule: Arc::new(LimitRule {
                id: "7f9c".into(),
                org_id: "o".into(),
                name: "per user".into(),
                workspace: None,
                user: None,
                tool: None,
                per_caller: true,
                kind: LimitKind::Limit,
                amount: 100,
                period: Period::Minute,
                burst: 10,
                shared_key: Default::default(),
            }),
            retry_after_ms: 1_200,
            window_secs: 60,
            tool_call,
            local: false,
        }
    }

    #[tokio::test]
    async fn a_refused_tool_call_is_a_jsonrpc_error_naming_the_limit() {
        let id = RawValue::from_string("3".into()).unwrap();
        let response = response(&refusal(true), Some(&id));
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[RETRY_AFTER], "2");
        assert_eq!(response.headers()[&RATELIMIT_POLICY], "\"7f9c\";q=100;w=60");
        assert_eq!(response.headers()[&RATELIMIT], "\"7f9c\";r=0;t=2");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["id"], 3);
        assert_eq!(v["error"]["code"], RATE_LIMITED);
        assert_eq!(v["error"]["data"]["reason"], "rate_limited");
        assert_eq!(v["error"]["data"]["retry_after_ms"], 1200);
        assert_eq!(v["error"]["data"]["limit"]["requests"], 100);
        assert_eq!(v["error"]["data"]["limit"]["per"], "minute");
    }

    #[test]
    fn other_requests_get_a_429() {
        assert_eq!(status(&refusal(false)), StatusCode::TOO_MANY_REQUESTS);
    }
}
