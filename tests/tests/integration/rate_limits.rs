//! Rate limits and budgets end to end: defined through `/v1/rate-limits`, pushed to
//! real edges, decided in a real Redis shared by all of them (or by each edge alone
//! while its Redis is down), refused before the upstream with `rate_limited`.
//!
//! Every test uses its own Redis key prefix, so tests sharing the system Redis
//! (`GATEHOUSE_TEST_REDIS_URL`) never count each other's requests.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gatehouse_tests::control_plane::{AdminClient, TestControlPlane};
use gatehouse_tests::db::TestDb;
use gatehouse_tests::edge::{EdgeCache, TestEdge};
use gatehouse_tests::eventually;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};

/// The JSON-RPC error code of a refusal.
const RATE_LIMITED: i64 = -32029;

fn key_prefix() -> String {
    format!("gatehouse-test:{}:", uuid::Uuid::new_v4().simple())
}

/// A control plane whose usage route reads `redis` under `prefix` (when given).
async fn control_plane(redis: Option<(&str, &str)>) -> TestControlPlane {
    let redis = redis.map(|(url, prefix)| (url.to_owned(), prefix.to_owned()));
    TestControlPlane::start_with(TestDb::sqlite().await, move |c| {
        if let Some((url, prefix)) = &redis {
            c.redis_url = Some(SecretString::from(url.clone()));
            c.redis_key_prefix = prefix.clone();
        }
    })
    .await
}

async fn edge(cp: &TestControlPlane, redis_url: &str, prefix: &str) -> TestEdge {
    let env = [("GATEHOUSE_REDIS_URL", redis_url), ("GATEHOUSE_REDIS_KEY_PREFIX", prefix)];
    let edge = TestEdge::start_with_env(&cp.grpc_url, &cp.node_token, EdgeCache::temporary(), &env).await;
    edge.wait_ready().await;
    edge
}

async fn sync(cp: &TestControlPlane, edges: &[&TestEdge]) {
    let version = cp.admin().config_version().await;
    for edge in edges {
        edge.wait_for_version(version).await;
    }
}

async fn create_limit(admin: &AdminClient, body: Value) -> Value {
    let (status, created) = admin.request(Method::POST, "/v1/rate-limits", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

/// What the edge answered: status, headers and the JSON-RPC message (from JSON or SSE).
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn refused(&self) -> bool {
        self.body["error"]["data"]["reason"] == "rate_limited"
    }

    fn succeeded(&self) -> bool {
        self.status == StatusCode::OK && self.body.get("result").is_some()
    }
}

async fn post(url: &str, token: &str, message: Value) -> Answer {
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&message)
        .send()
        .await
        .expect("POST to the edge");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let json = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .find(|d| !d.is_empty())
        .unwrap_or(text.as_str());
    Answer { status, headers, body: serde_json::from_str(json).unwrap_or(Value::Null) }
}

async fn call_echo(url: &str, token: &str, id: u64) -> Answer {
    let message = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "hi"}}});
    post(url, token, message).await
}

async fn list_tools(url: &str, token: &str) -> Answer {
    post(url, token, json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})).await
}

