//! Upstream OAuth, edge side: the credential broker against the real control
//! plane, real edges, a real OpenID provider and a protected MCP upstream —
//! URL elicitation (-32042), one refresh across edges, per-user isolation,
//! invalid_grant, client credentials, Redis outages and sealed cache values.
//!
//! Edges share the Redis in `GATEHOUSE_TEST_REDIS_URL` (a fresh key prefix
//! per test) when it is set, else each caches in process memory.

use std::time::Duration;

use gatehouse_control_plane::store::grants::{GrantTokens, NewTokens};
use gatehouse_proto::config::v1 as pb;
use gatehouse_proto::config::v1::credential_broker_client::CredentialBrokerClient;
use gatehouse_tests::control_plane::TestControlPlane;
use gatehouse_tests::db::TestDb;
use gatehouse_tests::edge::{EdgeCache, TestEdge};
use gatehouse_tests::oidc::{
    authorize_headless, browser_client, OidcClient, OidcConfig, OidcUser, TestOidcProvider,
};
use gatehouse_tests::protected_upstream::{ProtectedOptions, ProtectedUpstream};
use gatehouse_tests::{eventually, metrics};
use reqwest::{Method, StatusCode, Url};
use secrecy::SecretString;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(5);
const SLUG: &str = "linear";
const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

fn call(tool: &str) -> String {
    json!({"jsonrpc": "2.0", "id": "call-1", "method": "tools/call", "params": {"name": tool, "arguments": {}}})
        .to_string()
}

/// A call whose result does not echo the request headers (`whoami` does, and the test upstream logs it).
fn call_add() -> String {
    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 2, "b": 40}}})
        .to_string()
}

/// A Redis URL and fresh key prefix shared by this test's edges, when CI provides Redis.
fn test_redis() -> Option<(String, String)> {
    let url = gatehouse_tests::backends::redis_url()?;
    Some((url, format!("gatehouse-test:{}:", uuid::Uuid::new_v4().simple())))
}

struct Fixture {
    op: TestOidcProvider,
    upstream: ProtectedUpstream,
    cp: TestControlPlane,
    edges: Vec<TestEdge>,
    server_id: String,
    org_id: String,
    alice: String,
    bob: String,
    redis: Option<(String, String)>,
}

impl Fixture {
    /// An OP with users alice and bob, a protected upstream, a control plane with
    /// `SLUG` registered as `auth_type`, and `edges` edges.
    async fn start(edges: usize, options: ProtectedOptions) -> Self {
        Self::start_with(edges, options, OidcConfig::new(), json!({"auth_type": "oauth2"}), None).await
    }

    /// One oauth2 edge with extra edge environment.
    async fn start_with_env(op: OidcConfig, extra_env: &[(&str, &str)]) -> Self {
        Self::build(1, ProtectedOptions::default(), op, json!({"auth_type": "oauth2"}), None, extra_env).await
    }

    async fn start_with(
        edges: usize,
        options: ProtectedOptions,
        op: OidcConfig,
        server: Value,
        redis_override: Option<&str>,
    ) -> Self {
        Self::build(edges, options, op, server, redis_override, &[]).await
    }

