//! Edge overhead benchmark: the same MCP `tools/call` sent straight to an
//! upstream server, through a Gatehouse edge (plain HTTP, gateway token) and
//! through an edge with mTLS required (client certificate mapped to a
//! certificate identity), reported as latency percentiles and throughput, and
//! as ratios to the direct call over the same HTTP version. A last row pays a
//! full TLS handshake per call. Two more rows put a rate limit on every call, decided
//! in Redis (`GATEHOUSE_TEST_REDIS_URL`, skipped without it) and by the edge alone,
//! against the same edge without one.
//! The `edge` rows record every call in the audit
//! trail (the default); `edge audit off` is an edge with `GATEHOUSE_EDGE_AUDIT=false`,
//! and the audit ratio compares the two (the budget: under 10 % of throughput), as does the
//! last ratio for audit and a matching rate limit together against an edge with neither.
//!
//! Run: `cargo bench -p gatehouse-tests --bench edge_overhead`
//! (`GATEHOUSE_BENCH_REQUESTS`, `GATEHOUSE_BENCH_CONCURRENCY` to tune).

use std::time::{Duration, Instant};

use gatehouse_tests::edge::{EdgeCache, EdgeTlsSetup, TestEdge};
use gatehouse_tests::pki::{ClientNames, EdgeTlsFiles, TestCa};
use gatehouse_tests::upstream::{McpUpstream, SessionMode};
use gatehouse_tests::TestStack;

const CALL: &str =
    r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}"#;

struct Target {
    name: &'static str,
    url: String,
    token: Option<String>,
}

struct Stats {
    p50: Duration,
    p99: Duration,
    rps: f64,
}

