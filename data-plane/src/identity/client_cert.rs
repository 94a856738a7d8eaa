//! Client certificates: the names a verified peer certificate carries,
//! normalised as [`gatehouse_config::identity::cert_names`] writes them so that
//! they compare by exact match with the certificate identities pushed by the
//! control plane.
//!
//! The TLS handshake has already verified the chain against
//! `GATEHOUSE_EDGE_TLS_CLIENT_CA` when a [`ClientCertificate`] exists; this
//! module only reads the leaf and names the CA that signed it
//! ([`super::cert_issuer`]), once per connection, and never decides trust.

use std::fmt;
use std::sync::Arc;

use gatehouse_config::identity::cert_issuer::fingerprint_hex;
use gatehouse_config::identity::cert_names::{normalize, CertNameKind};
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use x509_cert::der::Decode as _;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::Certificate;

use super::cert_issuer::{issuing_ca, ClientCas, SignedLeaf};

/// At most this many names of one certificate are considered (a CA-signed
/// certificate is trusted, but a huge SAN list must not cost a request much).
const MAX_NAMES: usize = 64;

/// Why a verified certificate could not be read.
#[derive(Debug, thiserror::Error)]
#[error("unreadable client certificate: {0}")]
pub struct CertParseError(String);

/// A verified client certificate, parsed once per connection and shared by its requests.
#[derive(Clone)]
pub struct ClientCertificate {
    inner: Arc<Inner>,
}

struct Inner {
    /// The verified chain as presented, leaf first.
    chain: Vec<CertificateDer<'static>>,
    /// Normalised names in precedence order.
    names: Vec<(CertNameKind, String)>,
    /// The leaf's subject (RFC 4514), for logs.
    subject: String,
    /// Unix seconds of `notAfter`.
    not_after: i64,
    /// SHA-256 of the leaf's DER.
    fingerprint: [u8; 32],
    /// SHA-256 of the certificate of the CA that signed the leaf, when one is known.
    issuer_ca: Option<[u8; 32]>,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("subject", &self.inner.subject)
            .field("names", &self.inner.names)
            .field("not_after", &self.inner.not_after)
            .field("issuer_ca", &self.inner.issuer_ca.map(|f| fingerprint_hex(&f)))
            .finish_non_exhaustive()
    }
}

impl ClientCertificate {
    /// Reads the leaf of a chain the TLS layer has verified (leaf first) and finds which
    /// CA signed it: an intermediate of the chain or one of `cas` (the client CA bundle).
    pub fn from_chain(chain: Vec<CertificateDer<'static>>, cas: &ClientCas) -> Result<Self, CertParseError> {
        let leaf = chain.first().ok_or_else(|| CertParseError("empty chain".into()))?;
        let cert = Certificate::from_der(leaf.as_ref()).map_err(|e| CertParseError(e.to_string()))?;
        let issuer_ca =
            SignedLeaf::read(&cert, leaf.as_ref()).and_then(|signed| issuing_ca(&signed, &chain[1..], cas));
        let tbs = cert.tbs_certificate();
        let mut names = Vec::new();
        let sans = tbs.get_extension::<SubjectAltName>().map_err(|e| CertParseError(e.to_string()))?;
        for name in sans.map(|(_, san)| san.0).unwrap_or_default() {
            let (kind, value) = match &name {
                GeneralName::UniformResourceIdentifier(v) => (CertNameKind::SanUri, v.as_ref()),
                GeneralName::DnsName(v) => (CertNameKind::SanDns, v.as_ref()),
                GeneralName::Rfc822Name(v) => (CertNameKind::SanEmail, v.as_ref()),
                _ => continue,
            };
            names.push((kind, normalize(kind, value)));
        }
        for atv in tbs.subject().iter().filter(|atv| atv.oid == x509_cert::der::oid::db::rfc4519::CN) {
            // A CN that is not a string (malformed, but CA-signed) is skipped, not fatal.
            if let Ok(cn) = x509_cert::ext::pkix::name::DirectoryString::try_from(&atv.value) {
                names.push((CertNameKind::SubjectCn, cn.value().into_owned()));
            }
        }
        // Stable: within a kind, the certificate's order is kept.
        names.sort_by_key(|(kind, _)| *kind);
        names.truncate(MAX_NAMES);
        let not_after = tbs.validity().not_after.to_unix_duration().as_secs();
        Ok(Self {
            inner: Arc::new(Inner {
                names,
                subject: tbs.subject().to_string(),
                not_after: i64::try_from(not_after).unwrap_or(i64::MAX),
                fingerprint: Sha256::digest(leaf.as_ref()).into(),
                issuer_ca,
                chain,
            }),
        })
    }

