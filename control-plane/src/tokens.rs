//! Gateway tokens: format, generation, hashing and `expiresIn` parsing.
//!
//! A token is `gth_` + 40 random base62 characters + 6 base62 characters of
//! the CRC32 of those 40, so secret scanners recognise it and a typo is
//! rejected without a lookup. Only `sha256(token text)` is stored, computed by
//! [`hash_token`], the function the edge looks presented tokens up with.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use gatehouse_config::token_hash::{hash_token, TokenHash};
use rand::distributions::{Alphanumeric, DistString};
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};

/// Prefix of every gateway token.
pub const TOKEN_PREFIX: &str = gatehouse_config::token_hash::GATEWAY_TOKEN_PREFIX;
/// Prefix of every edge token (the credential of an edge node), same shape otherwise.
pub const EDGE_TOKEN_PREFIX: &str = gatehouse_config::token_hash::EDGE_TOKEN_PREFIX;
const RANDOM_LEN: usize = 40;
const CHECKSUM_LEN: usize = 6;
/// Total length of a gateway token.
pub const TOKEN_LEN: usize = TOKEN_PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Longest lifetime `expiresIn` accepts (ten years), so timestamps never overflow.
pub const MAX_LIFETIME_SECS: i64 = 10 * 366 * 24 * 3600;
/// Lifetime used when `expiresIn` is omitted.
pub const DEFAULT_EXPIRES_IN: &str = "30d";

/// A freshly generated gateway token: the text (shown once) and what is stored.
pub struct GeneratedToken {
    /// The token text, returned to the caller once and never stored.
    pub token: SecretString,
    /// SHA-256 of the token text, the only form persisted.
    pub hash: TokenHash,
    /// Non-secret hint for listings (`gth_abcd…wxyz`).
    pub hint: String,
}

impl fmt::Debug for GeneratedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedToken").field("hint", &self.hint).finish_non_exhaustive()
    }
}

/// Prefix of every org API key (admin API credentials acting in one org with one role).
pub const API_KEY_PREFIX: &str = gatehouse_config::token_hash::API_KEY_PREFIX;

/// Generates a new random gateway token.
pub fn generate() -> GeneratedToken {
    generate_with(TOKEN_PREFIX)
}

/// Generates a new random org API key (same shape as a gateway token, its own prefix).
pub fn generate_api_key() -> GeneratedToken {
    generate_with(API_KEY_PREFIX)
}

/// Whether `text` has the org API key shape and a valid checksum.
pub fn is_api_key(text: &str) -> bool {
    is_well_formed_with(API_KEY_PREFIX, text)
}

/// Generates a new random edge token (`ghn_…`).
pub fn generate_edge_token() -> GeneratedToken {
    generate_with(EDGE_TOKEN_PREFIX)
}

fn generate_with(prefix: &str) -> GeneratedToken {
    let random = Alphanumeric.sample_string(&mut OsRng, RANDOM_LEN);
    let text = format!("{prefix}{random}{}", checksum(random.as_bytes()));
    let hash = hash_token(&text);
    let hint = hint(&text);
    GeneratedToken { token: SecretString::from(text), hash, hint }
}

/// The non-secret hint shown in listings: first 8 and last 4 characters.
pub fn hint(token: &str) -> String {
    let head: String = token.chars().take(8).collect();
    let tail: String = token.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("{head}…{tail}")
}

/// Whether `token` has the gateway token shape and a valid checksum.
pub fn is_well_formed(token: &str) -> bool {
    is_well_formed_with(TOKEN_PREFIX, token)
}

fn is_well_formed_with(prefix: &str, token: &str) -> bool {
    let Some(rest) = token.strip_prefix(prefix) else {
        return false;
    };
    if rest.len() != RANDOM_LEN + CHECKSUM_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let (random, check) = rest.split_at(RANDOM_LEN);
    checksum(random.as_bytes()) == check
}

/// Base62 of the CRC32 of `data`, left-padded to 6 characters.
fn checksum(data: &[u8]) -> String {
    let mut n = crc32(data);
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    // 62^6 > 2^32, so the value always fits.
    String::from_utf8(out.to_vec()).expect("base62 is ascii")
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as in zlib.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// Why an `expiresIn` value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpiresInError {
    /// Not `<n>s|m|h|d|w` or `never`.
    #[error("expiresIn must be \"never\" or a positive number followed by s, m, h, d or w (e.g. \"30d\")")]
    Format,
    /// Longer than [`MAX_LIFETIME_SECS`].
    #[error("expiresIn must be at most ten years")]
    TooLong,
}

/// How long a token lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Never expires.
    Never,
    /// Expires this long after issue.
    For(Duration),
}

impl Lifetime {
    /// The expiry time for a token issued at `issued_at`.
    pub fn expires_at(self, issued_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Lifetime::Never => None,
            Lifetime::For(d) => Some(issued_at + d),
        }
    }
}

