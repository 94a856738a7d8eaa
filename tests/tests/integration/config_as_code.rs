//! Config as code against a real control plane and edge: `gatehouse apply`
//! (create, idempotent re-apply, dry run of an edit, secret rotation, prune,
//! a bad file that changes nothing; the same for rate limits and budgets),
//! `gatehouse export` read back by `apply`,
//! and `gatehouse import-client-config` whose printed client file a real MCP
//! client uses through the edge.

use std::collections::BTreeMap;
use std::path::Path;

use gatehouse::config_as_code::apply::{apply, ApplyOptions};
use gatehouse::config_as_code::export::export;
use gatehouse::config_as_code::file::GatehouseFile;
use gatehouse::config_as_code::import_client::{import_client_config, ImportOptions};
use gatehouse::config_as_code::ApiTarget;
use gatehouse_tests::db::TestDb;
use gatehouse_tests::upstream::{McpUpstream, SessionMode};
use gatehouse_tests::TestStack;
use reqwest::{Method, StatusCode};
use rmcp::model::ClientConfig;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt as _;
use secrecy::ExposeSecret as _;
use serde_json::json;

async fn run_apply(
    dir: &Path,
    yaml: &str,
    target: &ApiTarget,
    env: &BTreeMap<String, String>,
    options: ApplyOptions,
) -> (anyhow::Result<usize>, String) {
    let path = dir.join("gatehouse.yaml");
    std::fs::write(&path, yaml).unwrap();
    let file = GatehouseFile::read(&path).unwrap();
    let mut out = Vec::new();
    let result = apply(&file, &path, target.clone(), env, &options, &mut out).await;
    (result, String::from_utf8(out).unwrap())
}

/// Creates org `acme` and an admin key of it acting on its own org (the files name it).
async fn acme_admin_key(cp: &gatehouse_tests::control_plane::TestControlPlane) -> ApiTarget {
    cp.admin().request(Method::POST, "/v1/orgs", Some(json!({"slug": "acme"}))).await;
    let (_, key) = cp
        .admin()
        .request(Method::POST, "/v1/orgs/acme/api-keys", Some(json!({"name": "ci", "role": "admin"})))
        .await;
    ApiTarget {
        api_url: cp.api_url.clone(),
        api_key: key["key"].as_str().unwrap().to_owned().into(),
        org: None,
    }
}

fn file(linear_url: &str, deny: &str, with_linear: bool) -> String {
    let mut yaml = format!(
        "org: acme\nworkspaces:\n  - slug: eng\n    servers:\n      - server: github\n        tools: {{deny: [\"{deny}\"]}}\n"
    );
    if with_linear {
        yaml.push_str("      - server: linear\n");
    }
    yaml.push_str("servers:\n  - slug: github\n    name: GitHub\n    url: https://github.example.com/mcp\n    headers:\n      Authorization: {env: GITHUB_TOKEN}\n");
    if with_linear {
        yaml.push_str(&format!(
            "  - slug: linear\n    url: {linear_url}\n    headers:\n      X-Api-Key: {{file: linear.key}}\n"
        ));
    }
    yaml
}

