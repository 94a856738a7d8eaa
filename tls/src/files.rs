//! The PEM files of one TLS configuration: read together (so a reload sees one
//! consistent set), fingerprinted (so a change of any is a change), parsed with
//! errors that name the setting.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest as _, Sha256};

/// A TLS file that cannot be used, naming the setting to fix (never key material).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct TlsError {
    /// The environment variable (or setting) at fault.
    pub setting: &'static str,
    /// What is wrong.
    pub reason: String,
}

impl TlsError {
    /// An error about `setting`.
    pub fn new(setting: &'static str, reason: impl Into<String>) -> Self {
        Self { setting, reason: reason.into() }
    }
}

/// A PEM file and the setting that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemFile {
    /// The environment variable the path came from.
    pub setting: &'static str,
    /// Where the file is.
    pub path: PathBuf,
}

impl PemFile {
    /// `path`, set by `setting`.
    pub fn new(setting: &'static str, path: impl Into<PathBuf>) -> Self {
        Self { setting, path: path.into() }
    }

    /// Reads the file.
    pub fn read(&self) -> Result<Vec<u8>, TlsError> {
        std::fs::read(&self.path)
            .map_err(|e| TlsError::new(self.setting, format!("cannot read {}: {e}", self.path.display())))
    }

    /// The certificates in `pem` (this file's contents); at least one.
    pub fn certificates(&self, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        certificates(self.setting, &self.path, pem)
    }

    /// The private key in `pem` (this file's contents).
    pub fn private_key(&self, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
        PrivateKeyDer::from_pem_slice(pem).map_err(|_| {
            TlsError::new(
                self.setting,
                format!("{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)", self.path.display()),
            )
        })
    }
}

fn certificates(
    setting: &'static str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::new(setting, format!("{} is not valid PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(TlsError::new(setting, format!("{} holds no PEM CERTIFICATE block", path.display())));
    }
    Ok(certs)
}

/// SHA-256 over the contents of a set of files.
pub type Fingerprint = [u8; 32];

/// The contents of a set of files, read at one moment; key material is wiped on drop.
pub struct FileContents {
    contents: Vec<zeroize::Zeroizing<Vec<u8>>>,
}

impl FileContents {
    /// Reads every file of `files`, in order.
    pub fn read(files: &[PemFile]) -> Result<Self, TlsError> {
        let contents =
            files.iter().map(|f| f.read().map(zeroize::Zeroizing::new)).collect::<Result<_, _>>()?;
        Ok(Self { contents })
    }

    /// The contents of the `i`-th file.
    pub fn get(&self, i: usize) -> &[u8] {
        self.contents.get(i).map_or(&[], |c| &c[..])
    }

    /// A change of any file changes the fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut hash = Sha256::new();
        for part in &self.contents {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(&part[..]);
        }
        hash.finalize().into()
    }
}
