//! Which CA issued a verified client certificate: the certificate whose key signed
//! the leaf, among the intermediates the client presented and the CAs of
//! `GATEHOUSE_EDGE_TLS_CLIENT_CA`. Certificate identities are bound to that CA's
//! fingerprint, so a certificate carrying an identity's name but signed by another
//! CA of the bundle does not authenticate as it.
//!
//! The handshake has already verified a path to a trust anchor; this only names the
//! first CA on it. A candidate counts only if its subject is the leaf's issuer, its
//! subject key identifier (when both carry one) is the leaf's authority key
//! identifier, and its public key verifies the leaf's signature, so a CA
//! certificate the client merely includes cannot be taken for the one that signed.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, SignatureVerificationAlgorithm};
use sha2::{Digest, Sha256};
use x509_cert::der::{Decode as _, Encode as _};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, SubjectKeyIdentifier};
use x509_cert::Certificate;

/// The CAs of the edge's client CA bundle, parsed once per (re)load of the bundle, and
/// the signature algorithms the listener's handshakes verify with.
#[derive(Clone)]
pub struct ClientCas {
    cas: Arc<[CaKey]>,
    algs: &'static [&'static dyn SignatureVerificationAlgorithm],
}

impl Default for ClientCas {
    /// No CA: only an intermediate the client presents can be found as the issuer.
    fn default() -> Self {
        Self::new(&[])
    }
}

impl std::fmt::Debug for ClientCas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCas").field("cas", &self.cas.len()).finish()
    }
}

/// What of a CA certificate tells whether it signed a leaf.
struct CaKey {
    subject: Vec<u8>,
    key_id: Option<Vec<u8>>,
    key_alg: Vec<u8>,
    public_key: Vec<u8>,
    fingerprint: [u8; 32],
}

impl CaKey {
    fn read(der: &[u8]) -> Option<Self> {
        let cert = Certificate::from_der(der).ok()?;
        let tbs = cert.tbs_certificate();
        let spki = tbs.subject_public_key_info();
        Some(Self {
            subject: tbs.subject().to_der().ok()?,
            key_id: tbs
                .get_extension::<SubjectKeyIdentifier>()
                .ok()
                .flatten()
                .map(|(_, id)| id.0.into_bytes().into_vec()),
            key_alg: tlv_contents(&spki.algorithm.to_der().ok()?)?.to_vec(),
            public_key: spki.subject_public_key.as_bytes()?.to_vec(),
            fingerprint: Sha256::digest(der).into(),
        })
    }
}

impl ClientCas {
    /// The bundle's CA certificates; one that cannot be parsed is left out (rustls
    /// refused to load such a bundle already).
    pub fn new(cas: &[CertificateDer<'_>]) -> Self {
        // Read once here, not per handshake: building the provider allocates.
        let algs = rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms.all;
        Self { cas: cas.iter().filter_map(|der| CaKey::read(der)).collect(), algs }
    }
}

/// The leaf's parts a signature check needs, read once.
pub(crate) struct SignedLeaf<'a> {
    issuer: Vec<u8>,
    authority_key_id: Option<Vec<u8>>,
    signature_alg: Vec<u8>,
    tbs: &'a [u8],
    signature: &'a [u8],
}

impl<'a> SignedLeaf<'a> {
    /// Reads `cert` (parsed from `der`); `None` when a part cannot be encoded back.
    pub(crate) fn read(cert: &'a Certificate, der: &'a [u8]) -> Option<Self> {
        let tbs = cert.tbs_certificate();
        // The signed bytes exactly as presented: the first element of the outer SEQUENCE.
        let body = tlv_contents(der)?;
        let tbs_raw = &body[..tlv_len(body)?];
        Some(Self {
            issuer: tbs.issuer().to_der().ok()?,
            authority_key_id: tbs
                .get_extension::<AuthorityKeyIdentifier>()
                .ok()
                .flatten()
                .and_then(|(_, aki)| aki.key_identifier.map(|id| id.into_bytes().into_vec())),
            signature_alg: tlv_contents(&cert.signature_algorithm().to_der().ok()?)?.to_vec(),
            tbs: tbs_raw,
            signature: cert.signature().as_bytes()?,
        })
    }

    fn signed_by(&self, ca: &CaKey, algs: &[&dyn SignatureVerificationAlgorithm]) -> bool {
        if ca.subject != self.issuer {
            return false;
        }
        if let (Some(aki), Some(ski)) = (&self.authority_key_id, &ca.key_id) {
            if aki != ski {
                return false;
            }
        }
        algs.iter().any(|alg| {
            alg.public_key_alg_id().as_ref() == ca.key_alg.as_slice()
                && alg.signature_alg_id().as_ref() == self.signature_alg.as_slice()
                && alg.verify_signature(&ca.public_key, self.tbs, self.signature).is_ok()
        })
    }
}