/// Parses `expiresIn`: `"<n>s|m|h|d|w"` or `"never"`; `None` means the default (30 days).
pub fn parse_expires_in(value: Option<&str>) -> Result<Lifetime, ExpiresInError> {
    let text = value.unwrap_or(DEFAULT_EXPIRES_IN);
    if text == "never" {
        return Ok(Lifetime::Never);
    }
    let split =
        text.len().checked_sub(1).filter(|&i| text.is_char_boundary(i)).ok_or(ExpiresInError::Format)?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() || digits.len() > 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ExpiresInError::Format);
    }
    let n: i64 = digits.parse().map_err(|_| ExpiresInError::Format)?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(ExpiresInError::Format),
    };
    if n == 0 {
        return Err(ExpiresInError::Format);
    }
    let secs = n.checked_mul(unit_secs).ok_or(ExpiresInError::TooLong)?;
    if secs > MAX_LIFETIME_SECS {
        return Err(ExpiresInError::TooLong);
    }
    Ok(Lifetime::For(Duration::seconds(secs)))
}

/// Hashes an admin or node token for constant-time comparison.
pub fn hash_secret(secret: &SecretString) -> [u8; 32] {
    hash_token(secret.expose_secret())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crc32_matches_reference() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b"The quick brown fox jumps over the lazy dog"), 0x414F_A339);
    }

    #[test]
    fn generated_token_has_the_documented_shape() {
        let t = generate();
        let text = t.token.expose_secret();
        assert_eq!(text.len(), TOKEN_LEN);
        assert!(text.starts_with("gth_"));
        assert!(text[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(is_well_formed(text));
        assert_eq!(t.hash, hash_token(text));
        assert_eq!(t.hint, format!("{}…{}", &text[..8], &text[text.len() - 4..]));
        assert!(!format!("{t:?}").contains(text));
    }

    #[test]
    fn api_keys_are_not_gateway_tokens() {
        let k = generate_api_key();
        let text = k.token.expose_secret();
        assert!(text.starts_with("gak_") && is_api_key(text));
        assert!(!is_well_formed(text), "an API key is never accepted as a gateway token");
        assert!(!is_api_key(generate().token.expose_secret()));
    }

    #[test]
    fn tokens_are_unique() {
        let a = generate();
        let b = generate();
        assert_ne!(a.token.expose_secret(), b.token.expose_secret());
    }

    #[test]
    fn checksum_rejects_typos() {
        let t = generate();
        let text = t.token.expose_secret().to_owned();
        let mut chars: Vec<char> = text.chars().collect();
        chars[10] = if chars[10] == 'a' { 'b' } else { 'a' };
        let typo: String = chars.into_iter().collect();
        assert!(!is_well_formed(&typo));
        assert!(!is_well_formed(&text[..text.len() - 1]));
        assert!(!is_well_formed(&text.replacen("gth_", "ghp_", 1)));
    }

    #[test]
    fn expires_in_examples() {
        assert_eq!(parse_expires_in(None), Ok(Lifetime::For(Duration::days(30))));
        assert_eq!(parse_expires_in(Some("never")), Ok(Lifetime::Never));
        assert_eq!(parse_expires_in(Some("90s")), Ok(Lifetime::For(Duration::seconds(90))));
        assert_eq!(parse_expires_in(Some("15m")), Ok(Lifetime::For(Duration::minutes(15))));
        assert_eq!(parse_expires_in(Some("12h")), Ok(Lifetime::For(Duration::hours(12))));
        assert_eq!(parse_expires_in(Some("2w")), Ok(Lifetime::For(Duration::weeks(2))));
        for bad in ["", "d", "0d", "-1d", "1", "1y", "1.5h", " 1d", "1D", "Never", "1dd", "é", "1é"] {
            assert_eq!(parse_expires_in(Some(bad)), Err(ExpiresInError::Format), "{bad:?}");
        }
        assert_eq!(parse_expires_in(Some("99999999999w")), Err(ExpiresInError::TooLong));
        assert_eq!(parse_expires_in(Some("3661d")), Err(ExpiresInError::TooLong));
    }

    #[test]
    fn lifetime_expiry() {
        let now = Utc::now();
        assert_eq!(Lifetime::Never.expires_at(now), None);
        assert_eq!(Lifetime::For(Duration::days(1)).expires_at(now), Some(now + Duration::days(1)));
    }

    proptest! {
        #[test]
        fn expires_in_never_panics(s in "\\PC{0,16}") {
            let _ = parse_expires_in(Some(&s));
        }

        #[test]
        fn expires_in_accepts_every_valid_value(n in 1i64..=520, unit in prop::sample::select(vec!["s", "m", "h", "d", "w"])) {
            let secs = match unit { "s" => n, "m" => n * 60, "h" => n * 3600, "d" => n * 86_400, _ => n * 604_800 };
            prop_assert_eq!(parse_expires_in(Some(&format!("{n}{unit}"))), Ok(Lifetime::For(Duration::seconds(secs))));
        }

        #[test]
        fn random_strings_are_not_tokens(s in "gth_[A-Za-z0-9]{46}") {
            // A random 46-char tail passes the checksum with probability ~2^-32.
            let (random, check) = s[4..].split_at(RANDOM_LEN);
            prop_assert_eq!(is_well_formed(&s), checksum(random.as_bytes()) == check);
        }

        #[test]
        fn checksum_is_always_six_base62_chars(data in prop::collection::vec(any::<u8>(), 0..64)) {
            let c = checksum(&data);
            prop_assert_eq!(c.len(), 6);
            prop_assert!(c.bytes().all(|b| b.is_ascii_alphanumeric()));
        }
    }
}
