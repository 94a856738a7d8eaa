//! Gateway token parsing: the edge's extraction of a presented token from
//! `Authorization` / `X-API-Key` (`data-plane/src/auth.rs`) and the control
//! plane's format check and `expiresIn` parser (`control-plane/src/tokens.rs`).
//! Nothing panics; an extracted token is a trimmed, non-empty part of one of
//! the headers; a well-formed token has the documented shape; a lifetime is
//! positive and at most ten years.
#![no_main]

use gatehouse_data_plane::fuzzing::presented_token;
use gatehouse_fuzz::tokens::{
    is_api_key, is_well_formed, parse_expires_in, Lifetime, MAX_LIFETIME_SECS, TOKEN_LEN, TOKEN_PREFIX,
};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    // `authorization \0 x-api-key`: either may be absent or not a valid header value.
    let mut parts = input.splitn(2, |&b| b == 0);
    let (auth, api_key) = (parts.next().unwrap_or_default(), parts.next());
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(auth) {
        headers.insert(http::header::AUTHORIZATION, v);
    }
    if let Some(Ok(v)) = api_key.map(HeaderValue::from_bytes) {
        headers.insert("x-api-key", v);
    }
    if let Some(token) = presented_token(&headers) {
        assert!(!token.is_empty());
        assert_eq!(token, token.trim());
        assert!(
            headers.values().any(|v| v.to_str().is_ok_and(|s| s.contains(token))),
            "{token:?} is not in the headers"
        );
    }

    let Ok(text) = std::str::from_utf8(input) else { return };
    if is_well_formed(text) {
        assert_eq!(text.len(), TOKEN_LEN);
        assert!(text.starts_with(TOKEN_PREFIX));
        assert!(text[TOKEN_PREFIX.len()..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(!is_api_key(text));
    }
    match parse_expires_in(Some(text)) {
        Ok(Lifetime::Never) => assert_eq!(text, "never"),
        Ok(Lifetime::For(d)) => assert!(d.num_seconds() > 0 && d.num_seconds() <= MAX_LIFETIME_SECS),
        Err(_) => {}
    }
});
