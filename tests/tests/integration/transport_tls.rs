//! TLS between the edges and the control plane, and on the admin API, with real
//! certificates: an edge syncs config over TLS (and mutual TLS), refuses a control
//! plane whose certificate another CA signed, is refused without a client
//! certificate when the control plane requires one, follows a certificate rotated
//! on disk without a restart, and refuses a plaintext control plane on another host.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use gatehouse_control_plane::listener_tls::ListenerTlsSettings;
use gatehouse_control_plane::ControlPlaneConfig;
use gatehouse_data_plane::EdgeConfig;
use gatehouse_tests::control_plane::TestControlPlane;
use gatehouse_tests::db::TestDb;
use gatehouse_tests::edge::{EdgeCache, TestEdge};
use gatehouse_tests::eventually;
use gatehouse_tests::pki::{CertAndKey, ClientNames, PemDir, TestCa};
use reqwest::StatusCode;

const WAIT: Duration = Duration::from_secs(10);
/// How long an edge that must not connect is given to (wrongly) connect.
const REFUSAL_WINDOW: Duration = Duration::from_secs(2);

/// The control plane's TLS files: the gRPC listener's certificate, optionally a client CA,
/// and the admin API's certificate; rewritable in place.
struct ServerFiles {
    dir: PemDir,
    grpc_cert: PathBuf,
    grpc_key: PathBuf,
    client_ca: Option<PathBuf>,
}

impl ServerFiles {
    fn write(server: &CertAndKey, client_ca: Option<&TestCa>) -> Self {
        let dir = PemDir::new();
        Self {
            grpc_cert: dir.write("grpc.crt", &server.cert_pem),
            grpc_key: dir.write("grpc.key", &server.key_pem),
            client_ca: client_ca.map(|ca| dir.write("client-ca.crt", &ca.cert_pem())),
            dir,
        }
    }

    /// Settings as `GATEHOUSE_GRPC_TLS_*` would give them, reloaded every 100 ms.
    fn settings(&self) -> ListenerTlsSettings {
        let mut env = BTreeMap::from([
            ("GATEHOUSE_GRPC_TLS_CERT".to_owned(), self.grpc_cert.display().to_string()),
            ("GATEHOUSE_GRPC_TLS_KEY".to_owned(), self.grpc_key.display().to_string()),
            ("GATEHOUSE_TLS_RELOAD_INTERVAL_MS".to_owned(), "100".to_owned()),
        ]);
        if let Some(ca) = &self.client_ca {
            env.insert("GATEHOUSE_GRPC_CLIENT_CA".to_owned(), ca.display().to_string());
        }
        ListenerTlsSettings::from_env(&env).expect("grpc tls settings")
    }
}

async fn control_plane_with(settings: ListenerTlsSettings) -> TestControlPlane {
    TestControlPlane::start_with(TestDb::sqlite().await, move |c: &mut ControlPlaneConfig| {
        c.tls = settings.clone();
    })
    .await
}

/// The edge's side: which CA it trusts and which client certificate it presents.
fn edge_env(dir: &PemDir, trusted: &TestCa, identity: Option<&CertAndKey>) -> Vec<(String, String)> {
    let mut env = vec![(
        "GATEHOUSE_CONTROL_PLANE_CA".to_owned(),
        dir.write("cp-ca.crt", &trusted.cert_pem()).display().to_string(),
    )];
    if let Some(identity) = identity {
        env.push((
            "GATEHOUSE_CONTROL_PLANE_CLIENT_CERT".to_owned(),
            dir.write("edge.crt", &identity.cert_pem).display().to_string(),
        ));
        env.push((
            "GATEHOUSE_CONTROL_PLANE_CLIENT_KEY".to_owned(),
            dir.write("edge.key", &identity.key_pem).display().to_string(),
        ));
    }
    env
}

