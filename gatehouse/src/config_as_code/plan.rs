//! What `apply` would change: the desired state (a validated file with its
//! secrets resolved) against the org's current state, as an ordered list of
//! admin API calls. Creations come before what uses them, deletions
//! (`--prune`) after, and a deleted workspace or server takes its
//! provisions with it. Rate limits are created and changed after the
//! workspaces and servers they match (the API requires those to exist), and
//! pruned after the creations (the old limits keep counting until the new
//! ones are in place) but before the servers and workspaces they may match.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{json, Value};

use super::admin_client::{AdminApi, ApiCallError};
use super::file::{RateLimitSpec, ServerSpec, ToolsSpec, WorkspaceSpec};

/// The file's content, validated, with secrets resolved.
pub(super) struct Desired {
    pub workspaces: Vec<WorkspaceSpec>,
    pub servers: Vec<(ServerSpec, BTreeMap<String, SecretString>)>,
    /// Rate limits and budgets by name.
    pub rate_limits: BTreeMap<String, RateLimitSpec>,
}

/// The org as the admin API shows it.
#[derive(Debug, Default)]
pub(super) struct Current {
    pub workspaces: BTreeMap<String, Value>,
    pub servers: BTreeMap<String, Value>,
    pub provisions: BTreeMap<(String, String), ToolsSpec>,
    /// Rate limits and budgets by name, as `GET /v1/rate-limits` lists them.
    pub rate_limits: BTreeMap<String, Value>,
}

impl Current {
    /// Reads workspaces, servers and every workspace's provisions.
    pub async fn fetch(api: &AdminApi) -> Result<Self, ApiCallError> {
        let mut current = Current::default();
        for ws in api.list_all("/workspaces", "workspaces").await? {
            let slug = ws["slug"].as_str().unwrap_or_default().to_owned();
            for p in api.list_all(&format!("/workspaces/{slug}/servers"), "servers").await? {
                let tools = serde_json::from_value(p["tools"].clone()).unwrap_or_default();
                current
                    .provisions
                    .insert((slug.clone(), p["server"].as_str().unwrap_or_default().to_owned()), tools);
            }
            current.workspaces.insert(slug, ws);
        }
        for server in api.list_all("/servers", "servers").await? {
            current.servers.insert(server["slug"].as_str().unwrap_or_default().to_owned(), server);
        }
        for limit in api.list_all("/rate-limits", "rate_limits").await? {
            current.rate_limits.insert(limit["name"].as_str().unwrap_or_default().to_owned(), limit);
        }
        Ok(current)
    }
}

/// One admin API call of a plan.
#[derive(Debug)]
pub(super) struct Step {
    /// What it does, as printed (`+ server github`, `~ server github: url a → b`).
    pub summary: String,
    pub method: Method,
    /// Org-relative path.
    pub path: String,
    pub body: Option<Value>,
    /// For a re-send of write-only header values, which the API compares itself: the
    /// server's `updated_at` now. The call is a change only if the answer's differs.
    pub reassert: Option<Value>,
}