#[tokio::test]
async fn apply_reconciles_idempotently_and_changes_nothing_on_a_bad_file() {
    let stack = TestStack::start_with_public_edge_on(TestDb::sqlite().await).await;
    let cp = &stack.cp;
    let target = acme_admin_key(cp).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("linear.key"), "linear-secret-1\n").unwrap();
    let mut env = BTreeMap::from([("GITHUB_TOKEN".to_owned(), "Bearer gh-secret-1".to_owned())]);
    let acme = |path: &str| format!("/v1/orgs/acme{path}");
    let version = || async { cp.admin().config_version().await };

    // Create.
    let (result, out) = run_apply(
        dir.path(),
        &file("https://linear.example.com/mcp", "delete_*", true),
        &target,
        &env,
        ApplyOptions::default(),
    )
    .await;
    assert_eq!(result.unwrap(), 5, "{out}");
    for line in [
        "+ workspace eng",
        "+ server github",
        "+ server linear",
        "+ provision eng/github (allow: [], deny: [delete_*])",
        "+ provision eng/linear",
        "applied 5 change(s)",
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line:?} in:\n{out}");
    }
    let (_, github) = cp.admin().request(Method::GET, &acme("/servers/github"), None).await;
    assert_eq!(
        (github["name"].as_str(), github["headers"].clone()),
        (Some("GitHub"), json!(["authorization"]))
    );
    let (_, provisions) = cp.admin().request(Method::GET, &acme("/workspaces/eng/servers"), None).await;
    assert_eq!(provisions["servers"][0]["tools"]["deny"], json!(["delete_*"]), "{provisions}");
    let store = cp.store().await;
    let headers = |slug: &'static str| {
        let store = store.clone();
        async move {
            let state = store.load_edge_state().await.unwrap();
            let server = state.servers.iter().find(|s| s.server.slug == slug).unwrap();
            server.headers.values().map(|v| v.expose_secret().to_owned()).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        headers("linear").await,
        vec!["linear-secret-1".to_owned()],
        "file secrets lose their newline"
    );

    // Again: nothing changes, not even the config version.
    let before = version().await;
    let (result, out) = run_apply(
        dir.path(),
        &file("https://linear.example.com/mcp", "delete_*", true),
        &target,
        &env,
        ApplyOptions::default(),
    )
    .await;
    assert_eq!((result.unwrap(), out.as_str()), (0, "no changes\n"));
    assert_eq!(version().await, before, "an unchanged apply writes nothing");

    // An edit, dry run first: exactly the edit, nothing applied.
    let edited = file("https://linear2.example.com/mcp", "admin_*", true);
    let (result, out) =
        run_apply(dir.path(), &edited, &target, &env, ApplyOptions { dry_run: true, prune: false }).await;
    assert_eq!(result.unwrap(), 2, "{out}");
    let changes: Vec<&str> = out.lines().filter(|l| l.starts_with(['+', '~', '-'])).collect();
    assert_eq!(
        changes,
        vec![
            "~ server linear: url \"https://linear.example.com/mcp\" → \"https://linear2.example.com/mcp\"",
            "~ provision eng/github (allow: [], deny: [admin_*])",
        ],
        "{out}"
    );
    assert!(out.contains("dry run: 2 change(s), nothing applied"), "{out}");
    assert_eq!(version().await, before, "a dry run changes nothing");
    let (result, out) = run_apply(dir.path(), &edited, &target, &env, ApplyOptions::default()).await;
    assert_eq!(result.unwrap(), 2, "{out}");

    // A rotated secret is re-sealed; the file did not change.
    env.insert("GITHUB_TOKEN".into(), "Bearer gh-secret-2".into());
    let (result, out) = run_apply(dir.path(), &edited, &target, &env, ApplyOptions::default()).await;
    assert_eq!(result.unwrap(), 1, "{out}");
    assert!(out.contains("~ server github: header values"), "{out}");
    assert_eq!(headers("github").await, vec!["Bearer gh-secret-2".to_owned()]);

    // Prune: linear leaves the file, so it leaves the org.
    let without = file("https://linear2.example.com/mcp", "admin_*", false);
    let (result, out) = run_apply(dir.path(), &without, &target, &env, ApplyOptions::default()).await;
    assert_eq!(result.unwrap(), 0, "without --prune nothing is deleted: {out}");
    let (result, out) =
        run_apply(dir.path(), &without, &target, &env, ApplyOptions { dry_run: false, prune: true }).await;
    assert_eq!(result.unwrap(), 1, "{out}");
    assert_eq!(out, "- server linear\napplied 1 change(s)\n", "its provision goes with it");
    assert_eq!(
        cp.admin().request(Method::GET, &acme("/servers/linear"), None).await.0,
        StatusCode::NOT_FOUND
    );

    // Bad files: the field is named and nothing changes.
    let before = version().await;
    let bad_url = without.replace("https://github.example.com/mcp", "ftp://github.example.com");
    let (result, _) = run_apply(dir.path(), &bad_url, &target, &env, ApplyOptions::default()).await;
    let err = result.unwrap_err().to_string();
    assert!(err.contains("servers[0].url"), "{err}");
    let missing_env = format!("{without}  - slug: jira\n    url: https://jira.example.com/mcp\n    headers:\n      Authorization: {{env: JIRA_TOKEN}}\n");
    let (result, _) = run_apply(dir.path(), &missing_env, &target, &env, ApplyOptions::default()).await;
    let err = result.unwrap_err().to_string();
    assert!(err.contains("servers[1].headers.Authorization") && err.contains("JIRA_TOKEN"), "{err}");
    let unknown_server = without.replace("server: github", "server: nope");
    let (result, _) = run_apply(dir.path(), &unknown_server, &target, &env, ApplyOptions::default()).await;
    assert!(result.unwrap_err().to_string().contains("workspaces[0].servers[0].server"));
    assert_eq!(version().await, before, "a bad file changes nothing");
    assert_eq!(cp.admin().request(Method::GET, &acme("/servers/jira"), None).await.0, StatusCode::NOT_FOUND);

    // Export, read back: applying it (secrets filled in) changes nothing.
    let exported = export(ApiTarget { org: Some("acme".into()), ..target.clone() }).await.unwrap();
    let yaml = exported.to_yaml();
    assert!(!yaml.contains("gh-secret"), "export never writes a secret:\n{yaml}");
    assert!(yaml.contains("GATEHOUSE_SECRET_GITHUB_AUTHORIZATION"), "{yaml}");
    env.insert("GATEHOUSE_SECRET_GITHUB_AUTHORIZATION".into(), "Bearer gh-secret-2".into());
    let (result, out) =
        run_apply(dir.path(), &yaml, &target, &env, ApplyOptions { dry_run: false, prune: true }).await;
    assert_eq!((result.unwrap(), out.as_str()), (0, "no changes\n"), "{yaml}");
}

