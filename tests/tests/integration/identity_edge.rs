//! Identity at the edge: every way a caller proves identity besides gateway
//! tokens (Gatehouse access tokens, bring-your-own JWTs via JWKS or
//! introspection), protected resource metadata, and what the upstream learns
//! (identity headers, `X-User-JWT`, forwarded headers).
//!
//! The edge runs the real `proxy::router` on a hand-made snapshot (so the test
//! holds the keys in `EdgeSettings`) in front of a recording upstream; the
//! bring-your-own tests use the real OpenID provider.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsBigEndian as _;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use axum::extract::{Request, State};
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use gatehouse_config::address_filter::AddressPolicy;
use gatehouse_config::token_hash::hash_token;
use gatehouse_data_plane::config::ProxySettings;
use gatehouse_data_plane::config_view::ConfigView;
use gatehouse_data_plane::proxy::{self, ProxyState};
use gatehouse_data_plane::EdgeState;
use gatehouse_proto::config::v1 as pb;
use gatehouse_tests::oidc::{OidcClient, OidcConfig, TestOidcProvider};
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

const GATEWAY_TOKEN: &str = "gth_identity_edge_gateway_token_000000000000";
const ISSUER: &str = "https://gatehouse.test";
const CALL: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#;

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// An EC P-256 key pair with its JWKs.
pub(crate) struct EcKey {
    kid: String,
    pkcs8: Vec<u8>,
    x: String,
    y: String,
    d: String,
}

impl EcKey {
    pub(crate) fn generate(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let public = pair.public_key().as_ref().to_vec();
        let d = pair.private_key().as_be_bytes().unwrap();
        Self {
            kid: kid.to_owned(),
            pkcs8: pair.to_pkcs8v1().unwrap().as_ref().to_vec(),
            x: URL_SAFE_NO_PAD.encode(&public[1..33]),
            y: URL_SAFE_NO_PAD.encode(&public[33..65]),
            d: URL_SAFE_NO_PAD.encode(d.as_ref()),
        }
    }

    fn public_jwk(&self) -> Value {
        json!({"kty":"EC","crv":"P-256","x":self.x,"y":self.y,"kid":self.kid,"alg":"ES256","use":"sig"})
    }

    pub(crate) fn jwks(&self) -> Value {
        json!({"keys":[self.public_jwk()]})
    }

    pub(crate) fn private_jwk(&self) -> Value {
        json!({"kty":"EC","crv":"P-256","x":self.x,"y":self.y,"d":self.d,"kid":self.kid})
    }

    /// Signs `claims` typed as an access token (`typ: at+jwt`, as Gatehouse's AS does).
    pub(crate) fn sign(&self, claims: &Value) -> String {
        self.sign_typed(claims, "at+jwt")
    }

    pub(crate) fn sign_typed(&self, claims: &Value, typ: &str) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = Some(typ.to_owned());
        jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_ec_der(&self.pkcs8)).unwrap()
    }
}

/// A JWT with an arbitrary header and no valid signature.
fn unsigned(header: Value, claims: &Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.", part(&header), part(claims))
}

/// The recording upstream: remembers every request's headers, answers a JSON-RPC result.
#[derive(Clone, Default)]
struct Upstream {
    seen: Arc<Mutex<Vec<HeaderMap>>>,
}

impl Upstream {
    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn last(&self) -> HeaderMap {
        self.seen.lock().unwrap().last().cloned().expect("the upstream received a request")
    }
}

