//! Config-propagation scale benchmark: what one config change costs as the
//! config grows. A control plane and N edges run as separate `gatehouse`
//! processes; the benchmark fills the config through the admin API, then mints
//! one token at a time and measures the mint call, the time until the token
//! works at every edge, and the CPU each change costs the control plane and the
//! edges; also memory, and how long a new edge takes to load the snapshot.
//! It uses only the admin API and the edges' HTTP endpoints, so it measures any
//! implementation of the config publisher the same way.
//!
//! Run: `cargo bench -p gatehouse-tests --bench config_scale` (Linux: it reads
//! `/proc`). The settings (`GATEHOUSE_BENCH_*`) are listed in `Settings::from_env`
//! and in the README.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use futures::StreamExt as _;
use gatehouse_tests::db::TestDb;
use gatehouse_tests::processes::{self, GatehouseProcess};
use gatehouse_tests::upstream::{McpUpstream, SessionMode};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const TOOLS_LIST: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
/// How often start-up and readiness are polled.
const READY_POLL: Duration = Duration::from_millis(5);

/// One config size to measure.
struct Scale {
    name: &'static str,
    tokens: usize,
    servers: usize,
    workspaces: usize,
    changes: usize,
}

struct Settings {
    scales: Vec<Scale>,
    edges: usize,
    clients: usize,
    poll: Duration,
    timeout: Duration,
    database_url: Option<String>,
    log_filter: String,
}

impl Settings {
    /// The large scale: `GATEHOUSE_BENCH_TOKENS` (100000), `_SERVERS` (1000),
    /// `_WORKSPACES` (100), `_CHANGES` (200); the small one the same names with
    /// `SMALL_` (100 tokens, 10 servers, 5 workspaces, 200 changes).
    /// `GATEHOUSE_BENCH_SCALES` (`small,large`), `_EDGES` (10), `_CLIENTS` (8
    /// concurrent clients while populating), `_POLL_MS` (1, how often each edge is
    /// asked whether the new token works), `_TIMEOUT_SECS` (120, for any one wait),
    /// `_DATABASE_URL` (a PostgreSQL server to create a fresh database on; SQLite in
    /// a temporary directory when unset), `_LOG` (the processes' `RUST_LOG`, `warn`).
    fn from_env() -> anyhow::Result<Self> {
        let scale = |name, prefix: &str, defaults: [usize; 4]| -> anyhow::Result<Scale> {
            let var = |what: &str, default| env_usize(&format!("GATEHOUSE_BENCH_{prefix}{what}"), default);
            let scale = Scale {
                name,
                tokens: var("TOKENS", defaults[0])?,
                servers: var("SERVERS", defaults[1])?,
                workspaces: var("WORKSPACES", defaults[2])?,
                changes: var("CHANGES", defaults[3])?,
            };
            ensure!(
                scale.servers >= 1 && scale.workspaces >= 1 && scale.changes >= 1,
                "the {name} scale needs at least one server, one workspace and one change"
            );
            Ok(scale)
        };
        let wanted = std::env::var("GATEHOUSE_BENCH_SCALES").unwrap_or_else(|_| "small,large".to_owned());
        let mut scales = Vec::new();
        for name in wanted.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            scales.push(match name {
                "small" => scale("small", "SMALL_", [100, 10, 5, 200])?,
                "large" => scale("large", "", [100_000, 1000, 100, 200])?,
                other => bail!("GATEHOUSE_BENCH_SCALES: unknown scale {other:?} (small, large)"),
            });
        }
        ensure!(!scales.is_empty(), "GATEHOUSE_BENCH_SCALES names no scale");
        let settings = Self {
            scales,
            edges: env_usize("GATEHOUSE_BENCH_EDGES", 10)?,
            clients: env_usize("GATEHOUSE_BENCH_CLIENTS", 8)?,
            poll: Duration::from_millis(env_usize("GATEHOUSE_BENCH_POLL_MS", 1)? as u64),
            timeout: Duration::from_secs(env_usize("GATEHOUSE_BENCH_TIMEOUT_SECS", 120)? as u64),
            database_url: std::env::var("GATEHOUSE_BENCH_DATABASE_URL").ok().filter(|u| !u.trim().is_empty()),
            log_filter: std::env::var("GATEHOUSE_BENCH_LOG").unwrap_or_else(|_| "warn".to_owned()),
        };
        ensure!(settings.edges >= 1 && settings.clients >= 1, "at least one edge and one client are needed");
        Ok(settings)
    }
}