/// The steps from `current` to `desired`; with `prune`, what the file does not name is deleted.
pub(super) fn plan(desired: &Desired, current: &Current, prune: bool) -> Vec<Step> {
    let mut steps = Vec::new();
    for ws in &desired.workspaces {
        if !current.workspaces.contains_key(&ws.slug) {
            let mut body = json!({"slug": ws.slug});
            if let Some(name) = &ws.name {
                body["name"] = json!(name);
            }
            steps.push(step(
                format!("+ workspace {}", ws.slug),
                Method::POST,
                "/workspaces".into(),
                Some(body),
            ));
        }
    }
    for (spec, headers) in &desired.servers {
        let body = server_body(spec, headers);
        match current.servers.get(&spec.slug) {
            None => steps.push(step(
                format!("+ server {}", spec.slug),
                Method::POST,
                "/servers".into(),
                Some(body),
            )),
            Some(now) => {
                let changes = server_changes(&body, now);
                let path = format!("/servers/{}", spec.slug);
                let mut patch = body.clone();
                patch.as_object_mut().expect("a server body is an object").remove("slug");
                if !changes.is_empty() {
                    let summary = format!("~ server {}: {}", spec.slug, changes.join("; "));
                    steps.push(step(summary, Method::PATCH, path, Some(patch)));
                } else if !headers.is_empty() {
                    let summary = format!("~ server {}: header values", spec.slug);
                    let body = json!({"headers": patch["headers"].clone()});
                    steps.push(Step {
                        summary,
                        method: Method::PATCH,
                        path,
                        body: Some(body),
                        reassert: Some(now["updated_at"].clone()),
                    });
                }
            }
        }
    }
    let mut wanted = BTreeSet::new();
    for ws in &desired.workspaces {
        for p in &ws.servers {
            wanted.insert((ws.slug.clone(), p.server.clone()));
            let key = (ws.slug.clone(), p.server.clone());
            if current.provisions.get(&key) != Some(&p.tools) {
                let sign = if current.provisions.contains_key(&key) { "~" } else { "+" };
                let summary =
                    format!("{sign} provision {}/{}{}", ws.slug, p.server, describe_tools(&p.tools));
                let body = json!({"tools": {"allow": p.tools.allow, "deny": p.tools.deny}});
                let path = format!("/workspaces/{}/servers/{}", ws.slug, p.server);
                steps.push(step(summary, Method::PUT, path, Some(body)));
            }
        }
    }
    steps.extend(rate_limit_steps(&desired.rate_limits, &current.rate_limits, prune));
    if prune {
        let servers: BTreeSet<&String> = desired.servers.iter().map(|(s, _)| &s.slug).collect();
        let workspaces: BTreeSet<&String> = desired.workspaces.iter().map(|w| &w.slug).collect();
        for (ws, server) in current.provisions.keys() {
            let goes_anyway = !servers.contains(server) || !workspaces.contains(ws);
            if !wanted.contains(&(ws.clone(), server.clone())) && !goes_anyway {
                let path = format!("/workspaces/{ws}/servers/{server}");
                steps.push(step(format!("- provision {ws}/{server}"), Method::DELETE, path, None));
            }
        }
        for slug in current.servers.keys().filter(|s| !servers.contains(s)) {
            steps.push(step(format!("- server {slug}"), Method::DELETE, format!("/servers/{slug}"), None));
        }
        for slug in current.workspaces.keys().filter(|s| !workspaces.contains(s)) {
            let summary = format!("- workspace {slug} (with its gateway tokens)");
            steps.push(step(summary, Method::DELETE, format!("/workspaces/{slug}"), None));
        }
    }
    steps
}

/// Creations and changes (PATCH of the whole definition, so a field the file omits is
/// reset) of rate limits, then with `prune` deletions of those the file does not name.
fn rate_limit_steps(
    desired: &BTreeMap<String, RateLimitSpec>,
    current: &BTreeMap<String, Value>,
    prune: bool,
) -> Vec<Step> {
    let mut steps = Vec::new();
    for (name, spec) in desired {
        let body = spec.api_body(name);
        let Some(now) = current.get(name) else {
            let summary = format!("+ rate limit {name:?}{}", describe_limit(&body));
            steps.push(step(summary, Method::POST, "/rate-limits".into(), Some(body)));
            continue;
        };
        let mut changes = Vec::new();
        let mut patch = serde_json::Map::new();
        for field in ["match", "limit", "budget", "burst", "per_caller"] {
            let wanted = match field {
                "per_caller" => json!(spec.per_caller),
                _ => body.get(field).cloned().unwrap_or(Value::Null),
            };
            let have = now.get(field).cloned().unwrap_or(Value::Null);
            if wanted != have {
                changes.push(format!("{field} {have} → {wanted}"));
            }
            // `limit` and `budget` replace each other, so only the one given is sent.
            if !(matches!(field, "limit" | "budget") && wanted.is_null()) {
                patch.insert(field.to_owned(), wanted);
            }
        }
        if !changes.is_empty() {
            let id = now["id"].as_str().unwrap_or_default();
            let summary = format!("~ rate limit {name:?}: {}", changes.join("; "));
            steps.push(step(
                summary,
                Method::PATCH,
                format!("/rate-limits/{id}"),
                Some(Value::Object(patch)),
            ));
        }
    }
    if prune {
        for (name, now) in current.iter().filter(|(name, _)| !desired.contains_key(*name)) {
            let id = now["id"].as_str().unwrap_or_default();
            steps.push(step(
                format!("- rate limit {name:?}"),
                Method::DELETE,
                format!("/rate-limits/{id}"),
                None,
            ));
        }
    }
    steps
}

