//! Filtering a `tools/list` result down to the tools the caller may use.
//!
//! Only the response to the `tools/list` request being proxied is touched:
//! a JSON-RPC response (no `method`) whose `id` equals the request id. Inside
//! it, `result.tools` keeps only tools whose `name` the policy allows (a tool
//! without a string name is dropped), and a `result.cacheScope` (MCP
//! 2026-07-28) becomes `"private"`: the filtered list is per caller, so a
//! shared cache must not hand it to someone else.

use serde_json::value::RawValue;
use serde_json::Value;

use crate::policy::ToolPolicy;

/// Rewrites the response to one `tools/list` request for one caller.
#[derive(Debug, Clone)]
pub struct ToolsListFilter {
    policy: ToolPolicy,
    request_id: Option<Value>,
}

impl ToolsListFilter {
    /// A filter for the response to the request with `request_id` (`None`: any response).
    pub fn new(policy: ToolPolicy, request_id: Option<&RawValue>) -> Self {
        let request_id = request_id.and_then(|raw| serde_json::from_str(raw.get()).ok());
        Self { policy, request_id }
    }

    /// Rewrites one JSON-RPC message (or array of messages) if it holds the
    /// response to filter; `Ok(None)` means "pass it on unchanged".
    pub fn rewrite(&self, json: &[u8]) -> Result<Option<Vec<u8>>, serde_json::Error> {
        let mut message: Value = serde_json::from_slice(json)?;
        let changed = match &mut message {
            // Every element is visited: no short-circuit.
            Value::Array(items) => items.iter_mut().map(|m| self.filter_one(m)).filter(|&c| c).count() > 0,
            one => self.filter_one(one),
        };
        if !changed {
            return Ok(None);
        }
        serde_json::to_vec(&message).map(Some)
    }

    /// Filters `message` in place if it is the response being looked for.
    fn filter_one(&self, message: &mut Value) -> bool {
        let Value::Object(fields) = message else { return false };
        if fields.contains_key("method") {
            return false;
        }
        if let Some(want) = &self.request_id {
            if !fields.get("id").is_some_and(|got| ids_equal(got, want)) {
                return false;
            }
        }
        let Some(Value::Object(result)) = fields.get_mut("result") else { return false };
        if let Some(Value::Array(tools)) = result.get_mut("tools") {
            tools.retain(|tool| {
                tool.get("name").and_then(Value::as_str).is_some_and(|n| self.policy.allows(n))
            });
        }
        if let Some(scope) = result.get_mut("cacheScope") {
            *scope = Value::String("private".into());
        }
        true
    }
}

/// JSON-RPC ids compared by value, so `1` equals `1.0`.
fn ids_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config_view::ToolRules;
    use crate::identity::TokenGrant;
    use serde_json::json;
    use std::sync::Arc;

    /// A policy that allows only `get_*` tools.
    pub(crate) fn get_only() -> ToolPolicy {
        let rules = ToolRules { allow: vec!["get_*".into()], deny: vec![] };
        let grant = TokenGrant {
            id: "t".into(),
            org_id: "o".into(),
            user: "u".into(),
            workspace_id: "w".into(),
            scopes: vec![],
            server_permissions: vec![],
            tool_permissions: vec![],
            expires_at: None,
        };
        ToolPolicy::new(Arc::new(rules), Arc::new(grant))
    }

    fn filter(id: &str) -> ToolsListFilter {
        ToolsListFilter::new(get_only(), Some(&RawValue::from_string(id.into()).unwrap()))
    }

    fn rewrite(f: &ToolsListFilter, v: Value) -> Option<Value> {
        f.rewrite(&serde_json::to_vec(&v).unwrap()).unwrap().map(|b| serde_json::from_slice(&b).unwrap())
    }

    #[test]
    fn drops_disallowed_tools_from_the_matching_response() {
        let response = json!({"jsonrpc":"2.0","id":3,"result":{"tools":[
            {"name":"get_weather","inputSchema":{}},{"name":"delete_repo"},{"title":"nameless"},{"name":7}
        ],"nextCursor":"c","cacheScope":"public","ttlMs":1000}});
        let out = rewrite(&filter("3"), response).unwrap();
        assert_eq!(out["result"]["tools"], json!([{"name":"get_weather","inputSchema":{}}]));
        assert_eq!(out["result"]["nextCursor"], "c");
        assert_eq!(out["result"]["cacheScope"], "private");
        assert_eq!(out["id"], 3);
    }

    #[test]
    fn leaves_other_messages_alone() {
        let f = filter("3");
        assert!(rewrite(&f, json!({"jsonrpc":"2.0","id":4,"result":{"tools":[{"name":"x"}]}})).is_none());
        assert!(rewrite(&f, json!({"jsonrpc":"2.0","method":"notifications/progress","params":{}})).is_none());
        assert!(rewrite(&f, json!({"jsonrpc":"2.0","id":3,"method":"sampling/createMessage"})).is_none());
        assert!(rewrite(&f, json!({"jsonrpc":"2.0","id":3,"error":{"code":1,"message":"x"}})).is_none());
    }

    #[test]
    fn ids_compare_by_value() {
        let out = rewrite(&filter("1.0"), json!({"id":1,"result":{"tools":[{"name":"drop"}]}})).unwrap();
        assert_eq!(out["result"]["tools"], json!([]));
        let out = rewrite(&filter(r#""\u0061""#), json!({"id":"a","result":{"tools":[]}}));
        assert!(out.is_some());
        assert!(rewrite(&filter("1"), json!({"id":"1","result":{"tools":[]}})).is_none());
    }

    #[test]
    fn batch_responses_are_filtered_per_element() {
        let out = rewrite(
            &filter("1"),
            json!([{"id":2,"result":{"tools":[{"name":"x"}]}},{"id":1,"result":{"tools":[{"name":"x"}]}}]),
        )
        .unwrap();
        assert_eq!(out[0]["result"]["tools"], json!([{"name":"x"}]));
        assert_eq!(out[1]["result"]["tools"], json!([]));
    }

    #[test]
    fn invalid_json_is_an_error() {
        assert!(filter("1").rewrite(b"{not json").is_err());
    }
}
