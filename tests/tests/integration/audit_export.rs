//! Audit export: real receivers on port 0 check that the webhook's batches are
//! signed with the org's secret, that every event arrives once (also across a
//! control-plane restart, which resumes from the stored cursor), that failing
//! batches are retried with backoff and a refused one pauses the destination,
//! that an OTLP collector decodes the records with their attributes, that a
//! failed-authentication burst reaches the webhook at once, that delivery URLs
//! follow the egress rules, and that the webhook secret and OTLP header values
//! never appear in an answer, a log, an audit row or the database.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::post;
use axum::Router;
use gatehouse_control_plane::ControlPlaneConfig;
use gatehouse_tests::control_plane::{AdminClient, TestControlPlane};
use gatehouse_tests::db::TestDb;
use gatehouse_tests::eventually;
use gatehouse_tests::metrics::{scrape, value};
use hmac::{Hmac, Mac};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as OtlpValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Sha256;

const SECRET: &str = "whsec-audit-export-7c1f9e2d4b";
const OTLP_KEY: &str = "otlp-api-key-3a8b5c7d9e";
const RETRY_MIN: Duration = Duration::from_millis(150);

/// One request a receiver got.
#[derive(Clone, Debug)]
struct Hit {
    at: Instant,
    headers: HeaderMap,
    body: Bytes,
    answered: u16,
}