    /// The names identities can match, normalised, in precedence order.
    pub fn names(&self) -> impl Iterator<Item = (CertNameKind, &str)> {
        self.inner.names.iter().map(|(kind, value)| (*kind, value.as_str()))
    }

    /// The verified chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.inner.chain
    }

    /// The leaf's subject distinguished name (RFC 4514), for logs.
    pub fn subject(&self) -> &str {
        &self.inner.subject
    }

    /// Unix seconds at which the leaf expires.
    pub fn not_after(&self) -> i64 {
        self.inner.not_after
    }

    /// SHA-256 of the leaf certificate, hex (what `openssl x509 -fingerprint -sha256` shows, lower-case).
    pub fn fingerprint_hex(&self) -> String {
        fingerprint_hex(&self.inner.fingerprint)
    }

    /// SHA-256 of the certificate of the CA that signed the leaf; `None` when neither the
    /// presented chain nor the client CA bundle holds it.
    pub fn issuer_ca_sha256(&self) -> Option<&[u8; 32]> {
        self.inner.issuer_ca.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};

    fn cert(cn: Option<&str>, sans: Vec<SanType>) -> ClientCertificate {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Acme");
        if let Some(cn) = cn {
            dn.push(DnType::CommonName, cn);
        }
        params.distinguished_name = dn;
        params.subject_alt_names = sans;
        let key = KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().clone();
        ClientCertificate::from_chain(vec![der], &ClientCas::default()).unwrap()
    }

    fn names(c: &ClientCertificate) -> Vec<(CertNameKind, String)> {
        c.names().map(|(k, v)| (k, v.to_owned())).collect()
    }

    #[test]
    fn every_name_kind_is_read_in_precedence_order() {
        let c = cert(
            Some("ci-agent"),
            vec![
                SanType::Rfc822Name("Bot@Example.COM".try_into().unwrap()),
                SanType::DnsName("Agent.Example.com".try_into().unwrap()),
                SanType::URI("spiffe://acme/agent/ci".try_into().unwrap()),
                SanType::IpAddress("10.0.0.1".parse().unwrap()),
                SanType::URI("https://acme.example/agents/ci".try_into().unwrap()),
            ],
        );
        assert_eq!(
            names(&c),
            vec![
                (CertNameKind::SanUri, "spiffe://acme/agent/ci".to_owned()),
                (CertNameKind::SanUri, "https://acme.example/agents/ci".to_owned()),
                (CertNameKind::SanDns, "agent.example.com".to_owned()),
                (CertNameKind::SanEmail, "Bot@example.com".to_owned()),
                (CertNameKind::SubjectCn, "ci-agent".to_owned()),
            ]
        );
        assert!(c.subject().contains("CN=ci-agent"), "{}", c.subject());
        assert_eq!(c.fingerprint_hex().len(), 64);
        assert_eq!(c.chain().len(), 1);
    }

    #[test]
    fn a_certificate_without_sans_has_only_its_common_name() {
        let c = cert(Some("just-a-cn"), vec![]);
        assert_eq!(names(&c), vec![(CertNameKind::SubjectCn, "just-a-cn".to_owned())]);
        let c = cert(None, vec![]);
        assert!(names(&c).is_empty());
    }

    #[test]
    fn not_after_is_read() {
        let mut params = CertificateParams::new(vec!["a.example".to_owned()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 1, 2);
        let key = KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().clone();
        let c = ClientCertificate::from_chain(vec![der], &ClientCas::default()).unwrap();
        assert_eq!(c.not_after(), 1_925_078_400, "2031-01-02T00:00:00Z");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(ClientCertificate::from_chain(vec![], &ClientCas::default()).is_err());
        assert!(ClientCertificate::from_chain(
            vec![CertificateDer::from(vec![0x30, 0x03, 1, 2, 3])],
            &ClientCas::default()
        )
        .is_err());
    }
}