fn env_usize(key: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(key) {
        Ok(v) if !v.trim().is_empty() => {
            v.trim().parse().with_context(|| format!("{key}={v:?} is not a count"))
        }
        _ => Ok(default),
    }
}

fn workspace(i: usize) -> String {
    format!("ws-{i:05}")
}

fn server(i: usize) -> String {
    format!("srv-{i:05}")
}

/// The admin API, with errors that name the call.
#[derive(Clone)]
struct Admin {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Admin {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Value,
        expected: &[StatusCode],
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let resp = self.http.request(method.clone(), &url).bearer_auth(&self.token).json(&body).send().await;
        let resp = resp.with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let text = resp.text().await.with_context(|| format!("{method} {path}: reading the response"))?;
        ensure!(expected.contains(&status), "{method} {path}: expected {expected:?}, got {status}: {text}");
        Ok(if text.is_empty() { Value::Null } else { serde_json::from_str(&text)? })
    }

    /// The config version in the database, from `GET /v1/edges`.
    async fn config_version(&self) -> anyhow::Result<u64> {
        let url = format!("{}/v1/edges", self.base);
        let resp = self.http.get(&url).bearer_auth(&self.token).send().await.context("GET /v1/edges")?;
        ensure!(resp.status() == StatusCode::OK, "GET /v1/edges answered {}", resp.status());
        let body: Value = resp.json().await.context("GET /v1/edges: reading the response")?;
        body["config_version"].as_u64().context("GET /v1/edges without config_version")
    }
}

/// Polls `check` every `every` until it yields a value, or fails after `timeout`.
async fn poll_until<T, Fut>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut check: impl FnMut() -> Fut,
) -> anyhow::Result<T>
where
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        ensure!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(every).await;
    }
}

struct Edge {
    process: GatehouseProcess,
    url: String,
}

impl Edge {
    /// The version the edge serves, or `None` until it has a config (or listens).
    async fn version(&self, http: &reqwest::Client) -> anyhow::Result<Option<u64>> {
        self.process.ensure_running()?;
        let Ok(resp) = http.get(format!("{}/readyz", self.url)).send().await else {
            return Ok(None);
        };
        if resp.status() == StatusCode::SERVICE_UNAVAILABLE {
            return Ok(None);
        }
        ensure!(
            resp.status() == StatusCode::OK,
            "{} /readyz answered {}",
            self.process.name(),
            resp.status()
        );
        let body: Value = resp.json().await?;
        Ok(body["config_version"].as_u64())
    }

    /// Waits until the edge serves `version` or later.
    async fn wait_for(&self, http: &reqwest::Client, version: u64, timeout: Duration) -> anyhow::Result<()> {
        let what = format!("{} to serve config version {version}", self.process.name());
        poll_until(&what, timeout, READY_POLL, || async {
            Ok(self.version(http).await?.filter(|v| *v >= version).map(|_| ()))
        })
        .await
    }
}

/// A control plane and its edges, each a `gatehouse` process; all stop when dropped.
struct Cluster {
    // Fields drop in order: the processes stop before the database and the directory go.
    edges: Vec<Edge>,
    cp: GatehouseProcess,
    admin: Admin,
    http: reqwest::Client,
    binary: PathBuf,
    grpc_url: String,
    node_token: String,
    log_filter: String,
    timeout: Duration,
    _db: Option<TestDb>,
    dir: tempfile::TempDir,
}