    async fn build(
        edges: usize,
        options: ProtectedOptions,
        op: OidcConfig,
        server: Value,
        redis_override: Option<&str>,
        extra_env: &[(&str, &str)],
    ) -> Self {
        let op = TestOidcProvider::start(
            op.user(OidcUser::new("alice").email("alice@example.com"))
                .user(OidcUser::new("bob").email("bob@example.com"))
                .default_user("alice")
                // mcp:admin is never requested up front: only a step-up asks for it.
                .resource_scopes(&["mcp:read", "mcp:write", "mcp:admin"]),
        )
        .await;
        let upstream = ProtectedUpstream::start(&op, options).await;
        let cp = TestControlPlane::start(TestDb::sqlite().await).await;
        let admin = cp.admin();
        admin.create_workspace("platform").await;
        let mut body = json!({"slug": SLUG, "url": upstream.url});
        for (k, v) in server.as_object().unwrap() {
            body[k] = v.clone();
        }
        let created = admin.create_server_json(body).await;
        let server_id = created["id"].as_str().expect("server id").to_owned();
        admin.provision("platform", SLUG, &[], &[]).await;
        let alice = admin.mint_token(ALICE, "platform").await.token;
        let bob = admin.mint_token(BOB, "platform").await.token;
        let org_id = cp.store().await.org_by_slug("default").await.unwrap().expect("default org").id;

        let redis = test_redis();
        let mut env: Vec<(&str, String)> = Vec::new();
        match (redis_override, &redis) {
            (Some(url), _) => env.push(("GATEHOUSE_REDIS_URL", url.to_owned())),
            (None, Some((url, prefix))) => {
                env.push(("GATEHOUSE_REDIS_URL", url.clone()));
                env.push(("GATEHOUSE_REDIS_KEY_PREFIX", prefix.clone()));
            }
            (None, None) => {}
        }
        let env: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (*k, v.as_str())).chain(extra_env.iter().copied()).collect();
        let mut started = Vec::new();
        for _ in 0..edges {
            let edge =
                TestEdge::start_with_env(&cp.grpc_url, &cp.node_token, EdgeCache::temporary(), &env).await;
            edge.wait_ready().await;
            started.push(edge);
        }
        let fixture = Self { op, upstream, cp, edges: started, server_id, org_id, alice, bob, redis };
        fixture.wait_oauth_ready().await;
        fixture
    }

    /// Waits until every edge has the server's resolved OAuth client settings.
    async fn wait_oauth_ready(&self) {
        for edge in &self.edges {
            eventually(WAIT, "upstream oauth settings on the edge", || async {
                let view = edge.state.config();
                let server = view.server(&self.org_id, SLUG)?;
                server.oauth.as_ref().filter(|o| o.is_usable()).map(|_| ())
            })
            .await;
        }
    }

    async fn post(&self, edge: usize, token: &str, body: String) -> (StatusCode, String) {
        self.post_in(edge, token, None, body).await
    }

    /// [`Self::post`] in MCP session `session`, when given.
    async fn post_in(
        &self,
        edge: usize,
        token: &str,
        session: Option<&str>,
        body: String,
    ) -> (StatusCode, String) {
        let mut request = reqwest::Client::new()
            .post(self.edges[edge].mcp_url(SLUG))
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(body);
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        let response = request.send().await.expect("edge answers");
        (response.status(), response.text().await.unwrap_or_default())
    }

    /// A `tools/call` through `edge` that must be answered with -32042; returns the elicitation.
    async fn expect_elicitation(&self, edge: usize, token: &str, tool: &str) -> Value {
        let (status, body) = self.post(edge, token, call(tool)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let body: Value =
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("JSON-RPC error expected: {body}"));
        assert_eq!(body["id"], "call-1", "the request id is echoed: {body}");
        assert_eq!(body["error"]["code"], -32042, "{body}");
        let elicitation = body["error"]["data"]["elicitations"][0].clone();
        assert_eq!(elicitation["mode"], "url", "{body}");
        assert!(!elicitation["elicitationId"].as_str().unwrap_or_default().is_empty(), "{body}");
        assert!(elicitation["message"].as_str().unwrap().starts_with("Authorize"), "{body}");
        elicitation
    }

    /// A `tools/call` through `edge` that must succeed at the upstream.
    async fn expect_success(&self, edge: usize, token: &str, tool: &str) {
        let (status, body) = self.post(edge, token, call(tool)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(!body.contains("\"error\""), "{body}");
    }

    /// Opens the elicitation URL as OP user `sub` (headless login and consent) and finishes the callback.
    async fn authorize_as(&self, elicitation: &Value, sub: &str) {
        // One browser from the link to the callback: the callback needs the start's binding cookie.
        let http = browser_client();
        let link = elicitation["url"].as_str().unwrap();
        let response = http.get(link).send().await.unwrap();
        let location =
            response.headers().get("location").expect("the link redirects to the AS").to_str().unwrap();
        let mut authorize = Url::parse(link).unwrap().join(location).unwrap();
        authorize.query_pairs_mut().append_pair("login_hint", sub);
        let callback = authorize_headless(&http, authorize.as_str()).await;
        let response = http.get(callback).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "the callback stores the grant");
    }

    async fn broker(&self) -> CredentialBrokerClient<tonic::transport::Channel> {
        CredentialBrokerClient::connect(self.cp.grpc_url.clone()).await.expect("connect grpc")
    }

    async fn grant(&self, user: &str) -> Option<pb::Grant> {
        let mut request = tonic::Request::new(pb::GrantRequest {
            org_id: self.org_id.clone(),
            user: user.to_owned(),
            server_id: self.server_id.clone(),
            ..Default::default()
        });
        let auth = format!("Bearer {}", self.cp.node_token).parse().unwrap();
        request.metadata_mut().insert("authorization", auth);
        self.broker().await.get_grant(request).await.expect("get grant").into_inner().grant
    }

    /// Replaces `user`'s access token with an expired one, keeping the refresh token.
    async fn expire_access_token(&self, user: &str) -> pb::Grant {
        let grant = self.grant(user).await.expect("grant");
        let tokens = GrantTokens {
            access_token: SecretString::from("expired-access-token"),
            refresh_token: Some(SecretString::from(grant.refresh_token.clone())),
        };
        let new = NewTokens { tokens, access_expires_at: 1, scopes: grant.scopes.clone() };
        self.cp.store().await.store_grant(&self.org_id, user, &self.server_id, new, None).await.unwrap();
        self.grant(user).await.expect("grant")
    }

    async fn authorize_user(&self, token: &str, sub: &str) {
        let elicitation = self.expect_elicitation(0, token, "whoami").await;
        self.authorize_as(&elicitation, sub).await;
    }
}

