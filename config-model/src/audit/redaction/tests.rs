use serde_json::json;

use super::*;

#[test]
fn secret_keys_are_redacted_at_any_depth_but_addresses_are_not() {
    let v = json!({
        "name": "github",
        "oauth": {"client_id": "abc", "client_secret": "s3cr3t", "token_url": "https://x"},
        "headers": [{"Authorization": "Bearer abc"}],
        "note": "gth_0123456789abcdef",
        "api_key": null,
        "password": {"nested": 1},
    });
    let r = redact_value(v);
    assert_eq!(r["name"], "github");
    assert_eq!(r["oauth"]["client_id"], "abc");
    assert_eq!(r["oauth"]["client_secret"], REDACTED);
    assert_eq!(r["oauth"]["token_url"], "https://x");
    assert_eq!(r["headers"][0]["Authorization"], REDACTED);
    assert_eq!(r["note"], REDACTED);
    assert_eq!(r["api_key"], Value::Null);
    assert_eq!(r["password"], REDACTED);
}

#[test]
fn credential_shaped_words_are_redacted_inside_text() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
    for (text, expected) in [
        ("use Bearer abc.def-123 please", "use Bearer [redacted] please"),
        ("basic dXNlcjpwYXNz", "basic [redacted]"),
        (&format!("jwt {jwt}.") as &str, "jwt [redacted]."),
        ("key ghp_0123456789abcdefABCDEF0123", "key [redacted]"),
        ("sk-proj-1234567890abcdefghij", "[redacted]"),
        ("AKIAIOSFODNN7EXAMPLE1", "[redacted]"),
        ("hex 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 end", "hex [redacted] end"),
        ("b64 Zm9vYmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1u", "b64 [redacted]"),
        ("gak_AbCdEf0123456789", "[redacted]"),
    ] {
        assert_eq!(redact_text(text, false), expected, "{text}");
    }
}

#[test]
fn ordinary_text_ids_and_urls_stay_readable() {
    for text in [
        "The quick brown fox jumps over the lazy dog.",
        "0193a6c4-7d9f-7b2e-9c1a-3f5e6d7c8b9a",
        "https://api.example.com/v1/repos/octocat/hello-world/issues?state=open",
        "internationalization_configuration_manager_settings",
        "src/components/ServerConfigurationPanel.tsx",
        "Bearer",
        "sk-learning-toolkit-for-everyone",
        "deploy to production-eu-west-1 at 10:40",
        "token",
    ] {
        assert_eq!(redact_text(text, false), text, "{text}");
    }
    // A CA's digest under a digest key is no secret.
    let v = json!({"issuer_ca_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"});
    assert_eq!(redact_value(v.clone()), v);
}

#[test]
fn json_text_is_redacted_like_the_value_even_when_cut_off() {
    let doc = json!({
        "query": "select 1",
        "auth": {"password": "hunter2", "user": "bob"},
        "list": [1, "Bearer xyz", {"api_key": [1, 2, {"a": "b"}]}, null],
        "note": "ghp_0123456789abcdefABCDEF0123",
        "secret": null,
        "n": -1.5e3,
        "esc\"aped": "a\"b",
    });
    let text = doc.to_string();
    let redacted: Value = serde_json::from_str(&redact_json_text(&text)).unwrap();
    assert_eq!(redacted, redact_value(doc));
    // Every prefix is redacted without showing a secret, whole or in part.
    for cut in 0..text.len() {
        if !text.is_char_boundary(cut) {
            continue;
        }
        let out = redact_json_text(&text[..cut]);
        for secret in ["hunter2", "hunter", "xyz", "ghp_0123", "[1,2,{"] {
            assert!(!out.contains(secret), "cut at {cut}: {out}");
        }
    }
}

#[test]
fn redacting_twice_changes_nothing() {
    let v = json!({"auth": "Bearer abc.def", "k": "key ghp_0123456789abcdefABCDEF0123", "password": "x"});
    let once = redact_value(v);
    assert_eq!(once["auth"], "Bearer [redacted]");
    assert_eq!(redact_value(once.clone()), once);
    let text = once.to_string();
    assert_eq!(redact_json_text(&text), text);
}
