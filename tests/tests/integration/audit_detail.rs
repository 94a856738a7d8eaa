//! What audit rows hold beyond who and when: a server that opted in
//! (`advanced_config.audit`) gets its tool calls' arguments and results recorded,
//! redacted and cut at the edge, from JSON and SSE answers alike, while the
//! client's bytes pass unchanged; a server that did not records neither. And
//! every mutating admin route, walked from the OpenAPI document, writes exactly
//! one admin row with its actor, action, target and a `detail` of before/after
//! free of secrets.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use gatehouse_control_plane::store::UserLogin;
use gatehouse_tests::control_plane::{AdminClient, TestControlPlane, NO_TEST_CA_SHA256};
use gatehouse_tests::db::TestDb;
use gatehouse_tests::edge::TestEdge;
use gatehouse_tests::eventually;
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);
/// Values that look like credentials, sent as tool arguments and answered in results.
const VENDOR_KEY: &str = "ghp_R2d2C3poBb8Ewok5Yoda9Luke0Leia7Han1";
const JWT: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImlhdCI6MTcwMDAwMDAwMH0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg";
const PASSWORD: &str = "correct-horse-battery-staple";
const RESULT_SECRET: &str = "sk-live-4f9a8b7c6d5e4f3a2b1c0d9e";

/// A plain upstream MCP endpoint answering `tools/call` of `json_tool` with JSON and of
/// `sse_tool` with an event stream (a progress notification, a request of the server's
/// own, then the answer), remembering every body it received.
struct RawUpstream {
    url: String,
    bodies: Arc<Mutex<Vec<Bytes>>>,
}

fn json_answer(id: &Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text",
        "text": format!("weather: sunny; upstream key {RESULT_SECRET}")}], "isError": false}})
    .to_string()
}

fn sse_answer(id: &Value) -> String {
    let progress = json!({"jsonrpc": "2.0", "method": "notifications/progress",
        "params": {"progressToken": 1, "progress": 1, "total": 2}});
    let other = json!({"jsonrpc": "2.0", "id": 999, "result": {"not": "this call's"}});
    let answer = json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text",
        "text": "streamed answer"}], "structuredContent": {"rows": 3, "password": PASSWORD}}});
    format!("event: message\ndata: {progress}\n\ndata: {other}\n\nid: 7\ndata: {answer}\n\n")
}

impl RawUpstream {
    async fn start() -> Self {
        let bodies: Arc<Mutex<Vec<Bytes>>> = Arc::default();
        let seen = bodies.clone();
        let app = axum::Router::new().route(
            "/mcp",
            axum::routing::post(move |body: Bytes| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(body.clone());
                    let message: Value = serde_json::from_slice(&body).unwrap_or_default();
                    let id = message["id"].clone();
                    let response: Response = match message["params"]["name"].as_str() {
                        Some("sse_tool") => {
                            ([(CONTENT_TYPE, "text/event-stream")], sse_answer(&id)).into_response()
                        }
                        _ => ([(CONTENT_TYPE, "application/json")], json_answer(&id)).into_response(),
                    };
                    response
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, bodies }
    }
}

async fn call_tool(
    edge: &TestEdge,
    slug: &str,
    token: &str,
    tool: &str,
    id: u64,
    arguments: Value,
) -> String {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments}});
    let response = reqwest::Client::new()
        .post(edge.mcp_url(slug))
        .bearer_auth(token)
        .header(header::ACCEPT, "application/json, text/event-stream")
        .json(&body)
        .send()
        .await
        .expect("POST tools/call to the edge");
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