/// An edge trusting `trusted` and presenting `identity`; the files it reads live as long as
/// the returned directory.
async fn start_edge(
    cp: &TestControlPlane,
    trusted: &TestCa,
    identity: Option<&CertAndKey>,
) -> (TestEdge, PemDir) {
    let dir = PemDir::new();
    let env = edge_env(&dir, trusted, identity);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let edge = TestEdge::start_with_env(&cp.grpc_url, &cp.node_token, EdgeCache::temporary(), &env).await;
    (edge, dir)
}

/// A token minted now works at `edge` (the config reached it over the stream).
async fn assert_token_reaches(cp: &TestControlPlane, edge: &TestEdge) {
    let minted = cp.admin().mint_token("alice@example.com", "platform").await;
    eventually(WAIT, "the minted token to work at the edge", || async {
        (edge.list_tools("tools", &minted.token).await.status() == StatusCode::OK).then_some(())
    })
    .await;
}

/// The edge never installs a config: the control plane refused it, or it refused the control plane.
async fn assert_never_connects(edge: &TestEdge) {
    tokio::time::sleep(REFUSAL_WINDOW).await;
    assert!(!edge.state.is_connected(), "the edge must not be connected");
    assert!(!edge.state.is_loaded(), "the edge must not have received any config");
}

#[tokio::test]
async fn edge_syncs_config_over_mutual_tls() {
    let ca = TestCa::new("control plane ca");
    let edges_ca = TestCa::new("edges ca");
    let files = ServerFiles::write(&ca.server(), Some(&edges_ca));
    let cp = control_plane_with(files.settings()).await;
    assert!(cp.grpc_url.starts_with("https://"), "{}", cp.grpc_url);
    let _upstream = cp.admin().platform_with_tools().await;

    let identity = edges_ca.client(&ClientNames { cn: Some("edge-1".into()), ..Default::default() });
    let (edge, _dir) = start_edge(&cp, &ca, Some(&identity)).await;
    edge.wait_ready().await;
    assert_token_reaches(&cp, &edge).await;
    // The credential broker shares the channel: its calls go over the same TLS connection.
    assert!(edge.state.is_connected());
}

#[tokio::test]
async fn edge_refuses_a_control_plane_certificate_from_another_ca() {
    let ca = TestCa::new("control plane ca");
    let files = ServerFiles::write(&ca.server(), None);
    let cp = control_plane_with(files.settings()).await;
    let stranger = TestCa::new("some other ca");
    let (edge, _stranger_dir) = start_edge(&cp, &stranger, None).await;
    assert_never_connects(&edge).await;

    // The same control plane with the right CA: it is the certificate that was refused.
    let (edge, _dir) = start_edge(&cp, &ca, None).await;
    edge.wait_ready().await;
}

#[tokio::test]
async fn control_plane_requiring_client_certificates_refuses_edges_without_one() {
    let ca = TestCa::new("control plane ca");
    let edges_ca = TestCa::new("edges ca");
    let files = ServerFiles::write(&ca.server(), Some(&edges_ca));
    let cp = control_plane_with(files.settings()).await;

    let (without, _without_dir) = start_edge(&cp, &ca, None).await;
    let other_ca = TestCa::new("not the edges ca");
    let foreign = other_ca.client(&ClientNames { cn: Some("edge-x".into()), ..Default::default() });
    let (with_foreign, _with_foreign_dir) = start_edge(&cp, &ca, Some(&foreign)).await;
    assert_never_connects(&without).await;
    assert!(!with_foreign.state.is_loaded(), "a certificate from another CA is no certificate");

    let identity = edges_ca.client(&ClientNames { cn: Some("edge-1".into()), ..Default::default() });
    let (with, _with_dir) = start_edge(&cp, &ca, Some(&identity)).await;
    with.wait_ready().await;
}

