//! mTLS on the edge listener, end to end: a real control plane registers
//! certificate identities, a real edge serves TLS with a real CA's certificates
//! (rcgen), and clients present good, untrusted, expired or no certificates
//! over real sockets.

use std::time::{Duration, Instant};

use gatehouse_tests::control_plane::{AdminClient, TestControlPlane};
use gatehouse_tests::db::TestDb;
use gatehouse_tests::edge::{EdgeTlsSetup, TestEdge};
use gatehouse_tests::pki::{CertAndKey, ClientNames, EdgeTlsFiles, TestCa};
use gatehouse_tests::upstream::{McpUpstream, SessionMode};
use gatehouse_tests::{eventually, logs};
use reqwest::StatusCode;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt as _;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt as _;

const CI_AGENT: &str = "spiffe://acme/agent/ci";
const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

/// A control plane with one upstream registered as `echo` in workspace `eng`, a CA
/// that signs the edge's server certificate and the good client certificates,
/// and an unrelated CA.
pub(crate) struct Fixture {
    pub(crate) cp: TestControlPlane,
    pub(crate) upstream: McpUpstream,
    pub(crate) ca: TestCa,
    pub(crate) rogue_ca: TestCa,
    logs: Option<logs::LogCapture>,
}

impl Fixture {
    pub(crate) async fn start() -> Self {
        let logs = logs::capture();
        let cp = TestControlPlane::start(TestDb::sqlite().await).await;
        let upstream = McpUpstream::start(SessionMode::Stateful).await;
        let admin = cp.admin();
        admin.create_workspace("eng").await;
        admin
            .create_server_json(json!({
                "slug": "echo", "name": "Echo", "url": upstream.url, "auth_type": "none",
                "advanced_config": {"user_identity_forwarding": {"method": "claims_header"}},
            }))
            .await;
        admin.provision("eng", "echo", &[], &[]).await;
        Self { cp, upstream, ca: TestCa::new("clients and edge"), rogue_ca: TestCa::new("rogue"), logs }
    }

    pub(crate) fn admin(&self) -> AdminClient {
        self.cp.admin()
    }

    /// Registers `kind` `value` as `user` in `eng`, bound to the trusted CA.
    async fn register(&self, kind: &str, value: &str, user: &str) -> String {
        let ca = self.ca.sha256_hex();
        self.admin().register_bound_certificate_identity(kind, value, user, "eng", &ca, None).await
    }

    /// A client certificate from the trusted CA carrying `spiffe_id`.
    fn client(&self, spiffe_id: &str) -> CertAndKey {
        self.ca.client(&ClientNames::spiffe(spiffe_id))
    }

    /// Starts an edge with TLS and `client_auth`, the harness presenting `harness` to reach `/readyz`.
    async fn edge(
        &self,
        client_auth: &'static str,
        harness: Option<CertAndKey>,
        env: &[(&str, &str)],
    ) -> TestEdge {
        self.edge_trusting(&self.ca.cert_pem(), client_auth, harness, env).await
    }

    /// [`Fixture::edge`] with `client_ca_pem` as its client CA bundle.
    pub(crate) async fn edge_trusting(
        &self,
        client_ca_pem: &str,
        client_auth: &'static str,
        harness: Option<CertAndKey>,
        env: &[(&str, &str)],
    ) -> TestEdge {
        let tls = EdgeTlsSetup {
            server_ca_pem: self.ca.cert_pem(),
            files: EdgeTlsFiles::write(&self.ca.server(), client_ca_pem),
            client_auth,
            harness_identity: harness,
        };
        let edge = TestEdge::start_tls(&self.cp.grpc_url, &self.cp.node_token, tls, env).await;
        edge.wait_ready().await;
        edge
    }

    pub(crate) async fn sync(&self, edge: &TestEdge) {
        edge.wait_for_version(self.admin().config_version().await).await;
    }

    pub(crate) fn log_text(&self) -> String {
        self.logs.as_ref().map(logs::LogCapture::text).unwrap_or_default()
    }
}