impl Cluster {
    async fn start(settings: &Settings, binary: &Path) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("gatehouse-config-scale-").tempdir()?;
        let db = match &settings.database_url {
            Some(url) => Some(TestDb::postgres_on(url.clone(), "GATEHOUSE_BENCH_DATABASE_URL").await),
            None => None,
        };
        let database_url = match &db {
            Some(db) => db.url(),
            None => format!("sqlite://{}?mode=rwc", dir.path().join("gatehouse.db").display()),
        };
        let admin_token = format!("bench-admin-{}", uuid::Uuid::new_v4().simple());
        let node_token = format!("bench-node-{}", uuid::Uuid::new_v4().simple());
        let api = format!("127.0.0.1:{}", processes::free_port()?);
        let grpc = format!("127.0.0.1:{}", processes::free_port()?);
        let env = [
            ("GATEHOUSE_DATABASE_URL", database_url),
            ("GATEHOUSE_MASTER_KEY", processes::keygen(binary)?),
            ("GATEHOUSE_ADMIN_TOKEN", admin_token.clone()),
            ("GATEHOUSE_NODE_TOKEN", node_token.clone()),
            ("GATEHOUSE_API_ADDR", api.clone()),
            ("GATEHOUSE_GRPC_ADDR", grpc.clone()),
            ("GATEHOUSE_ALLOW_LOOPBACK_UPSTREAMS", "true".to_owned()),
            ("RUST_LOG", settings.log_filter.clone()),
        ];
        let env = env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let cp = GatehouseProcess::spawn(
            "control plane",
            binary,
            "control-plane",
            &env,
            &dir.path().join("control-plane.log"),
        )?;
        let http = reqwest::Client::builder().timeout(settings.timeout).build()?;
        let admin = Admin { http: http.clone(), base: format!("http://{api}"), token: admin_token };
        let healthz = format!("{}/healthz", admin.base);
        poll_until("the control plane to answer /healthz", settings.timeout, READY_POLL, || async {
            cp.ensure_running()?;
            Ok(http.get(&healthz).send().await.ok().filter(|r| r.status().is_success()).map(|_| ()))
        })
        .await?;
        let mut cluster = Self {
            edges: Vec::new(),
            cp,
            admin,
            http,
            binary: binary.to_owned(),
            grpc_url: format!("http://{grpc}"),
            node_token,
            log_filter: settings.log_filter.clone(),
            timeout: settings.timeout,
            _db: db,
            dir,
        };
        for i in 0..settings.edges {
            let edge = cluster.spawn_edge(i)?;
            cluster.edges.push(edge);
        }
        cluster.wait_in_sync().await?;
        Ok(cluster)
    }

    /// Starts edge number `i` with an empty config cache; does not wait for it.
    fn spawn_edge(&self, i: usize) -> anyhow::Result<Edge> {
        let addr = format!("127.0.0.1:{}", processes::free_port()?);
        let env = [
            ("GATEHOUSE_CONTROL_PLANE_URL", self.grpc_url.clone()),
            ("GATEHOUSE_NODE_TOKEN", self.node_token.clone()),
            ("GATEHOUSE_NODE_ID", format!("bench-edge-{i}")),
            ("GATEHOUSE_EDGE_ADDR", addr.clone()),
            ("GATEHOUSE_EDGE_CACHE", self.dir.path().join(format!("edge-{i}.bin")).display().to_string()),
            ("GATEHOUSE_ALLOW_LOOPBACK_UPSTREAMS", "true".to_owned()),
            ("RUST_LOG", self.log_filter.clone()),
        ];
        let env = env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let log = self.dir.path().join(format!("edge-{i}.log"));
        let process = GatehouseProcess::spawn(&format!("edge {i}"), &self.binary, "edge", &env, &log)?;
        Ok(Edge { process, url: format!("http://{addr}") })
    }

    /// Waits until every edge serves the control plane's current version.
    async fn wait_in_sync(&self) -> anyhow::Result<()> {
        let version = self.admin.config_version().await?;
        for edge in &self.edges {
            edge.wait_for(&self.http, version, self.timeout).await?;
        }
        Ok(())
    }

    /// (control plane, every edge) CPU time and RSS now.
    fn stats(&self) -> anyhow::Result<(processes::ProcessStats, Vec<processes::ProcessStats>)> {
        let edges = self.edges.iter().map(|e| e.process.stats()).collect::<anyhow::Result<_>>()?;
        Ok((self.cp.stats()?, edges))
    }
}

