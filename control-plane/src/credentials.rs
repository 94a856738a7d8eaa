//! Envelope encryption for secrets at rest (upstream header values, settings).
//!
//! Every record is sealed with a fresh random 256-bit data key (AES-256-GCM);
//! the data key is wrapped by a master key (AES-256-GCM) whose id is stored with
//! the record. A [`Keyring`] seals with its primary key and unseals with any key
//! it holds, so master keys can rotate: start with the new key as primary and
//! the old one as previous, and records are re-wrapped under the new key.
//!
//! Both layers bind the caller's AAD (e.g. `server:{id}:header:{name}`), so a
//! ciphertext copied to another row fails to open.

use std::fmt;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;
const WRAP_AAD_PREFIX: &[u8] = b"gatehouse:dek:v1:";

/// Why a key could not be loaded or a record could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The key text is not base64 of exactly 32 bytes.
    #[error("master key must be base64 of exactly 32 bytes")]
    InvalidKey,
    /// The record was sealed under a key this keyring does not hold.
    #[error("record was sealed with unknown master key {0}")]
    UnknownKey(String),
    /// Authentication failed: wrong key, wrong AAD or tampered data.
    #[error("sealed record failed authentication")]
    Unseal,
    /// The stored record is malformed.
    #[error("sealed record is malformed")]
    Malformed,
    /// The cipher refused to encrypt (never expected).
    #[error("encryption failed")]
    Seal,
}

/// A 256-bit master key. Cloning shares the same zeroize-on-drop allocation.
#[derive(Clone)]
pub struct MasterKey {
    bytes: Arc<SecretBox<[u8; KEY_LEN]>>,
    id: String,
}

impl MasterKey {
    /// Generates a fresh random key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(bytes.as_mut());
        Self::from_bytes(&bytes)
    }

    /// Builds a key from its raw bytes.
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        let id = hex::encode(&Sha256::digest(bytes)[..8]);
        Self { bytes: Arc::new(SecretBox::new(Box::new(*bytes))), id }
    }

    /// Parses standard base64 of exactly 32 bytes (surrounding whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Self, CredentialError> {
        let decoded =
            Zeroizing::new(BASE64.decode(text.trim().as_bytes()).map_err(|_| CredentialError::InvalidKey)?);
        let bytes: &[u8; KEY_LEN] = decoded.as_slice().try_into().map_err(|_| CredentialError::InvalidKey)?;
        Ok(Self::from_bytes(bytes))
    }

    /// The key as standard base64, e.g. to write a generated key file.
    ///
    /// This exposes the key: only write it somewhere private, never log it.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.bytes.expose_secret())
    }

    /// The key id: the first 8 bytes of SHA-256 of the key, as hex.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(self.bytes.expose_secret()))
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id).finish_non_exhaustive()
    }
}

/// A sealed secret as stored in the database.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedRecord {
    /// Id of the master key that wrapped the data key.
    pub key_id: String,
    /// Nonce followed by the data key encrypted under the master key.
    pub wrapped_key: Vec<u8>,
    /// Nonce followed by the plaintext encrypted under the data key.
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for SealedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedRecord").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

/// The master keys in use: one primary key to seal, older keys to unseal.
#[derive(Clone)]
pub struct Keyring {
    primary: MasterKey,
    previous: Vec<MasterKey>,
}

impl Keyring {
    /// A keyring sealing with `primary` and also opening records of `previous` keys.
    pub fn new(primary: MasterKey, previous: Vec<MasterKey>) -> Self {
        let previous = previous.into_iter().filter(|k| k.id != primary.id).collect();
        Self { primary, previous }
    }

    /// The key new records are sealed with.
    pub fn primary(&self) -> &MasterKey {
        &self.primary
    }

    /// Whether `key_id` is the primary key (records under other keys need re-wrapping).
    pub fn is_primary(&self, key_id: &str) -> bool {
        self.primary.id == key_id
    }

    /// Seals `plaintext` under a fresh data key, bound to `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<SealedRecord, CredentialError> {
        let mut dek = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(dek.as_mut());
        let data_cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(dek.as_ref()));
        let ciphertext = encrypt(&data_cipher, plaintext, aad)?;
        let wrapped_key = self.wrap(&dek, aad)?;
        Ok(SealedRecord { key_id: self.primary.id.clone(), wrapped_key, ciphertext })
    }

    /// Opens a record sealed by [`Keyring::seal`] with the same `aad`.
    pub fn unseal(&self, record: &SealedRecord, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CredentialError> {
        let dek = self.unwrap_key(record, aad)?;
        let data_cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(dek.as_ref()));
        decrypt(&data_cipher, &record.ciphertext, aad)
    }

    /// Opens a record holding UTF-8 text.
    pub fn unseal_string(&self, record: &SealedRecord, aad: &[u8]) -> Result<SecretString, CredentialError> {
        let bytes = self.unseal(record, aad)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| CredentialError::Malformed)?;
        Ok(SecretString::from(text))
    }

    /// Re-wraps the record's data key under the primary key; the ciphertext is unchanged.
    pub fn rewrap(&self, record: &SealedRecord, aad: &[u8]) -> Result<SealedRecord, CredentialError> {
        let dek = self.unwrap_key(record, aad)?;
        let wrapped_key = self.wrap(&dek, aad)?;
        Ok(SealedRecord {
            key_id: self.primary.id.clone(),
            wrapped_key,
            ciphertext: record.ciphertext.clone(),
        })
    }

    fn wrap(&self, dek: &[u8; KEY_LEN], aad: &[u8]) -> Result<Vec<u8>, CredentialError> {
        encrypt(&self.primary.cipher(), dek, &wrap_aad(aad))
    }

    fn unwrap_key(
        &self,
        record: &SealedRecord,
        aad: &[u8],
    ) -> Result<Zeroizing<[u8; KEY_LEN]>, CredentialError> {
        let key = std::iter::once(&self.primary)
            .chain(&self.previous)
            .find(|k| k.id == record.key_id)
            .ok_or_else(|| CredentialError::UnknownKey(record.key_id.clone()))?;
        let dek = decrypt(&key.cipher(), &record.wrapped_key, &wrap_aad(aad))?;
        let dek: [u8; KEY_LEN] = dek.as_slice().try_into().map_err(|_| CredentialError::Malformed)?;
        Ok(Zeroizing::new(dek))
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let previous: Vec<&str> = self.previous.iter().map(MasterKey::id).collect();
        f.debug_struct("Keyring").field("primary", &self.primary.id).field("previous", &previous).finish()
    }
}

