use http_body_util::BodyExt as _;
use serde_json::{json, Value};

use super::*;
use crate::audit::OutcomeKind;

fn outcome() -> RequestOutcome {
    RequestOutcome {
        method: Some("tools/call".into()),
        tool: Some("t".into()),
        upstream_status: Some(200),
        ..RequestOutcome::for_tests(OutcomeKind::ToolCall)
    }
}

const ALL: AuditCapture = AuditCapture { arguments: true, results: true, max_bytes: 256 };

/// Streams `chunks` through a tap and returns what the client got and the pushed record's result.
async fn tap(chunks: &[&str], sse: bool, id: u64, max_bytes: u32) -> (String, Option<Value>) {
    let call = json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"t"}}).to_string();
    let (_, plan) = plan(AuditCapture { max_bytes, ..ALL }, call.as_bytes());
    let owned: Vec<Result<Bytes, std::io::Error>> =
        chunks.iter().map(|c| Ok(Bytes::copy_from_slice(c.as_bytes()))).collect();
    let body = Body::from_stream(futures::stream::iter(owned));
    let queue = Arc::new(AuditQueue::new(10));
    let wrapped = ResultTap::wrap(body, sse, plan.unwrap(), outcome(), queue.clone());
    let seen = wrapped.collect().await.unwrap().to_bytes();
    let pushed = queue.take(10);
    assert_eq!(pushed.len(), 1, "one event per call");
    let result = pushed[0].result.as_deref().map(|r| serde_json::from_str(r).unwrap());
    (String::from_utf8(seen.to_vec()).unwrap(), result)
}

#[test]
fn arguments_are_redacted_and_cut() {
    let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t",
        "arguments":{"query":"weather","api_key":"k-123","note":"Bearer abc"}}});
    let (arguments, result) = plan(ALL, body.to_string().as_bytes());
    let arguments: Value = serde_json::from_str(&arguments.unwrap()).unwrap();
    assert_eq!(
        arguments,
        json!({"truncated": false, "value": {"query": "weather", "api_key": "[redacted]", "note": "Bearer [redacted]"}})
    );
    assert_eq!(result.unwrap().id, "1");

    let long = "x".repeat(1000);
    let body = json!({"id":"a","method":"tools/call","params":{"name":"t","arguments":{"text": long}}});
    let (arguments, _) = plan(AuditCapture { max_bytes: 100, ..ALL }, body.to_string().as_bytes());
    let arguments: Value = serde_json::from_str(&arguments.unwrap()).unwrap();
    assert_eq!(arguments["truncated"], true);
    assert_eq!(arguments["text"].as_str().unwrap().len(), 100);

    let off = AuditCapture { arguments: false, results: true, max_bytes: 100 };
    assert!(plan(off, body.to_string().as_bytes()).0.is_none());
}

#[tokio::test]
async fn a_json_result_is_recorded_and_the_body_passes_unchanged() {
    let answer = r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"sunny, token ghp_0123456789abcdefABCDEF0123"}]}}"#;
    let (a, b) = answer.split_at(20);
    let (seen, result) = tap(&[a, b], false, 7, 256).await;
    assert_eq!(seen, answer);
    let result = result.unwrap();
    assert_eq!(result["truncated"], false);
    assert_eq!(result["value"]["content"][0]["text"], "sunny, token [redacted]");

    let big =
        json!({"jsonrpc":"2.0","id":7,"result":{"text": "y".repeat(500), "password": "p4ss"}}).to_string();
    let (seen, result) = tap(&[&big], false, 7, 100).await;
    assert_eq!(seen, big);
    let result = result.unwrap();
    assert_eq!(result["truncated"], true);
    assert!(result["text"].as_str().unwrap().len() <= 100);
    assert!(!result.to_string().contains("p4ss"));
}

#[tokio::test]
async fn an_sse_result_is_found_by_its_id_across_chunks() {
    let events = concat!(
        "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\r\n\r\n",
        "data: {\"jsonrpc\":\"2.0\",\"id\":99,\"result\":{\"other\":true}}\n\n",
        "id: 5\ndata: {\"jsonrpc\":\"2.0\",\n",
        "data: \"id\":3,\"result\":{\"ok\":\"yes\",\"secret\":\"s\"}}\n\n",
        ": keep-alive\n\n",
    );
    // Split everywhere to cross chunk boundaries.
    let chunks: Vec<String> =
        events.as_bytes().chunks(7).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    let refs: Vec<&str> = chunks.iter().map(String::as_str).collect();
    let (seen, result) = tap(&refs, true, 3, 256).await;
    assert_eq!(seen, events, "the stream passes unchanged");
    assert_eq!(result.unwrap(), json!({"truncated": false, "value": {"ok": "yes", "secret": "[redacted]"}}));

    // A stream that never answers records no result, and still records the call.
    let (_, result) = tap(&["data: {\"jsonrpc\":\"2.0\",\"method\":\"x\"}\n\n"], true, 3, 256).await;
    assert!(result.is_none());
}

#[tokio::test]
async fn an_sse_result_larger_than_the_cap_is_cut() {
    let event = format!("data: {}\n\n", json!({"jsonrpc":"2.0","id":4,"result":{"text": "z".repeat(400)}}));
    let (_, result) = tap(&[&event], true, 4, 100).await;
    let result = result.unwrap();
    assert_eq!(result["truncated"], true, "{result}");
    assert!(result["text"].as_str().unwrap().contains("\"id\":4"), "{result}");
}