/// Runs `n` calls of `call`, `clients` at a time; prints progress every 10 s.
async fn run_concurrently<Fut>(
    what: &str,
    n: usize,
    clients: usize,
    call: impl Fn(usize) -> Fut,
) -> anyhow::Result<Duration>
where
    Fut: Future<Output = anyhow::Result<Value>>,
{
    let start = Instant::now();
    let (mut done, mut last_done, mut last_report) = (0, 0, start);
    let mut calls = futures::stream::iter(0..n).map(call).buffer_unordered(clients);
    while let Some(result) = calls.next().await {
        result.with_context(|| format!("creating {what}"))?;
        done += 1;
        if last_report.elapsed() >= Duration::from_secs(10) {
            let rate = (done - last_done) as f64 / last_report.elapsed().as_secs_f64();
            eprintln!("  {what}: {done}/{n} after {:.0} s, now {rate:.0}/s", start.elapsed().as_secs_f64());
            (last_done, last_report) = (done, Instant::now());
        }
    }
    Ok(start.elapsed())
}

/// When a request carrying `token` was first accepted by the edge at `url`
/// (the send time of the first request not answered 401), and how many requests it took.
async fn token_works_at(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    poll: Duration,
    timeout: Duration,
) -> anyhow::Result<(Instant, u32)> {
    let start = Instant::now();
    let mut polls = 0;
    loop {
        polls += 1;
        let sent = Instant::now();
        let resp = http
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(TOOLS_LIST)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = resp.status();
        let body = resp.text().await.with_context(|| format!("POST {url}: reading the response"))?;
        if status != StatusCode::UNAUTHORIZED {
            ensure!(status.is_success(), "{url} answered {status} to a new token: {body}");
            ensure!(body.contains("echo"), "{url} listed no echo tool to a new token: {body}");
            return Ok((sent, polls));
        }
        ensure!(start.elapsed() < timeout, "{url} still refused a new token after {timeout:?}");
        tokio::time::sleep(poll).await;
    }
}

#[derive(Clone, Copy)]
struct Percentiles {
    p50: Duration,
    p99: Duration,
}

fn percentiles(mut samples: Vec<Duration>) -> Percentiles {
    samples.sort();
    let n = samples.len();
    Percentiles { p50: samples[n / 2], p99: samples[(n * 99 / 100).min(n - 1)] }
}

