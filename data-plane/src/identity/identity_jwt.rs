//! `X-User-JWT`: short-lived ES256 identity assertions the edge signs with
//! `EdgeSettings.identity_signing_jwk`, cached per (caller, server) until near expiry.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// A cached assertion is re-signed once it has less than this many seconds left.
const REFRESH_MARGIN_SECS: i64 = 30;
/// Entries kept before the cache is emptied.
const MAX_CACHE_ENTRIES: usize = 10_000;

/// The private EC P-256 JWK as pushed by the control plane.
#[derive(Deserialize)]
struct PrivateJwk {
    kty: String,
    crv: String,
    x: String,
    y: String,
    d: SecretString,
    #[serde(default)]
    kid: Option<String>,
}

/// The edge's identity-assertion signing key (parsed once per config version).
pub struct IdentitySigner {
    key: EncodingKey,
    kid: Option<String>,
}

impl std::fmt::Debug for IdentitySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentitySigner").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl IdentitySigner {
    /// Parses a private P-256 JWK; errors never contain key material.
    pub fn from_jwk(json: &str) -> Result<Self, &'static str> {
        let jwk: PrivateJwk = serde_json::from_str(json).map_err(|_| "not a JSON private JWK")?;
        if jwk.kty != "EC" || jwk.crv != "P-256" {
            return Err("identity signing key must be an EC P-256 JWK");
        }
        let decode =
            |s: &str| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).map_err(|_| "invalid base64url");
        let d = Zeroizing::new(decode(jwk.d.expose_secret())?);
        let mut public = vec![0x04];
        public.extend(decode(&jwk.x)?);
        public.extend(decode(&jwk.y)?);
        let pair = aws_lc_rs::signature::EcdsaKeyPair::from_private_key_and_public_key(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &d,
            &public,
        )
        .map_err(|_| "identity signing key is not a valid P-256 key pair")?;
        let pkcs8 = pair.to_pkcs8v1().map_err(|_| "cannot encode the identity signing key")?;
        Ok(Self { key: EncodingKey::from_ec_der(pkcs8.as_ref()), kid: jwk.kid })
    }

    /// The key id put in the JWT header.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    fn sign(&self, claims: &Map<String, Value>) -> Option<String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = self.kid.clone();
        header.typ = Some("JWT".into());
        match jsonwebtoken::encode(&header, claims, &self.key) {
            Ok(jwt) => Some(jwt),
            Err(err) => {
                tracing::warn!(%err, "cannot sign the identity assertion");
                None
            }
        }
    }
}

/// Signed assertions reused across requests until they near expiry.
#[derive(Debug, Default)]
pub struct IdentityJwtCache {
    entries: Mutex<HashMap<[u8; 32], (i64, String)>>,
}

impl IdentityJwtCache {
    /// An assertion with `claims` (plus iss, aud, iat, exp, jti) valid for `ttl_secs`.
    pub fn get_or_sign(
        &self,
        signer: &IdentitySigner,
        issuer: &str,
        audience: &str,
        claims: &Map<String, Value>,
        ttl_secs: i64,
        now_unix: i64,
    ) -> Option<String> {
        let mut hasher = Sha256::new();
        for part in [signer.kid().unwrap_or(""), issuer, audience, &ttl_secs.to_string()] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        hasher.update(serde_json::to_vec(claims).unwrap_or_default());
        let key: [u8; 32] = hasher.finalize().into();
        {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((exp, jwt)) = entries.get(&key) {
                if exp - now_unix > REFRESH_MARGIN_SECS {
                    return Some(jwt.clone());
                }
            }
        }
        let exp = now_unix + ttl_secs;
        let mut full = claims.clone();
        full.insert("iss".into(), issuer.into());
        full.insert("aud".into(), audience.into());
        full.insert("iat".into(), now_unix.into());
        full.insert("exp".into(), exp.into());
        full.insert("jti".into(), URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()).into());
        let jwt = signer.sign(&full)?;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (exp, jwt.clone()));
        Some(jwt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_keys_are_refused_without_echoing_them() {
        let err = IdentitySigner::from_jwk(r#"{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"c2VjcmV0"}"#)
            .unwrap_err();
        assert!(!err.contains("c2VjcmV0"));
        assert!(IdentitySigner::from_jwk(r#"{"kty":"RSA"}"#).is_err());
    }
}
