//! `mcp:read` / `mcp:write` at the edge: a credential carrying `mcp:read` alone may
//! discover and read (initialize, lists, notifications) but not call tools, which needs
//! `mcp:write`; a credential with neither is unrestricted. Checked with gateway tokens
//! minted through the API against a real rmcp upstream that counts what reaches it; a
//! bring-your-own JWT's scopes stay its identity provider's (they count through `claimValues`).

use reqwest::StatusCode;
use rmcp::model::CallToolRequestParams;
use serde_json::{json, Value};

use crate::reference_examples::{connect, post, reachable, whoami, Fixture};

fn call(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}})
}

/// The refusal of a call that needs `mcp:write`, echoing `id`.
fn assert_needs_write(status: StatusCode, headers: &reqwest::header::HeaderMap, body: &Value, id: u64) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["id"], id, "{body}");
    assert_eq!(body["error"]["data"]["reason"], "insufficient_scope", "{body}");
    assert_eq!(body["error"]["data"]["source"], "client");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("tools/call") && message.contains("mcp:write"), "{message}");
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("resource_metadata="), "{challenge}");
    assert!(
        challenge.contains(r#"error="insufficient_scope""#) && challenge.contains(r#"scope="mcp:write""#)
    );
}

#[tokio::test]
async fn token_scopes_read_only_gateway_tokens_discover_but_never_call_tools() {
    let Fixture { stack, upstream, admin } = Fixture::start().await;
    admin.create_server("tools", &upstream.url, &[]).await;
    admin.provision("platform", "tools", &[], &[]).await;
    let mint =
        |scopes: Value| admin.mint_token_json(json!({"user": "alice", "team": "platform", "scopes": scopes}));
    let read = mint(json!(["mcp:read"])).await.token;
    let write = mint(json!(["mcp:write"])).await.token;
    let both = mint(json!(["mcp:read", "mcp:write"])).await.token;
    let unscoped = mint(json!(["custom:thing"])).await.token;
    stack.sync().await;
    let url = stack.edge.mcp_url("tools");

    // Read-only: initialize, notifications/initialized and tools/list all pass (the SDK client
    // sends them), a tool call is refused at the edge and never reaches the upstream.
    let client = connect(&url, Some(&read), &[]).await;
    assert_eq!(client.list_all_tools().await.unwrap().len(), 5);
    assert!(client.call_tool(CallToolRequestParams::new("whoami")).await.is_err());
    client.cancel().await.unwrap();
    let (status, headers, body) = post(&url, &read, call(7)).await;
    assert_needs_write(status, &headers, &body, 7);
    assert_eq!(upstream.calls.count("whoami"), 0);
    // A notification is reading: the edge passes it on (the upstream answers 202).
    let note = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}});
    let (status, _, body) = post(&url, &read, note).await;
    assert_ne!(status, StatusCode::FORBIDDEN, "{body}");
    // A batch is refused for everyone, whatever it holds: no scope check can be skipped that way.
    let (status, _, body) = post(&url, &read, json!([call(8)])).await;
    assert_eq!(
        (status, body["error"]["data"]["reason"].as_str()),
        (StatusCode::BAD_REQUEST, Some("batch_not_supported"))
    );

    // mcp:write (alone, or with mcp:read) and a token with no MCP scope call tools.
    for token in [&write, &both, &unscoped] {
        let client = connect(&url, Some(token), &[]).await;
        whoami(&client).await;
        client.cancel().await.unwrap();
    }
    assert_eq!(upstream.calls.count("whoami"), 3);
}

#[tokio::test]
async fn token_scopes_of_a_bring_your_own_jwt_are_the_idps_and_count_through_claim_values() {
    let (Fixture { stack, upstream, admin }, key, jwks) = Fixture::with_idp("rsa-s").await;
    let plain = reachable(json!({"jwksUri": "", "workspace": "platform"}), &jwks);
    // The org makes its IdP's scope count: calls need a token whose `scope` holds mcp:write.
    let mut strict = plain.clone();
    strict["claimValues"] = json!({"scope": {"values": "mcp:write", "matchType": "contains"}});
    for (slug, jwt_validation) in [("byo", plain), ("strict", strict)] {
        admin
            .create_server_json(json!({"slug": slug, "url": upstream.url,
                "advanced_config": {"jwt_validation": jwt_validation}}))
            .await;
        admin.provision("platform", slug, &[], &[]).await;
    }
    stack.sync().await;

    // The IdP's `mcp:read` is its own vocabulary: Gatehouse does not read it as read-only.
    let read = key.token("svc", json!({"scope": "openid mcp:read"}));
    let client = connect(&stack.edge.mcp_url("byo"), Some(&read), &[]).await;
    whoami(&client).await;
    client.cancel().await.unwrap();
    let (status, _, body) = post(&stack.edge.mcp_url("strict"), &read, call(3)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    let write = key.token("svc", json!({"scope": ["mcp:read", "mcp:write"]}));
    let client = connect(&stack.edge.mcp_url("strict"), Some(&write), &[]).await;
    whoami(&client).await;
    client.cancel().await.unwrap();
    assert_eq!(upstream.calls.count("whoami"), 2);
}

#[tokio::test]
async fn token_scopes_of_gatehouse_access_tokens_follow_the_same_rule() {
    let stack = gatehouse_tests::TestStack::start_with_public_edge().await;
    let upstream =
        gatehouse_tests::upstream::McpUpstream::start(gatehouse_tests::upstream::SessionMode::Stateful).await;
    let admin = stack.cp.admin();
    admin.create_workspace("platform").await;
    admin.create_server("tools", &upstream.url, &[]).await;
    admin.provision("platform", "tools", &[], &[]).await;
    let url = stack.edge.mcp_url("tools");
    // A machine client of Gatehouse's authorization server, limited to reading.
    let client = json!({"name": "reader", "workspace": "platform", "scopes": ["mcp:read"]});
    let (status, machine) = admin.request(reqwest::Method::POST, "/v1/oauth/clients", Some(client)).await;
    assert_eq!(status, StatusCode::CREATED, "{machine}");
    let (status, metadata) =
        admin.request(reqwest::Method::GET, "/.well-known/oauth-authorization-server", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(metadata["scopes_supported"].as_array().unwrap().contains(&json!("mcp:read")), "{metadata}");
    let issued: Value = reqwest::Client::new()
        .post(format!("{}/oauth/token", stack.cp.api_url))
        .basic_auth(machine["client_id"].as_str().unwrap(), machine["client_secret"].as_str())
        .form(&[("grant_type", "client_credentials"), ("resource", url.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(issued["scope"], "mcp:read", "{issued}");
    stack.sync().await;
    let token = issued["access_token"].as_str().unwrap();

    let reader = connect(&url, Some(token), &[]).await;
    assert_eq!(reader.list_all_tools().await.unwrap().len(), 5);
    reader.cancel().await.unwrap();
    let (status, headers, body) = post(&url, token, call(4)).await;
    assert_needs_write(status, &headers, &body, 4);
    assert_eq!(upstream.calls.count("whoami"), 0);
}