#[tokio::test]
async fn grpc_certificate_rotates_without_a_restart() {
    let old_ca = TestCa::new("old ca");
    let files = ServerFiles::write(&old_ca.server(), None);
    let cp = control_plane_with(files.settings()).await;
    let (before, _before_dir) = start_edge(&cp, &old_ca, None).await;
    before.wait_ready().await;

    // cert-manager renews into the same files: here from a new CA, so the switch shows.
    let new_ca = TestCa::new("new ca");
    let renewed = new_ca.server();
    files.dir.write("grpc.key", &renewed.key_pem);
    files.dir.write("grpc.crt", &renewed.cert_pem);
    let cp_ref = &cp;
    let new_ca_ref = &new_ca;
    eventually(WAIT, "an edge trusting only the new CA to connect", || async move {
        let (edge, _dir) = start_edge(cp_ref, new_ca_ref, None).await;
        let connected = eventually_bool(Duration::from_secs(2), || edge.state.is_loaded()).await;
        let _ = edge.stop().await;
        connected.then_some(())
    })
    .await;
    // New connections get the new certificate: an edge trusting only the old CA is refused now.
    let (late, _late_dir) = start_edge(&cp, &old_ca, None).await;
    assert_never_connects(&late).await;
    // The edge connected before the rotation keeps its connection.
    assert!(before.state.is_connected());
}

async fn eventually_bool(within: Duration, check: impl Fn() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

#[tokio::test]
async fn edge_refuses_a_plaintext_control_plane_on_another_host_at_start() {
    let env = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };
    let remote = [
        ("GATEHOUSE_NODE_TOKEN", "node-token-aaaaaaaaaaaa"),
        ("GATEHOUSE_CONTROL_PLANE_URL", "http://10.255.0.1:50051"),
    ];
    let config = EdgeConfig::from_env(&env(&remote)).expect("read");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = gatehouse_data_plane::run(config, listener, async {}).await.unwrap_err().to_string();
    assert!(
        err.contains("GATEHOUSE_CONTROL_PLANE_URL") && err.contains("GATEHOUSE_ALLOW_INSECURE_CONTROL_PLANE"),
        "{err}"
    );

    // Opted in, the same URL starts (and stops at once here).
    let mut allowed = env(&remote);
    allowed.insert("GATEHOUSE_ALLOW_INSECURE_CONTROL_PLANE".into(), "true".into());
    let config = EdgeConfig::from_env(&allowed).expect("read");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    gatehouse_data_plane::run(config, listener, async {}).await.expect("an opted-in edge starts");
}

#[tokio::test]
async fn admin_api_serves_tls() {
    let ca = TestCa::new("api ca");
    let server = ca.server();
    let dir = PemDir::new();
    let env = BTreeMap::from([
        ("GATEHOUSE_API_TLS_CERT".to_owned(), dir.write("api.crt", &server.cert_pem).display().to_string()),
        ("GATEHOUSE_API_TLS_KEY".to_owned(), dir.write("api.key", &server.key_pem).display().to_string()),
    ]);
    let cp = control_plane_with(ListenerTlsSettings::from_env(&env).unwrap()).await;
    assert!(cp.api_url.starts_with("https://"), "{}", cp.api_url);

    let trusting = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap()])
        .build()
        .unwrap();
    let response = trusting
        .get(format!("{}/v1/workspaces", cp.api_url))
        .bearer_auth(&cp.admin_token)
        .send()
        .await
        .expect("the admin API answers over TLS");
    assert_eq!(response.status(), StatusCode::OK);

    // Plaintext to the TLS port gets no HTTP answer, and a client trusting another CA is refused.
    let plain = cp.api_url.replace("https://", "http://");
    assert!(reqwest::get(format!("{plain}/healthz")).await.is_err(), "plaintext must not be served");
    let other = TestCa::new("other ca");
    let stranger = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(other.cert_pem().as_bytes()).unwrap()])
        .build()
        .unwrap();
    assert!(stranger.get(format!("{}/healthz", cp.api_url)).send().await.is_err());
}
