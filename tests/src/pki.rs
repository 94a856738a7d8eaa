//! A throw-away PKI for TLS tests (rcgen): a CA, a server certificate for
//! `localhost`/`127.0.0.1`, and client certificates with chosen names, from
//! this CA or another one, valid or expired.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use tempfile::TempDir;

/// A certificate and its private key, PEM.
#[derive(Debug, Clone)]
pub struct CertAndKey {
    /// The certificate (PEM), leaf first when a chain.
    pub cert_pem: String,
    /// The private key (PKCS#8 PEM).
    pub key_pem: String,
}

impl CertAndKey {
    /// A client identity for reqwest (certificate and key in one PEM).
    pub fn identity(&self) -> reqwest::Identity {
        reqwest::Identity::from_pem(format!("{}{}", self.cert_pem, self.key_pem).as_bytes())
            .expect("a PEM client identity")
    }
}

/// Names to put in a client certificate.
#[derive(Debug, Clone, Default)]
pub struct ClientNames {
    /// Subject common name.
    pub cn: Option<String>,
    /// URI SANs (e.g. SPIFFE IDs).
    pub uris: Vec<String>,
    /// DNS SANs.
    pub dns: Vec<String>,
    /// E-mail SANs.
    pub emails: Vec<String>,
}

impl ClientNames {
    /// A certificate carrying one SPIFFE ID (and a CN).
    pub fn spiffe(id: &str) -> Self {
        Self { cn: Some("workload".into()), uris: vec![id.to_owned()], ..Default::default() }
    }
}

/// A certificate authority that can issue server and client certificates.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    /// A new self-signed CA named `name`.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("a CA key"))
            .expect("a self-signed CA");
        Self { issuer }
    }

    /// The CA certificate (PEM).
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// SHA-256 of the CA certificate, 64 lower-case hex digits (what a certificate identity's
    /// `issuer_ca_sha256` names).
    pub fn sha256_hex(&self) -> String {
        use sha2::Digest as _;
        sha2::Sha256::digest(self.issuer.der()).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A CA certificate signed by this CA (an intermediate), named `name`.
    pub fn intermediate(&self, name: &str) -> TestCa {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::signed_by(params, KeyPair::generate().expect("a CA key"), &self.issuer)
            .expect("an intermediate CA");
        TestCa { issuer }
    }

    /// A server certificate for `localhost` and `127.0.0.1`.
    pub fn server(&self) -> CertAndKey {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned()]).expect("a server certificate's names");
        params.subject_alt_names.push(SanType::IpAddress([127, 0, 0, 1].into()));
        params.distinguished_name = dn("gatehouse edge");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params)
    }

    /// A client certificate with `names`, valid now.
    pub fn client(&self, names: &ClientNames) -> CertAndKey {
        self.issue(client_params(names))
    }

    /// A client certificate with `names` that expired a day ago.
    pub fn expired_client(&self, names: &ClientNames) -> CertAndKey {
        let mut params = client_params(names);
        let now = time_now();
        params.not_before = now - time::Duration::days(30);
        params.not_after = now - time::Duration::days(1);
        self.issue(params)
    }

    fn issue(&self, params: CertificateParams) -> CertAndKey {
        let key = KeyPair::generate().expect("a leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("a CA-signed certificate");
        CertAndKey { cert_pem: cert.pem(), key_pem: key.serialize_pem() }
    }
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Gatehouse tests");
    dn.push(DnType::CommonName, cn);
    dn
}

fn client_params(names: &ClientNames) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Gatehouse tests");
    if let Some(cn) = &names.cn {
        dn.push(DnType::CommonName, cn.as_str());
    }
    params.distinguished_name = dn;
    let ia5 = |s: &String| s.as_str().try_into().expect("an IA5 name");
    params.subject_alt_names = names
        .uris
        .iter()
        .map(|u| SanType::URI(ia5(u)))
        .chain(names.dns.iter().map(|d| SanType::DnsName(ia5(d))))
        .chain(names.emails.iter().map(|e| SanType::Rfc822Name(ia5(e))))
        .collect();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let now = time_now();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(1);
    params
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// PEM files an edge reads at start, in their own temporary directory.
pub struct EdgeTlsFiles {
    /// `GATEHOUSE_EDGE_TLS_CERT`.
    pub cert: PathBuf,
    /// `GATEHOUSE_EDGE_TLS_KEY`.
    pub key: PathBuf,
    /// `GATEHOUSE_EDGE_TLS_CLIENT_CA`.
    pub client_ca: PathBuf,
    _dir: TempDir,
}

impl EdgeTlsFiles {
    /// Writes `server` and the client CA bundle `client_ca_pem` to files.
    pub fn write(server: &CertAndKey, client_ca_pem: &str) -> Self {
        let dir = tempfile::tempdir().expect("a directory for TLS files");
        let write = |name: &str, contents: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, contents).expect("write a TLS file");
            path
        };
        Self {
            cert: write("tls.crt", &server.cert_pem),
            key: write("tls.key", &server.key_pem),
            client_ca: write("client-ca.crt", client_ca_pem),
            _dir: dir,
        }
    }
}

/// A temporary directory of PEM files, rewritable in place (to rotate a certificate).
pub struct PemDir {
    dir: TempDir,
}

impl PemDir {
    /// A new empty directory.
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("a directory for PEM files") }
    }

    /// Writes `contents` to `name` (replacing it) and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        // Written beside and renamed, as a secret volume is updated: never half a file.
        let partial = self.dir.path().join(format!(".{name}.partial"));
        std::fs::write(&partial, contents).expect("write a PEM file");
        std::fs::rename(&partial, &path).expect("move a PEM file into place");
        path
    }
}

impl Default for PemDir {
    fn default() -> Self {
        Self::new()
    }
}