#[tokio::test]
async fn first_call_elicits_authorization_then_the_call_runs_with_the_users_token() {
    let f = Fixture::start(1, ProtectedOptions::default()).await;
    let elicitation = f.expect_elicitation(0, &f.alice, "whoami").await;
    assert!(elicitation["url"].as_str().unwrap().starts_with(&f.cp.api_url), "{elicitation}");
    assert_eq!(f.upstream.log.accepted().len(), 0, "nothing reached the upstream");

    f.authorize_as(&elicitation, "alice").await;
    f.expect_success(0, &f.alice, "whoami").await;
    let seen = f.upstream.log.last_accepted().expect("the upstream accepted a token");
    assert_eq!(seen.sub, "alice");
    let grant = f.grant(ALICE).await.unwrap();
    assert_eq!(seen.token, grant.access_token, "the upstream got alice's grant token");
    assert_eq!(f.upstream.calls.count("whoami"), 1);

    // Cached: the next call needs nothing from the AS.
    let before = f.op.stats().await;
    f.expect_success(0, &f.alice, "whoami").await;
    assert_eq!(f.op.stats().await.token_requests, before.token_requests);
}

#[tokio::test]
async fn fifty_concurrent_calls_on_three_edges_refresh_an_expired_token_exactly_once() {
    let logs = gatehouse_tests::logs::capture();
    let f = Fixture::start(3, ProtectedOptions::default()).await;
    f.authorize_user(&f.alice, "alice").await;
    let seeded = f.expire_access_token(ALICE).await;
    f.op.reset_stats().await;

    let calls = (0..50).map(|i| {
        let f = &f;
        async move { f.post(i % 3, &f.alice, call_add()).await }
    });
    for (status, body) in futures::future::join_all(calls).await {
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(!body.contains("\"error\""), "{body}");
    }
    let stats = f.op.stats().await;
    assert_eq!(stats.refresh_requests, 1, "exactly one refresh at the AS: {stats:?}");
    assert_eq!(f.upstream.calls.count("add"), 50);

    let grant = f.grant(ALICE).await.unwrap();
    assert!(grant.version > seeded.version, "the refresh was committed");
    assert_ne!(grant.refresh_token, seeded.refresh_token, "the rotated refresh token was stored");
    assert_ne!(grant.access_token, "expired-access-token");
    let tokens: std::collections::BTreeSet<String> =
        f.upstream.log.accepted().into_iter().map(|t| t.token).collect();
    assert_eq!(tokens.len(), 1, "every call used the one refreshed token");
    assert!(tokens.contains(&grant.access_token));

    // No token, old or new, reached a log line.
    if let Some(logs) = logs {
        let text = logs.text();
        assert!(text.contains("refreshing upstream access token"), "the capture saw the refresh");
        for secret in [&seeded.refresh_token, &grant.refresh_token, &grant.access_token] {
            if let Some(at) = text.find(secret.as_str()) {
                let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
                let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
                panic!(
                    "a token was logged: {}",
                    &text[line_start..line_end].replace(secret.as_str(), "<TOKEN>")
                );
            }
        }
    }
}

