//! Random opaque secrets (codes, refresh tokens, client secrets) and their stored digests.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A new random secret: `prefix` + base64url of 32 random bytes.
pub(crate) fn generate(prefix: &str) -> SecretString {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(bytes.as_mut());
    SecretString::from(format!("{prefix}{}", B64.encode(bytes.as_ref())))
}

/// The SHA-256 hex digest a secret is stored and looked up by.
pub(crate) fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `presented` hashes to `stored_digest`, in constant time.
pub(crate) fn matches(presented: &SecretString, stored_digest: &str) -> bool {
    digest(presented.expose_secret()).as_bytes().ct_eq(stored_digest.as_bytes()).into()
}

/// `BASE64URL(SHA256(verifier))`, the PKCE S256 transform (RFC 7636 §4.2).
pub(crate) fn pkce_s256(verifier: &str) -> String {
    B64.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether a PKCE verifier is well formed: 43–128 unreserved characters.
pub(crate) fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_is_unpadded_base64url_of_sha256() {
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mJ0BMVQfXpB3bw2QCH3rqcyNN_3a0"),
            "vLi0ES0ARDMX13AEOT4cZTtmtk4rEMPaGgEWGppRENM"
        );
    }

    #[test]
    fn verifier_rules() {
        assert!(is_valid_verifier(&"a".repeat(43)));
        assert!(!is_valid_verifier(&"a".repeat(42)));
        assert!(!is_valid_verifier(&"a".repeat(129)));
        assert!(!is_valid_verifier(&format!("{}+", "a".repeat(43))));
    }
}