#[tokio::test]
async fn rate_limits_three_edges_sharing_redis_let_through_exactly_the_limit() {
    let Some(redis) = gatehouse_tests::backends::redis_url() else { return };
    let prefix = key_prefix();
    let cp = control_plane(None).await;
    let admin = cp.admin();
    let upstream = admin.platform_with_tools().await;
    let token = admin.mint_token("dev@example.com", "platform").await.token;
    let limit = create_limit(
        &admin,
        json!({"name": "tools per minute", "match": {"server": "tools"}, "limit": {"requests": 10, "per": "minute"}}),
    )
    .await;
    let edges = [
        edge(&cp, &redis, &prefix).await,
        edge(&cp, &redis, &prefix).await,
        edge(&cp, &redis, &prefix).await,
    ];
    sync(&cp, &[&edges[0], &edges[1], &edges[2]]).await;

    // 60 concurrent calls spread over the three edges.
    let started = Instant::now();
    let calls = (0..60u64).map(|i| {
        let url = edges[(i % 3) as usize].mcp_url("tools");
        let token = token.clone();
        async move { call_echo(&url, &token, i).await }
    });
    let answers = futures::future::join_all(calls).await;
    let elapsed = started.elapsed();
    let allowed = answers.iter().filter(|a| a.succeeded()).count();
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.refused()).collect();
    assert_eq!(allowed + refused.len(), 60, "every call is either let through or refused");
    // GCRA: the burst (10) at once, then one every 6 s; the calls take well under that.
    let refill = (elapsed.as_secs() / 6) as usize;
    assert!((10..=10 + refill).contains(&allowed), "{allowed} let through in {elapsed:?}");
    assert_eq!(upstream.calls.count("echo"), allowed, "a refused call never reaches the upstream");

    let refusal = refused[0];
    assert_eq!(refusal.status, StatusCode::OK, "a tools/call refusal is a JSON-RPC error in a 200");
    let error = &refusal.body["error"];
    assert_eq!(error["code"], RATE_LIMITED, "{error}");
    assert!(error["data"]["retry_after_ms"].as_u64().unwrap() > 0, "{error}");
    assert_eq!(error["data"]["limit"]["id"], limit["id"]);
    assert_eq!(error["data"]["limit"]["requests"], 10);
    assert_eq!(error["data"]["limit"]["per"], "minute");
    assert!(refusal.headers.contains_key("retry-after"));

    // Any other request the limit matches is a 429 with the draft's headers.
    let listed = list_tools(&edges[1].mcp_url("tools"), &token).await;
    assert_eq!(listed.status, StatusCode::TOO_MANY_REQUESTS, "{}", listed.body);
    assert_eq!(listed.body["error"]["data"]["reason"], "rate_limited");
    let retry_after: u64 = listed.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=6).contains(&retry_after), "{retry_after}");
    let id = limit["id"].as_str().unwrap();
    assert_eq!(listed.headers["ratelimit-policy"], format!("\"{id}\";q=10;w=60").as_str());
    assert_eq!(listed.headers["ratelimit"], format!("\"{id}\";r=0;t={retry_after}").as_str());
    for edge in &edges {
        assert_eq!(readyz(edge).await["rate_limits"], "redis");
    }

    // Another org's server of the same slug is not limited by this org's limit.
    let platform = admin.clone();
    let (status, _) =
        platform.request(Method::POST, "/v1/orgs", Some(json!({"slug": "globex", "name": "Globex"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let other = McpOrg::create(&platform, "globex").await;
    sync(&cp, &[&edges[0], &edges[1], &edges[2]]).await;
    for i in 0..15 {
        let answer = call_echo(&edges[i % 3].url_of("globex", "tools"), &other.token, i as u64).await;
        assert!(answer.succeeded(), "org globex is not limited by another org's limit: {}", answer.body);
    }
}

/// A second org with server `tools` provisioned to workspace `team`, and a token.
struct McpOrg {
    token: String,
    _upstream: gatehouse_tests::upstream::McpUpstream,
}

impl McpOrg {
    async fn create(platform: &AdminClient, org: &str) -> Self {
        let upstream =
            gatehouse_tests::upstream::McpUpstream::start(gatehouse_tests::upstream::SessionMode::Stateless)
                .await;
        let at = |path: &str| format!("/v1/orgs/{org}{path}");
        let steps = [
            (Method::POST, at("/workspaces"), json!({"slug": "team", "name": "team"})),
            (
                Method::POST,
                at("/servers"),
                json!({"slug": "tools", "name": "tools", "url": upstream.url, "auth_type": "none"}),
            ),
            (Method::PUT, at("/workspaces/team/servers/tools"), json!({"tools": {"allow": [], "deny": []}})),
        ];
        for (method, path, body) in steps {
            let (status, value) = platform.request(method, &path, Some(body)).await;
            assert!(status.is_success(), "{path}: {status} {value}");
        }
        let (status, minted) = platform
            .request(
                Method::POST,
                &at("/auth/tokens"),
                Some(json!({"user": "ann@globex.example", "team": "team"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{minted}");
        Self { token: minted["token"].as_str().unwrap().to_owned(), _upstream: upstream }
    }
}

trait OrgUrl {
    fn url_of(&self, org: &str, slug: &str) -> String;
}

impl OrgUrl for TestEdge {
    fn url_of(&self, org: &str, slug: &str) -> String {
        format!("{}/mcp/{org}/{slug}", self.url)
    }
}

async fn readyz(edge: &TestEdge) -> Value {
    reqwest::get(format!("{}/readyz", edge.url)).await.unwrap().json().await.unwrap()
}

/// A `redis-server` of this test's own, on a free port; killed when dropped.
struct OwnRedis {
    child: Child,
    url: String,
}

impl OwnRedis {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        let addr = format!("127.0.0.1:{port}");
        eventually(Duration::from_secs(10), "redis-server to listen", || async {
            tokio::net::TcpStream::connect(&addr).await.ok().map(|_| ())
        })
        .await;
        Self { child, url: format!("redis://{addr}") }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test]
async fn rate_limits_with_redis_stopped_edges_limit_locally_and_say_so() {
    // Needs only the redis-server binary (it starts its own), like CI's Redis service image.
    if gatehouse_tests::backends::redis_url().is_none() {
        return;
    }
    let logs = gatehouse_tests::logs::capture();
    let mut redis = OwnRedis::start().await;
    let prefix = key_prefix();
    let cp = control_plane(None).await;
    let admin = cp.admin();
    let upstream = admin.platform_with_tools().await;
    let token = admin.mint_token("dev@example.com", "platform").await.token;
    create_limit(&admin, json!({"name": "three", "limit": {"requests": 3, "per": "hour"}})).await;
    let (a, b) = (edge(&cp, &redis.url, &prefix).await, edge(&cp, &redis.url, &prefix).await);
    sync(&cp, &[&a, &b]).await;

    // Shared: three calls in all, whichever edge takes them.
    let mut allowed = 0;
    for i in 0..6u64 {
        let edge = if i % 2 == 0 { &a } else { &b };
        allowed += usize::from(call_echo(&edge.mcp_url("tools"), &token, i).await.succeeded());
    }
    assert_eq!(allowed, 3, "with redis the edges share one limit");

    redis.kill();
    // Each edge now decides alone, with the same limit: approximate, and it says so.
    for edge in [&a, &b] {
        let answers = [
            call_echo(&edge.mcp_url("tools"), &token, 1).await,
            call_echo(&edge.mcp_url("tools"), &token, 2).await,
            call_echo(&edge.mcp_url("tools"), &token, 3).await,
            call_echo(&edge.mcp_url("tools"), &token, 4).await,
        ];
        let outcomes: Vec<bool> = answers.iter().map(Answer::succeeded).collect();
        assert_eq!(outcomes, [true, true, true, false], "each edge allows the full limit alone");
        assert!(answers[3].refused(), "{}", answers[3].body);
        let ready = readyz(edge).await;
        assert_eq!(ready["status"], "ready", "a redis outage does not make the edge unready");
        assert_eq!(ready["rate_limits"], "local (redis unavailable)", "{ready}");
        assert!(ready["rate_limit_stats"]["local_decisions"].as_u64().unwrap() >= 4, "{ready}");
    }
    assert_eq!(upstream.calls.count("echo"), 3 + 6);
    if let Some(logs) = logs {
        assert!(
            logs.text().contains("rate limits are enforced by this edge alone"),
            "the fallback is logged as a warning"
        );
    }
}

#[tokio::test]
async fn rate_limits_a_budget_of_five_calls_a_day_refuses_the_sixth_and_shows_its_usage() {
    let Some(redis) = gatehouse_tests::backends::redis_url() else { return };
    let prefix = key_prefix();
    let cp = control_plane(Some((&redis, &prefix))).await;
    let admin = cp.admin();
    let upstream = admin.platform_with_tools().await;
    let token = admin.mint_token("dev@example.com", "platform").await.token;
    let budget = create_limit(
        &admin,
        json!({"name": "echo budget", "match": {"tool": "ec*"}, "budget": {"calls": 5, "per": "day"}}),
    )
    .await;
    assert_eq!(budget["budget"], json!({"calls": 5, "per": "day"}));
    let edge = edge(&cp, &redis, &prefix).await;
    sync(&cp, &[&edge]).await;

    let url = edge.mcp_url("tools");
    for i in 0..5 {
        let answer = call_echo(&url, &token, i).await;
        assert!(answer.succeeded(), "call {i}: {}", answer.body);
    }
    let sixth = call_echo(&url, &token, 6).await;
    assert_eq!(sixth.status, StatusCode::OK);
    assert_eq!(sixth.body["id"], 6);
    let error = &sixth.body["error"];
    assert_eq!(error["code"], RATE_LIMITED, "{}", sixth.body);
    assert_eq!(error["data"]["reason"], "rate_limited");
    assert_eq!(
        error["data"]["limit"],
        json!({"id": budget["id"], "name": "echo budget", "calls": 5, "per": "day"})
    );
    let retry = error["data"]["retry_after_ms"].as_u64().unwrap();
    assert!(retry > 0 && retry <= 86_400_000 + 1000, "until the next UTC day: {retry}");
    assert_eq!(upstream.calls.count("echo"), 5);
    // A budget counts tool calls only.
    assert!(list_tools(&url, &token).await.succeeded());

    let id = budget["id"].as_str().unwrap();
    let (status, usage) = admin.request(Method::GET, &format!("/v1/rate-limits/{id}/usage"), None).await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    assert_eq!(
        (usage["used"].as_u64(), usage["limit"].as_u64(), usage["remaining"].as_u64()),
        (Some(5), Some(5), Some(0))
    );
    let start = chrono::DateTime::parse_from_rfc3339(usage["period_start"].as_str().unwrap()).unwrap();
    let end = chrono::DateTime::parse_from_rfc3339(usage["period_end"].as_str().unwrap()).unwrap();
    assert_eq!(end - start, chrono::Duration::days(1));
    assert_eq!(start.timestamp() % 86_400, 0, "a UTC day");
}

#[tokio::test]
async fn rate_limits_crud_names_each_bad_field() {
    let cp = control_plane(None).await;
    let admin = cp.admin();
    admin.platform_with_tools().await;
    let bad = [
        (json!({"name": "n"}), "limit"),
        (
            json!({"name": "n", "limit": {"requests": 1, "per": "minute"}, "budget": {"calls": 1, "per": "day"}}),
            "limit",
        ),
        (json!({"name": "n", "limit": {"requests": 1, "per": "month"}}), "limit.per"),
        (json!({"name": "n", "limit": {"requests": 0, "per": "minute"}}), "limit.requests"),
        (json!({"name": "n", "budget": {"calls": 1, "per": "hour"}}), "budget.per"),
        (json!({"name": "n", "budget": {"calls": 1, "per": "day"}, "burst": 2}), "burst"),
        (
            json!({"name": "n", "match": {"server": "nope"}, "limit": {"requests": 1, "per": "minute"}}),
            "match.server",
        ),
        (
            json!({"name": "n", "match": {"workspace": "nope"}, "limit": {"requests": 1, "per": "minute"}}),
            "match.workspace",
        ),
        (
            json!({"name": "n", "match": {"tool": "a b"}, "limit": {"requests": 1, "per": "minute"}}),
            "match.tool",
        ),
        (json!({"name": " ", "limit": {"requests": 1, "per": "minute"}}), "name"),
    ];
    for (body, field) in bad {
        let (status, error) = admin.request(Method::POST, "/v1/rate-limits", Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert_eq!(error["error"]["field"], field, "{body}: {error}");
    }
    let (status, error) = admin
        .request(
            Method::POST,
            "/v1/rate-limits",
            Some(json!({"name": "n", "limit": {"requests": 1, "per": "minute"}, "per_user": true})),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_json")),
        "{error}"
    );

    let body = json!({"name": "per user", "match": {"server": "tools", "workspace": "platform", "tool": "search_*"},
        "limit": {"requests": 100, "per": "minute"}, "burst": 10, "per_caller": true});
    let created = create_limit(&admin, body.clone()).await;
    let (status, error) = admin.request(Method::POST, "/v1/rate-limits", Some(body)).await;
    assert_eq!((status, error["error"]["field"].as_str()), (StatusCode::CONFLICT, Some("name")), "{error}");
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/rate-limits/{id}");
    assert_eq!(created["match"], json!({"server": "tools", "workspace": "platform", "tool": "search_*"}));
    assert_eq!((created["burst"].as_u64(), created["per_caller"].as_bool()), (Some(10), Some(true)));
    let (_, listed) = admin.request(Method::GET, "/v1/rate-limits", None).await;
    assert_eq!(listed["rate_limits"][0]["id"], id);

    // A limit turned into a budget loses its burst; usage is for budgets, and needs Redis.
    let (status, usage) = admin.request(Method::GET, &format!("{path}/usage"), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{usage}");
    let (status, changed) =
        admin.request(Method::PATCH, &path, Some(json!({"budget": {"calls": 1000, "per": "month"}}))).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["budget"], json!({"calls": 1000, "per": "month"}));
    assert!(changed.get("limit").is_none() && changed.get("burst").is_none(), "{changed}");
    let (status, usage) = admin.request(Method::GET, &format!("{path}/usage?user=ann"), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{usage}");
    assert!(usage["error"]["message"].as_str().unwrap().contains("GATEHOUSE_REDIS_URL"), "{usage}");
    let (status, usage) = admin.request(Method::GET, &format!("{path}/usage"), None).await;
    assert_eq!(
        (status, usage["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("user")),
        "{usage}"
    );
    let (status, error) = admin.request(Method::PATCH, &path, Some(json!({"burst": 3}))).await;
    assert_eq!(
        (status, error["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("burst")),
        "{error}"
    );

    let (status, _) = admin.request(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = admin.request(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