#[tokio::test]
async fn two_users_on_the_same_server_never_see_each_others_tokens() {
    let f = Fixture::start(2, ProtectedOptions::default()).await;
    f.authorize_user(&f.alice, "alice").await;
    f.authorize_user(&f.bob, "bob").await;
    let alice = f.grant(ALICE).await.unwrap().access_token;
    let bob = f.grant(BOB).await.unwrap().access_token;
    assert_ne!(alice, bob);
    for round in 0..3 {
        for (token, sub, expected) in [(&f.alice, "alice", &alice), (&f.bob, "bob", &bob)] {
            f.expect_success(round % 2, token, "whoami").await;
            let seen = f.upstream.log.last_accepted().unwrap();
            assert_eq!((seen.sub.as_str(), &seen.token), (sub, expected), "round {round}");
        }
    }
}

#[tokio::test]
async fn a_revoked_grant_is_marked_dead_and_elicits_authorization_again() {
    let f = Fixture::start(1, ProtectedOptions::default()).await;
    f.authorize_user(&f.alice, "alice").await;
    assert!(f.op.revoke_grants("alice").await >= 1);
    f.expire_access_token(ALICE).await;

    let elicitation = f.expect_elicitation(0, &f.alice, "whoami").await;
    assert_eq!(f.grant(ALICE).await.unwrap().status, "dead", "invalid_grant marks the grant dead");
    assert_eq!(f.op.stats().await.token_errors.get("invalid_grant").copied(), Some(1));

    // Authorizing again brings the user back.
    f.authorize_as(&elicitation, "alice").await;
    f.expect_success(0, &f.alice, "whoami").await;
    assert_eq!(f.upstream.log.last_accepted().unwrap().sub, "alice");
}

#[tokio::test]
async fn client_credentials_server_shares_one_cached_token() {
    let secret = format!("cc-secret-{}", uuid::Uuid::new_v4().simple());
    let op = OidcConfig::new()
        .registration(false)
        .client(OidcClient::confidential("gatehouse-cc", &secret).grant_types(&["client_credentials"]));
    let server = json!({"auth_type": "client_credentials", "advanced_config": {"oauth_metadata": {
        "client_id": "gatehouse-cc", "client_secret": secret}}});
    let f = Fixture::start_with(2, ProtectedOptions::default(), op, server, None).await;

    for (edge, token) in [(0, &f.alice), (1, &f.bob), (0, &f.bob), (1, &f.alice)] {
        f.expect_success(edge, token, "whoami").await;
        assert_eq!(f.upstream.log.last_accepted().unwrap().sub, "gatehouse-cc");
    }
    let fetches = f.op.stats().await.token_requests("client_credentials");
    let expected = if f.redis.is_some() { 1 } else { 2 };
    assert_eq!(fetches, expected, "one fetch per cache (shared Redis, else per edge)");
    // Each fetch was a cache miss; every other call was served from the cache.
    let (mut hits, mut misses) = (0.0, 0.0);
    for edge in &f.edges {
        let scrape = metrics::scrape(&edge.metrics_url).await;
        hits += metrics::value(&scrape, "gatehouse_token_cache_hits_total", &[]);
        misses += metrics::value(&scrape, "gatehouse_token_cache_misses_total", &[]);
        let redis_up = metrics::find(&scrape, "gatehouse_redis_up", &[]);
        assert_eq!(redis_up.len(), usize::from(f.redis.is_some()), "a Redis status only with Redis");
    }
    assert_eq!((hits, misses), (4.0 - expected as f64, expected as f64));
}

