//! PKCE (RFC 7636) with S256 only, and random `state` values.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// A PKCE verifier and its S256 challenge.
pub struct Pkce {
    /// The verifier (43 characters of base64url from 32 random bytes).
    pub verifier: SecretString,
    /// `base64url(sha256(verifier))`.
    pub challenge: String,
}

impl Pkce {
    /// A fresh verifier and its challenge.
    pub fn generate() -> Self {
        let verifier = random_token();
        let challenge = challenge_for(verifier.expose_secret());
        Self { verifier, challenge }
    }
}

/// The S256 challenge of `verifier`.
pub fn challenge_for(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// 32 random bytes as base64url (43 characters): states, link ids, verifiers.
pub fn random_token() -> SecretString {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    SecretString::from(URL_SAFE_NO_PAD.encode(bytes))
}

/// Hex SHA-256, how links and states are stored.
pub fn hash_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        assert_eq!(
            challenge_for("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifiers_are_long_and_unique() {
        let a = Pkce::generate();
        let b = Pkce::generate();
        assert_eq!(a.verifier.expose_secret().len(), 43);
        assert_ne!(a.verifier.expose_secret(), b.verifier.expose_secret());
        assert_eq!(a.challenge, challenge_for(a.verifier.expose_secret()));
    }
}
