//! Caller authentication and server authorisation for `/mcp/{org}/{slug}` (and the default
//! org's `/mcp/{slug}`).
//!
//! Every credential is judged within the org the request's URL names, and only there: a
//! gateway token or certificate identity of another org is not found, a Gatehouse access
//! token must be bound to this org's server, and only this org's (and this server's)
//! bring-your-own validator ever sees a token. Gateway tokens are a SHA-256 and a hash-map
//! lookup in one [`ConfigView`]. Other credentials (Gatehouse access tokens, bring-your-own
//! JWTs, opaque tokens for introspection) are verified by [`crate::identity`]; a verified
//! mTLS client certificate is looked up by name among the certificate identities. Every one
//! of them ends up as a [`Caller`], which is what authorisation works on.

use std::sync::Arc;

use gatehouse_config::token_hash::hash_token;
use http::header::AUTHORIZATION;
use http::HeaderMap;
use secrecy::SecretString;

use crate::config_view::{ConfigView, Org, ToolRules, UpstreamServer};
use crate::error::EdgeError;
use crate::identity::byo_jwt::JwtValidator;
use crate::identity::cert_binding::BindingMismatch;
use crate::identity::client_cert::ClientCertificate;
use crate::identity::gatehouse_jwt::looks_like_jwt;
use crate::identity::{bearer, Caller, IdentityError, IdentityRuntime, TokenGrant};

/// Header carrying a gateway token for clients that can't set `Authorization`.
pub const X_API_KEY: http::HeaderName = http::HeaderName::from_static("x-api-key");

/// The gateway token presented with a request, if any.
///
/// `Authorization: Bearer <token>` (scheme case-insensitive) wins over
/// `X-API-Key: <token>`. An `Authorization` header with another scheme is not
/// a gateway token and is ignored.
pub fn presented_token(headers: &HeaderMap) -> Option<&str> {
    bearer(headers)
        .or_else(|| headers.get(X_API_KEY).and_then(|v| v.to_str().ok()).map(str::trim))
        .filter(|t| !t.is_empty())
}

/// What a request to an MCP URL addresses: the org its URL names, the server slug in it,
/// and the audiences a Gatehouse access token may carry there.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The org the URL names; `None` when there is no such org (no credential belongs to it).
    pub org: Option<&'a Org>,
    /// The server's slug within the org.
    pub slug: &'a str,
    /// The resource URLs a Gatehouse access token for this server may be bound to.
    pub audiences: Audiences<'a>,
    /// The client's address, whose identity-provider call budget a credential that needs
    /// a JWKS fetch or an introspection call spends; `None` = not limited.
    pub client: Option<std::net::IpAddr>,
}

/// The resource URLs a Gatehouse access token may be bound to, built only when one is
/// presented: a gateway token or a bring-your-own JWT needs none of them.
#[derive(Clone, Copy)]
pub struct Audiences<'a>(pub &'a (dyn Fn() -> Vec<String> + Sync));

impl Audiences<'_> {
    /// No audience: no Gatehouse access token is accepted.
    pub const NONE: Audiences<'static> = Audiences(&Vec::new);

    /// The audiences.
    pub fn get(&self) -> Vec<String> {
        (self.0)()
    }
}

impl std::fmt::Debug for Audiences<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.get()).finish()
    }
}

impl Target<'_> {
    /// The `jwt_validation` that applies here: the server's own, else its org's. `None` when
    /// the org has no such server or neither is configured.
    fn jwt_validation<'v>(&self, view: &'v ConfigView) -> Option<&'v Result<Arc<JwtValidator>, String>> {
        let org = self.org?;
        let server = view.server(&org.id, self.slug)?;
        server.identity.jwt.as_ref().or_else(|| view.org(&org.id)?.jwt.as_ref())
    }
}

/// Resolves a gateway token of `org_id`: missing → `MissingToken`, unknown or another org's
/// → `InvalidToken`, expired at `now_unix` → `ExpiredToken`.
pub fn authenticate_gateway_token(
    view: &ConfigView,
    org_id: &str,
    headers: &HeaderMap,
    now_unix: i64,
) -> Result<Arc<TokenGrant>, EdgeError> {
    let token = presented_token(headers).ok_or(EdgeError::MissingToken)?;
    let grant = view.token(org_id, &hash_token(token)).ok_or(EdgeError::InvalidToken)?;
    if grant.is_expired(now_unix) {
        return Err(EdgeError::ExpiredToken);
    }
    Ok(Arc::clone(grant))
}