struct Report {
    scale: &'static str,
    title: String,
    tokens: usize,
    changes: usize,
    edges: usize,
    clients: usize,
    setup: Vec<(&'static str, usize, Duration)>,
    mint: Percentiles,
    propagation: Percentiles,
    end_to_end: Percentiles,
    polls_per_edge: f64,
    cp_cpu: Duration,
    edge_cpu: Duration,
    cp_rss: (u64, u64),
    edge_rss: (u64, u64),
    new_edge_up: Duration,
    new_edge_ready: Duration,
    new_edge_version: u64,
    new_edge_rss: u64,
}

fn average(values: impl Iterator<Item = u64>) -> u64 {
    let (sum, n) = values.fold((0u128, 0u128), |(s, n), v| (s + u128::from(v), n + 1));
    u64::try_from(sum / n.max(1)).unwrap_or(u64::MAX)
}

async fn run_scale(
    settings: &Settings,
    scale: &Scale,
    binary: &Path,
    upstream: &str,
) -> anyhow::Result<Report> {
    let backend = if settings.database_url.is_some() { "postgres" } else { "sqlite" };
    let title = format!(
        "{}: {} tokens, {} servers, {} workspaces, {} edges, {} changes, {backend}",
        scale.name, scale.tokens, scale.servers, scale.workspaces, settings.edges, scale.changes
    );
    eprintln!("config scale {title}: starting");
    let cluster = Cluster::start(settings, binary).await?;
    let (cp_idle, edges_idle) = cluster.stats()?;

    // Populate: every server is provisioned to one workspace (round robin), and
    // tokens are spread over the workspaces the same way.
    let admin = &cluster.admin;
    let created = &[StatusCode::CREATED];
    let (w, s, clients) = (scale.workspaces, scale.servers, settings.clients);
    let mut setup = Vec::new();
    let took = run_concurrently("workspaces", w, clients, |i| {
        admin.call(
            Method::POST,
            "/v1/workspaces",
            json!({"slug": workspace(i), "name": workspace(i)}),
            created,
        )
    })
    .await?;
    setup.push(("workspaces", w, took));
    let took = run_concurrently("servers", s, clients, |i| {
        let body = json!({"slug": server(i), "name": server(i), "url": upstream, "auth_type": "none"});
        admin.call(Method::POST, "/v1/servers", body, created)
    })
    .await?;
    setup.push(("servers", s, took));
    let took = run_concurrently("provisions", s, clients, |i| {
        let path = format!("/v1/workspaces/{}/servers/{}", workspace(i % w), server(i));
        async move { admin.call(Method::PUT, &path, json!({}), &[StatusCode::OK, StatusCode::CREATED]).await }
    })
    .await?;
    setup.push(("provisions", s, took));
    let took = run_concurrently("tokens", scale.tokens, clients, |i| {
        let body = json!({"user": format!("user-{i}@bench.example"), "team": workspace(i % w)});
        admin.call(Method::POST, "/v1/auth/tokens", body, created)
    })
    .await?;
    setup.push(("tokens", scale.tokens, took));
    cluster.wait_in_sync().await?;
    let (cp_populated, edges_populated) = cluster.stats()?;

    // Changes: one token at a time, in the workspace that has server 0.
    eprintln!("config scale {}: populated, measuring {} changes", scale.name, scale.changes);
    let probes: Vec<String> = cluster.edges.iter().map(|e| format!("{}/mcp/{}", e.url, server(0))).collect();
    let (mut mint, mut propagation, mut end_to_end, mut polls) = (Vec::new(), Vec::new(), Vec::new(), 0u64);
    let (cp_before, edges_before) = cluster.stats()?;
    for i in 0..scale.changes {
        let body = json!({"user": format!("probe-{i}@bench.example"), "team": workspace(0)});
        let start = Instant::now();
        let minted = admin.call(Method::POST, "/v1/auth/tokens", body, created).await?;
        let returned = Instant::now();
        let token = minted["token"].as_str().context("POST /v1/auth/tokens returned no token")?;
        let waits = probes
            .iter()
            .map(|url| token_works_at(&cluster.http, url, token, settings.poll, settings.timeout));
        let accepted = futures::future::try_join_all(waits).await?;
        let everywhere = accepted.iter().map(|(at, _)| *at).max().unwrap_or(returned);
        polls += accepted.iter().map(|(_, n)| u64::from(*n)).sum::<u64>();
        mint.push(returned - start);
        propagation.push(everywhere.saturating_duration_since(returned));
        end_to_end.push(everywhere.saturating_duration_since(start));
    }
    let (cp_after, edges_after) = cluster.stats()?;
    let per_change = |d: Duration| d / scale.changes as u32;
    let edge_cpu =
        average(edges_before.iter().zip(&edges_after).map(|(b, a)| (a.cpu - b.cpu).as_nanos() as u64));

    // A new edge: process start to ready at the current version (a full snapshot).
    let version = admin.config_version().await?;
    let started = Instant::now();
    let edge = cluster.spawn_edge(settings.edges)?;
    let healthz = format!("{}/healthz", edge.url);
    let new_edge_up =
        poll_until("the new edge to answer /healthz", settings.timeout, Duration::from_millis(1), || async {
            edge.process.ensure_running()?;
            let up = cluster.http.get(&healthz).send().await.ok().filter(|r| r.status().is_success());
            Ok(up.map(|_| started.elapsed()))
        })
        .await?;
    edge.wait_for(&cluster.http, version, settings.timeout).await?;
    let new_edge_ready = started.elapsed();
    let new_edge_rss = edge.process.stats()?.rss;
    drop(edge);

    Ok(Report {
        scale: scale.name,
        title,
        tokens: scale.tokens,
        changes: scale.changes,
        edges: settings.edges,
        clients,
        setup,
        mint: percentiles(mint),
        propagation: percentiles(propagation),
        end_to_end: percentiles(end_to_end),
        polls_per_edge: polls as f64 / (scale.changes * settings.edges) as f64,
        cp_cpu: per_change(cp_after.cpu - cp_before.cpu),
        edge_cpu: per_change(Duration::from_nanos(edge_cpu)),
        cp_rss: (cp_idle.rss, cp_populated.rss),
        edge_rss: (average(edges_idle.iter().map(|s| s.rss)), average(edges_populated.iter().map(|s| s.rss))),
        new_edge_up,
        new_edge_ready,
        new_edge_version: version,
        new_edge_rss,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

impl Report {
    fn print(&self) {
        println!("\nconfig scale {}", self.title);
        println!("{:<34} {:>10} {:>10}", "population", "total s", "per s");
        for (what, n, took) in &self.setup {
            let what = if *what == "tokens" {
                format!("tokens ({} clients)", self.clients)
            } else {
                what.to_string()
            };
            let rate = *n as f64 / took.as_secs_f64().max(1e-9);
            println!("  {what:<32} {:>10.2} {rate:>10.0}", took.as_secs_f64());
        }
        println!("{:<34} {:>10} {:>10}", format!("per change ({})", self.changes), "p50 ms", "p99 ms");
        let rows = [
            ("mint call", self.mint),
            ("then works at every edge", self.propagation),
            ("mint + propagation", self.end_to_end),
        ];
        for (what, p) in rows {
            println!("  {what:<32} {:>10.3} {:>10.3}", ms(p.p50), ms(p.p99));
        }
        println!("  ({:.1} requests per edge per change)", self.polls_per_edge);
        println!("{:<34} {:>10}", "CPU per change", "ms");
        println!("  {:<32} {:>10.3}", "control plane", ms(self.cp_cpu));
        println!("  {:<32} {:>10.3}", format!("edge (average of {})", self.edges), ms(self.edge_cpu));
        println!("{:<34} {:>10} {:>10}", "memory (VmRSS MiB)", "idle", "populated");
        println!("  {:<32} {:>10.1} {:>10.1}", "control plane", mib(self.cp_rss.0), mib(self.cp_rss.1));
        let edge = format!("edge (average of {})", self.edges);
        println!("  {edge:<32} {:>10.1} {:>10.1}", mib(self.edge_rss.0), mib(self.edge_rss.1));
        println!("{:<34} {:>10}", "new edge", "ms");
        println!("  {:<32} {:>10.1}", "answers /healthz", ms(self.new_edge_up));
        let ready = format!("ready at version {}", self.new_edge_version);
        println!(
            "  {ready:<32} {:>10.1}   (then {:.1} MiB RSS)",
            ms(self.new_edge_ready),
            mib(self.new_edge_rss)
        );
    }
}

fn compare(small: &Report, large: &Report) {
    let ratio = |l: Duration, s: Duration| {
        if s.is_zero() {
            "n/a".to_owned()
        } else {
            format!("x{:.1}", l.as_secs_f64() / s.as_secs_f64())
        }
    };
    println!("\nlarge / small ({} vs {} tokens)", large.tokens, small.tokens);
    let rows = [
        ("propagation", large.propagation, small.propagation),
        ("mint call", large.mint, small.mint),
        ("mint + propagation", large.end_to_end, small.end_to_end),
    ];
    for (what, l, s) in rows {
        println!("  {what:<32} p50 {:>8}   p99 {:>8}", ratio(l.p50, s.p50), ratio(l.p99, s.p99));
    }
    println!(
        "  {:<32} control plane {}   edge {}",
        "CPU per change",
        ratio(large.cp_cpu, small.cp_cpu),
        ratio(large.edge_cpu, small.edge_cpu)
    );
    println!("  {:<32} {}", "new edge ready", ratio(large.new_edge_ready, small.new_edge_ready));
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; there are no flags, so arguments are ignored.
    let settings = Settings::from_env()?;
    let built = processes::gatehouse_binary()?;
    // A private copy: a build in a shared target directory during the run must not
    // swap the binary under the processes started later (the new edge).
    let bin_dir = tempfile::Builder::new().prefix("gatehouse-config-scale-bin-").tempdir()?;
    let binary = bin_dir.path().join("gatehouse");
    std::fs::copy(&built, &binary).with_context(|| format!("copying {}", built.display()))?;
    eprintln!("gatehouse binary: {} (run from a copy)", built.display());
    let upstream = McpUpstream::start(SessionMode::Stateless).await;
    let mut reports = Vec::new();
    for scale in &settings.scales {
        let report = run_scale(&settings, scale, &binary, &upstream.url)
            .await
            .with_context(|| format!("{} scale", scale.name))?;
        report.print();
        reports.push(report);
    }
    let find = |name| reports.iter().find(|r| r.scale == name);
    if let (Some(small), Some(large)) = (find("small"), find("large")) {
        compare(small, large);
    }
    Ok(())
}
