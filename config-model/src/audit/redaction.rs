//! The one rule for what an audit record must never hold, applied by the control
//! plane to admin before/after snapshots and by the edges to the tool-call
//! arguments and results a server opted in to recording:
//!
//! - every value under a key naming a secret (`secret`, `token`, `password`,
//!   `credential`, `authorization`, `api_key`, `private`, `cookie`, …; not
//!   `*_url`/`*_uri`/`*_endpoint`, which say where a secret comes from);
//! - every word of a string that looks like a credential: Gatehouse's own
//!   prefixes (`gth_`, `gak_`, `gha_`, `ghn_`, …), well-known vendor key
//!   prefixes, the word after `Bearer`/`Basic`, JWT-shaped `eyJ….….…`, and long
//!   high-entropy hex or base64 tokens. Ordinary words, UUIDs, URLs and paths
//!   stay readable.
//!
//! [`redact_value`] walks a parsed JSON value; [`redact_json_text`] rewrites JSON
//! text, including a prefix cut off anywhere (a truncated capture), with the
//! same rule, without building a value.

use std::borrow::Cow;

use serde_json::Value;

use crate::token_hash::{ADMIN_TOKEN_PREFIX, API_KEY_PREFIX, EDGE_TOKEN_PREFIX, GATEWAY_TOKEN_PREFIX};

/// What a redacted value reads as.
pub const REDACTED: &str = "[redacted]";

/// Key names whose values are never recorded.
const SECRET_KEY_PARTS: &[&str] = &[
    "secret",
    "token",
    "password",
    "passwd",
    "credential",
    "authorization",
    "api_key",
    "apikey",
    "api-key",
    "private",
    "cookie",
];

/// Prefixes of Gatehouse's own secrets: gateway tokens, admin tokens, API keys,
/// edge tokens, machine-client secrets, refresh tokens and authorization codes.
const GATEHOUSE_PREFIXES: &[&str] =
    &[GATEWAY_TOKEN_PREFIX, ADMIN_TOKEN_PREFIX, API_KEY_PREFIX, EDGE_TOKEN_PREFIX, "ghcs_", "ghr_", "ghac_"];

/// Prefixes of other vendors' keys (GitHub, GitLab, OpenAI/Anthropic, Stripe,
/// Slack, AWS, Google), recognised when a long enough remainder with a digit follows.
const VENDOR_PREFIXES: &[&str] = &[
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "github_pat_",
    "glpat-",
    "sk-",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "xoxs-",
    "AKIA",
    "AIza",
];

/// An HTTP authorization scheme word: what follows it is a credential.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    None,
    /// `Bearer …`: whatever follows.
    Bearer,
    /// `Basic …`: what follows when it looks like base64 (not "basic usage").
    Basic,
}

fn scheme(word: &str) -> Scheme {
    if word.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if word.eq_ignore_ascii_case("basic") {
        Scheme::Basic
    } else {
        Scheme::None
    }
}

fn looks_like_basic_credentials(word: &str) -> bool {
    word.len() >= 8
        && word.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        && word.bytes().any(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

/// Shortest run of characters the entropy rule looks at: long enough that
/// identifiers and words do not reach it with the character mix it needs.
const MIN_ENTROPY_LEN: usize = 32;

/// Whether values under `key` are never recorded.
pub fn is_secret_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    // `token_url` names where tokens come from, not a token.
    let address = ["url", "uri", "endpoint"].iter().any(|end| lower.ends_with(end));
    !address && SECRET_KEY_PARTS.iter().any(|part| lower.contains(part))
}

/// Keys whose values are public digests (a CA's SHA-256, a fingerprint): long hex
/// that is no secret, exempt from the entropy rule (never from the others).
fn is_digest_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    lower.ends_with("sha256") || lower.ends_with("fingerprint")
}

/// `value` with every secret replaced by `"[redacted]"` (see the module docs).
pub fn redact_value(value: Value) -> Value {
    redact_under(value, false)
}

fn redact_under(value: Value, digest: bool) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let redacted = if !v.is_null() && is_secret_key(&k) {
                        Value::String(REDACTED.into())
                    } else {
                        redact_under(v, is_digest_key(&k))
                    };
                    (k, redacted)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| redact_under(v, digest)).collect()),
        Value::String(s) => match redact_text(&s, digest) {
            Cow::Borrowed(_) => Value::String(s),
            Cow::Owned(r) => Value::String(r),
        },
        other => other,
    }
}

/// Whether `text` as a whole is a credential (one word that the rule redacts).
pub fn is_credential(text: &str) -> bool {
    looks_like_credential(text, false)
}

/// `text` with each word that looks like a credential replaced by `[redacted]`;
/// borrowed when nothing was replaced. `digest`: the entropy rule is off.
pub fn redact_text(text: &str, digest: bool) -> Cow<'_, str> {
    let mut out: Option<String> = None;
    let mut last = 0;
    let mut after = Scheme::None;
    for (start, word) in words(text) {
        // What was redacted before stays as it is: redacting twice changes nothing.
        if word == "redacted" && text[..start].ends_with('[') {
            after = Scheme::None;
            continue;
        }
        let secret = match after {
            Scheme::Bearer => true,
            Scheme::Basic => looks_like_basic_credentials(word),
            Scheme::None => false,
        } || looks_like_credential(word, digest);
        after = scheme(word);
        if secret {
            let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
            buf.push_str(&text[last..start]);
            buf.push_str(REDACTED);
            last = start + word.len();
        }
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut buf) => {
            buf.push_str(&text[last..]);
            Cow::Owned(buf)
        }
    }
}

