//! Certificate identity names: which part of a client certificate an identity
//! matches ([`CertNameKind`]) and how a name is written so that a certificate
//! identity registered on the control plane and a certificate presented at the
//! edge compare by exact match. Reading certificates is the edge's.

use std::fmt;

/// Longest name a certificate identity may match.
pub const MAX_NAME_LEN: usize = 1024;

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

#[cfg(test)]
mod tests {
    use super::*;

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