/// POSTs an MCP `initialize` to `/mcp/echo`, with an optional bearer token.
pub(crate) async fn initialize(
    edge: &TestEdge,
    client: &reqwest::Client,
    token: Option<&str>,
) -> reqwest::Result<reqwest::Response> {
    let mut request = client
        .post(edge.mcp_url("echo"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(INITIALIZE);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await
}

/// The status and `error.data.reason` of a refusal.
pub(crate) async fn refusal(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.expect("a JSON-RPC error body");
    (status, body["error"]["data"]["reason"].as_str().unwrap_or_default().to_owned())
}

/// Calls `whoami` through the edge with the official SDK client and returns the
/// `sub` of the identity claims the upstream received.
pub(crate) async fn whoami(edge: &TestEdge, client: reqwest::Client, token: Option<&str>) -> String {
    let mut config = StreamableHttpClientTransportConfig::with_uri(edge.mcp_url("echo"));
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    let transport = StreamableHttpClientTransport::with_client(client, config);
    let mcp = ().serve(transport).await.expect("the mcp client connects through the edge");
    let result = mcp.call_tool(CallToolRequestParams::new("whoami")).await.expect("whoami is proxied");
    let text = serde_json::to_value(&result.content).unwrap()[0]["text"].as_str().unwrap().to_owned();
    let headers: Value = serde_json::from_str(&text).unwrap();
    assert!(headers.get("authorization").is_none(), "no caller credential reaches the upstream: {headers}");
    let claims: Value =
        serde_json::from_str(headers["x-user-claims"].as_str().expect("identity claims")).unwrap();
    mcp.cancel().await.ok();
    claims["sub"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn required_mode_proxies_mapped_certificates_and_refuses_bad_ones_at_the_handshake() {
    let fx = Fixture::start().await;
    fx.register("san_uri", CI_AGENT, "ci-agent").await;
    let harness = fx.ca.client(&ClientNames { cn: Some("harness".into()), ..Default::default() });
    let edge = fx.edge("required", Some(harness.clone()), &[]).await;
    fx.sync(&edge).await;

    // A good certificate mapped to an identity: a real MCP session through the edge.
    let good = fx.client(CI_AGENT);
    let client = edge.client(Some(&good));
    let transport = StreamableHttpClientTransport::with_client(
        client.clone(),
        StreamableHttpClientTransportConfig::with_uri(edge.mcp_url("echo")),
    );
    let mcp = ().serve(transport).await.expect("the mcp client connects with its certificate alone");
    let echoed = mcp
        .call_tool(
            CallToolRequestParams::new("echo")
                .with_arguments(json!({"text": "over mtls"}).as_object().unwrap().clone()),
        )
        .await
        .expect("echo is proxied");
    assert_eq!(serde_json::to_value(&echoed.content).unwrap()[0]["text"], "over mtls");
    mcp.cancel().await.ok();
    assert_eq!(fx.upstream.calls.count("echo"), 1);
    assert_eq!(whoami(&edge, client, None).await, "ci-agent");

    // Without a valid certificate there is no HTTP at all, not even for health checks.
    let refused: [(&str, reqwest::Client); 3] = [
        ("no certificate", edge.client(None)),
        (
            "a certificate from another CA",
            edge.client(Some(&fx.rogue_ca.client(&ClientNames::spiffe(CI_AGENT)))),
        ),
        ("an expired certificate", edge.client(Some(&fx.ca.expired_client(&ClientNames::spiffe(CI_AGENT))))),
    ];
    for (what, client) in &refused {
        assert!(initialize(&edge, client, None).await.is_err(), "{what}: the handshake must fail");
        let health = client.get(format!("{}/healthz", edge.url)).send().await;
        assert!(health.is_err(), "{what}: /healthz is behind the handshake too");
    }
    let healthz = edge.client(Some(&harness)).get(format!("{}/healthz", edge.url)).send().await.unwrap();
    assert_eq!(healthz.status(), StatusCode::OK);
    assert_eq!(fx.upstream.calls.count("echo"), 1, "nothing refused reached the upstream");

    // Each refusal is logged with its reason (and the edge is still serving).
    assert!(fx.logs.is_some(), "the log capture is installed");
    let text = eventually(Duration::from_secs(5), "handshake refusals in the log", || async {
        let text = fx.log_text();
        (text.contains("UnknownIssuer") && text.contains("Expired") && text.contains("no client certificate"))
            .then_some(text)
    })
    .await;
    assert!(text.contains("tls handshake refused: invalid client certificate"), "structured refusal line");
    assert!(!text.contains("PRIVATE KEY"), "no key material in the logs");
    assert!(edge.readiness().await.unwrap().is_ready());
}

#[tokio::test]
async fn optional_mode_an_explicit_token_wins_and_unmapped_certificates_get_401() {
    let fx = Fixture::start().await;
    let admin = fx.admin();
    fx.register("san_uri", CI_AGENT, "ci-agent").await;
    let token = admin.mint_token("alice@example.com", "eng").await.token;
    let edge = fx.edge("optional", None, &[]).await;
    fx.sync(&edge).await;
    let anonymous = edge.client(None);
    let mapped = edge.client(Some(&fx.client(CI_AGENT)));
    let unmapped = edge.client(Some(&fx.client("spiffe://acme/agent/unknown")));

    // No certificate: gateway tokens work as over plain HTTP; nothing at all is 401.
    assert_eq!(whoami(&edge, anonymous.clone(), Some(&token)).await, "alice@example.com");
    let (status, reason) = refusal(initialize(&edge, &anonymous, None).await.unwrap()).await;
    assert_eq!((status, reason.as_str()), (StatusCode::UNAUTHORIZED, "missing_token"));

    // A verified certificate that maps to no identity, and no token: 401 saying so.
    let response = initialize(&edge, &unmapped, None).await.unwrap();
    assert!(
        response.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer "),
        "a token may still be offered"
    );
    let (status, reason) = refusal(response).await;
    assert_eq!((status, reason.as_str()), (StatusCode::UNAUTHORIZED, "certificate_not_mapped"));
    // …but the same client with a token is let in as the token's user.
    assert_eq!(whoami(&edge, unmapped, Some(&token)).await, "alice@example.com");

    // A mapped certificate alone authenticates; with a token, the token wins.
    assert_eq!(whoami(&edge, mapped.clone(), None).await, "ci-agent");
    assert_eq!(whoami(&edge, mapped.clone(), Some(&token)).await, "alice@example.com");
    // An explicit credential that fails is refused, never replaced by the certificate.
    let (status, reason) =
        refusal(initialize(&edge, &mapped, Some("gth_not_a_real_token")).await.unwrap()).await;
    assert_eq!((status, reason.as_str()), (StatusCode::UNAUTHORIZED, "invalid_token"));
    let basic =
        mapped.post(edge.mcp_url("echo")).basic_auth("u", Some("p")).body(INITIALIZE).send().await.unwrap();
    assert_eq!(refusal(basic).await, (StatusCode::UNAUTHORIZED, "missing_token".to_owned()));

    // Optional is not "anything goes": a certificate that is presented must verify.
    let rogue = edge.client(Some(&fx.rogue_ca.client(&ClientNames::spiffe(CI_AGENT))));
    assert!(initialize(&edge, &rogue, None).await.is_err(), "an untrusted certificate fails the handshake");
    let expired = edge.client(Some(&fx.ca.expired_client(&ClientNames::spiffe(CI_AGENT))));
    assert!(initialize(&edge, &expired, None).await.is_err(), "an expired certificate fails the handshake");
}

#[tokio::test]
async fn deleting_a_certificate_identity_takes_effect_at_the_edge() {
    let fx = Fixture::start().await;
    let admin = fx.admin();
    let by_dns = fx.register("san_dns", "Build.Acme.Example", "builder").await;
    let edge = fx.edge("optional", None, &[]).await;
    fx.sync(&edge).await;
    let names = ClientNames {
        cn: Some("builder".into()),
        dns: vec!["build.acme.example".into()],
        ..Default::default()
    };
    let client = edge.client(Some(&fx.ca.client(&names)));
    assert_eq!(whoami(&edge, client.clone(), None).await, "builder", "DNS names match case-insensitively");

    admin.delete_certificate_identity(&by_dns).await;
    fx.sync(&edge).await;
    // The connection pool may keep the TLS connection: the decision is per request, not per handshake.
    let (status, reason) = refusal(initialize(&edge, &client, None).await.unwrap()).await;
    assert_eq!((status, reason.as_str()), (StatusCode::UNAUTHORIZED, "certificate_not_mapped"));

    // The subject CN is the lowest-precedence name: registering it lets the same certificate in again.
    fx.register("subject_cn", "builder", "builder-by-cn").await;
    fx.sync(&edge).await;
    assert_eq!(whoami(&edge, client, None).await, "builder-by-cn");
}

#[tokio::test]
async fn a_silent_client_cannot_hold_the_handshake_and_does_not_block_others() {
    let fx = Fixture::start().await;
    let token = fx.admin().mint_token("alice@example.com", "eng").await.token;
    let edge = fx.edge("none", None, &[("GATEHOUSE_EDGE_TLS_HANDSHAKE_TIMEOUT_MS", "300")]).await;
    fx.sync(&edge).await;

    let mut silent = tokio::net::TcpStream::connect(edge.addr).await.unwrap();
    // Meanwhile other clients are served: handshakes run off the accept loop.
    let client = edge.client(None);
    let response = initialize(&edge, &client, Some(&token)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let started = Instant::now();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf)).await;
    let n = read.expect("the edge closes a silent connection").unwrap_or(0);
    assert_eq!(n, 0, "closed without a byte of TLS");
    assert!(started.elapsed() < Duration::from_secs(3), "closed after the handshake timeout");
}

#[tokio::test]
async fn tls_without_client_auth_negotiates_h2_and_http1() {
    let fx = Fixture::start().await;
    let token = fx.admin().mint_token("alice@example.com", "eng").await.token;
    let edge = fx.edge("none", None, &[]).await;
    fx.sync(&edge).await;

    let h2 = initialize(&edge, &edge.client(None), Some(&token)).await.unwrap();
    assert_eq!((h2.status(), h2.version()), (StatusCode::OK, reqwest::Version::HTTP_2), "ALPN h2");
    let http1 = reqwest::Client::builder()
        .http1_only()
        .tls_certs_only([reqwest::Certificate::from_pem(fx.ca.cert_pem().as_bytes()).unwrap()])
        .build()
        .unwrap();
    let h1 = initialize(&edge, &http1, Some(&token)).await.unwrap();
    assert_eq!((h1.status(), h1.version()), (StatusCode::OK, reqwest::Version::HTTP_11), "ALPN http/1.1");

    // Plain HTTP on the TLS port gets nowhere.
    let plain = reqwest::Client::new().get(format!("http://{}/healthz", edge.addr)).send().await;
    assert!(plain.map(|r| r.status() != StatusCode::OK).unwrap_or(true));
}

#[tokio::test]
async fn certificate_identities_admin_api_validates_and_refuses_duplicates() {
    let fx = Fixture::start().await;
    let admin = fx.admin();
    let post = |body: Value| {
        let admin = admin.clone();
        async move { admin.request(reqwest::Method::POST, "/v1/auth/certificate-identities", Some(body)).await }
    };
    let ca = fx.ca.sha256_hex();
    let base = json!({"kind": "san_uri", "value": CI_AGENT, "user": "ci-agent", "team": "eng", "issuer_ca_sha256": ca});
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    for (body, field) in [
        (with("kind", json!("subject")), "kind"),
        (with("value", json!("not a uri")), "value"),
        (with("kind", json!("san_dns")), "value"),
        (with("team", json!("nope")), "team"),
        (with("user", json!("")), "user"),
        (with("permissions", json!({"servers": ["missing"]})), "permissions.servers[0]"),
        (with("permissions", json!({"tools": ["a b"]})), "permissions.tools[0]"),
        (with("scopes", json!([""])), "scopes[0]"),
    ] {
        let (status, error) = post(body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert_eq!(error["error"]["field"], field, "{body}: {error}");
    }
    let (status, error) = post(with("extra", json!(1))).await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_json")));

    let (status, created) = post(with("permissions", json!({"servers": ["echo"], "tools": ["ec*"]}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["kind"], "san_uri");
    assert_eq!(created["team"], "eng");
    assert_eq!(created["permissions"], json!({"servers": ["echo"], "tools": ["ec*"]}));
    let id = created["id"].as_str().unwrap();

    let (status, error) = post(base.clone()).await;
    assert_eq!((status, error["error"]["field"].as_str()), (StatusCode::CONFLICT, Some("value")), "{error}");
    // Names are stored normalised, so a differently-cased DNS name is the same name.
    admin.register_certificate_identity("san_dns", "agent.acme.example", "a", "eng").await;
    let (status, _) =
        post(json!({"kind": "san_dns", "value": "AGENT.acme.example.", "user": "b", "team": "eng", "issuer_ca_sha256": ca}))
            .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, listed) = admin.request(reqwest::Method::GET, "/v1/auth/certificate-identities", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["certificate_identities"].as_array().unwrap().len(), 2);
    let path = format!("/v1/auth/certificate-identities/{id}");
    let (status, one) = admin.request(reqwest::Method::GET, &path, None).await;
    assert_eq!((status, one["value"].as_str()), (StatusCode::OK, Some(CI_AGENT)));
    admin.delete_certificate_identity(id).await;
    let (status, error) = admin.request(reqwest::Method::DELETE, &path, None).await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (status, _) =
        admin.with_token(None).request(reqwest::Method::GET, "/v1/auth/certificate-identities", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (_, openapi) = admin.request(reqwest::Method::GET, "/v1/openapi.json", None).await;
    let paths = &openapi["paths"];
    assert!(paths["/v1/auth/certificate-identities"]["post"].is_object());
    assert!(paths["/v1/auth/certificate-identities/{id}"]["delete"].is_object());
}

/// The DER of the first certificate in `pem`.
fn pem_der(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).expect("PEM base64")
}

/// The certificate the edge serves to a new connection (with `identity` as the client's).
async fn served_certificate(fx: &Fixture, edge: &TestEdge, identity: &CertAndKey) -> Option<Vec<u8>> {
    let client = reqwest::Client::builder()
        .tls_info(true)
        .pool_max_idle_per_host(0)
        .tls_certs_only([reqwest::Certificate::from_pem(fx.ca.cert_pem().as_bytes()).unwrap()])
        .identity(identity.identity())
        .build()
        .unwrap();
    let response = client.get(format!("{}/healthz", edge.url)).send().await.ok()?;
    let info = response.extensions().get::<reqwest::tls::TlsInfo>()?;
    info.peer_certificate().map(<[u8]>::to_vec)
}

#[tokio::test]
async fn rotated_certificate_and_client_ca_files_are_used_without_a_restart() {
    let fx = Fixture::start().await;
    let token = fx.admin().mint_token("alice@example.com", "eng").await.token;
    let trusted = fx.client("spiffe://acme/agent");
    let reload = [("GATEHOUSE_EDGE_TLS_RELOAD_INTERVAL_MS", "100")];
    let edge = fx.edge("required", Some(trusted.clone()), &reload).await;
    fx.sync(&edge).await;
    let files = edge.tls_files().expect("a TLS edge");
    let first = served_certificate(&fx, &edge, &trusted).await.expect("a TLS connection");
    let rogue = fx.rogue_ca.client(&ClientNames::spiffe("spiffe://rogue/agent"));
    assert!(initialize(&edge, &edge.client(Some(&rogue)), Some(&token)).await.is_err(), "untrusted CA");
    // A connection opened before the rotation keeps working after it.
    let open = edge.client(Some(&trusted));
    assert_eq!(initialize(&edge, &open, Some(&token)).await.unwrap().status(), StatusCode::OK);

    // A half-written rotation (the new certificate before its key) is not used.
    let next = fx.ca.server();
    std::fs::write(&files.cert, &next.cert_pem).unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(served_certificate(&fx, &edge, &trusted).await.as_deref(), Some(&first[..]));

    // The key and a client CA bundle that also trusts the other CA complete it.
    std::fs::write(&files.key, &next.key_pem).unwrap();
    std::fs::write(&files.client_ca, format!("{}{}", fx.ca.cert_pem(), fx.rogue_ca.cert_pem())).unwrap();
    let expected = pem_der(&next.cert_pem);
    eventually(Duration::from_secs(5), "the edge serves the new certificate", || async {
        (served_certificate(&fx, &edge, &trusted).await? == expected).then_some(())
    })
    .await;
    assert_ne!(expected, first);
    // The other CA's client is now through the handshake: its certificate maps to no caller (401),
    // and with a token it is served.
    let response = initialize(&edge, &edge.client(Some(&rogue)), None).await.expect("handshake accepted");
    assert_eq!(refusal(response).await, (StatusCode::UNAUTHORIZED, "certificate_not_mapped".to_owned()));
    let response = initialize(&edge, &edge.client(Some(&rogue)), Some(&token)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(initialize(&edge, &open, Some(&token)).await.unwrap().status(), StatusCode::OK);
}