/// The words of `text` with their byte offsets: runs of characters a token can hold.
fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '+' | '~');
    let mut rest = text.char_indices().peekable();
    std::iter::from_fn(move || {
        while rest.peek().is_some_and(|(_, c)| !is_word(*c)) {
            rest.next();
        }
        let (start, _) = *rest.peek()?;
        let mut end = start;
        while let Some((i, c)) = rest.peek().copied() {
            if !is_word(c) {
                break;
            }
            end = i + c.len_utf8();
            rest.next();
        }
        // A sentence's full stop or a path's separator is not part of the word.
        let word = text[start..end].trim_end_matches(['.', '/']);
        Some((start, word))
    })
    .filter(|(_, w)| !w.is_empty())
}

fn looks_like_credential(word: &str, digest: bool) -> bool {
    if GATEHOUSE_PREFIXES.iter().any(|p| word.len() >= p.len() + 6 && word.starts_with(p)) {
        return true;
    }
    let vendor = VENDOR_PREFIXES.iter().any(|p| {
        word.strip_prefix(p).is_some_and(|rest| rest.len() >= 16 && rest.bytes().any(|b| b.is_ascii_digit()))
    });
    if vendor || is_jwt_shaped(word) {
        return true;
    }
    // A path or a dotted name is looked at piece by piece.
    !digest && word.split(['.', '/']).any(is_high_entropy)
}

/// `header.payload.signature`, base64url, the header a JSON object (`eyJ` = `{"`).
fn is_jwt_shaped(word: &str) -> bool {
    let mut parts = word.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let b64url = |t: &str| t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    h.starts_with("eyJ") && h.len() >= 10 && p.len() >= 4 && b64url(h) && b64url(p) && b64url(s)
}

/// A long run of hex with letters and digits, or of base64 with upper and lower
/// case letters and digits and a random-looking spread of characters.
fn is_high_entropy(piece: &str) -> bool {
    if piece.len() < MIN_ENTROPY_LEN {
        return false;
    }
    let bytes = piece.as_bytes();
    let digits = bytes.iter().any(u8::is_ascii_digit);
    if bytes.iter().all(u8::is_ascii_hexdigit) {
        return digits && bytes.iter().any(u8::is_ascii_alphabetic);
    }
    let base64 = bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'_'));
    let mixed =
        bytes.iter().any(u8::is_ascii_uppercase) && bytes.iter().any(u8::is_ascii_lowercase) && digits;
    base64 && mixed && shannon_bits(bytes) >= 4.0
}

fn shannon_bits(bytes: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for b in bytes {
        counts[usize::from(*b)] += 1;
    }
    let n = bytes.len() as f64;
    counts.iter().filter(|c| **c > 0).map(|c| f64::from(*c) / n).map(|p| -p * p.log2()).sum()
}

/// JSON text (a whole document, or a prefix cut off anywhere) with the same rule
/// applied: values under secret keys become `"[redacted]"`, credential-looking
/// words in strings `[redacted]`. A string or a secret value cut off by the end
/// of `text` is left out rather than shown in part.
pub fn redact_json_text(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    // Per open container: whether it is an object, whether a key comes next, the last key.
    let mut stack: Vec<(bool, bool, Option<String>)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => {
                stack.push((true, true, None));
                out.push('{');
                i += 1;
            }
            b'[' => {
                stack.push((false, false, None));
                out.push('[');
                i += 1;
            }
            b'}' | b']' => {
                stack.pop();
                out.push(char::from(bytes[i]));
                i += 1;
            }
            b',' => {
                if let Some(top) = stack.last_mut() {
                    top.1 = top.0;
                }
                out.push(',');
                i += 1;
            }
            b':' => {
                out.push(':');
                i += 1;
                let secret = stack.last().and_then(|t| t.2.as_deref()).is_some_and(is_secret_key);
                if secret {
                    let start = skip_whitespace(bytes, i);
                    if bytes.get(start..start + 4) == Some(b"null") {
                        i = start;
                        continue;
                    }
                    let Some(end) = skip_value(bytes, start) else { break };
                    out.push('"');
                    out.push_str(REDACTED);
                    out.push('"');
                    i = end;
                }
            }
            b'"' => {
                let Some(end) = string_end(bytes, i) else { break };
                let raw = &text[i..end];
                let top = stack.last_mut();
                match top {
                    Some(top) if top.0 && top.1 => {
                        top.1 = false;
                        top.2 = serde_json::from_str::<String>(raw).ok();
                        out.push_str(raw);
                    }
                    _ => {
                        let digest = stack.last().and_then(|t| t.2.as_deref()).is_some_and(is_digest_key);
                        match serde_json::from_str::<String>(raw) {
                            Ok(s) => match redact_text(&s, digest) {
                                Cow::Borrowed(_) => out.push_str(raw),
                                Cow::Owned(r) => out.push_str(&Value::String(r).to_string()),
                            },
                            Err(_) => out.push_str("\"\""),
                        }
                    }
                }
                i = end;
            }
            _ => {
                // Numbers, literals and whitespace: copied up to the next structural character.
                let start = i;
                while i < bytes.len() && !matches!(bytes[i], b'{' | b'}' | b'[' | b']' | b',' | b':' | b'"') {
                    i += 1;
                }
                out.push_str(&text[start..i]);
            }
        }
    }
    out
}

fn skip_whitespace(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// The end (exclusive) of the string starting at `start` (a `"`), if it ends.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The end (exclusive) of the JSON value starting at `start`, if it ends within `bytes`.
fn skip_value(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i = string_end(bytes, i)?;
                if depth == 0 {
                    return Some(i);
                }
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                if depth == 0 {
                    return Some(i);
                }
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b',' if depth == 0 => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests;