fn identity_error(e: IdentityError) -> EdgeError {
    tracing::info!(reason = %e, "credential refused");
    match e {
        IdentityError::Invalid(_) => EdgeError::InvalidToken,
        IdentityError::Expired => EdgeError::ExpiredToken,
        IdentityError::Unavailable => EdgeError::IdentityProviderUnavailable,
        IdentityError::RateLimited => EdgeError::IdentityChecksRateLimited,
    }
}

/// Authenticates a verified client certificate within `org_id`: the first of its names (in
/// [`CertNameKind`](gatehouse_config::identity::cert_names::CertNameKind) precedence) registered
/// as a certificate identity of that org. A certificate that maps to nothing there (even if it
/// maps to an identity of another org) is 401 `certificate_not_mapped`; one signed by another CA
/// than the identity is bound to is 401 `certificate_issuer_mismatch`, and one without a SPIFFE
/// ID in the identity's trust domain 401 `certificate_trust_domain_mismatch`.
pub fn authenticate_certificate(
    view: &ConfigView,
    org_id: &str,
    cert: &ClientCertificate,
    now_unix: i64,
) -> Result<Caller, EdgeError> {
    // The handshake checked validity, but a connection may outlive its certificate.
    if now_unix >= cert.not_after() {
        tracing::info!(subject = cert.subject(), "client certificate expired during the connection");
        return Err(EdgeError::ExpiredToken);
    }
    let found = cert
        .names()
        .find_map(|(kind, name)| view.certificate_identity(org_id, kind, name).map(|g| (kind, g)));
    let Some((kind, identity)) = found else {
        tracing::info!(
            subject = cert.subject(),
            fingerprint = %cert.fingerprint_hex(),
            "client certificate maps to no certificate identity of the org"
        );
        return Err(EdgeError::CertificateNotMapped);
    };
    let grant = &identity.grant;
    // The first identity its names match decides: another CA's certificate with the same
    // name is refused, not tried against the identity's lower-precedence names.
    if let Err(mismatch) = identity.issuer.check(cert) {
        tracing::warn!(
            identity = %grant.id,
            matched = %kind,
            fingerprint = %cert.fingerprint_hex(),
            ?mismatch,
            "client certificate refused: not issued as its certificate identity is bound"
        );
        return Err(match mismatch {
            BindingMismatch::Issuer { .. } => EdgeError::CertificateIssuerMismatch,
            BindingMismatch::TrustDomain { .. } => EdgeError::CertificateTrustDomainMismatch,
        });
    }
    if identity.issuer.first_unbound_use() {
        tracing::warn!(
            identity = %grant.id,
            "certificate identity is bound to no CA, so a certificate from any CA of \
             GATEHOUSE_EDGE_TLS_CLIENT_CA with its name authenticates as it; register it again with issuer_ca_sha256"
        );
    }
    tracing::debug!(identity = %grant.id, matched = %kind, "caller authenticated by client certificate");
    Ok(Caller::from_certificate(Arc::clone(grant), cert.not_after()))
}

