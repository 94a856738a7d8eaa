//! The edge's JSON-RPC peek (`data-plane/src/jsonrpc.rs`) on arbitrary bodies:
//! it never panics, and what it reports agrees with a full JSON parse — the
//! method, tool name and id the policy judges are the ones the upstream will
//! read, and a body it calls unparsable is not JSON.
#![no_main]

use gatehouse_data_plane::fuzzing::peek;
use gatehouse_data_plane::jsonrpc::PeekError;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|body: &[u8]| {
    let peeked = peek(body);
    let full = serde_json::from_slice::<Value>(body);
    match peeked {
        Ok(p) => {
            let value = match full {
                Ok(value) => value,
                // Valid JSON that serde_json's `Value` cannot hold (a number beyond f64, a
                // lone surrogate escape in a string the peek skips or keeps raw, like `id`):
                // the grammar check without building values accepts it.
                Err(e) if unrepresentable(&e) || grammatical(body) => return,
                Err(e) => panic!("a peeked body is JSON: {e}"),
            };
            let object = value.as_object().expect("a peeked body is an object");
            if let Some(Value::String(method)) = object.get("method") {
                assert_eq!(p.method(), Some(method.as_str()));
            }
            if let Some(Value::Object(params)) = object.get("params") {
                if let Some(Value::String(name)) = params.get("name") {
                    assert_eq!(p.name(), Some(name.as_str()));
                }
                if let Some(Value::String(uri)) = params.get("uri") {
                    assert_eq!(p.uri(), Some(uri.as_str()));
                }
            }
            match (object.get("id"), p.id) {
                (None | Some(Value::Null), None) => {}
                (Some(id), Some(raw)) => {
                    assert_eq!(&serde_json::from_str::<Value>(raw.get()).unwrap(), id)
                }
                (id, raw) => panic!("id {id:?} peeked as {raw:?}"),
            }
        }
        Err(PeekError::Parse) => assert!(full.is_err(), "valid JSON reported as a parse error"),
        Err(PeekError::Batch) => assert!(body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[')),
        Err(PeekError::Invalid) => {}
    }
});

/// Whether `body` is JSON by the grammar alone: serde_json skipping a value checks escapes
/// are four hex digits but not that surrogates pair, as RFC 8259's grammar does.
fn grammatical(body: &[u8]) -> bool {
    serde_json::from_slice::<Box<serde_json::value::RawValue>>(body).is_ok()
}

/// serde_json's errors for JSON the grammar allows but a `Value` cannot hold.
fn unrepresentable(e: &serde_json::Error) -> bool {
    let m = e.to_string();
    m.starts_with("number out of range")
        || m.contains("surrogate")
        || m.starts_with("invalid unicode code point")
}