fn wrap_aad(aad: &[u8]) -> Vec<u8> {
    [WRAP_AAD_PREFIX, aad].concat()
}

fn encrypt(cipher: &Aes256Gcm, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CredentialError> {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad })
        .map_err(|_| CredentialError::Seal)?;
    Ok([nonce.as_slice(), &sealed].concat())
}

fn decrypt(cipher: &Aes256Gcm, data: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CredentialError> {
    if data.len() < NONCE_LEN {
        return Err(CredentialError::Malformed);
    }
    let (nonce, sealed) = data.split_at(NONCE_LEN);
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad })
        .map(Zeroizing::new)
        .map_err(|_| CredentialError::Unseal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        Keyring::new(MasterKey::generate(), vec![])
    }

    #[test]
    fn round_trip() {
        let ring = keyring();
        let sealed = ring.seal(b"Bearer s3cret", b"server:1:header:authorization").unwrap();
        assert_eq!(sealed.key_id, ring.primary().id());
        assert!(!sealed.ciphertext.windows(6).any(|w| w == b"s3cret"));
        let opened = ring.unseal(&sealed, b"server:1:header:authorization").unwrap();
        assert_eq!(opened.as_slice(), b"Bearer s3cret");
    }

    #[test]
    fn same_plaintext_seals_differently() {
        let ring = keyring();
        let a = ring.seal(b"x", b"aad").unwrap();
        let b = ring.seal(b"x", b"aad").unwrap();
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_ne!(a.wrapped_key, b.wrapped_key);
    }

    #[test]
    fn wrong_aad_fails() {
        let ring = keyring();
        let sealed = ring.seal(b"value", b"server:1:header:a").unwrap();
        assert!(matches!(ring.unseal(&sealed, b"server:2:header:a"), Err(CredentialError::Unseal)));
    }

    #[test]
    fn wrong_key_fails() {
        let sealed = keyring().seal(b"value", b"aad").unwrap();
        let other = keyring();
        assert!(matches!(other.unseal(&sealed, b"aad"), Err(CredentialError::UnknownKey(_))));
        // Same id claimed but different key material: authentication fails.
        let mut forged = sealed.clone();
        forged.key_id = other.primary().id().to_owned();
        assert!(matches!(other.unseal(&forged, b"aad"), Err(CredentialError::Unseal)));
    }

    #[test]
    fn tampered_ciphertext_fails() {
        let ring = keyring();
        let mut sealed = ring.seal(b"value", b"aad").unwrap();
        let last = sealed.ciphertext.len() - 1;
        sealed.ciphertext[last] ^= 1;
        assert!(matches!(ring.unseal(&sealed, b"aad"), Err(CredentialError::Unseal)));
        sealed.ciphertext.truncate(3);
        assert!(matches!(ring.unseal(&sealed, b"aad"), Err(CredentialError::Malformed)));
    }

    #[test]
    fn rotation_opens_old_records_and_rewraps() {
        let old = MasterKey::generate();
        let sealed = Keyring::new(old.clone(), vec![]).seal(b"value", b"aad").unwrap();
        let new = MasterKey::generate();
        let rotated = Keyring::new(new.clone(), vec![old]);
        assert_eq!(rotated.unseal(&sealed, b"aad").unwrap().as_slice(), b"value");
        assert!(!rotated.is_primary(&sealed.key_id));

        let rewrapped = rotated.rewrap(&sealed, b"aad").unwrap();
        assert_eq!(rewrapped.key_id, new.id());
        let new_only = Keyring::new(new, vec![]);
        assert_eq!(new_only.unseal(&rewrapped, b"aad").unwrap().as_slice(), b"value");
    }

    #[test]
    fn key_id_and_base64() {
        let key = MasterKey::from_bytes(&[7u8; 32]);
        assert_eq!(key.id().len(), 16);
        assert_eq!(key.id(), hex::encode(&Sha256::digest([7u8; 32])[..8]));
        let again = MasterKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(again.id(), key.id());
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert!(MasterKey::from_base64("not base64!").is_err());
    }

    #[test]
    fn debug_never_prints_key_bytes() {
        let key = MasterKey::from_bytes(&[0xAB; 32]);
        let ring = Keyring::new(key.clone(), vec![]);
        let text = format!("{key:?} {ring:?}");
        assert!(!text.contains(BASE64.encode([0xAB; 32]).as_str()));
        assert!(!text.contains(&hex::encode([0xAB; 32])));
    }
}
