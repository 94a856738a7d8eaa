//! Secrets never leak: not in logs (at TRACE level, across control plane,
//! config stream, edge and proxy), not in admin API responses, not in the
//! database file, not in the edge's config cache.

use gatehouse_tests::upstream::{McpUpstream, SessionMode};
use gatehouse_tests::TestStack;
use reqwest::Method;

const HEADER_SECRET: &str = "hdr-secret-0f6b1c9e2d";

#[tokio::test]
async fn no_secret_reaches_logs_responses_the_database_or_the_edge_cache() {
    let stack = TestStack::start().await;
    let logs = stack.logs.clone().expect("log capture installed first in this process");
    let upstream = McpUpstream::start(SessionMode::Stateful).await;
    let admin = stack.cp.admin();

    admin.create_workspace("platform").await;
    let created = admin
        .create_server("vault", &upstream.url, &[("authorization", &format!("Bearer {HEADER_SECRET}"))])
        .await;
    admin.provision("platform", "vault", &[], &[]).await;
    let minted = admin.mint_token("alice@example.com", "platform").await;
    let rotated = admin.rotate(&minted.id).await;
    stack.sync().await;

    // Exercise the proxy so request logging and span fields run.
    let client = reqwest::Client::new();
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    for token in [&rotated.token, &minted.token] {
        let resp = client
            .post(stack.edge.mcp_url("vault"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(init)
            .send()
            .await
            .unwrap();
        let ok = token == &rotated.token;
        assert_eq!(resp.status().is_success(), ok, "rotated token works, old one doesn't: {}", resp.status());
        let _ = resp.text().await;
    }

    // Every way of reading the server back shows no header value.
    let mut responses = vec![created.to_string()];
    for path in ["/v1/servers", "/v1/servers/vault", "/v1/auth/tokens", "/v1/workspaces/platform/servers"] {
        let (status, body) = admin.request(Method::GET, path, None).await;
        assert!(status.is_success(), "{path}: {status}");
        responses.push(body.to_string());
    }
    for body in &responses {
        assert!(!body.contains(HEADER_SECRET), "header secret in an API response: {body}");
        assert!(
            !body.contains(&minted.token) && !body.contains(&rotated.token),
            "token in a listing: {body}"
        );
    }

    let secrets = [
        ("upstream header value", HEADER_SECRET.to_owned()),
        ("gateway token", minted.token.clone()),
        ("rotated gateway token", rotated.token.clone()),
        ("admin token", stack.cp.admin_token.clone()),
        ("node token", stack.cp.node_token.clone()),
        ("master key", gatehouse_tests::control_plane::master_key_base64(&stack.cp.master_key)),
    ];

    let text = logs.text();
    assert!(text.contains("mcp.request"), "log capture saw the proxy's request spans");
    assert!(text.len() > 10_000, "log capture is working at trace level ({} bytes)", text.len());
    for (what, secret) in &secrets {
        assert!(!text.contains(secret.as_str()), "{what} appears in the logs");
    }

    let db = stack.cp.db().sqlite_path().expect("the stack runs on SQLite");
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", db.display());
        let Ok(bytes) = std::fs::read(&path) else { continue };
        for (what, secret) in &secrets {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{what} stored in plaintext in {path}");
        }
    }

    // The cache is written in the background: wait until it holds this version.
    stack.edge.wait_for_cached_version(stack.cp.admin().config_version().await).await;
    let cache = std::fs::read(stack.edge.cache_path()).expect("the edge persisted its config");
    assert!(
        !cache.windows(HEADER_SECRET.len()).any(|w| w == HEADER_SECRET.as_bytes()),
        "edge cache holds the header secret in plaintext"
    );
}
