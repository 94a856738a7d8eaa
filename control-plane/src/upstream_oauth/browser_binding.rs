//! Binds an upstream authorization to the browser that started it.
//!
//! `state` alone picks (org, user, server) at the callback, so without this a user
//! could hand the upstream authorization URL of their own link to a colleague and
//! receive the colleague's upstream account as their grant. The start route sets a
//! cookie holding an HMAC of `state`; the callback requires it. The cookie is named
//! per flow (a hash prefix of `state`), so several flows in one browser don't
//! overwrite each other, and is `__Host-` prefixed when the public URL is https
//! (a plain-http dev origin cannot set such a cookie, as for the SSO session).

use aws_lc_rs::hmac;
use axum::http::{HeaderMap, HeaderValue};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use secrecy::{ExposeSecret as _, SecretBox};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::authorize::PENDING_TTL;

const NAME: &str = "gatehouse_upstream_oauth_";

/// The cookie name of the flow with `state`.
pub fn cookie_name(secure: bool, state: &str) -> String {
    let digest = Sha256::digest(format!("gatehouse upstream oauth cookie name\0{state}").as_bytes());
    let suffix: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}{NAME}{suffix}", if secure { "__Host-" } else { "" })
}

/// The cookie value of the flow with `state`: base64url(HMAC-SHA256(key, state)).
pub fn cookie_value(key: &SecretBox<[u8; 32]>, state: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key.expose_secret());
    let tag = hmac::sign(&key, format!("gatehouse upstream oauth browser\0{state}").as_bytes());
    URL_SAFE_NO_PAD.encode(tag.as_ref())
}

/// The `Set-Cookie` header the start route sends.
pub fn set_cookie(key: &SecretBox<[u8; 32]>, secure: bool, state: &str) -> HeaderValue {
    let attributes = attributes(secure, PENDING_TTL.as_secs());
    let cookie = format!("{}={}; {attributes}", cookie_name(secure, state), cookie_value(key, state));
    HeaderValue::from_str(&cookie).expect("cookie text is ASCII")
}

/// The `Set-Cookie` header that removes the flow's cookie once the callback used it.
pub fn clear_cookie(secure: bool, state: &str) -> HeaderValue {
    let cookie = format!("{}=; {}", cookie_name(secure, state), attributes(secure, 0));
    HeaderValue::from_str(&cookie).expect("cookie text is ASCII")
}

/// `Lax`: the callback is a top-level GET navigation from the upstream AS, which
/// carries Lax cookies; `HttpOnly` keeps it from scripts.
fn attributes(secure: bool, max_age: u64) -> String {
    format!("Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{}", if secure { "; Secure" } else { "" })
}

/// Whether the request carries the cookie of the flow with `state`, with the right HMAC.
pub fn verify(headers: &HeaderMap, key: &SecretBox<[u8; 32]>, secure: bool, state: &str) -> bool {
    let name = cookie_name(secure, state);
    let expected = cookie_value(key, state);
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(n, v)| n == name && bool::from(v.as_bytes().ct_eq(expected.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretBox<[u8; 32]> {
        SecretBox::new(Box::new([byte; 32]))
    }

    #[test]
    fn only_the_cookie_of_this_state_under_this_key_verifies() {
        let set = set_cookie(&key(1), true, "state-a");
        let text = set.to_str().unwrap();
        assert!(text.starts_with("__Host-gatehouse_upstream_oauth_"), "{text}");
        assert!(text.contains("; Secure") && text.contains("HttpOnly") && text.contains("Path=/;"), "{text}");
        let pair = text.split(';').next().unwrap();
        let mut headers = HeaderMap::new();
        headers
            .insert(axum::http::header::COOKIE, HeaderValue::from_str(&format!("other=1; {pair}")).unwrap());
        assert!(verify(&headers, &key(1), true, "state-a"));
        assert!(!verify(&headers, &key(2), true, "state-a"), "another key");
        assert!(!verify(&headers, &key(1), true, "state-b"), "another flow");
        assert!(!verify(&headers, &key(1), false, "state-a"), "the dev name differs");
        assert!(!verify(&HeaderMap::new(), &key(1), true, "state-a"));
        let dev = set_cookie(&key(1), false, "state-a");
        assert!(dev.to_str().unwrap().starts_with("gatehouse_upstream_oauth_"));
        assert!(!dev.to_str().unwrap().contains("Secure"));
        assert!(clear_cookie(true, "state-a").to_str().unwrap().contains("Max-Age=0"));
    }
}