#[tokio::test]
async fn unreachable_redis_falls_back_to_process_memory() {
    let f = Fixture::start_with(
        1,
        ProtectedOptions::default(),
        OidcConfig::new(),
        json!({"auth_type": "oauth2"}),
        Some("redis://127.0.0.1:1"),
    )
    .await;
    f.authorize_user(&f.alice, "alice").await;
    f.expect_success(0, &f.alice, "whoami").await;
    f.expect_success(0, &f.alice, "whoami").await;
    let readiness: Value =
        reqwest::get(format!("{}/readyz", f.edges[0].url)).await.unwrap().json().await.unwrap();
    assert_eq!(readiness["status"], "ready");
    assert_eq!(readiness["token_cache"], "memory (redis unavailable)", "{readiness}");
    assert!(readiness["token_cache_redis_failures"].as_u64().unwrap() >= 1, "{readiness}");
    let scrape = metrics::scrape(&f.edges[0].metrics_url).await;
    assert_eq!(metrics::value(&scrape, "gatehouse_redis_up", &[]), 0.0);
    let fallbacks =
        metrics::value(&scrape, "gatehouse_redis_fallbacks_total", &[("component", "token_cache")]);
    // At least the failures /readyz reported a moment before.
    assert!(fallbacks >= readiness["token_cache_redis_failures"].as_u64().unwrap() as f64, "{fallbacks}");
}

#[tokio::test]
async fn cached_tokens_in_redis_are_sealed() {
    let f = Fixture::start(1, ProtectedOptions::default()).await;
    let Some((url, prefix)) = f.redis.clone() else {
        // Without Redis the cache is process memory: there is nothing external to inspect.
        return;
    };
    f.authorize_user(&f.alice, "alice").await;
    f.expect_success(0, &f.alice, "whoami").await;
    let token = f.grant(ALICE).await.unwrap().access_token;

    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut connection).await.unwrap();
    assert!(!keys.is_empty(), "the edge cached the token in Redis");
    for key in &keys {
        assert!(!key.contains("alice"), "no user names in keys: {key}");
        let value: Vec<u8> = redis::cmd("GET").arg(key).query_async(&mut connection).await.unwrap();
        assert!(!value.windows(token.len()).any(|w| w == token.as_bytes()), "plaintext token under {key}");
    }
    let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut connection).await.unwrap();
}

#[tokio::test]
async fn insufficient_scope_steps_up_once_with_the_extra_scope() {
    let f = Fixture::start(1, ProtectedOptions::default().tool_scope("add", "mcp:admin")).await;
    f.authorize_user(&f.alice, "alice").await;
    assert!(!f.grant(ALICE).await.unwrap().scopes.iter().any(|s| s == "mcp:admin"));
    f.expect_success(0, &f.alice, "whoami").await;

    let elicitation = f.expect_elicitation(0, &f.alice, "add").await;
    assert_eq!(f.upstream.log.forbidden(), 1);
    // The same step-up is not prompted again right away (loop guard): the refusal is reported instead.
    let (status, body) = f.post(0, &f.alice, call("add")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body.contains("upstream_credentials_rejected") && !body.contains("-32042"), "{body}");

    // The link asks for the extra scope; authorizing it makes the call work.
    let http = browser_client();
    let link = elicitation["url"].as_str().unwrap();
    let response = http.get(link).send().await.unwrap();
    let location =
        response.headers().get("location").expect("redirect to the AS").to_str().unwrap().to_owned();
    let authorize = Url::parse(link).unwrap().join(&location).unwrap();
    let scope = authorize.query_pairs().find(|(k, _)| k == "scope").map(|(_, v)| v.into_owned()).unwrap();
    assert!(scope.split(' ').any(|s| s == "mcp:admin"), "{scope}");
    let callback = authorize_headless(&http, authorize.as_str()).await;
    assert_eq!(http.get(callback).send().await.unwrap().status(), StatusCode::OK);
    f.expect_success(0, &f.alice, "add").await;
    assert!(f.upstream.log.last_accepted().unwrap().scope.split(' ').any(|s| s == "mcp:admin"));
}