/// ` (100 per minute)`, ` (5000 calls per day)`.
fn describe_limit(body: &Value) -> String {
    match (&body["limit"], &body["budget"]) {
        (l, _) if l.is_object() => {
            format!(" ({} per {})", l["requests"], l["per"].as_str().unwrap_or_default())
        }
        (_, b) if b.is_object() => {
            format!(" ({} calls per {})", b["calls"], b["per"].as_str().unwrap_or_default())
        }
        _ => String::new(),
    }
}

fn step(summary: String, method: Method, path: String, body: Option<Value>) -> Step {
    Step { summary, method, path, body, reassert: None }
}

/// The admin API body of a server (`POST /v1/servers`), header values included.
fn server_body(spec: &ServerSpec, headers: &BTreeMap<String, SecretString>) -> Value {
    let auth_type = spec
        .auth_type
        .clone()
        .unwrap_or_else(|| if headers.is_empty() { "none" } else { "headers" }.to_owned());
    let headers: serde_json::Map<String, Value> =
        headers.iter().map(|(k, v)| (k.clone(), json!(v.expose_secret()))).collect();
    json!({
        "slug": spec.slug,
        "name": spec.name.clone().unwrap_or_else(|| spec.slug.clone()),
        "url": spec.url,
        "auth_type": auth_type,
        "headers": headers,
        "advanced_config": spec.advanced_config.clone().unwrap_or_else(|| json!({})),
        "auto_provision": spec.auto_provision,
    })
}

/// What differs between a wanted server body and the server as listed (header names only:
/// values are write-only).
fn server_changes(body: &Value, now: &Value) -> Vec<String> {
    let mut changes = Vec::new();
    for field in ["name", "url", "auth_type", "auto_provision"] {
        if body[field] != now[field] {
            changes.push(format!("{field} {} → {}", now[field], body[field]));
        }
    }
    if body["advanced_config"] != now["advanced_config"] {
        changes.push("advanced_config".to_owned());
    }
    let wanted: BTreeSet<String> =
        body["headers"].as_object().map(|h| h.keys().cloned().collect()).unwrap_or_default();
    let have: BTreeSet<String> = now["headers"]
        .as_array()
        .map(|h| h.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    if wanted != have {
        let names = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(", ");
        changes.push(format!("headers [{}] → [{}]", names(&have), names(&wanted)));
    }
    changes
}

fn describe_tools(tools: &ToolsSpec) -> String {
    match (tools.allow.is_empty(), tools.deny.is_empty()) {
        (true, true) => String::new(),
        _ => format!(" (allow: [{}], deny: [{}])", tools.allow.join(", "), tools.deny.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_as_code::file::GatehouseFile;

    fn limits(yaml: &str) -> BTreeMap<String, RateLimitSpec> {
        GatehouseFile::parse(yaml).unwrap().rate_limits
    }

    #[test]
    fn an_unchanged_limit_is_no_step_and_a_kind_change_patches_the_whole_definition() {
        let listed = json!({"id": "rl1", "name": "a", "match": {"server": "s"},
            "limit": {"requests": 5, "per": "minute"}, "burst": 2, "per_caller": true,
            "created_at": "2026-12-07T00:00:00Z", "updated_at": "2026-12-07T00:00:00Z"});
        let current = BTreeMap::from([("a".to_owned(), listed)]);
        let same = limits(
            "rate_limits:\n  a:\n    match: {server: s}\n    limit: {requests: 5, per: minute}\n    burst: 2\n    per_caller: true\n",
        );
        assert!(rate_limit_steps(&same, &current, true).is_empty());

        let budget = limits("rate_limits:\n  a:\n    budget: {calls: 9, per: month}\n");
        let steps = rate_limit_steps(&budget, &current, false);
        assert_eq!(steps.len(), 1);
        assert_eq!((steps[0].method.clone(), steps[0].path.as_str()), (Method::PATCH, "/rate-limits/rl1"));
        assert_eq!(
            steps[0].body,
            Some(
                json!({"match": {}, "budget": {"calls": 9, "per": "month"}, "burst": null, "per_caller": false})
            ),
            "the omitted burst and per_caller are reset, and the limit is replaced by the budget"
        );
        assert_eq!(steps[0].summary.matches("→").count(), 5, "{}", steps[0].summary);

        let pruned = rate_limit_steps(&BTreeMap::new(), &current, true);
        assert_eq!((pruned[0].method.clone(), pruned[0].path.as_str()), (Method::DELETE, "/rate-limits/rl1"));
        assert!(rate_limit_steps(&BTreeMap::new(), &current, false).is_empty());
    }
}