async fn tool_calls(admin: &AdminClient, count: usize) -> Vec<Value> {
    eventually(WAIT, &format!("{count} tool_call events"), || async {
        let (status, body) =
            admin.request(Method::GET, "/v1/audit-events?kind=tool_call&limit=1000", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let events = body["audit_events"].as_array().unwrap().clone();
        (events.len() >= count).then_some(events)
    })
    .await
}

#[tokio::test]
async fn audit_detail_opted_in_servers_record_redacted_arguments_and_results_others_nothing() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let admin = cp.admin();
    let upstream = RawUpstream::start().await;
    admin.create_workspace("platform").await;

    // Strict validation at save time, naming the field.
    for (bad, field) in [
        (json!({"arguments": "yes"}), "advanced_config.audit.arguments"),
        (json!({"arguments": true, "result": true}), "advanced_config.audit.result"),
        (json!({"results": true, "max_bytes": 1_000_000}), "advanced_config.audit.max_bytes"),
        (json!(["arguments"]), "advanced_config.audit"),
    ] {
        let (status, body) = admin
            .request(
                Method::POST,
                "/v1/servers",
                Some(json!({"slug": "bad", "name": "bad", "url": upstream.url, "auth_type": "none",
                    "advanced_config": {"audit": bad}})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }

    admin
        .create_server_json(
            json!({"slug": "opted", "name": "opted", "url": upstream.url, "auth_type": "none",
            "advanced_config": {"audit": {"arguments": true, "results": true, "max_bytes": 300}}}),
        )
        .await;
    admin
        .create_server_json(
            json!({"slug": "plain", "name": "plain", "url": upstream.url, "auth_type": "none"}),
        )
        .await;
    admin.provision("platform", "opted", &[], &[]).await;
    admin.provision("platform", "plain", &[], &[]).await;
    let token = admin.mint_token("alice@example.com", "platform").await;
    let edge = TestEdge::start(&cp.grpc_url, &cp.node_token).await;
    edge.wait_for_version(admin.config_version().await).await;

    let secret_arguments = json!({"city": "Lisbon", "api_key": "k-12345", "auth": format!("Bearer {JWT}"),
        "note": format!("my key is {VENDOR_KEY}"), "nested": {"password": PASSWORD, "days": 3}});
    let long_text = "lorem ipsum ".repeat(100);
    let plain_marker = "plain-server-argument-4711";

    let seen = call_tool(&edge, "opted", &token.token, "json_tool", 1, secret_arguments.clone()).await;
    assert_eq!(seen, json_answer(&json!(1)), "the client gets the upstream's bytes unchanged");
    let seen = call_tool(&edge, "opted", &token.token, "sse_tool", 2, json!({"text": long_text})).await;
    assert_eq!(seen, sse_answer(&json!(2)), "the stream passes unchanged");
    call_tool(&edge, "plain", &token.token, "json_tool", 3, json!({"text": plain_marker})).await;
    call_tool(&edge, "plain", &token.token, "sse_tool", 4, json!({"text": plain_marker})).await;

    // The upstream got the arguments as sent: redaction is only for the record.
    let received: Vec<Value> =
        upstream.bodies.lock().unwrap().iter().map(|b| serde_json::from_slice(b).unwrap()).collect();
    assert_eq!(received[0]["params"]["arguments"], secret_arguments);

    let events = tool_calls(&admin, 4).await;
    assert_eq!(events.len(), 4, "{events:#?}");
    let by_tool = |server: &str, tool: &str| {
        events.iter().find(|e| e["server"] == server && e["tool"] == tool).cloned().expect("the call's event")
    };

    // JSON answer: arguments with secrets redacted, ordinary values kept; the result redacted.
    let json_call = by_tool("opted", "json_tool");
    let arguments = &json_call["detail"]["arguments"];
    assert_eq!(arguments["truncated"], false, "{json_call}");
    assert_eq!(
        arguments["value"],
        json!({"city": "Lisbon", "api_key": "[redacted]", "auth": "Bearer [redacted]",
            "note": "my key is [redacted]", "nested": {"password": "[redacted]", "days": 3}}),
        "{json_call}"
    );
    let result = &json_call["detail"]["result"];
    assert_eq!(result["truncated"], false, "{json_call}");
    assert_eq!(
        result["value"]["content"][0]["text"], "weather: sunny; upstream key [redacted]",
        "{json_call}"
    );
    assert_eq!(result["value"]["isError"], false);

    // SSE answer: the long argument cut at max_bytes; the result found by its id among other events.
    let sse_call = by_tool("opted", "sse_tool");
    let arguments = &sse_call["detail"]["arguments"];
    assert_eq!(arguments["truncated"], true, "{sse_call}");
    let text = arguments["text"].as_str().unwrap();
    assert!(text.len() <= 300 && text.starts_with("{\"text\":\"lorem ipsum"), "{text}");
    let result = &sse_call["detail"]["result"];
    assert_eq!(result["truncated"], false, "{sse_call}");
    assert_eq!(result["value"]["content"][0]["text"], "streamed answer", "{sse_call}");
    assert_eq!(result["value"]["structuredContent"], json!({"rows": 3, "password": "[redacted]"}));

    // No opt-in, no record: neither the events nor any table holds what those calls carried.
    for call in [by_tool("plain", "json_tool"), by_tool("plain", "sse_tool")] {
        assert!(call.get("detail").is_none(), "{call}");
    }
    let dump = gatehouse_tests::db::dump_text(cp.db()).await;
    for never in [plain_marker, VENDOR_KEY, JWT, PASSWORD, RESULT_SECRET, "k-12345", token.token.as_str()] {
        assert!(!dump.contains(never), "{never} is stored nowhere");
    }
    // The export carries the same detail.
    let (status, _, export) =
        admin.request_raw(Method::GET, "/v1/audit-events/export?format=jsonl&kind=tool_call", None, "").await;
    assert_eq!(status, StatusCode::OK);
    let exported: Vec<Value> = export.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let exported_json = exported.iter().find(|e| e["id"] == json_call["id"]).unwrap();
    assert_eq!(exported_json["detail"], json_call["detail"]);
}

/// Ids of what the walk created, by the kind of object.
type Ids = std::collections::BTreeMap<&'static str, String>;

/// A step of the walk, made from the ids of what the steps before it created.
type MakeStep = Box<dyn Fn(&Ids) -> Step>;

/// One mutating admin call of the walk.
struct Step {
    method: Method,
    template: &'static str,
    path: String,
    body: Option<Value>,
}

fn step(method: Method, template: &'static str, path: impl Into<String>, body: Option<Value>) -> Step {
    Step { method, template, path: path.into(), body }
}

/// Every mutating admin operation of the OpenAPI document (the org-prefixed copies
/// run the same handlers and are left out).
/// Admin operations that use POST without changing what the org has configured: "Try a
/// tool" calls a tool through an edge; the short-lived token it mints and revokes for
/// that is recorded as its own mint and revocation, and the call as the edge's event.
const NOT_CHANGES: &[(&str, &str)] = &[("POST", "/v1/servers/{slug}/tools/{tool}/call")];

async fn mutating_operations(cp: &TestControlPlane) -> BTreeSet<(String, String)> {
    let doc: Value =
        reqwest::get(format!("{}/v1/openapi.json", cp.api_url)).await.unwrap().json().await.unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if path.starts_with("/v1/orgs/{org}/") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let method = method.to_uppercase();
            if op.get("x-gatehouse-access").is_none()
                || method == "GET"
                || NOT_CHANGES.contains(&(method.as_str(), path.as_str()))
            {
                continue;
            }
            out.insert((method, path.clone()));
        }
    }
    out
}