#[tokio::test]
async fn a_token_the_upstream_rejects_is_refreshed_and_the_call_retried_once() {
    let f = Fixture::start(1, ProtectedOptions::default()).await;
    f.authorize_user(&f.alice, "alice").await;
    // The grant claims a valid token the upstream does not accept (e.g. revoked upstream).
    let grant = f.grant(ALICE).await.unwrap();
    let tokens = GrantTokens {
        access_token: SecretString::from("not-a-valid-token"),
        refresh_token: Some(SecretString::from(grant.refresh_token.clone())),
    };
    let expires = chrono::Utc::now().timestamp() + 3600;
    let new = NewTokens { tokens, access_expires_at: expires, scopes: grant.scopes.clone() };
    f.cp.store().await.store_grant(&f.org_id, ALICE, &f.server_id, new, None).await.unwrap();
    f.op.reset_stats().await;
    // Discovery by the control plane already met a 401.
    let unauthorized = f.upstream.log.unauthorized();

    f.expect_success(0, &f.alice, "whoami").await;
    assert_eq!(f.upstream.log.unauthorized(), unauthorized + 1, "one 401, then the retry succeeded");
    assert_eq!(f.op.stats().await.refresh_requests, 1);
    let refreshed = f.grant(ALICE).await.unwrap();
    assert_eq!(f.upstream.log.last_accepted().unwrap().token, refreshed.access_token);
}

#[tokio::test]
async fn a_token_near_expiry_is_refreshed_in_the_background_while_still_used() {
    // 60 s tokens with a 40 s skew: usable for 20 s, due for refresh at once.
    let f = Fixture::start_with_env(
        OidcConfig::new().access_token_ttl(Duration::from_secs(60)),
        &[("GATEHOUSE_TOKEN_REFRESH_SKEW_SECS", "40")],
    )
    .await;
    f.authorize_user(&f.alice, "alice").await;
    let first = f.grant(ALICE).await.unwrap();
    f.op.reset_stats().await;

    f.expect_success(0, &f.alice, "whoami").await; // cached from the grant
    f.expect_success(0, &f.alice, "whoami").await; // cache hit, due: background refresh
    assert_eq!(f.upstream.log.last_accepted().unwrap().token, first.access_token, "still used meanwhile");
    eventually(WAIT, "the background refresh to be committed", || async {
        let grant = f.grant(ALICE).await?;
        (grant.version > first.version).then_some(())
    })
    .await;
    assert_eq!(f.op.stats().await.refresh_requests, 1);
}

/// Disconnecting (`DELETE /v1/connections/{id}`) takes effect at once on every
/// edge, even though they cached the user's access token (in Redis when CI has it).
#[tokio::test]
async fn a_disconnected_grant_stops_working_on_every_edge_at_once() {
    let f = Fixture::start(2, ProtectedOptions::default()).await;
    f.authorize_user(&f.alice, "alice").await;
    f.authorize_user(&f.bob, "bob").await;
    for edge in 0..2 {
        f.expect_success(edge, &f.alice, "whoami").await;
    }
    let calls_before = f.upstream.calls.count("whoami");
    let admin = f.cp.admin();
    let (_, list) = admin.request(Method::GET, &format!("/v1/connections?user={ALICE}"), None).await;
    let id = list["connections"][0]["id"].as_str().expect("alice's connection").to_owned();
    let version = admin.config_version().await;

    let (status, body) = admin.request(Method::DELETE, &format!("/v1/connections/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(admin.config_version().await > version, "the disconnect is a config change");
    for edge in &f.edges {
        eventually(WAIT, "the edge sees the disconnect", || async {
            edge.state.config().is_grant_revoked(&id).then_some(())
        })
        .await;
    }
    for edge in 0..2 {
        f.expect_elicitation(edge, &f.alice, "whoami").await;
    }
    assert_eq!(f.upstream.calls.count("whoami"), calls_before, "the old token was never used again");
    // Bob's connection to the same server is untouched.
    f.expect_success(1, &f.bob, "whoami").await;
    let (status, _) = admin.request(Method::DELETE, &format!("/v1/connections/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a connection is deleted once");
}

/// An MCP session of `token`'s user through `edge`, initialized as a client
/// that supports URL elicitation; returns its `Mcp-Session-Id`.
async fn open_session(f: &Fixture, edge: usize, token: &str) -> String {
    let http = reqwest::Client::new();
    let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {"elicitation": {"url": {}}},
        "clientInfo": {"name": "elicitation-test", "version": "1"}}});
    let response = http
        .post(f.edges[edge].mcp_url(SLUG))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&initialize)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let session = response.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let body = response.text().await.unwrap();
    assert!(body.contains("protocolVersion"), "{body}");
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let (status, _) = f.post_in(edge, token, Some(&session), initialized.to_string()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    session
}