async fn call(client: &reqwest::Client, target: &Target) {
    let mut req = client
        .post(&target.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(CALL);
    if let Some(token) = &target.token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.expect("request sent");
    assert!(resp.status().is_success(), "{} answered {}", target.name, resp.status());
    let body = resp.bytes().await.expect("body read");
    assert!(memchr(&body, b"hello"), "{} returned an unexpected body", target.name);
}

fn memchr(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Sequential calls for latency percentiles.
async fn latency(client: &reqwest::Client, target: &Target, n: usize) -> (Duration, Duration) {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        call(client, target).await;
        samples.push(start.elapsed());
    }
    samples.sort();
    (samples[n / 2], samples[(n * 99 / 100).min(n - 1)])
}

/// `concurrency` workers sharing `n` calls, for throughput.
async fn throughput(client: &reqwest::Client, target: &Target, n: usize, concurrency: usize) -> f64 {
    let start = Instant::now();
    let per_worker = n / concurrency;
    let workers = (0..concurrency).map(|_| async {
        for _ in 0..per_worker {
            call(client, target).await;
        }
    });
    futures::future::join_all(workers).await;
    (per_worker * concurrency) as f64 / start.elapsed().as_secs_f64()
}

async fn measure(client: &reqwest::Client, target: &Target, n: usize, concurrency: usize) -> Stats {
    // Warm up connection pools on both hops.
    for _ in 0..50 {
        call(client, target).await;
    }
    let (p50, p99) = latency(client, target, n).await;
    let rps = throughput(client, target, n, concurrency).await;
    Stats { p50, p99, rps }
}

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; accept and ignore harness flags.
    let n = env_usize("GATEHOUSE_BENCH_REQUESTS", 2000);
    let concurrency = env_usize("GATEHOUSE_BENCH_CONCURRENCY", 16);

    let stack = TestStack::start().await;
    let upstream = McpUpstream::start(SessionMode::Stateless).await;
    let admin = stack.cp.admin();
    admin.create_workspace("bench").await;
    admin.create_server("echo", &upstream.url, &[("x-upstream-key", "bench-secret")]).await;
    // A deny rule makes the edge evaluate tool policy on every call, as in production.
    admin.provision("bench", "echo", &[], &["delete_*"]).await;
    let token = admin.mint_token("bench@example.com", "bench").await.token;
    stack.sync().await;

    // A second edge on the same control plane, with client certificates required.
    let ca = TestCa::new("bench");
    let agent = ca.client(&ClientNames::spiffe("spiffe://bench/agent"));
    admin
        .register_bound_certificate_identity(
            "san_uri",
            "spiffe://bench/agent",
            "bench-agent",
            "bench",
            &ca.sha256_hex(),
            None,
        )
        .await;
    let tls = EdgeTlsSetup {
        server_ca_pem: ca.cert_pem(),
        files: EdgeTlsFiles::write(&ca.server(), &ca.cert_pem()),
        client_auth: "required",
        harness_identity: Some(agent.clone()),
    };
    let mtls_edge = TestEdge::start_tls(&stack.cp.grpc_url, &stack.cp.node_token, tls, &[]).await;
    mtls_edge.wait_for_version(admin.config_version().await).await;
    // A third edge with the audit trail off, to price recording every call.
    let quiet_edge = TestEdge::start_with_env(
        &stack.cp.grpc_url,
        &stack.cp.node_token,
        EdgeCache::temporary(),
        &[("GATEHOUSE_EDGE_AUDIT", "false")],
    )
    .await;
    quiet_edge.wait_for_version(admin.config_version().await).await;
    stack.sync().await;

    // A server under a rate limit matching every call (never reached), on an edge deciding in
    // Redis and on the plain edge (which decides alone: it has no Redis).
    admin.create_server("limited", &upstream.url, &[("x-upstream-key", "bench-secret")]).await;
    admin.provision("bench", "limited", &[], &["delete_*"]).await;
    let (status, body) = admin
        .request(
            reqwest::Method::POST,
            "/v1/rate-limits",
            Some(serde_json::json!({"name": "bench", "match": {"server": "limited"},
                "limit": {"requests": 1_000_000_000_000_u64, "per": "second"}, "per_caller": true})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    let redis_url = std::env::var("GATEHOUSE_TEST_REDIS_URL").ok().filter(|u| !u.is_empty());
    let redis_edge = match &redis_url {
        Some(url) => {
            let env =
                [("GATEHOUSE_REDIS_URL", url.as_str()), ("GATEHOUSE_REDIS_KEY_PREFIX", "gatehouse-bench:")];
            let edge = TestEdge::start_with_env(
                &stack.cp.grpc_url,
                &stack.cp.node_token,
                EdgeCache::temporary(),
                &env,
            )
            .await;
            Some(edge)
        }
        None => None,
    };
    let version = admin.config_version().await;
    stack.edge.wait_for_version(version).await;
    if let Some(edge) = &redis_edge {
        edge.wait_for_version(version).await;
    }

    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency * 2).build().unwrap();
    let direct = Target { name: "direct", url: upstream.url.clone(), token: None };
    let limited_local =
        Target { name: "edge limit local", url: stack.edge.mcp_url("limited"), token: Some(token.clone()) };
    let limited_redis = redis_edge.as_ref().map(|edge| Target {
        name: "edge limit redis",
        url: edge.mcp_url("limited"),
        token: Some(token.clone()),
    });
    let quiet =
        Target { name: "edge audit off", url: quiet_edge.mcp_url("echo"), token: Some(token.clone()) };
    let edge = Target { name: "edge", url: stack.edge.mcp_url("echo"), token: Some(token) };
    let mtls = Target { name: "mtls", url: mtls_edge.mcp_url("echo"), token: None };
    let ca_cert = || reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap();
    let mtls_client = |pool: usize, http1: bool| {
        let builder = reqwest::Client::builder().pool_max_idle_per_host(pool);
        let builder = if http1 { builder.http1_only() } else { builder };
        builder.tls_certs_only([ca_cert()]).identity(agent.identity()).build().unwrap()
    };

    // HTTP/2 without TLS (prior knowledge) on both paths separates the cost of
    // HTTP/2 itself from the cost of the edge.
    let h2c = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let d = measure(&client, &direct, n, concurrency).await;
    let d2 = measure(&h2c, &direct, n, concurrency).await;
    let e = measure(&client, &edge, n, concurrency).await;
    let e2 = measure(&h2c, &edge, n, concurrency).await;
    let q = measure(&client, &quiet, n, concurrency).await;
    // ALPN picks HTTP/2 unless the client only speaks HTTP/1.1; both are measured.
    let m2 = measure(&mtls_client(concurrency * 2, false), &mtls, n, concurrency).await;
    let m1 = measure(&mtls_client(concurrency * 2, true), &mtls, n, concurrency).await;
    // No idle connections kept: every call opens TCP and completes a TLS 1.3 handshake with a client certificate.
    let h = measure(&mtls_client(0, true), &mtls, n / 4, concurrency).await;
    let l = measure(&client, &limited_local, n, concurrency).await;
    let r = match &limited_redis {
        Some(target) => Some(measure(&client, target, n, concurrency).await),
        None => None,
    };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("edge overhead: {n} tools/call requests, throughput with {concurrency} concurrent clients");
    println!("{:<16} {:>10} {:>10} {:>12}", "", "p50 ms", "p99 ms", "req/s");
    let rows = [
        ("direct", &d),
        ("direct h2c", &d2),
        ("edge", &e),
        ("edge h2c", &e2),
        ("edge audit off", &q),
        ("edge mtls h2", &m2),
        ("edge mtls h1", &m1),
        ("mtls new conn", &h),
        ("edge limit local", &l),
    ];
    for (name, stats) in rows {
        println!("{name:<16} {:>10.3} {:>10.3} {:>12.0}", ms(stats.p50), ms(stats.p99), stats.rps);
    }
    if let Some(r) = &r {
        println!("{:<16} {:>10.3} {:>10.3} {:>12.0}", "edge limit redis", ms(r.p50), ms(r.p99), r.rps);
    }
    // A rate limit on every call against the same edge without one (the goal: under 10 % of throughput).
    for (name, stats) in [("edge limit local", Some(&l)), ("edge limit redis", r.as_ref())] {
        if let Some(stats) = stats {
            println!(
                "{name:<16} vs edge: throughput x{:.3} ({:+.1} %), added p50 {:.3} ms",
                stats.rps / e.rps,
                (stats.rps / e.rps - 1.0) * 100.0,
                ms(stats.p50) - ms(e.p50)
            );
        }
    }
    // Each path against the direct call over the same HTTP version.
    let ratios = [
        ("edge", &e, &d),
        ("edge h2c", &e2, &d2),
        ("edge audit off", &q, &d),
        ("edge mtls h2", &m2, &d2),
        ("edge mtls h1", &m1, &d),
    ];
    for (name, stats, base) in ratios {
        println!(
            "{name:<16} ratio p50 x{:.2}   p99 x{:.2}   throughput x{:.2}   (added p50 {:.3} ms)",
            ms(stats.p50) / ms(base.p50),
            ms(stats.p99) / ms(base.p99),
            stats.rps / base.rps,
            ms(stats.p50) - ms(base.p50)
        );
    }
    // The audit trail's price: the same edge path with recording on against off.
    println!(
        "audit on vs off   p50 x{:.2}   p99 x{:.2}   throughput x{:.2} (budget: at least x0.90)",
        ms(e.p50) / ms(q.p50),
        ms(e.p99) / ms(q.p99),
        e.rps / q.rps
    );
    // Governance together: audit on and a rate limit matching every call, against an edge with neither.
    for (name, stats) in [("audit + limit local", Some(&l)), ("audit + limit redis", r.as_ref())] {
        if let Some(stats) = stats {
            println!(
                "{name} vs neither   p50 x{:.2}   throughput x{:.3} ({:+.1} %; budget: at least x0.90)",
                ms(stats.p50) / ms(q.p50),
                stats.rps / q.rps,
                (stats.rps / q.rps - 1.0) * 100.0
            );
        }
    }
}