/// Authenticates the caller of the MCP URL `target` names.
///
/// Order: a known gateway token of the org; a JWT whose issuer is Gatehouse's (verified
/// offline, audience one of `target.audiences`, org claim the URL's org); the `jwt_validation`
/// of the org's server `slug` (the server's own, else its org's). Anything presented but not
/// accepted is 401 and never reaches an upstream. Only when no credential is presented at all
/// does the connection's verified client certificate (`peer`) authenticate the caller: an
/// explicit credential always wins.
pub async fn authenticate(
    view: &ConfigView,
    runtime: &IdentityRuntime,
    headers: &HeaderMap,
    peer: Option<&ClientCertificate>,
    target: &Target<'_>,
    now_unix: i64,
) -> Result<Caller, EdgeError> {
    if let Some(cert) = peer {
        if !presents_credential(target.jwt_validation(view), headers) {
            let Some(org) = target.org else { return Err(EdgeError::CertificateNotMapped) };
            return authenticate_certificate(view, &org.id, cert, now_unix);
        }
    }
    let token = presented_token(headers);
    let Some(org) = target.org else {
        // No such org: whatever was presented is as unknown as a token that does not exist.
        return Err(if token.is_some() { EdgeError::InvalidToken } else { EdgeError::MissingToken });
    };
    if let Some(grant) = token.and_then(|t| view.token(&org.id, &hash_token(t))) {
        if grant.is_expired(now_unix) {
            return Err(EdgeError::ExpiredToken);
        }
        return Ok(Caller::from_grant(Arc::clone(grant)));
    }
    if let (Some(jwt), Some(keys)) = (bearer(headers), view.gatehouse_keys()) {
        if looks_like_jwt(jwt) && keys.claims_issuer(jwt) {
            let mut caller = keys.verify(jwt, &target.audiences.get()).map_err(identity_error)?;
            if caller.org_id != org.id {
                return Err(identity_error(IdentityError::Invalid("token of another org")));
            }
            caller.presented = Some(SecretString::from(jwt.to_owned()));
            return Ok(caller);
        }
    }
    // Looked up only now: a gateway token's request never needs it.
    let failure = match target.jwt_validation(view) {
        None => None,
        Some(Err(_)) => Some(IdentityError::Invalid("jwt_validation is misconfigured")),
        Some(Ok(validator)) => match validator.extract(headers) {
            None => None,
            // On the heap: a gateway token's request need not carry room for a JWKS or
            // introspection call in its future.
            Some(raw) => match Box::pin(validator.verify(runtime, raw, now_unix, target.client)).await {
                Ok((claims, source)) => {
                    let org_id = org.id.as_str();
                    let mut caller = validator
                        .caller(org_id, claims, source, |ws| {
                            view.workspace_id_by_slug(org_id, ws).map(str::to_owned)
                        })
                        .map_err(identity_error)?;
                    caller.presented = Some(SecretString::from(raw.to_owned()));
                    return Ok(caller);
                }
                Err(e) => Some(e),
            },
        },
    };
    match (failure, token) {
        (Some(e), _) => Err(identity_error(e)),
        (None, Some(_)) => Err(EdgeError::InvalidToken),
        (None, None) => Err(EdgeError::MissingToken),
    }
}

/// Whether the request carries an explicit credential: any `Authorization` header (even of
/// a scheme the edge doesn't take, which is answered as before rather than silently replaced
/// by the certificate), a gateway token in `X-API-Key`, or a token in the custom header the
/// `jwt_validation` that applies here (`validator`) reads.
fn presents_credential(validator: Option<&Result<Arc<JwtValidator>, String>>, headers: &HeaderMap) -> bool {
    if headers.contains_key(AUTHORIZATION) || presented_token(headers).is_some() {
        return true;
    }
    matches!(validator, Some(Ok(validator)) if validator.extract(headers).is_some())
}

/// What an authorised request may reach: the server and its tool rules in the caller's workspace.
#[derive(Debug, Clone)]
pub struct Route {
    /// The upstream server.
    pub server: Arc<UpstreamServer>,
    /// The provision's tool rules.
    pub rules: Arc<ToolRules>,
    /// The caller's workspace the server is provisioned to.
    pub workspace_id: String,
    /// The caller's permissions as the tool policy evaluates them.
    pub grant: Arc<TokenGrant>,
}

/// Finds `slug` in the caller's org (404) and checks the caller may reach it (403):
/// the first of the caller's workspaces with the server provisioned supplies the tool rules.
/// [`authenticate`] only lets through callers of the org the request's URL names.
pub fn authorize(view: &ConfigView, caller: &Caller, slug: &str) -> Result<Route, EdgeError> {
    let server =
        view.server(&caller.org_id, slug).ok_or_else(|| EdgeError::ServerNotFound(slug.to_owned()))?;
    let (workspace_id, rules) = if caller.workspace_from_server {
        server_workspace(view, &server.id)?
    } else {
        caller
            .workspace_ids
            .iter()
            .find_map(|ws| view.provision(ws, &server.id).map(|rules| (ws.clone(), Arc::clone(rules))))
            .ok_or(EdgeError::ServerNotProvisioned)?
    };
    if !caller.allows_server(slug) {
        return Err(EdgeError::ServerNotPermitted);
    }
    let grant = caller.policy_grant(&workspace_id);
    Ok(Route { server: Arc::clone(server), rules, workspace_id, grant })
}