/// The session's standalone SSE stream (`GET`), read event by event.
struct SessionStream {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
}

impl SessionStream {
    async fn open(f: &Fixture, edge: usize, token: &str, session: &str) -> Self {
        let response = reqwest::Client::new()
            .get(f.edges[edge].mcp_url(SLUG))
            .bearer_auth(token)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", session)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self { body: Box::pin(response.bytes_stream()), buf: String::new() }
    }

    /// The params of the next notification `method` on the stream (other events skipped).
    async fn next_notification(&mut self, method: &str) -> Value {
        use futures::StreamExt as _;
        let read = async {
            loop {
                while let Some(end) = self.buf.find("\n\n") {
                    let event: String = self.buf.drain(..end + 2).collect();
                    let data: String = event
                        .lines()
                        .filter_map(|l| l.strip_prefix("data:"))
                        .map(str::trim_start)
                        .collect::<Vec<_>>()
                        .join("\n");
                    let Ok(message) = serde_json::from_str::<Value>(&data) else { continue };
                    if message["method"] == method {
                        return message["params"].clone();
                    }
                }
                let chunk = self.body.next().await.expect("the stream stays open").expect("stream chunk");
                self.buf.push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read).await.unwrap_or_else(|_| panic!("no {method}"))
    }
}

impl Fixture {
    /// Disconnects `user`'s grant and waits until every edge has dropped it.
    async fn disconnect(&self, user: &str) {
        let admin = self.cp.admin();
        let (_, list) = admin.request(Method::GET, &format!("/v1/connections?user={user}"), None).await;
        let id = list["connections"][0]["id"].as_str().expect("a connection").to_owned();
        let (status, body) = admin.request(Method::DELETE, &format!("/v1/connections/{id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        for edge in &self.edges {
            eventually(WAIT, "the edge sees the disconnect", || async {
                edge.state.config().is_grant_revoked(&id).then_some(())
            })
            .await;
        }
    }

    /// A `tools/call` in `session` that must be answered with -32042; returns the elicitation.
    async fn expect_session_elicitation(&self, edge: usize, token: &str, session: &str) -> Value {
        let (_, body) = self.post_in(edge, token, Some(session), call("whoami")).await;
        let body: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("JSON expected: {body}"));
        assert_eq!(body["error"]["code"], -32042, "{body}");
        body["error"]["data"]["elicitations"][0].clone()
    }
}

#[tokio::test]
async fn a_completed_authorization_is_announced_on_the_eliciting_session_only() {
    let options = ProtectedOptions {
        session_mode: gatehouse_tests::upstream::SessionMode::Stateful,
        ..ProtectedOptions::default()
    };
    let f = Fixture::start(2, options).await;
    f.authorize_user(&f.alice, "alice").await;
    // Two sessions of the same user; their streams are open on different edges.
    let first = open_session(&f, 0, &f.alice).await;
    let second = open_session(&f, 0, &f.alice).await;
    let mut first_stream = SessionStream::open(&f, 1, &f.alice, &first).await;
    let mut second_stream = SessionStream::open(&f, 0, &f.alice, &second).await;

    f.disconnect(ALICE).await;
    let elicitation = f.expect_session_elicitation(0, &f.alice, &first).await;
    f.authorize_as(&elicitation, "alice").await;
    let params = first_stream.next_notification("notifications/elicitation/complete").await;
    assert_eq!(params, json!({"elicitationId": elicitation["elicitationId"]}));

    // The second session was not told about the first one's elicitation: the first
    // completion it sees is its own.
    f.disconnect(ALICE).await;
    let elicitation = f.expect_session_elicitation(1, &f.alice, &second).await;
    f.authorize_as(&elicitation, "alice").await;
    let params = second_stream.next_notification("notifications/elicitation/complete").await;
    assert_eq!(params, json!({"elicitationId": elicitation["elicitationId"]}));

    // The sessions still work upstream after authorizing again.
    let (status, body) = f.post_in(1, &f.alice, Some(&first), call("whoami")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"result\"") && !body.contains("\"error\""), "{body}");
    assert_eq!(f.upstream.log.last_accepted().unwrap().sub, "alice");
}