/// SHA-256 of the certificate of the CA that signed `leaf`: an intermediate the client
/// presented (`presented`, leaf excluded) or one of `cas`; `None` when none did.
pub(crate) fn issuing_ca(
    leaf: &SignedLeaf<'_>,
    presented: &[CertificateDer<'_>],
    cas: &ClientCas,
) -> Option<[u8; 32]> {
    let presented: Vec<CaKey> = presented.iter().filter_map(|der| CaKey::read(der)).collect();
    presented.iter().chain(cas.cas.iter()).find(|ca| leaf.signed_by(ca, cas.algs)).map(|ca| ca.fingerprint)
}

/// Header and contents length of the DER element at the start of `der`
/// (definite lengths only, as DER requires): `(header, contents)`.
fn tlv_header(der: &[u8]) -> Option<(usize, usize)> {
    let first = *der.get(1)?;
    if first < 0x80 {
        return Some((2, usize::from(first)));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return None;
    }
    let len = der.get(2..2 + n)?.iter().fold(0usize, |acc, b| acc << 8 | usize::from(*b));
    Some((2 + n, len))
}

/// Length of the whole element at the start of `der`.
fn tlv_len(der: &[u8]) -> Option<usize> {
    let (header, len) = tlv_header(der)?;
    let total = header.checked_add(len)?;
    (total <= der.len()).then_some(total)
}

/// The contents of the element at the start of `der`.
fn tlv_contents(der: &[u8]) -> Option<&[u8]> {
    let (header, len) = tlv_header(der)?;
    der.get(header..header.checked_add(len)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };

    fn ca_params(name: &str) -> CertificateParams {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        params
    }

    fn root(name: &str) -> CertifiedIssuer<'static, KeyPair> {
        CertifiedIssuer::self_signed(ca_params(name), KeyPair::generate().unwrap()).unwrap()
    }

    fn intermediate(
        name: &str,
        parent: &CertifiedIssuer<'static, KeyPair>,
    ) -> CertifiedIssuer<'static, KeyPair> {
        CertifiedIssuer::signed_by(ca_params(name), KeyPair::generate().unwrap(), parent).unwrap()
    }

    fn leaf(issuer: &CertifiedIssuer<'static, KeyPair>) -> CertificateDer<'static> {
        let params = CertificateParams::new(vec!["agent.example".to_owned()]).unwrap();
        params.signed_by(&KeyPair::generate().unwrap(), issuer).unwrap().der().clone()
    }

    fn der(issuer: &CertifiedIssuer<'static, KeyPair>) -> CertificateDer<'static> {
        issuer.der().clone()
    }

    fn sha(der: &CertificateDer<'_>) -> [u8; 32] {
        Sha256::digest(der.as_ref()).into()
    }

    fn issuer_of(chain: Vec<CertificateDer<'static>>, cas: &ClientCas) -> Option<[u8; 32]> {
        let leaf = &chain[0];
        let cert = Certificate::from_der(leaf.as_ref()).unwrap();
        SignedLeaf::read(&cert, leaf.as_ref()).and_then(|signed| issuing_ca(&signed, &chain[1..], cas))
    }

    #[test]
    fn the_bundle_ca_that_signed_the_leaf_is_found_among_several() {
        let (ca1, ca2) = (root("ca one"), root("ca two"));
        let cas = ClientCas::new(&[der(&ca1), der(&ca2)]);
        assert_eq!(issuer_of(vec![leaf(&ca1)], &cas), Some(sha(&der(&ca1))));
        assert_eq!(issuer_of(vec![leaf(&ca2)], &cas), Some(sha(&der(&ca2))));
        // A CA the edge does not hold and the client did not present is unknown.
        assert_eq!(issuer_of(vec![leaf(&root("elsewhere"))], &cas), None);
    }

    #[test]
    fn a_presented_intermediate_is_the_issuer_not_the_root_above_it() {
        let ca = root("root");
        let sub = intermediate("issuing", &ca);
        let cas = ClientCas::new(&[der(&ca)]);
        assert_eq!(issuer_of(vec![leaf(&sub), der(&sub)], &cas), Some(sha(&der(&sub))));
    }

    #[test]
    fn a_ca_certificate_that_did_not_sign_is_not_taken_for_the_issuer() {
        // Another CA with the same name as ca1: a copy of ca1's certificate presented beside a
        // leaf it did not sign does not make ca1 the issuer, nor does a same-named CA.
        let ca1 = root("shared name");
        let impostor = root("shared name");
        let cas = ClientCas::new(&[der(&ca1), der(&impostor)]);
        let forged = leaf(&impostor);
        assert_eq!(issuer_of(vec![forged.clone(), der(&ca1)], &cas), Some(sha(&der(&impostor))));
        assert_eq!(issuer_of(vec![forged, der(&ca1)], &ClientCas::new(&[der(&ca1)])), None);
    }

    #[test]
    fn der_lengths_are_read_with_bounds() {
        assert_eq!(tlv_header(&[0x30, 0x03, 1, 2, 3]), Some((2, 3)));
        assert_eq!(tlv_header(&[0x30, 0x82, 0x01, 0x00]), Some((4, 256)));
        assert_eq!(tlv_len(&[0x30, 0x82, 0x01, 0x00]), None, "longer than the input");
        assert_eq!(tlv_header(&[0x30, 0x80]), None, "indefinite length is not DER");
        assert_eq!(tlv_header(&[0x30]), None);
        assert_eq!(tlv_contents(&[0x30, 0x05, 1]), None);
        assert_eq!(ClientCas::new(&[CertificateDer::from(vec![0x30, 0x00])]).cas.len(), 0);
    }
}
