//! The CA a certificate identity is bound to, as the edge checks it against a
//! verified client certificate: the issuing CA's fingerprint and, optionally, the
//! SPIFFE trust domain of the certificate's SPIFFE ID.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use gatehouse_config::identity::cert_issuer::{fingerprint_hex, spiffe_trust_domain};
use gatehouse_config::identity::cert_names::CertNameKind;

use super::client_cert::ClientCertificate;

/// What must have issued a certificate for it to authenticate as an identity.
#[derive(Default)]
pub struct IssuerBinding {
    ca_sha256: Option<[u8; 32]>,
    spiffe_trust_domain: Option<Box<str>>,
    // Identities registered before bindings existed match any CA; said once per identity version.
    warned_unbound: AtomicBool,
}

impl fmt::Debug for IssuerBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerBinding")
            .field("ca_sha256", &self.ca_sha256.map(|f| fingerprint_hex(&f)))
            .field("spiffe_trust_domain", &self.spiffe_trust_domain)
            .finish()
    }
}

/// Why a certificate does not authenticate as the identity its name matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingMismatch {
    /// Signed by another CA than the one the identity is bound to (or by none the edge knows).
    Issuer {
        /// The CA the identity is bound to, hex.
        expected: String,
        /// The CA that signed the certificate, hex; `None` when it is not in the presented chain
        /// or the client CA bundle.
        found: Option<String>,
    },
    /// No SPIFFE ID of the certificate is in the identity's trust domain.
    TrustDomain {
        /// The trust domain the identity is bound to.
        expected: String,
    },
}

impl IssuerBinding {
    /// The binding as the config stream carries it (`issuer_ca_sha256` empty = unbound;
    /// any other length is treated as a binding nothing matches, never as unbound).
    pub fn from_wire(ca_sha256: &[u8], spiffe_trust_domain: &str) -> Self {
        let ca_sha256 = match ca_sha256 {
            [] => None,
            bytes => Some(<[u8; 32]>::try_from(bytes).unwrap_or([0; 32])),
        };
        let spiffe_trust_domain = (!spiffe_trust_domain.is_empty()).then(|| spiffe_trust_domain.into());
        Self { ca_sha256, spiffe_trust_domain, warned_unbound: AtomicBool::new(false) }
    }

    /// Whether `cert` was issued as this binding requires.
    pub fn check(&self, cert: &ClientCertificate) -> Result<(), BindingMismatch> {
        if let Some(expected) = &self.ca_sha256 {
            if cert.issuer_ca_sha256() != Some(expected) {
                return Err(BindingMismatch::Issuer {
                    expected: fingerprint_hex(expected),
                    found: cert.issuer_ca_sha256().map(|f| fingerprint_hex(f)),
                });
            }
        }
        if let Some(expected) = &self.spiffe_trust_domain {
            let in_domain = cert.names().any(|(kind, name)| {
                kind == CertNameKind::SanUri && spiffe_trust_domain(name) == Some(expected)
            });
            if !in_domain {
                return Err(BindingMismatch::TrustDomain { expected: expected.to_string() });
            }
        }
        Ok(())
    }

    /// True the first time an identity without a CA binding is used (to warn once).
    pub fn first_unbound_use(&self) -> bool {
        self.ca_sha256.is_none() && !self.warned_unbound.swap(true, Ordering::Relaxed)
    }
}
