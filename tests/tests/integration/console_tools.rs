//! The console's server detail page in real Chromium (`web/e2e/server_tools.mjs`)
//! against a real control plane serving the embedded console, an edge and an
//! rmcp upstream behind a static header: the live tool list, a deny glob typed
//! with its preview following, saved (checked here through the API), and a tool
//! tried with the form generated from its input schema, which reached the
//! upstream through the edge. Screenshots `server-detail.png` and `try-tool.png`
//! go to `<target>/console-screenshots/`; no console error on the way.

use gatehouse_tests::browser::BrowserScenario;
use gatehouse_tests::upstream::{McpUpstream, SessionMode, UpstreamOptions};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn console_tools_lists_previews_saves_and_tries_a_tool_in_chromium() {
    let (cp, _edge) = gatehouse_tests::control_plane_with_public_edge().await;
    let upstream = McpUpstream::start_with(UpstreamOptions {
        mode: SessionMode::Stateless,
        json_response: false,
        required_header: Some(("x-api-key".into(), "console-tools-secret".into())),
    })
    .await;
    let admin = cp.admin();
    admin.create_workspace("eng").await;
    admin
        .create_server_json(json!({"slug": "tools", "name": "Test tools", "url": upstream.url,
            "headers": {"X-Api-Key": "console-tools-secret"}}))
        .await;
    admin.provision("eng", "tools", &[], &[]).await;

    let mut scenario = BrowserScenario::start(
        "server_tools.mjs",
        &[("CONSOLE_URL", &cp.api_url), ("ADMIN_TOKEN", &cp.admin_token)],
    );

    scenario.expect_step("saved").await;
    let (status, provisions) = admin.request(Method::GET, "/v1/workspaces/eng/servers", None).await;
    assert_eq!(status, StatusCode::OK, "{provisions}");
    let tools = &provisions["servers"][0]["tools"];
    assert_eq!(tools["deny"], json!(["delete_*"]), "the console saved the typed glob: {provisions}");
    assert_eq!(tools["allow"], json!([]), "{provisions}");
    scenario.send("go").await;

    scenario.expect_step("tried").await;
    assert_eq!(upstream.calls.count("add"), 1, "the tried tool reached the upstream once");
    let headers = upstream.calls.last_headers("add").unwrap();
    assert_eq!(headers.get("x-api-key").map(String::as_str), Some("console-tools-secret"));
    scenario.finish().await;
}