#[tokio::test]
async fn an_imported_client_file_works_through_the_edge() {
    let stack = TestStack::start_with_public_edge_on(TestDb::sqlite().await).await;
    let upstream = McpUpstream::start(SessionMode::Stateless).await;
    let client_file = json!({
        "mcpServers": {
            "Test Tools": {"url": upstream.url, "headers": {"X-Upstream-Key": "upstream-key-1"}},
            "filesystem": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]},
        }
    });
    let target = ApiTarget {
        api_url: stack.cp.api_url.clone(),
        api_key: stack.cp.admin_token.clone().into(),
        org: None,
    };
    let options = ImportOptions {
        workspace: "eng".into(),
        user: "dev@example.com".into(),
        edge_url: stack.edge.url.clone(),
    };
    let (mut out, mut report) = (Vec::new(), Vec::new());
    import_client_config(&client_file.to_string(), target, &options, &mut out, &mut report).await.unwrap();
    let report = String::from_utf8(report).unwrap();
    assert!(report.contains("imported Test Tools as server test-tools, provisioned to eng"), "{report}");
    assert!(report.contains("not imported filesystem: a stdio server"), "{report}");
    let printed: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let entry = &printed["mcpServers"]["Test Tools"];
    assert_eq!(entry["url"], format!("{}/mcp/default/test-tools", stack.edge.url));
    assert_eq!(
        printed["mcpServers"]["filesystem"], client_file["mcpServers"]["filesystem"],
        "stdio entries are kept"
    );
    assert!(!printed.to_string().contains("upstream-key-1"), "the upstream key moved into Gatehouse");

    // A real MCP client with exactly the printed URL and header.
    stack.sync().await;
    let token =
        entry["headers"]["Authorization"].as_str().unwrap().strip_prefix("Bearer ").unwrap().to_owned();
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(entry["url"].as_str().unwrap().to_owned())
            .auth_header(token),
    );
    let client =
        ClientConfig::default().serve(transport).await.expect("the client connects through the edge");
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "echo"), "{tools:?}");
    client.call_tool(rmcp::model::CallToolRequestParams::new("whoami")).await.unwrap();
    let seen = upstream.calls.last_headers("whoami").expect("the upstream saw the call");
    assert_eq!(
        seen.get("x-upstream-key").map(String::as_str),
        Some("upstream-key-1"),
        "the imported header is injected"
    );
    client.cancel().await.unwrap();
}

fn limits_file(search_requests: u64, with_quota: bool) -> String {
    let mut yaml = format!(
        "org: acme\nworkspaces:\n  - slug: eng\nservers:\n  - slug: github\n    url: https://github.example.com/mcp\nrate_limits:\n  search per user:\n    match: {{server: github, tool: \"search_*\"}}\n    limit: {{requests: {search_requests}, per: minute}}\n    burst: 10\n    per_caller: true\n"
    );
    if with_quota {
        yaml.push_str(
            "  ci quota:\n    match: {workspace: eng, user: ci-bot}\n    budget: {calls: 5000, per: day}\n",
        );
    }
    yaml
}