/// The admin rows of the org `prefix` names (`/v1` = the caller's, `/v1/orgs/{org}`), newest first.
async fn admin_rows(client: &AdminClient, prefix: &str) -> Vec<Value> {
    let (status, body) =
        client.request(Method::GET, &format!("{prefix}/audit-events?kind=admin&limit=1000"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["audit_events"].as_array().unwrap().clone()
}

/// Every secret-looking string of an API answer (token texts, keys, client secrets).
fn secrets_in(answer: &Value, into: &mut Vec<String>) {
    for key in ["token", "key", "client_secret"] {
        if let Some(text) = answer[key].as_str() {
            into.push(text.to_owned());
        }
    }
}

#[tokio::test]
async fn audit_detail_every_mutating_route_writes_one_row_with_before_or_after_and_no_secret() {
    for db in TestDb::all().await {
        let backend = db.backend();
        let cp = TestControlPlane::start(db).await;
        let platform = cp.admin();
        const HEADER_SECRET: &str = "walk-header-secret-8c1d";
        const SSO_SECRET: &str = "walk-sso-secret-2b7e";
        const WEBHOOK_SECRET: &str = "walk-webhook-secret-5f3a9e";
        let mut secrets: Vec<String> = vec![
            HEADER_SECRET.into(),
            SSO_SECRET.into(),
            "walk-sso-secret-rotated".into(),
            WEBHOOK_SECRET.into(),
        ];

        // An org of its own, run by its owner key; its rows are read by the platform admin.
        let (status, org) =
            platform.request(Method::POST, "/v1/orgs", Some(json!({"slug": "walk", "name": "Walk"}))).await;
        assert_eq!(status, StatusCode::CREATED, "{org}");
        let (status, key) = platform
            .request(Method::POST, "/v1/orgs/walk/api-keys", Some(json!({"name": "owner", "role": "owner"})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        secrets_in(&key, &mut secrets);
        let owner = platform.with_token(key["key"].as_str());
        let owner_actor = format!("api_key:{}", key["id"].as_str().unwrap());
        let org_id = org["id"].as_str().unwrap().to_owned();

        // What no admin route creates: a signed-in user and an upstream connection.
        let store = cp.store().await;
        let user = store
            .record_login(UserLogin {
                org_id: org_id.clone(),
                issuer: "https://idp.example.com".into(),
                subject: "dana".into(),
                email: "dana@example.com".into(),
                name: "Dana".into(),
                role: "member".into(),
                workspace_slugs: vec![],
            })
            .await
            .unwrap();

        let mut covered = BTreeSet::new();
        let mut ids = Ids::new();
        // Org routes, in an order where each finds what it acts on.
        let org_steps: Vec<MakeStep> = vec![
            Box::new(|_: &Ids| {
                step(
                    Method::POST,
                    "/v1/workspaces",
                    "/v1/workspaces",
                    Some(json!({"slug": "eng", "name": "Eng"})),
                )
            }),
            Box::new(|_: &Ids| {
                step(
                    Method::POST,
                    "/v1/servers",
                    "/v1/servers",
                    Some(json!({"slug": "github", "name": "GitHub",
                "url": "https://github.example.com/mcp", "auth_type": "headers",
                "headers": {"Authorization": format!("Bearer {HEADER_SECRET}")},
                "advanced_config": {"audit": {"arguments": true}}})),
                )
            }),
            Box::new(|_: &Ids| {
                step(
                    Method::POST,
                    "/v1/servers",
                    "/v1/servers",
                    Some(json!({"slug": "linear", "name": "Linear",
                "url": "https://linear.example.com/mcp", "auth_type": "oauth2"})),
                )
            }),
            Box::new(|_: &Ids| {
                step(
                    Method::POST,
                    "/v1/connections",
                    "/v1/connections",
                    Some(json!({"server": "linear", "user": "dana"})),
                )
            }),
            Box::new(|_: &Ids| {
                step(
                    Method::PATCH,
                    "/v1/servers/{slug}",
                    "/v1/servers/github",
                    Some(json!({"name": "GitHub 2"})),
                )
            }),
            Box::new(|_: &Ids| {
                step(
                    Method::PUT,
                    "/v1/workspaces/{ws}/servers/{slug}",
                    "/v1/workspaces/eng/servers/github",
                    Some(json!({"tools": {"allow": ["*"], "deny": ["delete_*"]}})),
                )
            }),
            Box::new(|_: &Ids| {
                step(
                    Method::POST,
                    "/v1/auth/tokens",
                    "/v1/auth/tokens",
                    Some(json!({"user": "bob@example.com", "team": "eng"})),
                )
            }),
            Box::new(|ids: &Ids| {
                step(
                    Method::POST,
                    "/v1/auth/tokens/{id}/rotate",
                    format!("/v1/auth/tokens/{}/rotate", ids["token"]),
                    None,
                )
            }),
            Box::new(|ids: &Ids| {
                step(
                    Method::DELETE,
                    "/v1/auth/tokens/{id}",
                    format!("/v1/auth/tokens/{}", ids["token"]),
                    None,
                )
            }),
            Box::new(|_: &Ids| {
                step(
                    Method::POST,
                    "/v1/auth/certificate-identities",
                    "/v1/auth/certificate-identities",
                    Some(
                        json!({"kind": "san_dns", "value": "agent.walk.example.com", "user": "ci", "team": "eng",
                    "issuer_ca_sha256": NO_TEST_CA_SHA256}),
                    ),
                )
            }),
            Box::new(|ids: &Ids| {
                step(
                    Method::DELETE,
                    "/v1/auth/certificate-identities/{id}",
                    format!("/v1/auth/certificate-identities/{}", ids["certificate-identity"]),
                    None,
                )
            }),
            Box::new(|_: &Ids| {
                step(
                    Method::POST,
                    "/v1/rate-limits",
                    "/v1/rate-limits",
                    Some(json!({"name": "eng budget",
                "match": {"workspace": "eng", "server": "github"}, "budget": {"calls": 100, "per": "day"}})),
                )
            }),
            Box::new(|ids: &Ids| {
                step(
                    Method::PATCH,
                    "/v1/rate-limits/{id}",
                    format!("/v1/rate-limits/{}", ids["rate-limit"]),
                    Some(json!({"budget": {"calls": 200, "per": "day"}})),
                )
            }),
            Box::new(|ids: &Ids| {
                step(
                    Method::DELETE,
                    "/v1/rate-limits/{id}",
                    format!("/v1/rate-limits/{}", ids["rate-limit"]),
                    None,
                )
            }),
            Box::new(|_: &Ids| {
                step(
                    Method::POST,
                    "/v1/oauth/clients",
                    "/v1/oauth/clients",
                    Some(json!({"name": "ci", "workspace": "eng"})),
                )
            }),
            Box::new(|ids: &Ids| {
                step(
                    Method::DELETE,
                    "/v1/oauth/clients/{id}",
                    format!("/v1/oauth/clients/{}", ids["oauth-client"]),
                    None,
                )
            }),
            Box::new(|_: &Ids| {
                step(
                    Method::POST,
                    "/v1/api-keys",
                    "/v1/api-keys",
                    Some(json!({"name": "robot", "role": "viewer"})),
                )
            }),
            Box::new(|ids: &Ids| {
                step(Method::DELETE, "/v1/api-keys/{id}", format!("/v1/api-keys/{}", ids["api-key"]), None)
            }),
            Box::new(|_: &Ids| {
                step(
                    Method::POST,
                    "/v1/sso/providers",
                    "/v1/sso/providers",
                    Some(json!({"name": "IdP",
                "issuer": "https://idp.example.com", "client_id": "gatehouse", "client_secret": SSO_SECRET})),
                )
            }),
            Box::new(|ids: &Ids| {
                step(
                    Method::PATCH,
                    "/v1/sso/providers/{id}",
                    format!("/v1/sso/providers/{}", ids["sso-provider"]),
                    Some(json!({"name": "IdP 2", "client_secret": "walk-sso-secret-rotated"})),
                )
            }),
            Box::new(|ids: &Ids| {
                step(
                    Method::DELETE,
                    "/v1/sso/providers/{id}",
                    format!("/v1/sso/providers/{}", ids["sso-provider"]),
                    None,
                )
            }),
            Box::new(|_: &Ids| {
                step(
                    Method::PATCH,
                    "/v1/org",
                    "/v1/org",
                    Some(json!({"jwt_validation": {"jwksUri": "https://idp.example.com/jwks",
                "workspace": "eng", "issuer": "https://idp.example.com", "audience": "gatehouse"}})),
                )
            }),
            Box::new(|_: &Ids| {
                step(
                    Method::PUT,
                    "/v1/audit-settings",
                    "/v1/audit-settings",
                    Some(json!({"audit_retention_days": 9,
                "auth_failure_burst_threshold": 5, "auth_failure_burst_window_secs": 60})),
                )
            }),
            Box::new(|_: &Ids| {
                step(
                    Method::PUT,
                    "/v1/audit-exports",
                    "/v1/audit-exports",
                    Some(json!({"webhook": {"url": "https://siem.example.com/gatehouse",
                "secret": WEBHOOK_SECRET, "enabled": false}, "otlp": null})),
                )
            }),
            Box::new(|ids: &Ids| {
                step(
                    Method::POST,
                    "/v1/users/{id}/deactivate",
                    format!("/v1/users/{}/deactivate", ids["user"]),
                    None,
                )
            }),
            Box::new(|ids: &Ids| {
                step(
                    Method::POST,
                    "/v1/users/{id}/reactivate",
                    format!("/v1/users/{}/reactivate", ids["user"]),
                    None,
                )
            }),
            Box::new(|ids: &Ids| {
                step(
                    Method::DELETE,
                    "/v1/connections/{id}",
                    format!("/v1/connections/{}", ids["connection"]),
                    None,
                )
            }),
            Box::new(|_: &Ids| {
                step(
                    Method::DELETE,
                    "/v1/workspaces/{ws}/servers/{slug}",
                    "/v1/workspaces/eng/servers/github",
                    None,
                )
            }),
            Box::new(|_: &Ids| step(Method::DELETE, "/v1/servers/{slug}", "/v1/servers/github", None)),
            Box::new(|_: &Ids| step(Method::DELETE, "/v1/workspaces/{ws}", "/v1/workspaces/eng", None)),
        ];
        ids.insert("user", user.id.clone());
        for make in &org_steps {
            if ids.contains_key("server") && !ids.contains_key("connection") {
                let grant = store
                    .store_grant(
                        &org_id,
                        "bob@example.com",
                        &ids["server"],
                        gatehouse_control_plane::store::grants::NewTokens {
                            tokens: gatehouse_control_plane::store::grants::GrantTokens {
                                access_token: secrecy::SecretString::from(
                                    "walk-upstream-access-5e3a".to_owned(),
                                ),
                                refresh_token: None,
                            },
                            access_expires_at: 0,
                            scopes: vec![],
                        },
                        None,
                    )
                    .await
                    .unwrap();
                ids.insert("connection", grant.id);
                secrets.push("walk-upstream-access-5e3a".into());
            }
            let s = make(&ids);
            let before = admin_rows(&platform, "/v1/orgs/walk").await.len();
            let (status, answer) = owner.request(s.method.clone(), &s.path, s.body.clone()).await;
            let what = format!("{backend}: {} {}", s.method, s.path);
            assert!(status.is_success(), "{what}: {status} {answer}");
            secrets_in(&answer, &mut secrets);
            remember_ids(s.template, &answer, &mut ids);
            let rows = admin_rows(&platform, "/v1/orgs/walk").await;
            assert_eq!(
                rows.len(),
                before + 1,
                "{what} wrote exactly one row: {:#?}",
                &rows[..rows.len().min(3)]
            );
            check_row(&rows[0], &s, &owner_actor, &secrets, &what);
            covered.insert((s.method.to_string(), s.template.to_owned()));
        }

        // Platform routes, and the deletion of an org by its owner: rows in the default org.
        let platform_steps: Vec<(Step, bool)> = vec![
            (step(Method::POST, "/v1/orgs", "/v1/orgs", Some(json!({"slug": "gone", "name": "Gone"}))), true),
            (
                step(Method::PATCH, "/v1/orgs/{org}", "/v1/orgs/gone", Some(json!({"name": "Gone soon"}))),
                true,
            ),
            (step(Method::DELETE, "/v1/orgs/{org}", "/v1/orgs/gone", None), true),
            (
                step(
                    Method::POST,
                    "/v1/edges/tokens",
                    "/v1/edges/tokens",
                    Some(json!({"name": "edge-walk"})),
                ),
                true,
            ),
            (
                step(Method::POST, "/v1/oauth/signing-keys/rotate", "/v1/oauth/signing-keys/rotate", None),
                true,
            ),
            (
                step(
                    Method::POST,
                    "/v1/identity/signing-keys/rotate",
                    "/v1/identity/signing-keys/rotate",
                    None,
                ),
                true,
            ),
            (step(Method::DELETE, "/v1/org", "/v1/org", None), false),
        ];
        let mut edge_token = None;
        for (s, by_platform) in &platform_steps {
            let before = admin_rows(&platform, "/v1").await.len();
            let caller = if *by_platform { &platform } else { &owner };
            let (status, answer) = caller.request(s.method.clone(), &s.path, s.body.clone()).await;
            let what = format!("{backend}: {} {}", s.method, s.path);
            assert!(status.is_success(), "{what}: {status} {answer}");
            secrets_in(&answer, &mut secrets);
            if s.template == "/v1/edges/tokens" {
                edge_token = answer["id"].as_str().map(ToOwned::to_owned);
            }
            let rows = admin_rows(&platform, "/v1").await;
            assert_eq!(
                rows.len(),
                before + 1,
                "{what} wrote exactly one row: {:#?}",
                &rows[..rows.len().min(3)]
            );
            let actor = if *by_platform { "platform".to_owned() } else { owner_actor.clone() };
            check_row(&rows[0], s, &actor, &secrets, &what);
            covered.insert((s.method.to_string(), s.template.to_owned()));
        }
        let s = step(
            Method::DELETE,
            "/v1/edges/tokens/{id}",
            format!("/v1/edges/tokens/{}", edge_token.unwrap()),
            None,
        );
        let before = admin_rows(&platform, "/v1").await.len();
        let (status, answer) = platform.request(s.method.clone(), &s.path, None).await;
        assert!(status.is_success(), "{backend}: {status} {answer}");
        let rows = admin_rows(&platform, "/v1").await;
        assert_eq!(rows.len(), before + 1, "{backend}: edge token revocation wrote one row");
        check_row(&rows[0], &s, "platform", &secrets, backend);
        covered.insert((s.method.to_string(), s.template.to_owned()));

        // A refused mutation writes nothing.
        let before = admin_rows(&platform, "/v1").await.len();
        let (status, _) =
            platform.request(Method::DELETE, "/v1/edges/tokens/0190a1b2-no-such-id", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(admin_rows(&platform, "/v1").await.len(), before, "{backend}");

        // Every mutating route of the document was walked: a new one must join the walk.
        let documented = mutating_operations(&cp).await;
        let missing: Vec<_> = documented.difference(&covered).collect();
        assert!(missing.is_empty(), "{backend}: mutating routes the walk does not cover: {missing:?}");
    }
}

/// Ids of what a step created, for the steps after it.
fn remember_ids(template: &str, answer: &Value, ids: &mut Ids) {
    let kind = match template {
        "/v1/servers" => "server",
        "/v1/auth/tokens" => "token",
        "/v1/auth/certificate-identities" => "certificate-identity",
        "/v1/rate-limits" => "rate-limit",
        "/v1/api-keys" => "api-key",
        "/v1/sso/providers" => "sso-provider",
        "/v1/oauth/clients" => {
            ids.insert("oauth-client", answer["client_id"].as_str().unwrap().to_owned());
            return;
        }
        _ => return,
    };
    ids.insert(kind, answer["id"].as_str().unwrap().to_owned());
}

/// The row of `s`: its actor, action and target, and a detail with a before or an after free of secrets.
fn check_row(row: &Value, s: &Step, actor: &str, secrets: &[String], what: &str) {
    assert_eq!(row["actor"], actor, "{what}: {row}");
    assert_eq!(row["action"], format!("{} {}", s.method, s.template), "{what}: {row}");
    assert_eq!(row["target"], s.path, "{what}: {row}");
    assert_eq!(row["decision"], "allow", "{what}: {row}");
    assert!(row["request_id"].as_str().is_some_and(|r| !r.is_empty()), "{what}: {row}");
    let detail = &row["detail"];
    assert!(
        detail["before"].is_object() || detail["after"].is_object(),
        "{what}: the row says what changed: {row}"
    );
    let text = detail.to_string();
    for secret in secrets {
        assert!(!text.contains(secret.as_str()), "{what}: the row shows a secret: {row}");
    }
}
