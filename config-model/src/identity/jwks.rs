//! JSON Web Key Sets parsed into verification keys indexed by `kid`: what an
//! inline `jwt_validation.jwks` must yield to be accepted, and what the edge
//! verifies tokens with (remote sets are fetched and cached by the edge).

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

/// One verification key.
pub struct VerificationKey {
    /// The key material.
    pub key: DecodingKey,
    /// RSA or EC (symmetric keys are never loaded).
    pub family: AlgorithmFamily,
    /// The algorithm the JWK pins, if any.
    pub alg: Option<Algorithm>,
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationKey").field("family", &self.family).field("alg", &self.alg).finish()
    }
}

impl VerificationKey {
    /// Whether this key may verify a token signed with `alg`.
    pub fn accepts(&self, alg: Algorithm) -> bool {
        alg.family() == self.family && self.alg.is_none_or(|pinned| pinned == alg)
    }
}

/// Public signature keys, indexed by `kid`.
#[derive(Debug, Default)]
pub struct KeySet {
    by_kid: HashMap<String, Arc<VerificationKey>>,
    all: Vec<Arc<VerificationKey>>,
}

impl KeySet {
    /// Parses a JWKS JSON document; keys that are symmetric, for encryption or
    /// unparseable are skipped. Fails when the document itself is malformed.
    pub fn parse(json: &str) -> Result<Self, String> {
        let set: JwkSet = serde_json::from_str(json).map_err(|e| format!("invalid JWKS: {e}"))?;
        let mut keys = KeySet::default();
        for jwk in &set.keys {
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                continue;
            }
            let family = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => AlgorithmFamily::Rsa,
                AlgorithmParameters::EllipticCurve(_) => AlgorithmFamily::Ec,
                // Never load a shared secret from a key set: it would enable HS* confusion.
                _ => continue,
            };
            let Ok(key) = DecodingKey::from_jwk(jwk) else { continue };
            let alg = jwk.common.key_algorithm.and_then(|a| match a {
                KeyAlgorithm::RS256 => Some(Algorithm::RS256),
                KeyAlgorithm::RS384 => Some(Algorithm::RS384),
                KeyAlgorithm::RS512 => Some(Algorithm::RS512),
                KeyAlgorithm::PS256 => Some(Algorithm::PS256),
                KeyAlgorithm::PS384 => Some(Algorithm::PS384),
                KeyAlgorithm::PS512 => Some(Algorithm::PS512),
                KeyAlgorithm::ES256 => Some(Algorithm::ES256),
                KeyAlgorithm::ES384 => Some(Algorithm::ES384),
                _ => None,
            });
            let key = Arc::new(VerificationKey { key, family, alg });
            if let Some(kid) = &jwk.common.key_id {
                keys.by_kid.insert(kid.clone(), Arc::clone(&key));
            }
            keys.all.push(key);
        }
        Ok(keys)
    }

    /// The key for `kid`; without a `kid`, the only key of the set (if there is exactly one).
    pub fn get(&self, kid: Option<&str>) -> Option<&Arc<VerificationKey>> {
        match kid {
            Some(kid) => self.by_kid.get(kid),
            None if self.all.len() == 1 => self.all.first(),
            None => None,
        }
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// Whether the set holds no usable key.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }
}