#[tokio::test]
async fn apply_reconciles_rate_limits_and_budgets() {
    let stack = TestStack::start_with_public_edge_on(TestDb::sqlite().await).await;
    let cp = &stack.cp;
    let target = acme_admin_key(cp).await;
    let dir = tempfile::tempdir().unwrap();
    let env = BTreeMap::new();
    let version = || async { cp.admin().config_version().await };
    let limits = || async {
        let (_, list) = cp.admin().request(Method::GET, "/v1/orgs/acme/rate-limits", None).await;
        let mut rows = list["rate_limits"].as_array().unwrap().clone();
        rows.sort_by_key(|r| r["name"].as_str().unwrap().to_owned());
        rows
    };
    let apply_opts = |dry_run, prune| ApplyOptions { dry_run, prune };

    // A limit and a budget, created after the workspace and server they match.
    let (result, out) =
        run_apply(dir.path(), &limits_file(100, true), &target, &env, ApplyOptions::default()).await;
    assert_eq!(result.unwrap(), 4, "{out}");
    assert_eq!(
        out,
        "+ workspace eng\n+ server github\n+ rate limit \"ci quota\" (5000 calls per day)\n+ rate limit \"search per user\" (100 per minute)\napplied 4 change(s)\n"
    );
    let rows = limits().await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        (&rows[0]["match"], &rows[0]["budget"], &rows[0]["per_caller"]),
        (
            &json!({"workspace": "eng", "user": "ci-bot"}),
            &json!({"calls": 5000, "per": "day"}),
            &json!(false)
        )
    );
    assert_eq!(
        (&rows[1]["match"], &rows[1]["limit"], &rows[1]["burst"], &rows[1]["per_caller"]),
        (
            &json!({"server": "github", "tool": "search_*"}),
            &json!({"requests": 100, "per": "minute"}),
            &json!(10),
            &json!(true)
        )
    );

    // Again: nothing changes, not even the config version.
    let before = version().await;
    let (result, out) =
        run_apply(dir.path(), &limits_file(100, true), &target, &env, ApplyOptions::default()).await;
    assert_eq!((result.unwrap(), out.as_str()), (0, "no changes\n"));
    assert_eq!(version().await, before, "an unchanged apply writes nothing");

    // An edited limit: the dry run shows exactly that edit and changes nothing.
    let (result, out) =
        run_apply(dir.path(), &limits_file(200, true), &target, &env, apply_opts(true, false)).await;
    assert_eq!(result.unwrap(), 1, "{out}");
    assert_eq!(
        out,
        "~ rate limit \"search per user\": limit {\"per\":\"minute\",\"requests\":100} → {\"per\":\"minute\",\"requests\":200}\ndry run: 1 change(s), nothing applied\n"
    );
    assert_eq!(version().await, before, "a dry run changes nothing");
    let (result, out) =
        run_apply(dir.path(), &limits_file(200, true), &target, &env, ApplyOptions::default()).await;
    assert_eq!(result.unwrap(), 1, "{out}");
    let rows = limits().await;
    assert_eq!(rows[1]["limit"], json!({"requests": 200, "per": "minute"}));
    assert_eq!((&rows[1]["burst"], &rows[1]["per_caller"]), (&json!(10), &json!(true)), "the rest is kept");

    // Prune: the budget leaves the file, so it leaves the org (only with --prune).
    let (result, out) =
        run_apply(dir.path(), &limits_file(200, false), &target, &env, ApplyOptions::default()).await;
    assert_eq!((result.unwrap(), out.as_str()), (0, "no changes\n"));
    let (result, out) =
        run_apply(dir.path(), &limits_file(200, false), &target, &env, apply_opts(false, true)).await;
    assert_eq!(result.unwrap(), 1, "{out}");
    assert_eq!(out, "- rate limit \"ci quota\"\napplied 1 change(s)\n");
    let rows = limits().await;
    assert_eq!(rows.iter().map(|r| r["name"].as_str().unwrap()).collect::<Vec<_>>(), vec!["search per user"]);

    // Bad limits fail before the first call, with the API's field error; the file's
    // other changes (a new server) are not made either.
    let before = version().await;
    let both = limits_file(200, false)
        .replace("rate_limits:\n", "  - slug: jira\n    url: https://jira.example.com/mcp\nrate_limits:\n")
        + "  both:\n    limit: {requests: 1, per: minute}\n    budget: {calls: 1, per: day}\n";
    let (result, out) = run_apply(dir.path(), &both, &target, &env, ApplyOptions::default()).await;
    let err = result.unwrap_err().to_string();
    assert!(err.contains("rate_limits[\"both\"].limit: give exactly one of limit"), "{err}\n{out}");
    let monthly_limit = limits_file(200, false).replace("per: minute", "per: month");
    let (result, _) = run_apply(dir.path(), &monthly_limit, &target, &env, ApplyOptions::default()).await;
    let err = result.unwrap_err().to_string();
    assert!(
        err.contains("rate_limits[\"search per user\"].limit.per: must be second, minute, hour or day"),
        "{err}"
    );
    let unknown_server = limits_file(200, false).replace("{server: github,", "{server: nope,");
    let (result, _) = run_apply(dir.path(), &unknown_server, &target, &env, ApplyOptions::default()).await;
    let err = result.unwrap_err().to_string();
    assert!(err.contains("rate_limits[\"search per user\"].match.server: no server \"nope\""), "{err}");
    assert_eq!(version().await, before, "a bad file changes nothing");
    assert_eq!(
        cp.admin().request(Method::GET, "/v1/orgs/acme/servers/jira", None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(limits().await.len(), 1);

    // Export, read back: applying it with --prune changes nothing.
    let exported = export(ApiTarget { org: Some("acme".into()), ..target.clone() }).await.unwrap();
    let yaml = exported.to_yaml();
    assert_eq!(
        exported.rate_limits,
        GatehouseFile::parse(&limits_file(200, false)).unwrap().rate_limits,
        "{yaml}"
    );
    let (result, out) = run_apply(dir.path(), &yaml, &target, &env, apply_opts(false, true)).await;
    assert_eq!((result.unwrap(), out.as_str()), (0, "no changes\n"), "{yaml}");
}
