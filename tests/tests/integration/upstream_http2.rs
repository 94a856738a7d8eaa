//! The edge's upstream client speaks HTTP/2 to an upstream that offers it by ALPN, and
//! HTTP/1.1 to one that does not; both over TLS verified against `GATEHOUSE_UPSTREAM_CA`.
//! Real TLS upstreams (rmcp tools behind rustls), a real control plane and edges, and an rmcp
//! client through the edge.

use gatehouse_tests::edge::{EdgeCache, TestEdge};
use gatehouse_tests::pki::PemDir;
use gatehouse_tests::tls_upstream::{Alpn, TlsMcpUpstream};
use gatehouse_tests::TestStack;
use http::Version;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt as _;
use serde_json::json;

/// Lists the tools of `url` and calls `echo` three times through the edge; returns the texts.
async fn echo_through(url: &str, token: &str) -> Vec<String> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url).auth_header(token),
    );
    let client = ().serve(transport).await.expect("mcp client connects through the edge");
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "echo"), "echo listed");
    let mut texts = Vec::new();
    for i in 0..3 {
        let arguments = json!({"text": format!("hello {i}")}).as_object().unwrap().clone();
        let result =
            client.call_tool(CallToolRequestParams::new("echo").with_arguments(arguments)).await.unwrap();
        texts.push(serde_json::to_value(&result.content).unwrap()[0]["text"].as_str().unwrap().to_owned());
    }
    client.cancel().await.unwrap();
    texts
}

#[tokio::test]
async fn the_edge_speaks_http2_to_an_upstream_offering_it_by_alpn_and_http1_to_one_that_does_not() {
    let stack = TestStack::start().await;
    let h2 = TlsMcpUpstream::start(Alpn::H2AndHttp11).await;
    let h1 = TlsMcpUpstream::start(Alpn::Http11Only).await;
    // One bundle with both upstreams' CAs, as an operator's private CA file would be.
    let files = PemDir::new();
    let ca = files.write("upstream-ca.pem", &format!("{}{}", h2.ca_pem, h1.ca_pem));
    let ca = ca.display().to_string();
    let edge = TestEdge::start_with_env(
        &stack.cp.grpc_url,
        &stack.cp.node_token,
        EdgeCache::temporary(),
        &[("GATEHOUSE_UPSTREAM_CA", &ca)],
    )
    .await;
    let admin = stack.cp.admin();
    admin.create_workspace("platform").await;
    admin.create_server("over-h2", &h2.url, &[]).await;
    admin.create_server("over-h1", &h1.url, &[]).await;
    admin.provision("platform", "over-h2", &[], &[]).await;
    admin.provision("platform", "over-h1", &[], &[]).await;
    let token = admin.mint_token("alice@example.com", "platform").await.token;
    edge.wait_for_version(admin.config_version().await).await;

    let expected = ["hello 0", "hello 1", "hello 2"];
    assert_eq!(echo_through(&edge.mcp_url("over-h2"), &token).await, expected);
    assert_eq!(echo_through(&edge.mcp_url("over-h1"), &token).await, expected);

    assert_eq!(h2.calls.count("echo"), 3);
    let versions = h2.versions();
    assert!(versions.len() >= 5, "initialize, initialized, list and three calls: {versions:?}");
    assert!(versions.iter().all(|v| *v == Version::HTTP_2), "every request over HTTP/2: {versions:?}");
    assert_eq!(h1.calls.count("echo"), 3);
    let versions = h1.versions();
    assert!(versions.len() >= 5, "{versions:?}");
    assert!(versions.iter().all(|v| *v == Version::HTTP_11), "HTTP/1.1 only: {versions:?}");
}

#[tokio::test]
async fn an_upstream_certificate_from_a_ca_the_edge_does_not_trust_is_refused() {
    // The stack's edge trusts the system's roots only.
    let stack = TestStack::start().await;
    let upstream = TlsMcpUpstream::start(Alpn::H2AndHttp11).await;
    let admin = stack.cp.admin();
    admin.create_workspace("platform").await;
    admin.create_server("untrusted", &upstream.url, &[]).await;
    admin.provision("platform", "untrusted", &[], &[]).await;
    let token = admin.mint_token("alice@example.com", "platform").await.token;
    stack.sync().await;

    let response = stack.edge.list_tools("untrusted", &token).await;
    assert_eq!(response.status(), 502);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["data"]["reason"], "upstream_unavailable", "{body}");
    assert!(upstream.versions().is_empty(), "no request reached the upstream");
}
