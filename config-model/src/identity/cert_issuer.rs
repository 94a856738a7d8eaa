//! What binds a certificate identity to the CA that must have issued the
//! certificate: the SHA-256 fingerprint of that CA's certificate and, optionally,
//! a SPIFFE trust domain the certificate's SPIFFE ID must be in.
//!
//! Any CA in the edge's client CA bundle can sign a certificate with any name, so
//! a name alone would let one CA's holders pose as another's. The control plane
//! validates bindings with these functions and the edge checks presented
//! certificates with the same ones, so both read them the same way.

/// Longest SPIFFE trust domain (the SPIFFE ID specification's limit for the host part).
pub const MAX_TRUST_DOMAIN_LEN: usize = 255;

/// Parses a SHA-256 fingerprint written as 64 hex digits, with or without the
/// colons `openssl x509 -fingerprint -sha256` puts between bytes, in either case.
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], String> {
    let digits: Vec<u8> = text.bytes().filter(|b| *b != b':').collect();
    let spaced = text.contains(':');
    let well_spaced = !spaced || text.split(':').all(|byte| byte.len() == 2);
    if digits.len() != 64 || !well_spaced || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err("must be a SHA-256 fingerprint: 64 hex digits, optionally colon-separated \
                    (openssl x509 -noout -fingerprint -sha256 -in ca.crt)"
            .to_owned());
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let hex = |d: u8| (d as char).to_digit(16).unwrap_or(0) as u8;
        *byte = hex(pair[0]) << 4 | hex(pair[1]);
    }
    Ok(out)
}

/// A fingerprint as the API shows it: 64 lower-case hex digits.
pub fn fingerprint_hex(fingerprint: &[u8]) -> String {
    fingerprint.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks a SPIFFE trust domain (`acme.example`, without `spiffe://`): lower-case
/// letters, digits, `.`, `-` and `_`, as the SPIFFE ID specification allows.
pub fn validate_trust_domain(domain: &str) -> Result<(), String> {
    let valid = !domain.is_empty()
        && domain.len() <= MAX_TRUST_DOMAIN_LEN
        && domain.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "must be a SPIFFE trust domain without the spiffe:// prefix: 1-{MAX_TRUST_DOMAIN_LEN} \
             lower-case letters, digits, '.', '-' or '_' (e.g. acme.example)"
        ))
    }
}

/// The trust domain of a SPIFFE ID (`spiffe://acme.example/agent` → `acme.example`);
/// `None` when `uri` is not a SPIFFE ID. The scheme is compared case-insensitively,
/// the trust domain exactly (SPIFFE trust domains are lower-case).
pub fn spiffe_trust_domain(uri: &str) -> Option<&str> {
    const SCHEME: &str = "spiffe://";
    let rest =
        uri.get(..SCHEME.len()).filter(|s| s.eq_ignore_ascii_case(SCHEME)).map(|_| &uri[SCHEME.len()..])?;
    let domain = rest.split('/').next().unwrap_or_default();
    (!domain.is_empty()).then_some(domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_read_as_openssl_and_sha256sum_write_them() {
        let plain = "ab".repeat(32);
        let openssl = ["AB"; 32].join(":");
        assert_eq!(parse_fingerprint(&plain).unwrap(), [0xab; 32]);
        assert_eq!(parse_fingerprint(&openssl).unwrap(), [0xab; 32]);
        assert_eq!(fingerprint_hex(&[0xab; 32]), plain);
        for bad in ["", "ab", &"ab".repeat(33), &"zz".repeat(32), &format!("{}:", "ab".repeat(32)), "a:bab"] {
            let err = parse_fingerprint(bad).unwrap_err();
            assert!(err.contains("64 hex digits"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn trust_domains_follow_the_spiffe_id_rules() {
        for good in ["acme", "acme.example", "prod_1-eu.acme.example"] {
            assert!(validate_trust_domain(good).is_ok(), "{good}");
        }
        for bad in ["", "Acme", "spiffe://acme", "acme/agent", "acme example", &"a".repeat(256)] {
            assert!(validate_trust_domain(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_trust_domain_of_a_spiffe_id() {
        assert_eq!(spiffe_trust_domain("spiffe://acme.example/agent/ci"), Some("acme.example"));
        assert_eq!(spiffe_trust_domain("SPIFFE://acme/agent"), Some("acme"));
        assert_eq!(spiffe_trust_domain("spiffe://acme"), Some("acme"));
        assert_eq!(spiffe_trust_domain("spiffe:///agent"), None);
        assert_eq!(spiffe_trust_domain("https://acme/agent"), None);
        assert_eq!(spiffe_trust_domain("spiffe:"), None);
        // A longer name that starts with the domain is another domain.
        assert_ne!(spiffe_trust_domain("spiffe://acme.evil/agent"), Some("acme"));
    }
}