async fn upstream_handler(State(upstream): State<Upstream>, request: Request) -> Response {
    upstream.seen.lock().unwrap().push(request.headers().clone());
    Response::builder()
        .header("content-type", "application/json")
        .body(axum::body::Body::from(r#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#))
        .unwrap()
}

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

fn server(id: &str, slug: &str, url: &str, advanced: Value, headers: &[(&str, &str)]) -> pb::Server {
    pb::Server {
        id: id.into(),
        org_id: "org1".into(),
        slug: slug.into(),
        name: format!("Server {slug}"),
        url: url.into(),
        auth_type: if headers.is_empty() { "none" } else { "headers" }.into(),
        headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        advanced_config: Some(gatehouse_config::identity::wire::advanced_config_to_wire(&advanced)),
        ..Default::default()
    }
}

/// An edge serving `servers` (all provisioned to workspace `team`, id `ws1`;
/// `other` / `ws2` has nothing) in front of one recording upstream.
struct Edge {
    base: String,
    upstream: Upstream,
    upstream_url: String,
    http: reqwest::Client,
    gatehouse_key: EcKey,
    identity_key: EcKey,
}

impl Edge {
    async fn start(servers: impl FnOnce(&str) -> Vec<pb::Server>) -> Self {
        Self::start_with(servers, None, vec![]).await
    }

    async fn start_with(
        servers: impl FnOnce(&str) -> Vec<pb::Server>,
        public_base: Option<&str>,
        orgs: Vec<pb::Org>,
    ) -> Self {
        let upstream = Upstream::default();
        let addr = serve(
            axum::Router::new()
                .route("/{*path}", axum::routing::any(upstream_handler))
                .with_state(upstream.clone()),
        )
        .await;
        let upstream_url = format!("http://{addr}/mcp");
        let servers = servers(&upstream_url);
        let gatehouse_key = EcKey::generate("gh-1");
        let identity_key = EcKey::generate("id-1");
        let workspace = |id: &str, slug: &str| pb::Workspace {
            id: id.into(),
            org_id: "org1".into(),
            slug: slug.into(),
            name: slug.into(),
        };
        let snapshot = pb::Snapshot {
            version: 1,
            state: Some(pb::ConfigState {
                provisions: servers
                    .iter()
                    .map(|s| pb::Provision {
                        workspace_id: "ws1".into(),
                        server_id: s.id.clone(),
                        ..Default::default()
                    })
                    .collect(),
                servers,
                workspaces: vec![workspace("ws1", "team"), workspace("ws2", "other")],
                tokens: vec![pb::GatewayToken {
                    id: "t1".into(),
                    org_id: "org1".into(),
                    token_hash: hash_token(GATEWAY_TOKEN).to_vec(),
                    user: "gw-user".into(),
                    workspace_id: "ws1".into(),
                    ..Default::default()
                }],
                settings: Some(pb::EdgeSettings {
                    session_binding_key: vec![7; 32],
                    issuer: ISSUER.into(),
                    jwks_json: gatehouse_key.jwks().to_string(),
                    identity_signing_jwk: identity_key.private_jwk().to_string(),
                    ..Default::default()
                }),
                // `/mcp/{slug}` reaches the default org's servers.
                orgs: if orgs.is_empty() {
                    vec![pb::Org { id: "org1".into(), slug: "default".into(), ..Default::default() }]
                } else {
                    orgs
                },
                ..Default::default()
            }),
        };
        let edge = EdgeState::new();
        edge.install(ConfigView::from_snapshot(snapshot));
        let settings = ProxySettings {
            upstream_response_timeout: Duration::from_secs(3),
            public_base_url: public_base.map(|b| url::Url::parse(b).unwrap()),
            // The upstreams of these tests listen on loopback.
            upstream_addresses: AddressPolicy::new(true),
            ..ProxySettings::default()
        };
        let state = ProxyState::new(edge, settings).unwrap();
        let addr = serve(proxy::router(state)).await;
        Self {
            base: format!("http://{addr}"),
            upstream,
            upstream_url,
            http: reqwest::Client::new(),
            gatehouse_key,
            identity_key,
        }
    }

    fn resource(&self, slug: &str) -> String {
        format!("{}/mcp/{slug}", self.base)
    }

    async fn call(&self, slug: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self
            .http
            .post(self.resource(slug))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(CALL);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        request.send().await.unwrap()
    }

    async fn call_bearer(&self, slug: &str, token: &str) -> reqwest::Response {
        self.call(slug, &[("authorization", &format!("Bearer {token}"))]).await
    }

    /// Asserts `token` is refused with 401 + a resource-metadata challenge and never reaches the upstream.
    async fn assert_refused(&self, slug: &str, token: &str, what: &str) {
        let before = self.upstream.count();
        let response = self.call_bearer(slug, token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(
            challenge.contains(&format!(
                r#"resource_metadata="{}/.well-known/oauth-protected-resource/mcp/{slug}""#,
                self.base
            )),
            "{what}: {challenge}"
        );
        assert_eq!(self.upstream.count(), before, "{what}: the upstream must not be called");
    }
}

fn gatehouse_claims(edge: &Edge, slug: &str, ws: &[&str]) -> Value {
    json!({"iss":ISSUER,"aud":edge.resource(slug),"sub":"user-1","org":"org1","ws":ws,"email":"ada@example.com",
        "name":"Ada","roles":["admin","dev"],"scope":"mcp","client_id":"vscode","jti":"j1",
        "iat":now(),"exp":now()+300})
}

#[tokio::test]
async fn gatehouse_access_tokens_are_verified_offline_and_audience_bound() {
    let edge = Edge::start(|u| {
        vec![server("s1", "alpha", u, json!({}), &[]), server("s2", "beta", u, json!({}), &[])]
    })
    .await;
    let key = &edge.gatehouse_key;
    let ok = key.sign(&gatehouse_claims(&edge, "alpha", &["ws1"]));
    let response = edge.call_bearer("alpha", &ok).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        edge.upstream.last().get("authorization").is_none(),
        "the caller's token is never passed through"
    );

    // Bound to the exact resource: a token for alpha is useless on beta.
    edge.assert_refused("beta", &ok, "audience of another server").await;
    // A workspace without the server provisioned is 403, not 401.
    let other_ws = key.sign(&gatehouse_claims(&edge, "alpha", &["ws2"]));
    assert_eq!(edge.call_bearer("alpha", &other_ws).await.status(), StatusCode::FORBIDDEN);
    // Several workspaces: any one with the server provisioned will do.
    let both = key.sign(&gatehouse_claims(&edge, "alpha", &["ws2", "ws1"]));
    assert_eq!(edge.call_bearer("alpha", &both).await.status(), StatusCode::OK);

    let mut expired = gatehouse_claims(&edge, "alpha", &["ws1"]);
    expired["exp"] = json!(now() - 120);
    edge.assert_refused("alpha", &key.sign(&expired), "expired").await;
    let forged = EcKey::generate("gh-1").sign(&gatehouse_claims(&edge, "alpha", &["ws1"]));
    edge.assert_refused("alpha", &forged, "signed by another key with the same kid").await;
    // Only a JWT typed as an access token is one (an identity assertion is typed `JWT`).
    let untyped = key.sign_typed(&gatehouse_claims(&edge, "alpha", &["ws1"]), "JWT");
    edge.assert_refused("alpha", &untyped, "signed by the access-token key but typed JWT").await;
    // Gateway tokens keep working exactly as before.
    assert_eq!(edge.call_bearer("alpha", GATEWAY_TOKEN).await.status(), StatusCode::OK);

    // A valid token without the `mcp` scope is 403 insufficient_scope, naming the scope.
    let before = edge.upstream.count();
    for scope in [json!("offline_access"), json!("mcpx mcp:admin"), Value::Null] {
        let mut claims = gatehouse_claims(&edge, "alpha", &["ws1"]);
        claims["scope"] = scope.clone();
        let response = edge.call_bearer("alpha", &key.sign(&claims)).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{scope}");
        assert_eq!(
            response.headers()["www-authenticate"],
            format!(
                r#"Bearer realm="gatehouse", resource_metadata="{}/.well-known/oauth-protected-resource/mcp/alpha", error="insufficient_scope", scope="mcp""#,
                edge.base
            )
            .as_str()
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["data"]["reason"], "insufficient_scope");
    }
    assert_eq!(edge.upstream.count(), before, "never forwarded");
    let mut wider = gatehouse_claims(&edge, "alpha", &["ws1"]);
    wider["scope"] = json!("offline_access mcp");
    assert_eq!(edge.call_bearer("alpha", &key.sign(&wider)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn gatehouse_access_tokens_count_only_in_their_own_org() {
    let edge = Edge::start(|u| vec![server("s1", "alpha", u, json!({}), &[])]).await;
    let key = &edge.gatehouse_key;
    // The default org's server answers at both of its URLs, to tokens for either.
    for aud in [edge.resource("alpha"), edge.resource("default/alpha")] {
        let mut claims = gatehouse_claims(&edge, "alpha", &["ws1"]);
        claims["aud"] = json!(aud);
        let token = key.sign(&claims);
        assert_eq!(edge.call_bearer("alpha", &token).await.status(), StatusCode::OK, "{aud}");
        assert_eq!(edge.call_bearer("default/alpha", &token).await.status(), StatusCode::OK, "{aud}");
    }
    // A token of another org is refused even when its audience is this server's URL.
    let mut foreign = gatehouse_claims(&edge, "alpha", &["ws1"]);
    foreign["org"] = json!("org2");
    edge.assert_refused("alpha", &key.sign(&foreign), "token of another org").await;
    // A token for another org's server of the same slug is refused here.
    let mut elsewhere = gatehouse_claims(&edge, "alpha", &["ws1"]);
    elsewhere["aud"] = json!(edge.resource("acme/alpha"));
    edge.assert_refused("alpha", &key.sign(&elsewhere), "audience of another org's server").await;
}

#[tokio::test]
async fn protected_resource_metadata_and_challenges() {
    let org = pb::Org {
        id: "org1".into(),
        slug: "default".into(),
        external_auth_config: Some(pb::ExternalAuthConfig {
            issuer: "https://idp.acme.test".into(),
            scopes_supported: vec!["mcp:read".into()],
        }),
        ..Default::default()
    };
    let edge = Edge::start(|u| vec![server("s1", "alpha", u, json!({}), &[])]).await;
    let prm: Value = edge
        .http
        .get(format!("{}/.well-known/oauth-protected-resource/mcp/alpha", edge.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["resource"], edge.resource("alpha"));
    assert_eq!(prm["authorization_servers"], json!([ISSUER]));
    assert_eq!(prm["scopes_supported"], json!(["mcp"]), "the scope Gatehouse tokens need here");
    assert_eq!(prm["bearer_methods_supported"], json!(["header"]));
    let missing =
        edge.http.get(format!("{}/.well-known/oauth-protected-resource/mcp/nope", edge.base)).send().await;
    assert_eq!(missing.unwrap().status(), StatusCode::NOT_FOUND);

    let response = edge.call("alpha", &[]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        format!(r#"Bearer realm="gatehouse", resource_metadata="{}/.well-known/oauth-protected-resource/mcp/alpha", scope="mcp""#, edge.base)
            .as_str()
    );

    // Behind an ingress, with the org's own authorization server.
    let edge = Edge::start_with(
        |u| vec![server("s1", "alpha", u, json!({}), &[])],
        Some("https://mcp.example.com/"),
        vec![org],
    )
    .await;
    let prm: Value = edge
        .http
        .get(format!("{}/.well-known/oauth-protected-resource/mcp/alpha", edge.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["resource"], "https://mcp.example.com/mcp/alpha");
    assert_eq!(prm["authorization_servers"], json!(["https://idp.acme.test"]));
    assert_eq!(prm["scopes_supported"], json!(["mcp:read"]));
    let response = edge.call_bearer("alpha", "not-a-token").await;
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="gatehouse", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp/alpha", error="invalid_token""#
    );
    // The audience is the public URL, not the address the edge happens to listen on.
    let claims = json!({"iss":ISSUER,"aud":"https://mcp.example.com/mcp/alpha","sub":"u","org":"org1","ws":["ws1"],
        "scope":"mcp","exp":now()+60});
    assert_eq!(edge.call_bearer("alpha", &edge.gatehouse_key.sign(&claims)).await.status(), StatusCode::OK);
}

fn byo_claims(iss: &str, aud: &str) -> Value {
    json!({"iss":iss,"aud":aud,"sub":"ext-user","email":"ext@example.com","groups":["eng","ops"],"tier":"gold",
        "scope":"mcp:read mcp:write","iat":now(),"exp":now()+300})
}

#[tokio::test]
async fn inline_jwks_refuses_every_kind_of_bad_token() {
    let key = EcKey::generate("byo-1");
    let jwks = key.jwks();
    let edge = Edge::start(move |u| {
        let config = json!({"jwt_validation":{"jwks":jwks,"issuer":"https://idp.test","audience":"gatehouse",
            "workspace":"team","clockTolerance":5}});
        vec![server("s1", "byo", u, config, &[])]
    })
    .await;
    let good = byo_claims("https://idp.test", "gatehouse");
    assert_eq!(edge.call_bearer("byo", &key.sign(&good)).await.status(), StatusCode::OK);
    assert!(edge.upstream.last().get("authorization").is_none());

    let with = |field: &str, value: Value| {
        let mut c = good.clone();
        c[field] = value;
        key.sign(&c)
    };
    edge.assert_refused("byo", &with("exp", json!(now() - 60)), "expired").await;
    edge.assert_refused("byo", &with("aud", json!("someone-else")), "wrong audience").await;
    edge.assert_refused("byo", &with("iss", json!("https://evil.test")), "wrong issuer").await;
    edge.assert_refused("byo", &with("nbf", json!(now() + 600)), "not yet valid").await;
    edge.assert_refused("byo", &unsigned(json!({"alg":"none","typ":"JWT"}), &good), "alg none").await;
    edge.assert_refused("byo", &unsigned(json!({"alg":"ES256","kid":"byo-1"}), &good), "missing signature")
        .await;
    // HS256 "signed" with the public key material (algorithm confusion).
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("byo-1".into());
    for secret in [key.public_jwk().to_string(), key.x.clone()] {
        let hs =
            jsonwebtoken::encode(&header, &good, &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()))
                .unwrap();
        edge.assert_refused("byo", &hs, "HS256 with the public key").await;
    }
    edge.assert_refused("byo", &EcKey::generate("byo-2").sign(&good), "unknown kid").await;
    edge.assert_refused("byo", "garbage", "not a jwt").await;
}

#[tokio::test]
async fn claim_values_support_every_match_type() {
    let key = EcKey::generate("byo-1");
    let jwks = key.jwks();
    let edge = Edge::start(move |u| {
        let rule = |slug: &str, id: &str, rule: Value| {
            let config = json!({"jwt_validation":{"jwks":jwks,"workspace":"team","claimValues":[rule],
                "requiredClaims":["email"],"maxTokenAge":600,"skipIssuerAndAudienceCheck":true}});
            server(id, slug, u, config, &[])
        };
        vec![
            rule("exact", "s1", json!({"claim":"tier","value":["silver","gold"]})),
            rule("contains", "s2", json!({"claim":"groups","value":["hr","ops"],"matchType":"contains"})),
            rule("all", "s3", json!({"claim":"groups","value":["eng","ops"],"matchType":"containsAll"})),
            rule("regex", "s4", json!({"claim":"email","value":".*@example\\.com","matchType":"regex"})),
            rule("scope", "s5", json!({"claim":"scope","value":"mcp:write","matchType":"contains"})),
        ]
    })
    .await;
    let good = key.sign(&byo_claims("https://idp.test", "x"));
    for slug in ["exact", "contains", "all", "regex", "scope"] {
        assert_eq!(edge.call_bearer(slug, &good).await.status(), StatusCode::OK, "{slug}");
    }
    let mut bad = byo_claims("https://idp.test", "x");
    bad["tier"] = json!("bronze");
    bad["groups"] = json!(["eng", "hr-no"]);
    bad["email"] = json!("ext@example.com.evil");
    bad["scope"] = json!("mcp:read");
    let bad = key.sign(&bad);
    for slug in ["exact", "contains", "all", "regex", "scope"] {
        edge.assert_refused(slug, &bad, slug).await;
    }
    let mut no_email = byo_claims("https://idp.test", "x");
    no_email.as_object_mut().unwrap().remove("email");
    edge.assert_refused("exact", &key.sign(&no_email), "required claim missing").await;
    let mut old = byo_claims("https://idp.test", "x");
    old["iat"] = json!(now() - 3600);
    edge.assert_refused("exact", &key.sign(&old), "older than maxTokenAge").await;
}

fn op_config() -> OidcConfig {
    OidcConfig::new()
        .client(OidcClient::confidential("app", "app-secret").redirect_uri("http://127.0.0.1:9/callback"))
}

async fn op_token(op: &TestOidcProvider, resource: &str) -> String {
    let response = reqwest::Client::new()
        .post(op.token_endpoint())
        .basic_auth("app", Some("app-secret"))
        .form(&[("grant_type", "client_credentials"), ("scope", "mcp:read"), ("resource", resource)])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn byo_jwt_from_a_real_provider_follows_key_rotation() {
    const AUDIENCE: &str = "https://gatehouse.test/mcp/byo";
    let op = TestOidcProvider::start(op_config()).await;
    let (jwks_uri, issuer) = (op.jwks_uri(), op.issuer.clone());
    let edge = Edge::start(move |u| {
        let config = json!({"jwt_validation":{"jwksUri":jwks_uri,"issuer":issuer,"audience":AUDIENCE,
            "workspace":"team","userClaim":"client_id",
            "claimValues":[{"claim":"client_id","value":"app"}]},
            "user_identity_forwarding":{"method":"claims_header","include_claims":["sub","workspace","client_id"]}});
        vec![server("s1", "byo", u, config, &[])]
    })
    .await;
    let first = op_token(&op, AUDIENCE).await;
    assert_eq!(edge.call_bearer("byo", &first).await.status(), StatusCode::OK);
    let claims: Value =
        serde_json::from_str(edge.upstream.last()["x-user-claims"].to_str().unwrap()).unwrap();
    assert_eq!(claims, json!({"sub":"app","workspace":"team","client_id":"app"}));
    edge.assert_refused("byo", &op_token(&op, "https://elsewhere.test/mcp").await, "wrong audience").await;

    // New signing key, old one dropped: the unknown kid makes the edge refetch the JWKS.
    op.rotate_keys(false).await;
    let rotated = op_token(&op, AUDIENCE).await;
    assert_ne!(
        jsonwebtoken::decode_header(&rotated).unwrap().kid,
        jsonwebtoken::decode_header(&first).unwrap().kid
    );
    assert_eq!(edge.call_bearer("byo", &rotated).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn introspection_accepts_active_tokens_caches_and_refuses_inactive_ones() {
    const AUDIENCE: &str = "https://gatehouse.test/mcp/opaque";
    let logs = gatehouse_tests::logs::capture();
    let op = TestOidcProvider::start(op_config().opaque_access_tokens()).await;
    let endpoint = op.introspection_endpoint();
    let edge = Edge::start(move |u| {
        let config = json!({"jwt_validation":{"introspectEndpoint":endpoint,"introspectClientId":"app",
            "workspace":"team","userClaim":"client_id","cacheTtl":60,"skipIssuerAndAudienceCheck":true}});
        // The introspection secret is sealed with the server's headers and used by the edge only.
        vec![server("s1", "opaque", u, config, &[("x-gatehouse-introspection-secret", "app-secret")])]
    })
    .await;
    let token = op_token(&op, AUDIENCE).await;
    op.reset_stats().await;
    for _ in 0..3 {
        assert_eq!(edge.call_bearer("opaque", &token).await.status(), StatusCode::OK);
    }
    assert_eq!(op.stats().await.introspections, 1, "answers are cached");
    let seen = edge.upstream.last();
    assert!(seen.get("x-gatehouse-introspection-secret").is_none(), "the secret never goes upstream");
    assert!(seen.get("authorization").is_none());

    edge.assert_refused("opaque", "an-opaque-token-the-op-never-issued", "inactive").await;
    edge.assert_refused("opaque", "an-opaque-token-the-op-never-issued", "inactive (cached)").await;
    assert_eq!(op.stats().await.introspections, 2);
    if let Some(logs) = logs {
        let text = logs.text();
        assert!(
            !text.contains(&token) && !text.contains("app-secret"),
            "tokens and secrets are never logged"
        );
    }
}

#[tokio::test]
async fn identity_reaches_the_upstream_and_cannot_be_spoofed() {
    let edge = Edge::start(|u| {
        let config = json!({
            "user_identity_forwarding":{"method":"jwt_header","identity_headers":true,
                "jwt":{"expires_in":120}},
            "forward_headers":["x-tenant",{"from":"x-client-trace","to":"x-trace"}]});
        vec![server("s1", "alpha", u, config, &[("x-static", "from-server"), ("x-tenant", "static-wins")])]
    })
    .await;
    let token = edge.gatehouse_key.sign(&gatehouse_claims(&edge, "alpha", &["ws1"]));
    let response = edge
        .call(
            "alpha",
            &[
                ("authorization", &format!("Bearer {token}")),
                ("x-user-email", "spoof@evil.test"),
                ("x-user-jwt", "forged"),
                ("x-organization-id", "other-org"),
                ("x-tenant", "from-client"),
                ("x-client-trace", "abc"),
                ("x-unlisted", "nope"),
                ("cookie", "sid=1"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let seen = edge.upstream.last();
    assert_eq!(seen["x-user-email"], "ada@example.com");
    assert_eq!(seen["x-user-name"], "Ada");
    assert_eq!(seen["x-user-team"], "team");
    assert_eq!(seen["x-user-roles"], "admin,dev");
    assert_eq!(seen["x-organization-id"], "org1");
    assert_eq!(
        seen.get_all("x-tenant").iter().collect::<Vec<_>>(),
        ["static-wins"],
        "static beats forwarded"
    );
    assert_eq!(seen["x-trace"], "abc");
    assert!(
        seen.get("x-unlisted").is_none()
            && seen.get("cookie").is_none()
            && seen.get("authorization").is_none()
    );

    // The upstream verifies X-User-JWT against Gatehouse's public key.
    let jwt = seen["x-user-jwt"].to_str().unwrap().to_owned();
    let public: jsonwebtoken::jwk::Jwk = serde_json::from_value(
        json!({"kty":"EC","crv":"P-256","x":edge.identity_key.x,"y":edge.identity_key.y,"kid":"id-1"}),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[edge.upstream_url.as_str()]);
    let verified = jsonwebtoken::decode::<Value>(
        &jwt,
        &jsonwebtoken::DecodingKey::from_jwk(&public).unwrap(),
        &validation,
    )
    .unwrap();
    assert_eq!(verified.header.kid.as_deref(), Some("id-1"));
    let claims = verified.claims;
    assert_eq!(claims["sub"], "user-1");
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["workspace"], "team");
    assert_eq!(claims["org"], "org1");
    assert_eq!(claims["roles"], json!(["admin", "dev"]));
    let ttl = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(ttl, 120);

    // Signed once, reused until near expiry.
    edge.call_bearer("alpha", &token).await;
    assert_eq!(edge.upstream.last()["x-user-jwt"].to_str().unwrap(), jwt);
}

#[tokio::test]
async fn bearer_passthrough_only_forwards_jwts_when_opted_in() {
    let key = EcKey::generate("byo-1");
    let jwks = key.jwks();
    let edge = Edge::start(move |u| {
        let config = json!({"jwt_validation":{"jwks":jwks,"workspace":"team","headerKey":"X-Id-Token",
            "skipIssuerAndAudienceCheck":true},
            "user_identity_forwarding":{"method":"bearer","allow_token_passthrough":true}});
        vec![server("s1", "pass", u, config, &[]), server("s2", "plain", u, json!({}), &[])]
    })
    .await;
    let token = key.sign(&byo_claims("https://idp.test", "x"));
    assert_eq!(edge.call("pass", &[("x-id-token", &token)]).await.status(), StatusCode::OK);
    let seen = edge.upstream.last();
    assert_eq!(seen["authorization"], format!("Bearer {token}").as_str());
    assert!(seen.get("x-id-token").is_none(), "the token header itself is never forwarded");

    // A gateway token is never passed through, even where passthrough is on.
    assert_eq!(edge.call_bearer("pass", GATEWAY_TOKEN).await.status(), StatusCode::OK);
    assert!(edge.upstream.last().get("authorization").is_none());
}

mod control_plane {
    use super::*;
    use gatehouse_tests::TestStack;
    use http::Method;

    #[tokio::test]
    async fn identity_config_is_validated_with_the_field_named() {
        let stack = TestStack::start().await;
        let admin = stack.cp.admin();
        let cases = [
            (
                json!({"jwt_validation":{"jwksUri":"https://idp.test/jwks","workspace":"team","algorithms":["none"]}}),
                "advanced_config.jwt_validation.algorithms",
            ),
            (json!({"jwt_validation":{"workspace":"team"}}), "advanced_config.jwt_validation.jwksUri"),
            // Without issuer and audience any token the keys verify would do, whoever it was for.
            (
                json!({"jwt_validation":{"jwksUri":"https://idp.test/jwks","workspace":"team","audience":"a"}}),
                "advanced_config.jwt_validation.issuer",
            ),
            (
                json!({"jwt_validation":{"jwksUri":"https://idp.test/jwks","workspace":"team","issuer":"https://idp.test"}}),
                "advanced_config.jwt_validation.audience",
            ),
            (
                json!({"jwt_validation":{"jwksUri":"http://idp.test/jwks","workspace":"team",
                "issuer":"https://idp.test","audience":"a"}}),
                "advanced_config.jwt_validation.jwksUri",
            ),
            (
                json!({"jwt_validation":{"introspectEndpoint":"http://idp.test/introspect","workspace":"team",
                "issuer":"https://idp.test","audience":"a"}}),
                "advanced_config.jwt_validation.introspectEndpoint",
            ),
            (
                json!({"jwt_validation":{"jwksUri":"https://idp.test/jwks","workspace":"team",
                "claimValues":[{"claim":"a","value":"(","matchType":"regex"}]}}),
                "advanced_config.jwt_validation.claimValues[0]",
            ),
            (
                json!({"user_identity_forwarding":{"method":"bearer"}}),
                "advanced_config.user_identity_forwarding.method",
            ),
            (
                json!({"forward_headers":["x-ok",{"from":"x-a","to":"Authorization"}]}),
                "advanced_config.forward_headers[1].to",
            ),
            (
                json!({"forward_headers":{"mode":"allowlist","headers":["x-user-email"]}}),
                "advanced_config.forward_headers.headers[0]",
            ),
        ];
        for (config, field) in cases {
            let body = json!({"slug":"bad","url":"http://127.0.0.1:9/mcp","advanced_config":config});
            let (status, error) = admin.request(Method::POST, "/v1/servers", Some(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{config}");
            assert_eq!(error["error"]["field"], field, "{config}: {error}");
        }
        let ok = json!({"slug":"good","url":"http://127.0.0.1:9/mcp","advanced_config":{
            "jwt_validation":{"jwksUri":"https://idp.test/jwks","workspaceClaim":"teams",
                "issuer":"https://idp.test","audience":"gatehouse"},
            "user_identity_forwarding":{"method":"jwt_header","identity_headers":["email","team"]},
            "forward_headers":{"mode":"all-except","headers":["x-debug"]}}});
        let json = Some("application/json");
        let (status, headers, _) = admin.request_raw(Method::POST, "/v1/servers", json, ok.to_string()).await;
        assert_eq!(status, StatusCode::CREATED);
        assert!(headers.get("warning").is_none(), "issuer and audience are checked");
        // The explicit opt-out is accepted, with a warning.
        let opted_out = json!({"advanced_config":{"jwt_validation":{"jwksUri":"https://idp.test/jwks",
            "workspace":"team","skipIssuerAndAudienceCheck":true}}});
        let (status, headers, _) =
            admin.request_raw(Method::PATCH, "/v1/servers/good", json, opted_out.to_string()).await;
        assert_eq!(status, StatusCode::OK);
        let warning = headers["warning"].to_str().unwrap().to_owned();
        assert!(warning.starts_with("299 ") && warning.contains("skipIssuerAndAudienceCheck"), "{warning}");
        let patch = json!({"advanced_config":{"forward_headers":["cookie"]}});
        let (status, error) = admin.request(Method::PATCH, "/v1/servers/good", Some(patch)).await;
        assert_eq!(
            (status, error["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("advanced_config.forward_headers[0]"))
        );
    }

    #[tokio::test]
    async fn org_auth_settings_are_validated_and_reach_the_edges() {
        let stack = TestStack::start().await;
        let admin = stack.cp.admin();
        let bad = json!({"jwt_validation":{"jwksUri":"https://idp.test/jwks","workspace":"team","algorithms":["HS256"]}});
        let (status, error) = admin.request(Method::PATCH, "/v1/org", Some(bad)).await;
        assert_eq!(
            (status, error["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("jwt_validation.algorithms"))
        );
        let (status, error) = admin
            .request(Method::PATCH, "/v1/org", Some(json!({"external_auth_config":{"issuer":"nope"}})))
            .await;
        assert_eq!(
            (status, error["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("external_auth_config.issuer"))
        );

        let settings = json!({
            "jwt_validation":{"jwksUri":"https://idp.test/jwks","workspace":"team",
                "issuer":"https://idp.test","audience":"gatehouse"},
            "external_auth_config":{"issuer":"https://idp.test","scopes_supported":["mcp"]}});
        let (status, body) = admin.request(Method::PATCH, "/v1/org", Some(settings.clone())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // The settings as stored, and which org they are of.
        let mut stored = settings.clone();
        stored["slug"] = json!("default");
        assert_eq!(body, stored);
        stack.sync().await;
        let view = stack.edge.state.config();
        let (_, me) = admin.request(Method::GET, "/v1/org", None).await;
        assert_eq!(me, stored);
        let snapshot = view.to_snapshot();
        let org = &snapshot.state.unwrap().orgs[0];
        assert_eq!(
            org.jwt_validation,
            Some(gatehouse_config::identity::wire::jwt_validation_to_wire(&settings["jwt_validation"]))
        );
        assert_eq!(org.jwt_validation.as_ref().unwrap().jwks_uri, "https://idp.test/jwks");
        assert_eq!(
            org.external_auth_config,
            Some(pb::ExternalAuthConfig {
                issuer: "https://idp.test".into(),
                scopes_supported: vec!["mcp".into()]
            })
        );

        // null clears one setting and leaves the other.
        let (status, body) =
            admin.request(Method::PATCH, "/v1/org", Some(json!({"jwt_validation":null}))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["jwt_validation"], Value::Null);
        assert_eq!(body["external_auth_config"], settings["external_auth_config"]);
    }

    #[tokio::test]
    async fn org_auth_settings_round_trip_on_every_backend() {
        use gatehouse_control_plane::store::{OrgAuthPatch, OrgAuthSettings};
        for db in gatehouse_tests::db::TestDb::all().await {
            let cp = gatehouse_tests::control_plane::TestControlPlane::start(db).await;
            let store = cp.store().await;
            let org = store.org_by_slug("default").await.unwrap().expect("the default org");
            assert_eq!(store.org_auth_settings(&org.id).await.unwrap(), OrgAuthSettings::default());
            let jwt = json!({"jwks":{"keys":[]},"workspace":"team"});
            let patch = OrgAuthPatch { jwt_validation: Some(Some(jwt.clone())), external_auth_config: None };
            let before = cp.admin().config_version().await;
            let updated = store.update_org_auth_settings(&org.id, patch).await.unwrap();
            assert!(updated.version > before, "the change bumps the config version");
            assert_eq!(updated.value.jwt_validation, Some(jwt));
            let cleared = OrgAuthPatch { jwt_validation: Some(None), external_auth_config: None };
            assert_eq!(
                store.update_org_auth_settings(&org.id, cleared).await.unwrap().value,
                OrgAuthSettings::default()
            );
        }
    }
}
