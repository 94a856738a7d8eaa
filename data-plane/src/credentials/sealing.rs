//! Encryption of cached access tokens: AES-256-GCM under the control plane's
//! `token_cache_key`, with the cache key as associated data so a value copied
//! to another key (another user's entry) does not decrypt.

use aes_gcm::aead::{Aead as _, Payload};
use aes_gcm::{Aes256Gcm, KeyInit as _, Nonce};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

const NONCE_LEN: usize = 12;
/// First byte of every sealed value, so the format can change later.
const FORMAT_V1: u8 = 1;

/// An access token as cached: the token plus what decides its use.
#[derive(Debug, Clone)]
pub struct CachedToken {
    /// The bearer token.
    pub access_token: SecretString,
    /// Unix seconds; 0 = unknown.
    pub expires_at: i64,
    /// The grant it came from (empty for client credentials).
    pub grant_id: String,
    /// The grant version it came from (0 for client credentials).
    pub grant_version: u64,
}

#[derive(Serialize, Deserialize)]
struct Plain<'a> {
    #[serde(rename = "t")]
    token: &'a str,
    #[serde(rename = "e")]
    expires_at: i64,
    #[serde(rename = "g")]
    grant_id: &'a str,
    #[serde(rename = "v")]
    grant_version: u64,
}

/// Seals and opens cached tokens with one key.
pub struct TokenSealer {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for TokenSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSealer(..)")
    }
}

impl TokenSealer {
    /// A sealer for a 32-byte key; `None` for any other length.
    pub fn new(key: &[u8]) -> Option<Self> {
        let key: &[u8; 32] = key.try_into().ok()?;
        Some(Self { cipher: Aes256Gcm::new(key.into()) })
    }

    /// A sealer with a fresh random key, for values that never leave this process.
    pub fn ephemeral() -> Self {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        Self { cipher: Aes256Gcm::new(&key.into()) }
    }

    /// `version ‖ nonce ‖ ciphertext` of `token`, bound to `cache_key`.
    pub fn seal(&self, cache_key: &str, token: &CachedToken) -> Vec<u8> {
        let plain = Plain {
            token: token.access_token.expose_secret(),
            expires_at: token.expires_at,
            grant_id: &token.grant_id,
            grant_version: token.grant_version,
        };
        let plain = zeroize::Zeroizing::new(serde_json::to_vec(&plain).unwrap_or_default());
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let payload = Payload { msg: &plain, aad: cache_key.as_bytes() };
        // Encryption with a valid key and in-memory buffers cannot fail.
        let ciphertext = self.cipher.encrypt(Nonce::from_slice(&nonce), payload).unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// The token sealed under `cache_key`, or `None` if the value is foreign,
    /// tampered with, sealed under another key or bound to another cache key.
    pub fn open(&self, cache_key: &str, sealed: &[u8]) -> Option<CachedToken> {
        let (&version, rest) = sealed.split_first()?;
        if version != FORMAT_V1 || rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let payload = Payload { msg: ciphertext, aad: cache_key.as_bytes() };
        let plain = zeroize::Zeroizing::new(self.cipher.decrypt(Nonce::from_slice(nonce), payload).ok()?);
        let plain: Plain<'_> = serde_json::from_slice(&plain).ok()?;
        Some(CachedToken {
            access_token: SecretString::from(plain.token.to_owned()),
            expires_at: plain.expires_at,
            grant_id: plain.grant_id.to_owned(),
            grant_version: plain.grant_version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> CachedToken {
        CachedToken {
            access_token: SecretString::from("at-very-secret".to_owned()),
            expires_at: 1_900_000_000,
            grant_id: "g1".into(),
            grant_version: 7,
        }
    }

    #[test]
    fn round_trips_and_hides_the_token() {
        let sealer = TokenSealer::new(&[7u8; 32]).unwrap();
        let sealed = sealer.seal("k1", &token());
        assert!(!sealed.windows(b"at-very-secret".len()).any(|w| w == b"at-very-secret"));
        let opened = sealer.open("k1", &sealed).unwrap();
        assert_eq!(opened.access_token.expose_secret(), "at-very-secret");
        assert_eq!(
            (opened.expires_at, opened.grant_id.as_str(), opened.grant_version),
            (1_900_000_000, "g1", 7)
        );
    }

    #[test]
    fn wrong_key_other_cache_key_or_tampering_do_not_open() {
        let sealer = TokenSealer::new(&[7u8; 32]).unwrap();
        let sealed = sealer.seal("k1", &token());
        assert!(TokenSealer::new(&[8u8; 32]).unwrap().open("k1", &sealed).is_none());
        assert!(sealer.open("k2", &sealed).is_none(), "bound to its cache key");
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(sealer.open("k1", &tampered).is_none());
        assert!(sealer.open("k1", b"at-very-secret").is_none());
        assert!(sealer.open("k1", &[]).is_none());
    }

    #[test]
    fn only_32_byte_keys() {
        assert!(TokenSealer::new(&[0u8; 16]).is_none());
        assert!(TokenSealer::new(&[]).is_none());
    }
}
