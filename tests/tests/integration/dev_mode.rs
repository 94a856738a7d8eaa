//! `gatehouse dev` on ports other than the defaults: the public URLs follow
//! the ports (protected resource metadata and the `WWW-Authenticate`
//! challenge name the real edge port), the admin API's address serves the
//! console and the admin token signs in to it (the README's quick start), and
//! bad settings of either role are all reported before anything binds.

use std::collections::BTreeMap;
use std::time::Duration;

use gatehouse_tests::control_plane::AdminClient;
use gatehouse_tests::eventually;
use gatehouse_tests::upstream::{McpUpstream, SessionMode};
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn dev_mode_urls_follow_the_ports() {
    let dir = tempfile::tempdir().unwrap();
    let (api, grpc, edge) = (free_port(), free_port(), free_port());
    let (cp_metrics, edge_metrics) = (free_port(), free_port());
    let env = BTreeMap::from([
        ("GATEHOUSE_DATA_DIR".to_owned(), dir.path().display().to_string()),
        ("GATEHOUSE_API_ADDR".to_owned(), format!("127.0.0.1:{api}")),
        ("GATEHOUSE_GRPC_ADDR".to_owned(), format!("127.0.0.1:{grpc}")),
        ("GATEHOUSE_EDGE_ADDR".to_owned(), format!("127.0.0.1:{edge}")),
        ("GATEHOUSE_METRICS_ADDR".to_owned(), format!("127.0.0.1:{cp_metrics}")),
        ("GATEHOUSE_EDGE_METRICS_ADDR".to_owned(), format!("127.0.0.1:{edge_metrics}")),
    ]);
    let stop = CancellationToken::new();
    let dev = tokio::spawn(gatehouse::dev::run_until(env, stop.clone()));
    let http = reqwest::Client::new();
    let api_url = format!("http://127.0.0.1:{api}");
    let token_file = dir.path().join("admin-token");
    eventually(Duration::from_secs(30), "the dev control plane answers", || async {
        let up = http.get(format!("{api_url}/healthz")).send().await.ok()?.status().is_success();
        (up && token_file.exists()).then_some(())
    })
    .await;
    let admin_token = std::fs::read_to_string(&token_file).unwrap().trim().to_owned();
    let admin = AdminClient::new(&api_url, Some(&admin_token));

    // The README's quick start ends with "open the admin API's address and sign in with
    // the admin token": the page is the console, and the token signs in to it.
    let page = http.get(&api_url).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("<div id=\"root\">"), "the console's page");
    let session = http
        .post(format!("{api_url}/v1/console/session"))
        .json(&serde_json::json!({"api_key": admin_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(session.status(), StatusCode::OK);
    let caller: serde_json::Value = session.json().await.unwrap();
    assert_eq!(caller["kind"], "platform", "{caller}");
    let upstream = McpUpstream::start(SessionMode::Stateless).await;
    admin.create_workspace("eng").await;
    admin.create_server("tools", &upstream.url, &[]).await;
    admin.provision("eng", "tools", &[], &[]).await;

    let edge_url = format!("http://127.0.0.1:{edge}");
    let prm_url = format!("{edge_url}/.well-known/oauth-protected-resource/mcp/default/tools");
    let prm: serde_json::Value =
        eventually(Duration::from_secs(30), "the dev edge serves the server", || async {
            let resp = http.get(&prm_url).send().await.ok()?;
            if resp.status() != StatusCode::OK {
                return None;
            }
            resp.json().await.ok()
        })
        .await;
    assert_eq!(prm["resource"], format!("{edge_url}/mcp/default/tools"), "{prm}");

    let challenge = http
        .post(format!("{edge_url}/mcp/default/tools"))
        .header("accept", "application/json, text/event-stream")
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(challenge.status(), StatusCode::UNAUTHORIZED);
    let header = challenge.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(header.contains(&format!("resource_metadata=\"{prm_url}\"")), "{header}");

    // Dev mode serves both planes' metrics; the refused request above is counted.
    let edge_metrics = http.get(format!("http://127.0.0.1:{edge_metrics}/metrics")).send().await.unwrap();
    let text = edge_metrics.text().await.unwrap();
    assert!(text.contains(r#"gatehouse_auth_failures_total{reason="missing_token"} 1"#), "{text}");
    let cp_metrics = http.get(format!("http://127.0.0.1:{cp_metrics}/metrics")).send().await.unwrap();
    assert!(cp_metrics.text().await.unwrap().contains("gatehouse_control_plane_edges_connected 1"));

    stop.cancel();
    dev.await.unwrap().unwrap();
}

#[tokio::test]
async fn dev_mode_reports_every_bad_setting_before_binding() {
    let dir = tempfile::tempdir().unwrap();
    let api = free_port();
    let env = BTreeMap::from([
        ("GATEHOUSE_DATA_DIR".to_owned(), dir.path().display().to_string()),
        ("GATEHOUSE_API_ADDR".to_owned(), format!("127.0.0.1:{api}")),
        ("GATEHOUSE_ADMIN_TOKEN".to_owned(), "short".to_owned()),
        ("GATEHOUSE_UPSTREAM_CONNECT_TIMEOUT_MS".to_owned(), "soon".to_owned()),
        ("GATEHOUSE_EDGE_METRICS_ADDR".to_owned(), "nine".to_owned()),
    ]);
    let err = gatehouse::dev::run_until(env, CancellationToken::new()).await.unwrap_err().to_string();
    assert!(err.contains("control plane") && err.contains("GATEHOUSE_ADMIN_TOKEN"), "{err}");
    assert!(err.contains("edge") && err.contains("GATEHOUSE_UPSTREAM_CONNECT_TIMEOUT_MS"), "{err}");
    assert!(err.contains("GATEHOUSE_EDGE_METRICS_ADDR"), "{err}");
    std::net::TcpListener::bind(("127.0.0.1", api)).expect("nothing was bound");
}
