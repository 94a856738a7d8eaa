//! ES256 signing keys: generation (aws-lc-rs), JWK forms and the `kid` (RFC 7638 thumbprint).

use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::EncodingKey;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::store::{KeyPurpose, NewSigningKey};

/// A key could not be generated or opened.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The crypto library refused.
    #[error("ec key operation failed")]
    Crypto,
    /// A stored private JWK does not parse.
    #[error("malformed private jwk")]
    Malformed,
}

/// Generates a fresh P-256 key for `purpose`.
pub fn generate(purpose: KeyPurpose) -> Result<NewSigningKey, KeyError> {
    let rng = SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(|_| KeyError::Crypto)?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .map_err(|_| KeyError::Crypto)?;
    let point = pair.public_key().as_ref();
    if point.len() != 65 || point[0] != 4 {
        return Err(KeyError::Crypto);
    }
    let (x, y) = (B64.encode(&point[1..33]), B64.encode(&point[33..]));
    let d = pair.private_key().as_be_bytes().map_err(|_| KeyError::Crypto)?;
    let d = Zeroizing::new(B64.encode(d.as_ref()));
    // RFC 7638: members in lexicographic order, no whitespace.
    let thumbprint = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let kid = B64.encode(Sha256::digest(thumbprint.as_bytes()));
    let public_jwk =
        json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "use": "sig", "alg": "ES256"});
    let mut private = public_jwk.clone();
    private["d"] = json!(d.as_str());
    let private_jwk = SecretString::from(Zeroizing::new(private.to_string()).as_str());
    Ok(NewSigningKey { kid, purpose, public_jwk, private_jwk })
}

#[derive(serde::Deserialize)]
struct PrivateJwk {
    d: String,
    x: String,
    y: String,
}

/// The `jsonwebtoken` signing key of a stored private JWK.
pub fn encoding_key(private_jwk: &SecretString) -> Result<EncodingKey, KeyError> {
    let jwk: PrivateJwk =
        serde_json::from_str(private_jwk.expose_secret()).map_err(|_| KeyError::Malformed)?;
    let d_text = Zeroizing::new(jwk.d);
    let field = |text: &str| -> Result<Zeroizing<Vec<u8>>, KeyError> {
        B64.decode(text).map(Zeroizing::new).map_err(|_| KeyError::Malformed)
    };
    let (d, x, y) = (field(&d_text)?, field(&jwk.x)?, field(&jwk.y)?);
    let mut point = Vec::with_capacity(65);
    point.push(4u8);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    let pair = EcdsaKeyPair::from_private_key_and_public_key(&ECDSA_P256_SHA256_FIXED_SIGNING, &d, &point)
        .map_err(|_| KeyError::Malformed)?;
    let der = pair.to_pkcs8v1().map_err(|_| KeyError::Crypto)?;
    Ok(EncodingKey::from_ec_der(der.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_signs_and_public_jwk_has_no_private_part() {
        let key = generate(KeyPurpose::AccessToken).unwrap();
        assert!(key.public_jwk.get("d").is_none());
        assert_eq!(key.public_jwk["kid"], key.kid.as_str());
        assert!(key.private_jwk.expose_secret().contains("\"d\""));
        let enc = encoding_key(&key.private_jwk).unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(key.kid.clone());
        let token =
            jsonwebtoken::encode(&header, &json!({"sub": "x", "exp": 4_000_000_000u64}), &enc).unwrap();
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.public_jwk.clone()).unwrap();
        let dec = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.required_spec_claims.clear();
        validation.validate_aud = false;
        jsonwebtoken::decode::<serde_json::Value>(&token, &dec, &validation).unwrap();
    }

    #[test]
    fn debug_of_a_new_key_hides_the_private_part() {
        let key = generate(KeyPurpose::Identity).unwrap();
        let d = serde_json::from_str::<serde_json::Value>(key.private_jwk.expose_secret()).unwrap()["d"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(!format!("{:?}", key.private_jwk).contains(&d));
    }
}