#[tokio::test]
async fn a_jwt_subject_and_a_gateway_token_user_of_the_same_text_hold_separate_grants() {
    const ISSUER: &str = "https://idp.test";
    let key = crate::identity_edge::EcKey::generate("byo-grants");
    let server = json!({"auth_type": "oauth2", "advanced_config": {"jwt_validation": {
        "jwks": key.jwks(), "issuer": ISSUER, "audience": "gatehouse", "workspace": "platform"}}});
    let f = Fixture::start_with(1, ProtectedOptions::default(), OidcConfig::new(), server, None).await;
    let now = chrono::Utc::now().timestamp();
    // The org's own IdP vouches for a subject spelled like the gateway token's user.
    let jwt = key
        .sign(&json!({"iss": ISSUER, "aud": "gatehouse", "sub": ALICE, "scope": "mcp:read mcp:write",
        "iat": now, "exp": now + 300}));

    f.authorize_user(&f.alice, "alice").await;
    f.expect_success(0, &f.alice, "whoami").await;
    // alice's grant is not the JWT subject's: it is asked to authorize on its own.
    let elicitation = f.expect_elicitation(0, &jwt, "whoami").await;
    f.authorize_as(&elicitation, "bob").await;
    f.expect_success(0, &jwt, "whoami").await;
    assert_eq!(f.upstream.log.last_accepted().unwrap().sub, "bob", "the JWT subject's own grant");
    f.expect_success(0, &f.alice, "whoami").await;
    assert_eq!(f.upstream.log.last_accepted().unwrap().sub, "alice", "the gateway token user's grant");

    // The broker keeps them apart, and the admin API says whose is whose.
    let gatehouse = f.grant(ALICE).await.expect("the gateway token user's grant");
    let mut request = tonic::Request::new(pb::GrantRequest {
        org_id: f.org_id.clone(),
        user: ALICE.into(),
        server_id: f.server_id.clone(),
        identity_source: "jwt".into(),
        issuer: ISSUER.into(),
    });
    request.metadata_mut().insert("authorization", format!("Bearer {}", f.cp.node_token).parse().unwrap());
    let jwt_grant =
        f.broker().await.get_grant(request).await.unwrap().into_inner().grant.expect("the JWT's grant");
    assert_ne!(gatehouse.id, jwt_grant.id);
    assert_ne!(gatehouse.access_token, jwt_grant.access_token);
    let (status, body) = f.cp.admin().request(Method::GET, "/v1/connections", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut owners: Vec<(String, String, String)> = body["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let text = |k: &str| c[k].as_str().unwrap().to_owned();
            (text("user"), text("source"), text("issuer"))
        })
        .collect();
    owners.sort();
    assert_eq!(
        owners,
        [
            (ALICE.to_owned(), "gatehouse".to_owned(), String::new()),
            (ALICE.to_owned(), "jwt".to_owned(), ISSUER.to_owned())
        ]
    );
    // Listing one Gatehouse user's connections never includes a JWT subject's.
    let (_, body) = f.cp.admin().request(Method::GET, &format!("/v1/connections?user={ALICE}"), None).await;
    assert_eq!(body["connections"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["connections"][0]["source"], "gatehouse");
}
