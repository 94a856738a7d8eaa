//! Reading `/metrics` as Prometheus does: fetched, parsed with a Prometheus text-format
//! parser, and looked up by metric name and exact label set.

use prometheus_parse::{Sample, Scrape, Value};
use reqwest::StatusCode;

/// Fetches and parses `/metrics` at `url`, checking the content type a scraper expects.
pub async fn scrape(url: &str) -> Scrape {
    let response = reqwest::get(url).await.expect("GET /metrics");
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let text = response.text().await.unwrap();
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("prometheus text format")
}

/// The samples of `metric` whose labels are exactly `labels`.
pub fn find<'a>(scrape: &'a Scrape, metric: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .filter(|s| s.labels.len() == labels.len())
        .collect()
}

/// The value of the one counter or gauge `metric` with exactly `labels` (0 when absent,
/// as Prometheus reads a series that was never touched).
pub fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let found = find(scrape, metric, labels);
    assert!(found.len() <= 1, "{metric} {labels:?} is one series");
    found.first().map_or(0.0, |s| match &s.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{metric} is not a counter or gauge: {other:?}"),
    })
}

/// The observation count of the histogram `metric` with exactly `labels`.
pub fn histogram_count(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let found = find(scrape, metric, labels);
    let Some(Sample { value: Value::Histogram(buckets), .. }) = found.first() else {
        panic!("no histogram {metric} {labels:?}");
    };
    let inf = buckets.iter().find(|b| b.less_than.is_infinite()).expect("a +Inf bucket");
    inf.count
}

/// Sum of every series of `metric`.
pub fn total(scrape: &Scrape, metric: &str) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            _ => 0.0,
        })
        .sum()
}
