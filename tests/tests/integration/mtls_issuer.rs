//! Certificate identities bound to the CA that must have issued the certificate, end to
//! end: an edge whose client CA bundle trusts two CAs, identities bound to one of them (or
//! to an intermediate, or also to a SPIFFE trust domain), and real certificates from each
//! over real sockets. A certificate with an identity's name from another trusted CA is
//! refused, never authenticated as that identity.

use std::time::Duration;

use gatehouse_config::identity::cert_names::CertNameKind;
use gatehouse_control_plane::store::{CertificateIssuer, NewCertificateIdentity};
use gatehouse_tests::eventually;
use gatehouse_tests::pki::{CertAndKey, ClientNames};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::mtls::{initialize, refusal, whoami, Fixture};

const CI_AGENT: &str = "spiffe://acme/agent/ci";

fn names(cn: &str, uris: &[&str], dns: &[&str]) -> ClientNames {
    ClientNames {
        cn: Some(cn.to_owned()),
        uris: uris.iter().map(|u| u.to_string()).collect(),
        dns: dns.iter().map(|d| d.to_string()).collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_certificate_identity_authenticates_only_certificates_from_the_ca_it_is_bound_to() {
    let fx = Fixture::start().await;
    let admin = fx.admin();
    // Both CAs are trusted by the edge: the handshake accepts either's certificates.
    let (ca1, ca2) = (&fx.ca, &fx.rogue_ca);
    let sub = ca2.intermediate("ca two issuing");
    let bind = |kind: &'static str,
                value: &'static str,
                user: &'static str,
                ca: String,
                domain: Option<&'static str>| {
        let admin = admin.clone();
        async move { admin.register_bound_certificate_identity(kind, value, user, "eng", &ca, domain).await }
    };
    bind("san_uri", CI_AGENT, "ci-agent", ca1.sha256_hex(), None).await;
    bind("san_dns", "build.acme.example", "builder", sub.sha256_hex(), None).await;
    bind("subject_cn", "deployer", "deployer", ca1.sha256_hex(), Some("deploy.acme")).await;
    let edge =
        fx.edge_trusting(&format!("{}{}", ca1.cert_pem(), ca2.cert_pem()), "optional", None, &[]).await;
    fx.sync(&edge).await;
    let calls_before = fx.upstream.calls.count("whoami");

    // The SPIFFE ID from the CA it is bound to authenticates; the same SPIFFE ID from the
    // other trusted CA is refused, with a reason that says so.
    let from_ca1 = edge.client(Some(&ca1.client(&ClientNames::spiffe(CI_AGENT))));
    assert_eq!(whoami(&edge, from_ca1, None).await, "ci-agent");
    let from_ca2 = edge.client(Some(&ca2.client(&ClientNames::spiffe(CI_AGENT))));
    let response = initialize(&edge, &from_ca2, None).await.expect("both CAs pass the handshake");
    assert!(response.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer "));
    let (status, reason) = refusal(response).await;
    assert_eq!((status, reason.as_str()), (StatusCode::UNAUTHORIZED, "certificate_issuer_mismatch"));

    // Bound to an intermediate: a certificate it signed, presented with it, authenticates;
    // one signed by the root above it is not from the bound CA.
    let leaf = sub.client(&names("builder", &[], &["build.acme.example"]));
    let with_chain =
        CertAndKey { cert_pem: format!("{}{}", leaf.cert_pem, sub.cert_pem()), key_pem: leaf.key_pem };
    assert_eq!(whoami(&edge, edge.client(Some(&with_chain)), None).await, "builder");
    let from_root = edge.client(Some(&ca2.client(&names("builder", &[], &["build.acme.example"]))));
    let (status, reason) = refusal(initialize(&edge, &from_root, None).await.unwrap()).await;
    assert_eq!((status, reason.as_str()), (StatusCode::UNAUTHORIZED, "certificate_issuer_mismatch"));

    // Bound to a CA and a trust domain: the CA's certificate needs a SPIFFE ID in that domain.
    let in_domain = ca1.client(&names("deployer", &["spiffe://deploy.acme/job/1"], &[]));
    assert_eq!(whoami(&edge, edge.client(Some(&in_domain)), None).await, "deployer");
    for (what, uris) in
        [("another trust domain", &["spiffe://deploy.acme.evil/job/1"][..]), ("no SPIFFE ID", &[])]
    {
        let cert = ca1.client(&names("deployer", uris, &[]));
        let (status, reason) =
            refusal(initialize(&edge, &edge.client(Some(&cert)), None).await.unwrap()).await;
        assert_eq!(
            (status, reason.as_str()),
            (StatusCode::UNAUTHORIZED, "certificate_trust_domain_mismatch"),
            "{what}"
        );
    }
    let from_ca2_in_domain = ca2.client(&names("deployer", &["spiffe://deploy.acme/job/1"], &[]));
    let client = edge.client(Some(&from_ca2_in_domain));
    let (status, reason) = refusal(initialize(&edge, &client, None).await.unwrap()).await;
    assert_eq!((status, reason.as_str()), (StatusCode::UNAUTHORIZED, "certificate_issuer_mismatch"));

    assert_eq!(
        fx.upstream.calls.count("whoami"),
        calls_before + 3,
        "no refused request reached the upstream"
    );
    // Each refusal is logged with the identity and both fingerprints, never the certificate.
    let text = eventually(Duration::from_secs(5), "issuer refusals in the log", || async {
        let text = fx.log_text();
        text.contains("not issued as its certificate identity is bound").then_some(text)
    })
    .await;
    assert!(text.contains(&ca1.sha256_hex()), "the expected CA is named");
    assert!(
        !text.contains("BEGIN CERTIFICATE") && !text.contains("PRIVATE KEY"),
        "no certificate in the log"
    );
}

#[tokio::test]
async fn an_identity_registered_before_bindings_matches_any_trusted_ca_and_warns_once() {
    let fx = Fixture::start().await;
    // Written as the migration leaves an existing row: no issuer. The API cannot create one.
    let store = fx.cp.store().await;
    let org_id = store.org_by_slug("default").await.unwrap().expect("the default org").id;
    let legacy = NewCertificateIdentity {
        team: "eng".into(),
        kind: CertNameKind::SanUri,
        value: CI_AGENT.into(),
        user: "legacy-agent".into(),
        scopes: vec![],
        server_permissions: vec![],
        tool_permissions: vec![],
        issuer: CertificateIssuer::default(),
    };
    let created = store.create_certificate_identity(&org_id, legacy).await.expect("a legacy identity");
    let (_, shown) = fx
        .admin()
        .request(Method::GET, &format!("/v1/auth/certificate-identities/{}", created.value.id), None)
        .await;
    assert_eq!(shown["issuer_ca_sha256"], Value::Null, "{shown}");

    let edge = fx
        .edge_trusting(&format!("{}{}", fx.ca.cert_pem(), fx.rogue_ca.cert_pem()), "optional", None, &[])
        .await;
    fx.sync(&edge).await;
    for ca in [&fx.ca, &fx.rogue_ca] {
        let client = edge.client(Some(&ca.client(&ClientNames::spiffe(CI_AGENT))));
        assert_eq!(whoami(&edge, client, None).await, "legacy-agent");
    }
    let warning = "certificate identity is bound to no CA";
    let text = eventually(Duration::from_secs(5), "the unbound warning", || async {
        let text = fx.log_text();
        text.contains(warning).then_some(text)
    })
    .await;
    let mentions = text.lines().filter(|l| l.contains(warning) && l.contains(&created.value.id)).count();
    assert_eq!(mentions, 1, "warned once per identity, not per request");
}

#[tokio::test]
async fn the_api_requires_an_issuing_ca_and_checks_the_binding() {
    let fx = Fixture::start().await;
    let admin = fx.admin();
    let ca = fx.ca.sha256_hex();
    let base = json!({"kind": "san_uri", "value": CI_AGENT, "user": "ci-agent", "team": "eng", "issuer_ca_sha256": ca});
    let post = |body: Value| {
        let admin = admin.clone();
        async move { admin.request(Method::POST, "/v1/auth/certificate-identities", Some(body)).await }
    };
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };

    let mut unbound = base.clone();
    unbound.as_object_mut().unwrap().remove("issuer_ca_sha256");
    let (status, error) = post(unbound).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(error.to_string().contains("issuer_ca_sha256"), "the missing field is named: {error}");
    for (body, field, says) in [
        (with("issuer_ca_sha256", json!("ab12")), "issuer_ca_sha256", "64 hex digits"),
        (with("issuer_ca_sha256", json!("-----BEGIN CERTIFICATE-----")), "issuer_ca_sha256", "openssl x509"),
        (with("spiffe_trust_domain", json!("Acme")), "spiffe_trust_domain", "trust domain"),
        (with("spiffe_trust_domain", json!("spiffe://acme")), "spiffe_trust_domain", "without the spiffe://"),
        (with("spiffe_trust_domain", json!("globex")), "spiffe_trust_domain", "\"acme\""),
    ] {
        let (status, error) = post(body.clone()).await;
        assert_eq!(
            (status, error["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{body}: {error}"
        );
        assert!(error["error"]["message"].as_str().unwrap().contains(says), "{body}: {error}");
    }

    // openssl's colon-separated upper-case form is the same fingerprint, shown as hex.
    let openssl_form = ca
        .as_bytes()
        .chunks(2)
        .map(|p| std::str::from_utf8(p).unwrap().to_uppercase())
        .collect::<Vec<_>>()
        .join(":");
    let mut body = with("issuer_ca_sha256", json!(openssl_form));
    body["spiffe_trust_domain"] = json!("acme");
    let (status, created) = post(body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        (created["issuer_ca_sha256"].as_str(), created["spiffe_trust_domain"].as_str()),
        (Some(ca.as_str()), Some("acme"))
    );
    let (_, listed) = admin.request(Method::GET, "/v1/auth/certificate-identities", None).await;
    assert_eq!(listed["certificate_identities"][0]["issuer_ca_sha256"], json!(ca), "{listed}");

    let (_, openapi) = admin.request(Method::GET, "/v1/openapi.json", None).await;
    let schema = &openapi["components"]["schemas"]["RegisterCertificateIdentity"];
    assert!(schema["required"].as_array().unwrap().contains(&json!("issuer_ca_sha256")), "{schema}");
}