/// The one workspace `server_id` is provisioned to, for a caller whose token names none;
/// with several, which one the caller acts in (and whose tool rules apply) is unknown.
fn server_workspace(view: &ConfigView, server_id: &str) -> Result<(String, Arc<ToolRules>), EdgeError> {
    let mut provisions = view.provisions_of_server(server_id);
    match (provisions.next(), provisions.next()) {
        (Some((workspace, rules)), None) => Ok((workspace.clone(), Arc::clone(rules))),
        (None, _) => Err(EdgeError::ServerNotProvisioned),
        (Some(_), Some(_)) => Err(EdgeError::WorkspaceAmbiguous),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::AuthSource;
    use gatehouse_proto::config::v1 as pb;
    use http::HeaderValue;

    fn view() -> ConfigView {
        let token = |id: &str, secret: &str, servers: &[&str], expires_at: i64| pb::GatewayToken {
            id: id.into(),
            org_id: "org".into(),
            token_hash: hash_token(secret).to_vec(),
            user: "alice".into(),
            workspace_id: "ws".into(),
            server_permissions: servers.iter().map(|s| s.to_string()).collect(),
            expires_at,
            ..Default::default()
        };
        let server = |id: &str, slug: &str| pb::Server {
            id: id.into(),
            org_id: "org".into(),
            slug: slug.into(),
            url: "http://127.0.0.1:1/mcp".into(),
            auth_type: "none".into(),
            ..Default::default()
        };
        // `byo` takes the org's own JWTs from a custom header.
        let byo = pb::Server {
            advanced_config: Some(gatehouse_config::identity::wire::advanced_config_to_wire(
                &serde_json::json!({"jwt_validation": {
                    "jwks": {"keys": [ec_public_jwk()]}, "headerKey": "x-idp-token", "workspace": "ws",
                    "issuer": "https://idp.test", "audience": "gatehouse",
                }}),
            )),
            ..server("s3", "byo")
        };
        let identity = |id: &str, kind: &str, value: &str, user: &str| pb::CertificateIdentity {
            id: id.into(),
            org_id: "org".into(),
            kind: kind.into(),
            value: value.into(),
            user: user.into(),
            workspace_id: "ws".into(),
            ..Default::default()
        };
        ConfigView::from_snapshot(pb::Snapshot {
            version: 1,
            state: Some(pb::ConfigState {
                servers: vec![server("s1", "github"), server("s2", "jira"), byo],
                certificate_identities: vec![
                    identity("c1", "san_uri", "spiffe://acme/agent/ci", "ci-agent"),
                    identity("c2", "subject_cn", "ci", "ci-by-cn"),
                    pb::CertificateIdentity {
                        org_id: "org2".into(),
                        ..identity("c3", "san_uri", "spiffe://globex/agent/ci", "globex-agent")
                    },
                ],
                provisions: vec![pb::Provision {
                    workspace_id: "ws".into(),
                    server_id: "s1".into(),
                    ..Default::default()
                }],
                tokens: vec![
                    token("t1", "good", &[], 0),
                    token("t2", "old", &[], 100),
                    token("t3", "narrow", &["other"], 0),
                    pb::GatewayToken { org_id: "org2".into(), ..token("t4", "elsewhere", &[], 0) },
                    pb::GatewayToken { org_id: "org2".into(), ..token("t5", "elsewhere-old", &[], 100) },
                ],
                orgs: vec![
                    pb::Org { id: "org".into(), slug: "acme".into(), ..Default::default() },
                    pb::Org { id: "org2".into(), slug: "globex".into(), ..Default::default() },
                ],
                ..Default::default()
            }),
        })
    }

    /// A P-256 public key as a JWK.
    fn ec_public_jwk() -> serde_json::Value {
        use base64::Engine as _;
        let key = rcgen::KeyPair::generate().unwrap();
        let point = key.public_key_raw(); // 0x04 || x || y
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        serde_json::json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])})
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (http::HeaderName::from_static(k), HeaderValue::from_str(v).unwrap()))
            .collect()
    }

    #[test]
    fn extracts_bearer_and_api_key() {
        assert_eq!(presented_token(&headers(&[("authorization", "Bearer abc")])), Some("abc"));
        assert_eq!(presented_token(&headers(&[("authorization", "bearer  abc ")])), Some("abc"));
        assert_eq!(presented_token(&headers(&[("x-api-key", "k")])), Some("k"));
        assert_eq!(presented_token(&headers(&[("authorization", "Basic Zm9v")])), None);
        assert_eq!(presented_token(&headers(&[("authorization", "Bearer ")])), None);
        assert_eq!(
            presented_token(&headers(&[("authorization", "Bearer a"), ("x-api-key", "b")])),
            Some("a")
        );
        assert_eq!(presented_token(&HeaderMap::new()), None);
    }

    #[test]
    fn authentication_outcomes() {
        let v = view();
        let auth = |h: &[(&'static str, &str)]| authenticate_gateway_token(&v, "org", &headers(h), 1_000);
        assert!(matches!(auth(&[]), Err(EdgeError::MissingToken)));
        assert!(matches!(auth(&[("authorization", "Bearer nope")]), Err(EdgeError::InvalidToken)));
        assert!(matches!(auth(&[("authorization", "Bearer old")]), Err(EdgeError::ExpiredToken)));
        assert_eq!(auth(&[("x-api-key", "good")]).unwrap().id, "t1");
        // Another org's token is as unknown as one that does not exist, expired or not.
        assert!(matches!(auth(&[("x-api-key", "elsewhere")]), Err(EdgeError::InvalidToken)));
        assert!(matches!(auth(&[("x-api-key", "elsewhere-old")]), Err(EdgeError::InvalidToken)));
    }

    /// A gateway token needs no resource URL: the audiences (built from the public base URL)
    /// are left unbuilt. `identity_edge::gatehouse_access_tokens_are_verified_offline_and_audience_bound`
    /// shows a Gatehouse access token is still held to them.
    #[tokio::test]
    async fn audiences_are_not_built_for_a_gateway_token() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let v = view();
        let runtime = IdentityRuntime::new(Default::default(), 60).unwrap();
        let built = AtomicUsize::new(0);
        let audiences = || {
            built.fetch_add(1, Ordering::Relaxed);
            vec!["http://edge.test/mcp/acme/github".to_owned()]
        };
        let target = Target {
            org: v.org("org").map(|o| &**o),
            slug: "github",
            audiences: Audiences(&audiences),
            client: None,
        };
        let caller =
            authenticate(&v, &runtime, &headers(&[("authorization", "Bearer good")]), None, &target, 1_000)
                .await
                .unwrap();
        assert_eq!(caller.user, "alice");
        assert_eq!(built.load(Ordering::Relaxed), 0);
        assert_eq!(format!("{:?}", target.audiences), r#"["http://edge.test/mcp/acme/github"]"#);
    }

    fn certificate(uri: Option<&str>, cn: &str, not_after_year: i32) -> ClientCertificate {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        if let Some(uri) = uri {
            params.subject_alt_names.push(rcgen::SanType::URI(uri.try_into().unwrap()));
        }
        params.not_after = rcgen::date_time_ymd(not_after_year, 1, 1);
        let key = rcgen::KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().clone();
        ClientCertificate::from_chain(vec![der], &Default::default()).unwrap()
    }

    #[tokio::test]
    async fn a_client_certificate_authenticates_only_without_an_explicit_credential() {
        let v = view();
        let runtime = IdentityRuntime::new(Default::default(), 60).unwrap();
        let now = 1_800_000_000; // 2027
        let ci = certificate(Some("spiffe://acme/agent/ci"), "ci", 2030);
        let auth = |h: Vec<(&'static str, &'static str)>, cert: ClientCertificate, slug: &'static str| {
            let runtime = &runtime;
            let v = &v;
            async move {
                let h = headers(&h);
                let target = Target {
                    org: v.org("org").map(|o| &**o),
                    slug,
                    audiences: Audiences::NONE,
                    client: None,
                };
                authenticate(v, runtime, &h, Some(&cert), &target, now).await
            }
        };

        let caller = auth(vec![], ci.clone(), "github").await.unwrap();
        assert_eq!((caller.user.as_str(), caller.source), ("ci-agent", AuthSource::ClientCertificate));
        assert_eq!(caller.expires_at, Some(ci.not_after()));
        assert_eq!(authorize(&v, &caller, "github").unwrap().workspace_id, "ws");
        // The SAN URI outranks the CN, which is also registered.
        let by_cn = auth(vec![], certificate(None, "ci", 2030), "github").await.unwrap();
        assert_eq!(by_cn.user, "ci-by-cn");

        // Any explicit credential wins and is judged on its own.
        let with_token = auth(vec![("x-api-key", "good")], ci.clone(), "github").await.unwrap();
        assert_eq!(with_token.source, AuthSource::GatewayToken);
        assert!(matches!(
            auth(vec![("authorization", "Bearer unknown")], ci.clone(), "github").await,
            Err(EdgeError::InvalidToken)
        ));
        assert!(matches!(
            auth(vec![("authorization", "Basic Zm9v")], ci.clone(), "github").await,
            Err(EdgeError::MissingToken)
        ));
        assert!(
            auth(vec![("x-idp-token", "not-a-jwt")], ci.clone(), "byo").await.is_err(),
            "a bring-your-own token in its custom header is not replaced by the certificate"
        );
        // The same header means nothing to a server that doesn't read it.
        assert!(auth(vec![("x-idp-token", "not-a-jwt")], ci.clone(), "github").await.is_ok());

        // Unmapped and expired (during a long connection) certificates are refused.
        let unmapped = certificate(Some("spiffe://acme/agent/other"), "other", 2030);
        assert!(matches!(auth(vec![], unmapped, "github").await, Err(EdgeError::CertificateNotMapped)));
        let outlived = certificate(Some("spiffe://acme/agent/ci"), "ci", 2026);
        assert!(matches!(auth(vec![], outlived, "github").await, Err(EdgeError::ExpiredToken)));
    }

    #[tokio::test]
    async fn credentials_count_only_in_the_org_the_url_names() {
        let v = view();
        let runtime = IdentityRuntime::new(Default::default(), 60).unwrap();
        let now = 1_800_000_000;
        let at = |org: Option<&'static str>,
                  h: Vec<(&'static str, &'static str)>,
                  cert: Option<ClientCertificate>| {
            let (runtime, v) = (&runtime, &v);
            async move {
                let target = Target {
                    org: org.and_then(|o| v.org(o)).map(|o| &**o),
                    slug: "github",
                    audiences: Audiences::NONE,
                    client: None,
                };
                authenticate(v, runtime, &headers(&h), cert.as_ref(), &target, now).await
            }
        };
        assert_eq!(at(Some("org"), vec![("x-api-key", "good")], None).await.unwrap().org_id, "org");
        assert!(matches!(
            at(Some("org2"), vec![("x-api-key", "good")], None).await,
            Err(EdgeError::InvalidToken)
        ));
        assert!(matches!(at(None, vec![("x-api-key", "good")], None).await, Err(EdgeError::InvalidToken)));
        assert!(matches!(at(None, vec![], None).await, Err(EdgeError::MissingToken)));
        assert_eq!(at(Some("org2"), vec![("x-api-key", "elsewhere")], None).await.unwrap().org_id, "org2");

        // A certificate identity of another org does not exist here; one of this org does.
        let globex = |cn: &str| Some(certificate(Some("spiffe://globex/agent/ci"), cn, 2030));
        assert!(matches!(at(Some("org"), vec![], globex("g")).await, Err(EdgeError::CertificateNotMapped)));
        assert!(matches!(at(None, vec![], globex("g")).await, Err(EdgeError::CertificateNotMapped)));
        assert_eq!(at(Some("org2"), vec![], globex("ci")).await.unwrap().user, "globex-agent");
        // Its CN is registered in `org`: there it matches by CN, never by the other org's SAN.
        assert_eq!(at(Some("org"), vec![], globex("ci")).await.unwrap().user, "ci-by-cn");
    }

    #[test]
    fn authorization_outcomes() {
        let v = view();
        let grant = |secret: &str| Caller::from_grant(v.token("org", &hash_token(secret)).unwrap().clone());
        assert!(matches!(authorize(&v, &grant("good"), "nope"), Err(EdgeError::ServerNotFound(_))));
        assert!(matches!(authorize(&v, &grant("good"), "jira"), Err(EdgeError::ServerNotProvisioned)));
        assert!(matches!(authorize(&v, &grant("narrow"), "github"), Err(EdgeError::ServerNotPermitted)));
        assert_eq!(authorize(&v, &grant("good"), "github").unwrap().server.id, "s1");
    }

    #[test]
    fn any_of_the_callers_workspaces_may_have_the_server() {
        let v = view();
        let mut caller = Caller::from_grant(v.token("org", &hash_token("good")).unwrap().clone());
        caller.grant = None;
        caller.workspace_ids = vec!["elsewhere".into()];
        assert!(matches!(authorize(&v, &caller, "github"), Err(EdgeError::ServerNotProvisioned)));
        caller.workspace_ids = vec!["elsewhere".into(), "ws".into()];
        let route = authorize(&v, &caller, "github").unwrap();
        assert_eq!(route.workspace_id, "ws");
        assert_eq!(route.grant.workspace_id, "ws");
        caller.workspace_ids.clear();
        assert!(matches!(authorize(&v, &caller, "github"), Err(EdgeError::ServerNotProvisioned)));
    }
}
