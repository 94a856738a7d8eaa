//! Client certificates: the names a verified peer certificate carries, and how
//! they are written so that a certificate identity registered on the control
//! plane and a certificate presented at the edge compare by exact match.
//!
//! The TLS handshake has already verified the chain against
//! `GATEHOUSE_EDGE_TLS_CLIENT_CA` when a [`ClientCertificate`] exists; this
//! module only reads the leaf (once per connection) and never decides trust.

use std::fmt;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use x509_cert::der::Decode as _;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::Certificate;

/// Longest name a certificate identity may match.
pub const MAX_NAME_LEN: usize = 1024;
/// At most this many names of one certificate are considered (a CA-signed
/// certificate is trusted, but a huge SAN list must not cost a request much).
const MAX_NAMES: usize = 64;

/// Which part of a certificate an identity matches, in precedence order:
/// when a certificate carries several registered names, the first kind wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CertNameKind {
    /// A URI subject alternative name, e.g. a SPIFFE ID `spiffe://acme/agent/ci`.
    SanUri,
    /// A DNS subject alternative name.
    SanDns,
    /// An e-mail (rfc822Name) subject alternative name.
    SanEmail,
    /// The subject's common name (CN).
    SubjectCn,
}

impl CertNameKind {
    /// Every kind, in precedence order.
    pub const ALL: [CertNameKind; 4] =
        [CertNameKind::SanUri, CertNameKind::SanDns, CertNameKind::SanEmail, CertNameKind::SubjectCn];

    /// The API and wire spelling: `san_uri`, `san_dns`, `san_email`, `subject_cn`.
    pub fn as_str(self) -> &'static str {
        match self {
            CertNameKind::SanUri => "san_uri",
            CertNameKind::SanDns => "san_dns",
            CertNameKind::SanEmail => "san_email",
            CertNameKind::SubjectCn => "subject_cn",
        }
    }

    /// Parses the API and wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Position in [`CertNameKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for CertNameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Writes `value` the way both sides compare it: DNS names lower-case without a
/// trailing dot, the domain of an e-mail address lower-case; URIs and common
/// names exactly as given (SPIFFE IDs and CNs are case-sensitive).
pub fn normalize(kind: CertNameKind, value: &str) -> String {
    match kind {
        CertNameKind::SanDns => value.trim_end_matches('.').to_ascii_lowercase(),
        CertNameKind::SanEmail => match value.rsplit_once('@') {
            Some((local, domain)) => format!("{local}@{}", domain.to_ascii_lowercase()),
            None => value.to_owned(),
        },
        CertNameKind::SanUri | CertNameKind::SubjectCn => value.to_owned(),
    }
}

/// Checks a name an admin registers and returns it normalised, or what is wrong with it.
pub fn validate_name(kind: CertNameKind, value: &str) -> Result<String, String> {
    if value.is_empty() || value.trim() != value {
        return Err("must be non-empty without surrounding whitespace".into());
    }
    if value.len() > MAX_NAME_LEN {
        return Err(format!("must be at most {MAX_NAME_LEN} bytes"));
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    match kind {
        CertNameKind::SanUri => {
            let url = url::Url::parse(value).map_err(|_| "must be an absolute URI".to_owned())?;
            if !value.is_ascii() {
                return Err("must be ASCII (certificates carry URIs as IA5String)".into());
            }
            if url.scheme() == "spiffe" && (url.host_str().is_none_or(str::is_empty) || url.query().is_some())
            {
                return Err("a SPIFFE ID is spiffe://<trust domain>/<path>".into());
            }
        }
        CertNameKind::SanDns => {
            let name = value.trim_end_matches('.');
            let label_ok = |l: &str| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            };
            if name.len() > 253 || !name.split('.').all(label_ok) {
                return Err("must be a DNS name (letters, digits, hyphens, dots; no wildcards)".into());
            }
        }
        CertNameKind::SanEmail => {
            let valid = value.is_ascii()
                && value.split_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty() && !domain.is_empty() && !domain.contains('@')
                });
            if !valid {
                return Err("must be an e-mail address local@domain".into());
            }
        }
        CertNameKind::SubjectCn => {}
    }
    Ok(normalize(kind, value))
}

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
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("subject", &self.inner.subject)
            .field("names", &self.inner.names)
            .field("not_after", &self.inner.not_after)
            .finish_non_exhaustive()
    }
}

impl ClientCertificate {
    /// Reads the leaf of a chain the TLS layer has verified (leaf first).
    pub fn from_chain(chain: Vec<CertificateDer<'static>>) -> Result<Self, CertParseError> {
        let leaf = chain.first().ok_or_else(|| CertParseError("empty chain".into()))?;
        let cert = Certificate::from_der(leaf.as_ref()).map_err(|e| CertParseError(e.to_string()))?;
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
        self.inner.fingerprint.iter().map(|b| format!("{b:02x}")).collect()
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
        ClientCertificate::from_chain(vec![der]).unwrap()
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
        let c = ClientCertificate::from_chain(vec![der]).unwrap();
        assert_eq!(c.not_after(), 1_925_078_400, "2031-01-02T00:00:00Z");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(ClientCertificate::from_chain(vec![]).is_err());
        assert!(ClientCertificate::from_chain(vec![CertificateDer::from(vec![0x30, 0x03, 1, 2, 3])]).is_err());
    }

    #[test]
    fn registered_names_are_validated_and_normalised() {
        use CertNameKind::*;
        assert_eq!(validate_name(SanUri, "spiffe://acme/agent/ci").unwrap(), "spiffe://acme/agent/ci");
        assert_eq!(validate_name(SanDns, "Agent.Example.com.").unwrap(), "agent.example.com");
        assert_eq!(validate_name(SanEmail, "Bot@Example.COM").unwrap(), "Bot@example.com");
        assert_eq!(validate_name(SubjectCn, "CI Agent").unwrap(), "CI Agent");
        for (kind, bad) in [
            (SanUri, "not a uri"),
            (SanUri, "spiffe:///no-trust-domain"),
            (SanDns, "*.example.com"),
            (SanDns, "-bad.example"),
            (SanDns, "a..b"),
            (SanEmail, "no-at-sign"),
            (SanEmail, "@example.com"),
            (SubjectCn, ""),
            (SubjectCn, " padded"),
            (SubjectCn, "line\nbreak"),
        ] {
            assert!(validate_name(kind, bad).is_err(), "{kind} {bad:?} should be refused");
        }
        assert!(validate_name(SubjectCn, &"x".repeat(MAX_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn kinds_round_trip() {
        for kind in CertNameKind::ALL {
            assert_eq!(CertNameKind::parse(kind.as_str()), Some(kind));
            assert_eq!(CertNameKind::ALL[kind.index()], kind);
        }
        assert_eq!(CertNameKind::parse("subject"), None);
    }
}
