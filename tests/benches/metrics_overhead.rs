//! What the edge's metrics cost a request: the recording an allowed `tools/call` does on the
//! request path (org and server labels, method, tool label, upstream timing, then the request
//! counter, duration histogram, upstream histogram and tool-call counter), repeated on real
//! `EdgeMetrics`. Prints nanoseconds per request; under callgrind, run it with two counts and
//! divide the difference in instructions by the difference in requests.
//!
//! Run: `cargo bench -p gatehouse-tests --bench metrics_overhead`
//! (`GATEHOUSE_BENCH_REQUESTS`, default 1 000 000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_data_plane::metrics::{EdgeMetrics, RequestRecord};

fn main() {
    let n: u64 =
        std::env::var("GATEHOUSE_BENCH_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let metrics = EdgeMetrics::new();
    // As the config view holds them: one allocation per org and server, shared by every request.
    let (org, server): (Arc<str>, Arc<str>) = (Arc::from("acme"), Arc::from("github"));
    let started = Instant::now();
    for _ in 0..n {
        let mut record = RequestRecord::default();
        record.set_org(&org);
        record.set_server(&server);
        record.set_method("tools/call");
        record.set_tool(&metrics, "search_issues");
        record.upstream_started();
        record.upstream_finished(&metrics);
        record.finish(&metrics, &http::Method::POST, 200, None, Duration::from_micros(900));
    }
    let elapsed = started.elapsed();
    let text = metrics.render();
    assert!(text.contains(&format!("decision=\"allow\",status=\"200\"}} {n}")), "every request counted");
    println!("metrics recording: {n} requests, {:.1} ns per request", elapsed.as_nanos() as f64 / n as f64);
}
