//! The admin side of the audit trail: every admin mutation writes its audit row
//! in the mutation's own transaction (a failing audit insert rolls the change
//! back), rows name the actor and never a secret, `GET /v1/audit-events` is for
//! auditors, owners and admins of the org only, refused admin credentials are
//! recorded (with one burst event past the threshold), retention deletes old
//! events, and the export streams JSON lines.

use chrono::{Duration as ChronoDuration, Utc};
use gatehouse_control_plane::store::{AuditEvent, AuditKind};
use gatehouse_tests::control_plane::{AdminClient, TestControlPlane};
use gatehouse_tests::db::TestDb;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};

const HEADER_SECRET: &str = "audit-header-secret-5d2e";

async fn admin_events(admin: &AdminClient, query: &str) -> Vec<Value> {
    let (status, body) =
        admin.request(Method::GET, &format!("/v1/audit-events?kind=admin&{query}"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["audit_events"].as_array().unwrap().clone()
}

/// Makes every insert into `audit_events` fail, or lets them through again.
async fn break_audit_inserts(db: &TestDb, broken: bool) {
    let conn = Database::connect(db.url()).await.expect("connecting to the test database");
    let statements: &[&str] = match (db.backend(), broken) {
        ("sqlite", true) => &[
            "CREATE TRIGGER audit_fail BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'injected audit failure'); END",
        ],
        ("sqlite", false) => &["DROP TRIGGER audit_fail"],
        (_, true) => &[
            "CREATE FUNCTION audit_fail() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected audit failure'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER audit_fail BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_fail()",
        ],
        (_, false) => &["DROP TRIGGER audit_fail ON audit_events", "DROP FUNCTION audit_fail()"],
    };
    for sql in statements {
        conn.execute_unprepared(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    conn.close().await.ok();
}

#[tokio::test]
async fn audit_an_admin_change_and_its_row_commit_together_or_not_at_all() {
    for db in TestDb::all().await {
        let backend = db.backend();
        let cp = TestControlPlane::start(db).await;
        let admin = cp.admin();
        admin.create_server("github", "https://example.com/mcp", &[("X-Api-Key", HEADER_SECRET)]).await;
        let rows = admin_events(&admin, "").await;
        assert_eq!(rows.len(), 1, "{backend}: {rows:#?}");
        let row = &rows[0];
        assert_eq!(row["action"], "POST /v1/servers", "{backend}");
        assert_eq!(row["actor"], "platform");
        assert_eq!(row["target"], "/v1/servers");
        assert_eq!(row["client_address"], "127.0.0.1");
        assert!(row["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{row}");
        assert_eq!(row["detail"]["after"]["slug"], "github");
        assert_eq!(row["detail"]["after"]["headers"]["x-api-key"], "[redacted]");

        let version = admin.config_version().await;
        break_audit_inserts(cp.db(), true).await;
        let (status, body) = admin
            .request(
                Method::POST,
                "/v1/servers",
                Some(json!({"slug": "gitlab", "name": "gitlab",
                "url": "https://example.com/gitlab", "auth_type": "none"})),
            )
            .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{backend}: {body}");
        let (status, body) =
            admin.request(Method::PATCH, "/v1/servers/github", Some(json!({"name": "renamed"}))).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{backend}: {body}");
        break_audit_inserts(cp.db(), false).await;

        let (status, _) = admin.request(Method::GET, "/v1/servers/gitlab", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{backend}: the change rolled back with its audit row");
        let (_, github) = admin.request(Method::GET, "/v1/servers/github", None).await;
        assert_eq!(github["name"], "github", "{backend}: the update rolled back");
        assert_eq!(admin.config_version().await, version, "{backend}: no version was committed");
        assert_eq!(admin_events(&admin, "").await.len(), 1, "{backend}");

        // Working again: the update and its row, with before and after.
        admin.update_server("github", json!({"name": "renamed"})).await;
        let rows = admin_events(&admin, "").await;
        assert_eq!(rows.len(), 2, "{backend}");
        assert_eq!(rows[0]["action"], "PATCH /v1/servers/{slug}", "newest first");
        assert_eq!(rows[0]["detail"]["before"]["name"], "github");
        assert_eq!(rows[0]["detail"]["after"]["name"], "renamed");
    }
}

#[tokio::test]
async fn audit_each_admin_mutation_writes_one_row_naming_its_actor_and_no_secret() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let admin = cp.admin();
    let (status, key) = admin
        .request(Method::POST, "/v1/api-keys", Some(json!({"name": "automation", "role": "owner"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let key_text = key["key"].as_str().unwrap().to_owned();
    let key_id = key["id"].as_str().unwrap().to_owned();
    let robot = admin.with_token(Some(&key_text));

    let mut expected = 1;
    let mut step = |what: &'static str| {
        expected += 1;
        (what, expected)
    };
    let mutations: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, "/v1/workspaces".into(), Some(json!({"slug": "eng", "name": "eng"}))),
        (
            Method::POST,
            "/v1/servers".into(),
            Some(
                json!({"slug": "s1", "name": "s1", "url": "https://example.com/mcp", "auth_type": "headers",
                "headers": {"Authorization": format!("Bearer {HEADER_SECRET}")}}),
            ),
        ),
        (
            Method::PUT,
            "/v1/workspaces/eng/servers/s1".into(),
            Some(json!({"tools": {"allow": [], "deny": []}})),
        ),
        (Method::POST, "/v1/auth/tokens".into(), Some(json!({"user": "carol", "team": "eng"}))),
        (
            Method::PUT,
            "/v1/audit-settings".into(),
            Some(json!({"audit_retention_days": 7, "auth_failure_burst_threshold": 5,
                "auth_failure_burst_window_secs": 60})),
        ),
        (Method::DELETE, "/v1/workspaces/eng/servers/s1".into(), None),
        (Method::DELETE, "/v1/servers/s1".into(), None),
    ];
    let mut minted = String::new();
    for (method, path, body) in mutations {
        let (what, count) = step("mutation");
        let (status, answer) = robot.request(method.clone(), &path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {answer}");
        if let Some(token) = answer["token"].as_str() {
            minted = token.to_owned();
        }
        let rows = admin_events(&admin, "").await;
        assert_eq!(rows.len(), count, "{what} {method} {path} wrote exactly one row: {rows:#?}");
        assert_eq!(rows[0]["actor"], format!("api_key:{key_id}"), "{method} {path}");
        assert!(rows[0]["action"].as_str().unwrap().starts_with(method.as_str()), "{}", rows[0]);
    }
    // A refused mutation changes nothing and records nothing.
    let (status, _) = robot.request(Method::DELETE, "/v1/servers/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(admin_events(&admin, "").await.len(), expected);
    assert_eq!(admin_events(&admin, &format!("actor=api_key:{key_id}")).await.len(), expected - 1);

    // Reads are not audited; the settings read back.
    let (_, settings) = admin.request(Method::GET, "/v1/audit-settings", None).await;
    assert_eq!(settings["audit_retention_days"], 7);

    assert!(!minted.is_empty());
    let dump = gatehouse_tests::db::dump_text(cp.db()).await;
    let audit_rows: String = dump.lines().filter(|l| l.starts_with("audit_events:")).collect();
    assert!(audit_rows.contains("POST /v1/servers"), "the scan reads the audit rows");
    for secret in [HEADER_SECRET, minted.as_str(), key_text.as_str(), cp.admin_token.as_str()] {
        assert!(!dump.contains(secret), "a secret is in the database in plaintext");
    }
    let (_, _, export) =
        admin.request_raw(Method::GET, "/v1/audit-events/export?format=jsonl", None, "").await;
    for secret in [HEADER_SECRET, minted.as_str(), key_text.as_str()] {
        assert!(!export.contains(secret), "a secret is in the export");
    }
}

#[tokio::test]
async fn audit_events_are_for_auditors_and_never_cross_orgs() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let admin = cp.admin();
    let (status, _) = admin.request(Method::POST, "/v1/orgs", Some(json!({"slug": "acme"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    admin.create_server("default-server", "https://example.com/mcp", &[]).await;
    let (status, _) = admin
        .request(
            Method::POST,
            "/v1/orgs/acme/workspaces",
            Some(json!({"slug": "acme-ws", "name": "acme-ws"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let key = |org: &'static str, role: &'static str| {
        let admin = admin.clone();
        async move {
            let (status, body) = admin
                .request(
                    Method::POST,
                    &format!("/v1/orgs/{org}/api-keys"),
                    Some(json!({"name": role, "role": role})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            body["key"].as_str().unwrap().to_owned()
        }
    };
    let auditor = admin.with_token(Some(&key("acme", "auditor").await));
    let actions = |body: &Value| -> Vec<String> {
        body["audit_events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let (status, body) = auditor.request(Method::GET, "/v1/audit-events?kind=admin", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let seen = actions(&body);
    assert!(seen.contains(&"POST /v1/workspaces".to_owned()), "acme's own change: {seen:?}");
    assert!(!seen.contains(&"POST /v1/servers".to_owned()), "never the default org's: {seen:?}");
    let (status, body) = admin.request(Method::GET, "/v1/audit-events?kind=admin", None).await;
    assert_eq!(status, StatusCode::OK);
    let seen = actions(&body);
    assert!(seen.contains(&"POST /v1/servers".to_owned()), "{seen:?}");
    assert!(!seen.contains(&"POST /v1/workspaces".to_owned()), "never acme's: {seen:?}");
    // Another org's credential learns nothing.
    let (status, _) = auditor.request(Method::GET, "/v1/orgs/default/audit-events", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    for role in ["viewer", "member"] {
        let client = admin.with_token(Some(&key("acme", role).await));
        let (status, body) = client.request(Method::GET, "/v1/audit-events", None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}: {body}");
        let (status, _) = client.request(Method::GET, "/v1/audit-events/export", None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}");
    }
    // Owners only change the settings.
    let (status, _) = auditor
        .request(
            Method::PUT,
            "/v1/audit-settings",
            Some(json!({"audit_retention_days": 1,
        "auth_failure_burst_threshold": 1, "auth_failure_burst_window_secs": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Bad filters are named.
    for (query, field) in [
        ("kind=bogus", "kind"),
        ("since=yesterday", "since"),
        ("decision=maybe", "decision"),
        ("limit=0", "limit"),
        ("cursor=%25%25", "cursor"),
    ] {
        let (status, body) = admin.request(Method::GET, &format!("/v1/audit-events?{query}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(body.to_string().contains(field), "{query}: {body}");
    }
    let (status, body) = admin.request(Method::GET, "/v1/usage?group_by=color", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.to_string().contains("group_by"), "{body}");
    let (status, body) = admin
        .request(
            Method::PUT,
            "/v1/audit-settings",
            Some(json!({"audit_retention_days": 0,
        "auth_failure_burst_threshold": 1, "auth_failure_burst_window_secs": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.to_string().contains("audit_retention_days"), "{body}");
}

#[tokio::test]
async fn audit_refused_admin_credentials_are_recorded_and_a_burst_is_flagged_once() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let admin = cp.admin();
    let (status, _) = admin
        .request(
            Method::PUT,
            "/v1/audit-settings",
            Some(json!({"audit_retention_days": 30,
            "auth_failure_burst_threshold": 3, "auth_failure_burst_window_secs": 600})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let wrong = "gak_this-is-not-a-real-key-9f8e7d";
    let intruder = admin.with_token(Some(wrong));
    for _ in 0..5 {
        let (status, _) = intruder.request(Method::GET, "/v1/servers", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = admin.request(Method::GET, "/v1/audit-events?kind=auth_failure", None).await;
    assert_eq!(status, StatusCode::OK);
    let failures = body["audit_events"].as_array().unwrap();
    assert_eq!(failures.len(), 5, "{body}");
    assert_eq!(failures[0]["reason"], "invalid_token");
    assert_eq!(failures[0]["client_address"], "127.0.0.1");
    assert_eq!(failures[0]["action"], "GET /v1/servers");
    let (_, body) = admin.request(Method::GET, "/v1/audit-events?kind=auth_failure_burst", None).await;
    let bursts = body["audit_events"].as_array().unwrap();
    assert_eq!(bursts.len(), 1, "one burst event per window: {body}");
    assert_eq!(bursts[0]["client_address"], "127.0.0.1");
    assert!(!gatehouse_tests::db::dump_text(cp.db()).await.contains(wrong), "never the credential");
}

/// Edge batches of any size (SQLite writes them in fixed chunks plus single rows) are
/// stored whole, each id once, every field as sent.
#[tokio::test]
async fn audit_edge_batches_of_any_size_are_stored_once_per_id_with_every_field() {
    for db in TestDb::all().await {
        let backend = db.backend();
        let cp = TestControlPlane::start(db).await;
        let store = cp.store().await;
        let org = store.org_by_slug("default").await.unwrap().unwrap();
        let now = Utc::now();
        let event = |n: i64| AuditEvent {
            id: uuid::Uuid::now_v7().to_string(),
            org_id: org.id.clone(),
            kind: AuditKind::ToolCall.as_str().to_owned(),
            occurred_at: now - ChronoDuration::milliseconds(n),
            user: Some(format!("user-{n}")),
            server: Some("github".into()),
            method: Some("tools/call".into()),
            tool: Some(format!("tool-{n}")),
            decision: Some(if n % 2 == 0 { "allow" } else { "deny" }.into()),
            jsonrpc_code: (n % 2 == 1).then_some(-32000),
            upstream_status: (n % 2 == 0).then_some(200),
            latency_ms: Some(n),
            request_bytes: Some(100 + n),
            client_address: Some("10.0.0.1".into()),
            edge: Some("edge-a".into()),
            // Every other column too, each value naming its event, so a value written to
            // the wrong column or row shows.
            actor: Some(format!("actor-{n}")),
            identity_source: Some(format!("source-{n}")),
            workspace: Some(format!("ws-{n}")),
            reason: Some(format!("reason-{n}")),
            response_bytes: Some(200 + n),
            trace_id: Some(format!("{n:032x}")),
            session_hash: Some(format!("session-{n}")),
            request_id: Some(format!("request-{n}")),
            action: Some(format!("action-{n}")),
            target: Some(format!("target-{n}")),
            detail: Some(json!({ "n": n, "text": format!("detail-{n}") })),
            ..AuditEvent::default()
        };
        let events: Vec<AuditEvent> = (0..70).map(event).collect();
        assert_eq!(store.insert_edge_audit_events(events[..40].to_vec()).await.unwrap(), 40, "{backend}");
        // A resend that overlaps what is stored: only the new events count.
        assert_eq!(store.insert_edge_audit_events(events.clone()).await.unwrap(), 30, "{backend}");
        assert_eq!(store.insert_edge_audit_events(events[65..].to_vec()).await.unwrap(), 0, "{backend}");

        let (status, body) =
            cp.admin().request(Method::GET, "/v1/audit-events?kind=tool_call&limit=1000", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let stored = body["audit_events"].as_array().unwrap();
        assert_eq!(stored.len(), 70, "{backend}: every event once");
        for (n, sent) in events.iter().enumerate() {
            let row =
                stored.iter().find(|e| e["id"] == sent.id.as_str()).unwrap_or_else(|| panic!("{n} stored"));
            let n = n as i64;
            assert_eq!(row["tool"], format!("tool-{n}"), "{backend}");
            assert_eq!(row["user"], format!("user-{n}"), "{backend}");
            assert_eq!(row["latency_ms"], n, "{backend}");
            assert_eq!(row["request_bytes"], 100 + n, "{backend}");
            assert_eq!(
                row["jsonrpc_code"],
                if n % 2 == 1 { json!(-32000) } else { Value::Null },
                "{backend}"
            );
            assert_eq!(
                row["upstream_status"],
                if n % 2 == 0 { json!(200) } else { Value::Null },
                "{backend}"
            );
            let at = chrono::DateTime::parse_from_rfc3339(row["occurred_at"].as_str().unwrap()).unwrap();
            assert_eq!(at.timestamp_millis(), sent.occurred_at.timestamp_millis(), "{backend}");
            // Every field as sent (the time is compared above, to the millisecond).
            let Value::Object(sent) = serde_json::to_value(sent).unwrap() else { unreachable!() };
            for (field, value) in sent.iter().filter(|(field, _)| *field != "occurred_at") {
                assert_eq!(&row[field.as_str()], value, "{backend}: event {n}'s {field}");
            }
        }
    }
}

/// A mutation that finds nothing to change (the same PATCH twice, revoking a revoked token
/// or edge token) commits nothing and writes no row, and the audit check does not call that
/// a missing row; the first, real change writes its row.
#[tokio::test]
async fn audit_a_mutation_that_changes_nothing_writes_no_row_and_logs_no_error() {
    let logs = gatehouse_tests::logs::capture().expect("log capture");
    for db in TestDb::all().await {
        let backend = db.backend();
        let cp = TestControlPlane::start(db).await;
        let admin = cp.admin();
        admin.create_workspace("eng").await;
        admin.create_server("github", "https://mcp.example.com/mcp", &[]).await;
        let token = admin.mint_token("ann", "eng").await;
        let (status, edge) =
            admin.request(Method::POST, "/v1/edges/tokens", Some(json!({"name": "edge-noop"}))).await;
        assert_eq!(status, StatusCode::CREATED, "{edge}");
        let edge_path = format!("/v1/edges/tokens/{}", edge["id"].as_str().unwrap());
        let token_path = format!("/v1/auth/tokens/{}", token.id);
        let rename = json!({"name": "GitHub tools"});
        let mut rows = admin_events(&admin, "limit=1000").await.len();
        for (method, path, body, changes) in [
            (Method::PATCH, "/v1/servers/github", Some(rename.clone()), true),
            (Method::PATCH, "/v1/servers/github", Some(rename), false),
            (Method::DELETE, token_path.as_str(), None, true),
            (Method::DELETE, token_path.as_str(), None, false),
            (Method::DELETE, edge_path.as_str(), None, true),
            (Method::DELETE, edge_path.as_str(), None, false),
        ] {
            let (status, answer) = admin.request(method.clone(), path, body).await;
            assert!(status.is_success(), "{backend}: {method} {path}: {status} {answer}");
            let now = admin_events(&admin, "limit=1000").await.len();
            assert_eq!(now, rows + usize::from(changes), "{backend}: {method} {path} (changes: {changes})");
            rows = now;
        }
    }
    let text = logs.text();
    assert!(!text.is_empty(), "the capture sees the control plane's logs");
    assert!(!text.contains("succeeded without an audit row"), "no-op mutations are not reported as bugs");
}

#[tokio::test]
async fn audit_retention_deletes_events_past_each_orgs_retention() {
    for db in TestDb::all().await {
        let backend = db.backend();
        let cp = TestControlPlane::start(db).await;
        let admin = cp.admin();
        let (status, _) = admin.request(Method::POST, "/v1/orgs", Some(json!({"slug": "short"}))).await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, _) = admin
            .request(
                Method::PUT,
                "/v1/orgs/short/audit-settings",
                Some(json!({"audit_retention_days": 2,
                "auth_failure_burst_threshold": 20, "auth_failure_burst_window_secs": 60})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let store = cp.store().await;
        let default = store.org_by_slug("default").await.unwrap().unwrap();
        let short = store.org_by_slug("short").await.unwrap().unwrap();
        let now = Utc::now();
        let event = |org: &str, days_ago: i64| AuditEvent {
            id: uuid::Uuid::now_v7().to_string(),
            org_id: org.to_owned(),
            kind: AuditKind::ToolCall.as_str().to_owned(),
            occurred_at: now - ChronoDuration::days(days_ago),
            decision: Some("allow".into()),
            tool: Some(format!("aged-{days_ago}")),
            ..AuditEvent::default()
        };
        let events = vec![
            event(&default.id, 1),
            event(&default.id, 10),
            event(&default.id, 31),
            event(&short.id, 1),
            event(&short.id, 3),
        ];
        assert_eq!(store.insert_audit_events(events.clone()).await.unwrap(), 5);
        assert_eq!(store.insert_audit_events(events).await.unwrap(), 0, "{backend}: stored once per id");

        let deleted = gatehouse_control_plane::audit::enforce_retention(&store, now).await.unwrap();
        assert_eq!(deleted, 2, "{backend}: the default org's 31-day-old and short's 3-day-old event");
        let tools = |admin: AdminClient, path: &'static str| async move {
            let (_, body) = admin.request(Method::GET, path, None).await;
            let mut tools: Vec<String> = body["audit_events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["tool"].as_str().unwrap().to_owned())
                .collect();
            tools.sort();
            tools
        };
        assert_eq!(
            tools(admin.clone(), "/v1/audit-events?kind=tool_call").await,
            ["aged-1", "aged-10"],
            "{backend}"
        );
        assert_eq!(
            tools(admin.clone(), "/v1/orgs/short/audit-events?kind=tool_call").await,
            ["aged-1"],
            "{backend}"
        );
        store.close().await.ok();
    }
}

#[tokio::test]
async fn audit_export_streams_every_matching_event_as_json_lines() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let admin = cp.admin();
    for i in 0..3 {
        admin.create_workspace(&format!("ws{i}")).await;
    }
    // `action` matches an admin event's route template, in the list and the export alike.
    admin.create_server("other-change", "https://example.com/mcp", &[]).await;
    let only = admin_events(&admin, "action=POST%20/v1/workspaces").await;
    assert_eq!(only.len(), 3, "{only:#?}");
    let (status, _, text) =
        admin.request_raw(Method::GET, "/v1/audit-events/export?action=POST%20/v1/servers", None, "").await;
    assert_eq!(status, StatusCode::OK);
    let servers: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(servers.len(), 1, "{text}");
    assert_eq!(servers[0]["target"], "/v1/servers", "{text}");
    let (status, headers, text) =
        admin.request_raw(Method::GET, "/v1/audit-events/export?format=jsonl&kind=admin", None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines.iter().filter(|l| l["action"] == "POST /v1/workspaces").count(), 3, "{text}");
    let (status, body) = admin.request(Method::GET, "/v1/audit-events/export?format=csv", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.to_string().contains("format"), "{body}");
    // Pages of the list walk the same events.
    let (_, first) = admin.request(Method::GET, "/v1/audit-events?kind=admin&limit=2", None).await;
    let cursor = first["next_cursor"].as_str().expect("a second page").to_owned();
    let (_, second) = admin
        .request(Method::GET, &format!("/v1/audit-events?kind=admin&limit=2&cursor={cursor}"), None)
        .await;
    let ids: Vec<&Value> = first["audit_events"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["audit_events"].as_array().unwrap())
        .map(|e| &e["id"])
        .collect();
    let exported: Vec<&Value> = lines.iter().map(|e| &e["id"]).collect();
    assert_eq!(ids, exported);
}