/// An HTTP receiver on port 0 answering each request with the next scripted status (then 200).
#[derive(Clone)]
struct Receiver {
    url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

#[derive(Clone)]
struct ReceiverState {
    hits: Arc<Mutex<Vec<Hit>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    always: u16,
}

async fn receive(State(state): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> AxumStatus {
    let answered = state.script.lock().unwrap().pop_front().unwrap_or(state.always);
    state.hits.lock().unwrap().push(Hit { at: Instant::now(), headers, body, answered });
    AxumStatus::from_u16(answered).unwrap()
}

impl Receiver {
    /// Answers `script` in turn, then `always`.
    async fn start(script: &[u16], always: u16) -> Self {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let state = ReceiverState {
            hits: hits.clone(),
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            always,
        };
        let app =
            Router::new().route("/hook", post(receive)).route("/v1/logs", post(receive)).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        Self { url: format!("http://{addr}"), hits }
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// The events of every batch answered 2xx, in order.
    fn accepted_events(&self) -> Vec<Value> {
        self.hits()
            .iter()
            .filter(|h| (200..300).contains(&h.answered))
            .flat_map(|h| {
                serde_json::from_slice::<Value>(&h.body).unwrap()["events"].as_array().unwrap().clone()
            })
            .collect()
    }
}

/// Checks `Gatehouse-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` as a receiver would.
fn verify_signature(hit: &Hit, secret: &str) {
    let header = hit.headers.get("gatehouse-signature").expect("a signature header").to_str().unwrap();
    let (t, v1) = header.split_once(",v1=").expect("t=…,v1=…");
    let t: i64 = t.strip_prefix("t=").unwrap().parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - t).abs() < 60, "a fresh timestamp: {t}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&hit.body);
    mac.verify_slice(&hex::decode(v1).unwrap())
        .expect("the signature matches the body and the shared secret");
}

fn fast(config: &mut ControlPlaneConfig) {
    config.audit_export.interval = Duration::from_millis(200);
    config.audit_export.retry_min = RETRY_MIN;
    config.audit_export.retry_max = Duration::from_secs(2);
    config.audit_export.request_timeout = Duration::from_secs(3);
}

async fn put_exports(admin: &AdminClient, body: Value) -> Value {
    let (status, answer) = admin.request(Method::PUT, "/v1/audit-exports", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

async fn webhook_to(admin: &AdminClient, receiver: &Receiver, secret: Option<&str>) -> Value {
    let mut webhook = json!({"url": format!("{}/hook", receiver.url), "enabled": true});
    if let Some(secret) = secret {
        webhook["secret"] = json!(secret);
    }
    put_exports(admin, json!({"webhook": webhook})).await
}

async fn create_servers(admin: &AdminClient, slugs: &[&str]) {
    for slug in slugs {
        admin.create_server(slug, "https://example.com/mcp", &[]).await;
    }
}

/// The ids of the org's admin events, as the audit API lists them.
async fn listed_admin_ids(admin: &AdminClient) -> BTreeSet<String> {
    let (status, body) = admin.request(Method::GET, "/v1/audit-events?kind=admin&limit=1000", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["audit_events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect()
}

fn ids(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect()
}

fn targets(events: &[Value]) -> BTreeSet<String> {
    events.iter().filter_map(|e| e["target"].as_str()).map(str::to_owned).collect()
}

#[tokio::test]
async fn audit_export_webhook_gets_signed_batches_each_event_once_and_resumes_after_a_restart() {
    for db in TestDb::all().await {
        let backend = db.backend();
        let receiver = Receiver::start(&[], 200).await;
        let cp = TestControlPlane::start_with(db, fast).await;
        let admin = cp.admin();
        let answer = webhook_to(&admin, &receiver, Some(SECRET)).await;
        assert_eq!(answer["webhook"]["secret"], "set", "{backend}: {answer}");
        create_servers(&admin, &["one", "two", "three"]).await;
        let expected = listed_admin_ids(&admin).await;
        eventually(Duration::from_secs(10), "the first events at the webhook", || async {
            let got: BTreeSet<String> = ids(&receiver.accepted_events()).into_iter().collect();
            (got == expected).then_some(())
        })
        .await;
        for hit in receiver.hits() {
            verify_signature(&hit, SECRET);
            assert_eq!(hit.headers["content-type"], "application/json");
            assert!(hit.headers.get("gatehouse-delivery").is_some_and(|d| !d.is_empty()));
            let batch: Value = serde_json::from_slice(&hit.body).unwrap();
            assert!(batch["org_id"].as_str().is_some_and(|o| !o.is_empty()), "{batch}");
        }
        let events = receiver.accepted_events();
        assert!(targets(&events).contains("/v1/servers"), "{backend}: {events:#?}");
        assert_eq!(
            events[0]["action"], "PUT /v1/audit-exports",
            "{backend}: the change that enabled it comes first"
        );
        assert_eq!(
            events[0]["detail"]["after"]["webhook"]["secret"], "[redacted]",
            "{backend}: {}",
            events[0]
        );
        let status = eventually(Duration::from_secs(10), "an acknowledged batch in the status", || async {
            let (_, body) = admin.request(Method::GET, "/v1/audit-exports", None).await;
            let status = body["webhook"]["status"].clone();
            (status["last_success_at"].is_string() && status["backlog"] == 0).then_some(status)
        })
        .await;
        assert_eq!(status["paused"], false, "{backend}: {status}");

        // A restart resumes after the acknowledged events: nothing is sent twice.
        let sent_before = receiver.hits().len();
        let cp = cp.stop().await.start_again().await;
        let admin = cp.admin();
        create_servers(&admin, &["four", "five"]).await;
        let expected = listed_admin_ids(&admin).await;
        eventually(Duration::from_secs(10), "the events made after the restart", || async {
            let got: BTreeSet<String> = ids(&receiver.accepted_events()).into_iter().collect();
            (got == expected).then_some(())
        })
        .await;
        let all = ids(&receiver.accepted_events());
        let unique: BTreeSet<&String> = all.iter().collect();
        assert_eq!(unique.len(), all.len(), "{backend}: every event exactly once: {all:?}");
        assert!(receiver.hits().len() > sent_before, "{backend}");
        for hit in receiver.hits() {
            verify_signature(&hit, SECRET);
        }
    }
}

#[tokio::test]
async fn audit_export_a_failing_webhook_is_retried_with_backoff_and_a_refusing_one_is_paused() {
    for db in TestDb::all().await {
        let backend = db.backend();
        let flaky = Receiver::start(&[503, 503], 200).await;
        let cp = TestControlPlane::start_with(db, fast).await;
        let admin = cp.admin();
        webhook_to(&admin, &flaky, Some(SECRET)).await;
        let hits = eventually(Duration::from_secs(10), "the third attempt", || async {
            let hits = flaky.hits();
            (hits.len() >= 3).then_some(hits)
        })
        .await;
        assert_eq!(hits.iter().map(|h| h.answered).collect::<Vec<_>>()[..3], [503, 503, 200], "{backend}");
        // The first retry waits at least half of retry_min, the second at least half of twice that.
        let first = hits[1].at - hits[0].at;
        let second = hits[2].at - hits[1].at;
        assert!(first >= RETRY_MIN / 2, "{backend}: first retry after {first:?}");
        assert!(second >= RETRY_MIN, "{backend}: second retry after {second:?}");
        // The same batch every time: same events, same delivery id.
        let id = |h: &Hit| h.headers["gatehouse-delivery"].to_str().unwrap().to_owned();
        assert_eq!(id(&hits[0]), id(&hits[2]), "{backend}");
        assert_eq!(hits[0].body, hits[2].body.clone(), "{backend}: the same events");
        let metrics = scrape(&cp.metrics_url).await;
        assert_eq!(
            value(&metrics, "gatehouse_audit_export_failed_total", &[("destination", "webhook")]),
            2.0
        );
        assert!(
            value(&metrics, "gatehouse_audit_export_delivered_total", &[("destination", "webhook")]) >= 1.0
        );

        // A receiver answering 400 pauses the destination with the error recorded.
        let refusing = Receiver::start(&[], 400).await;
        webhook_to(&admin, &refusing, None).await;
        let status = eventually(Duration::from_secs(10), "the destination paused", || async {
            let (_, body) = admin.request(Method::GET, "/v1/audit-exports", None).await;
            let status = body["webhook"]["status"].clone();
            (status["paused"] == true).then_some(status)
        })
        .await;
        assert!(status["last_error"].as_str().unwrap().contains("400"), "{backend}: {status}");
        assert!(status["backlog"].as_u64().unwrap() >= 1, "{backend}: {status}");
        create_servers(&admin, &["waiting"]).await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(refusing.hits().len(), 1, "{backend}: a paused destination is not called again");

        // Saving it again resumes it, from where it stopped.
        let fixed = Receiver::start(&[], 200).await;
        webhook_to(&admin, &fixed, None).await;
        eventually(Duration::from_secs(10), "the backlog at the fixed receiver", || async {
            targets(&fixed.accepted_events()).contains("/v1/servers").then_some(())
        })
        .await;
        for hit in fixed.hits() {
            verify_signature(&hit, SECRET);
        }
    }
}

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a OtlpValue> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()).and_then(|v| v.value.as_ref())
}

fn text(value: Option<&OtlpValue>) -> Option<&str> {
    match value {
        Some(OtlpValue::StringValue(s)) => Some(s),
        _ => None,
    }
}

#[tokio::test]
async fn audit_export_an_otlp_collector_decodes_the_records_with_their_attributes() {
    for db in TestDb::all().await {
        let backend = db.backend();
        let collector = Receiver::start(&[], 200).await;
        let cp = TestControlPlane::start_with(db, fast).await;
        let admin = cp.admin();
        let answer = put_exports(
            &admin,
            json!({"otlp": {"endpoint": format!("{}/v1/logs", collector.url), "headers": {"x-api-key": OTLP_KEY}}}),
        )
        .await;
        assert_eq!(answer["otlp"]["headers"], json!({"x-api-key": "set"}), "{backend}: {answer}");
        create_servers(&admin, &["github"]).await;
        let (status, _) =
            admin.with_token(Some("gak_not-a-real-key-0000")).request(Method::GET, "/v1/servers", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (_, org) = admin.request(Method::GET, "/v1/orgs/default", None).await;
        let org_id = org["id"].as_str().unwrap_or_else(|| panic!("{org}")).to_owned();

        let records = eventually(Duration::from_secs(10), "the records at the collector", || async {
            let mut records = Vec::new();
            for hit in collector.hits() {
                assert_eq!(hit.headers["content-type"], "application/x-protobuf");
                assert_eq!(hit.headers["x-api-key"], OTLP_KEY, "the org's header is sent");
                let request =
                    ExportLogsServiceRequest::decode(hit.body.as_ref()).expect("an OTLP logs request");
                for resource_logs in request.resource_logs {
                    let resource = resource_logs.resource.unwrap();
                    assert_eq!(text(attr(&resource.attributes, "gatehouse.org_id")), Some(org_id.as_str()));
                    for scope in resource_logs.scope_logs {
                        assert_eq!(scope.scope.unwrap().name, "gatehouse.audit");
                        records.extend(scope.log_records);
                    }
                }
            }
            let kinds: BTreeSet<String> =
                records.iter().filter_map(|r| text(attr(&r.attributes, "kind")).map(str::to_owned)).collect();
            (kinds.contains("admin") && kinds.contains("auth_failure")).then_some(records)
        })
        .await;
        let created = records
            .iter()
            .find(|r| text(attr(&r.attributes, "action")) == Some("POST /v1/servers"))
            .unwrap_or_else(|| panic!("{backend}: the server's creation: {records:#?}"));
        assert_eq!(created.severity_text, "INFO");
        assert_eq!(created.severity_number, 9);
        assert_eq!(created.event_name, "gatehouse.audit.admin");
        assert_eq!(text(attr(&created.attributes, "actor")), Some("platform"));
        assert!(text(attr(&created.attributes, "id")).is_some_and(|id| !id.is_empty()));
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap() as u64;
        assert!(
            created.time_unix_nano > now - 120_000_000_000 && created.time_unix_nano <= now,
            "{created:?}"
        );
        let refused =
            records.iter().find(|r| text(attr(&r.attributes, "kind")) == Some("auth_failure")).unwrap();
        assert_eq!((refused.severity_text.as_str(), refused.severity_number), ("WARN", 13), "{backend}");
        assert_eq!(text(attr(&refused.attributes, "reason")), Some("invalid_token"));
        let metrics = scrape(&cp.metrics_url).await;
        assert!(value(&metrics, "gatehouse_audit_export_delivered_total", &[("destination", "otlp")]) >= 2.0);
    }
}

#[tokio::test]
async fn audit_export_a_failed_authentication_burst_reaches_the_webhook_without_waiting_for_the_tick() {
    let receiver = Receiver::start(&[], 200).await;
    // An hour between rounds: only the burst's wake-up can deliver it in time.
    let cp = TestControlPlane::start_with(TestDb::sqlite().await, |c| {
        fast(c);
        c.audit_export.interval = Duration::from_secs(3600);
    })
    .await;
    let admin = cp.admin();
    put_exports(
        &admin,
        json!({"webhook": {"url": format!("{}/hook", receiver.url), "secret": SECRET, "kinds": ["auth_failure_burst"]}}),
    )
    .await;
    let (status, _) = admin
        .request(
            Method::PUT,
            "/v1/audit-settings",
            Some(json!({"audit_retention_days": 30, "auth_failure_burst_threshold": 3,
                "auth_failure_burst_window_secs": 600})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let intruder = admin.with_token(Some("gak_this-is-not-a-real-key-9f8e7d"));
    for _ in 0..3 {
        let (status, _) = intruder.request(Method::GET, "/v1/servers", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let events = eventually(Duration::from_secs(5), "the burst at the webhook", || async {
        let events = receiver.accepted_events();
        (!events.is_empty()).then_some(events)
    })
    .await;
    assert_eq!(events.len(), 1, "only the kinds asked for: {events:#?}");
    assert_eq!(events[0]["kind"], "auth_failure_burst");
    assert_eq!(events[0]["client_address"], "127.0.0.1");
    verify_signature(&receiver.hits()[0], SECRET);
    let metrics = scrape(&cp.metrics_url).await;
    assert_eq!(value(&metrics, "gatehouse_auth_failure_bursts_total", &[("source", "admin")]), 1.0);
}

#[tokio::test]
async fn audit_export_secrets_never_appear_in_answers_logs_audit_rows_or_the_database() {
    let logs = gatehouse_tests::logs::capture().expect("log capture");
    for db in TestDb::all().await {
        let backend = db.backend();
        let receiver = Receiver::start(&[], 200).await;
        let cp = TestControlPlane::start_with(db, fast).await;
        let admin = cp.admin();
        let mut answers = Vec::new();
        answers.push(
            put_exports(
                &admin,
                json!({
                    "webhook": {"url": format!("{}/hook", receiver.url), "secret": SECRET},
                    "otlp": {"endpoint": format!("{}/v1/logs", receiver.url), "headers": {"authorization": OTLP_KEY}},
                }),
            )
            .await,
        );
        // Saved again without the secrets: they are kept.
        answers.push(
            put_exports(
                &admin,
                json!({
                    "webhook": {"url": format!("{}/hook", receiver.url), "enabled": true},
                    "otlp": {"endpoint": format!("{}/v1/logs", receiver.url)},
                }),
            )
            .await,
        );
        let (_, got) = admin.request(Method::GET, "/v1/audit-exports", None).await;
        assert_eq!(got["webhook"]["secret"], "set", "{backend}: {got}");
        assert_eq!(got["otlp"]["headers"]["authorization"], "set", "{backend}: {got}");
        answers.push(got);
        let (_, rows) = admin.request(Method::GET, "/v1/audit-events?limit=1000", None).await;
        answers.push(rows);
        eventually(Duration::from_secs(10), "a signed batch with the kept secret", || async {
            receiver.hits().iter().any(|h| h.headers.contains_key("gatehouse-signature")).then_some(())
        })
        .await;
        for hit in receiver.hits().iter().filter(|h| h.headers.contains_key("gatehouse-signature")) {
            verify_signature(hit, SECRET);
            assert!(!String::from_utf8_lossy(&hit.body).contains(SECRET), "{backend}");
        }
        let database = gatehouse_tests::db::dump_text(cp.db()).await;
        for secret in [SECRET, OTLP_KEY] {
            for answer in &answers {
                assert!(
                    !answer.to_string().contains(secret),
                    "{backend}: an answer holds a secret: {answer}"
                );
            }
            assert!(!database.contains(secret), "{backend}: the database holds a secret in plaintext");
            assert!(!logs.text().contains(secret), "{backend}: a log line holds a secret");
        }
    }
}

#[tokio::test]
async fn audit_export_settings_are_validated_with_the_field_named() {
    // Loopback not allowed here, as in production.
    let cp =
        TestControlPlane::start_with(TestDb::sqlite().await, |c| c.allow_loopback_upstreams = false).await;
    let admin = cp.admin();
    let cases = [
        (json!({"webhook": {"url": "http://127.0.0.1:9/hook", "secret": SECRET}}), "webhook.url"),
        (json!({"webhook": {"url": "http://169.254.169.254/latest", "secret": SECRET}}), "webhook.url"),
        (json!({"webhook": {"url": "https://10.0.0.8/hook", "secret": SECRET}}), "webhook.url"),
        (json!({"otlp": {"endpoint": "http://192.168.1.1:4318/v1/logs"}}), "otlp.endpoint"),
        (json!({"webhook": {"url": "ftp://siem.example.com/hook", "secret": SECRET}}), "webhook.url"),
        (json!({"webhook": {"url": "https://siem.example.com/hook"}}), "webhook.secret"),
        (json!({"webhook": {"url": "https://siem.example.com/hook", "secret": "short"}}), "webhook.secret"),
        (
            json!({"webhook": {"url": "https://siem.example.com/hook", "secret": SECRET, "kinds": ["nope"]}}),
            "webhook.kinds",
        ),
        (
            json!({"webhook": {"url": "https://siem.example.com/hook", "secret": SECRET, "kinds": []}}),
            "webhook.kinds",
        ),
        (
            json!({"otlp": {"endpoint": "https://otel.example.com/v1/logs", "headers": {"host": "x"}}}),
            "otlp.headers.host",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = admin.request(Method::PUT, "/v1/audit-exports", Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
        assert!(!answer.to_string().contains(SECRET), "{answer}");
    }
    let (_, got) = admin.request(Method::GET, "/v1/audit-exports", None).await;
    assert_eq!(got, json!({"webhook": null, "otlp": null}), "nothing half-written");
    // A public name is accepted (it is checked again each time it resolves).
    let answer = put_exports(
        &admin,
        json!({"webhook": {"url": "https://siem.example.com/hook", "secret": SECRET, "kinds": ["admin", "admin"], "enabled": false}}),
    )
    .await;
    assert_eq!(answer["webhook"]["kinds"], json!(["admin"]), "{answer}");
    assert_eq!(answer["webhook"]["enabled"], false);
    // Removing it.
    let answer = put_exports(&admin, json!({})).await;
    assert_eq!(answer, json!({"webhook": null, "otlp": null}));
}
