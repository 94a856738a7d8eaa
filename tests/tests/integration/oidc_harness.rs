//! The test OpenID Provider (`tests/oidc`) and the protected upstream MCP server
//! behave like the real things the rest of the suite relies on.

use std::time::Duration;

use gatehouse_tests::oidc::{
    authorize_headless, no_redirect_client, pkce_pair, OidcClient, OidcConfig, OidcUser, TestOidcProvider,
};
use serde_json::Value;

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const RESOURCE: &str = "http://127.0.0.1:7/mcp";

fn config() -> OidcConfig {
    OidcConfig::new()
        .client(OidcClient::confidential("app", "app-secret").redirect_uri(REDIRECT))
        .user(
            OidcUser::new("alice")
                .email("alice@example.com")
                .name("Alice")
                .groups(&["eng"])
                .claim("tenant", "acme".into()),
        )
        .user(OidcUser::new("bob").email("bob@example.com"))
}

/// Runs the authorization-code + PKCE flow headlessly and exchanges the code.
async fn code_flow(op: &TestOidcProvider, login_hint: Option<&str>) -> Value {
    let (verifier, challenge) = pkce_pair();
    let mut params = vec![
        ("client_id", "app"),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid email mcp:read"),
        ("state", "st-1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("resource", RESOURCE),
    ];
    if let Some(hint) = login_hint {
        params.push(("login_hint", hint));
    }
    let callback = authorize_headless(&no_redirect_client(), &op.authorize_url(&params)).await;
    assert!(callback.as_str().starts_with(REDIRECT), "{callback}");
    let query: std::collections::HashMap<_, _> = callback.query_pairs().into_owned().collect();
    assert_eq!(query["state"], "st-1");
    assert_eq!(query["iss"], op.issuer, "RFC 9207 iss in the authorization response");
    let resp = reqwest::Client::new()
        .post(op.token_endpoint())
        .basic_auth("app", Some("app-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", query["code"].as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
            ("resource", RESOURCE),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn refresh(op: &TestOidcProvider, refresh_token: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(op.token_endpoint())
        .basic_auth("app", Some("app-secret"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)])
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// Decodes a JWT's payload without verifying it (verification is the upstream's job).
fn jwt_claims(jwt: &str) -> Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn discovery_advertises_the_features_tests_rely_on() {
    let op = TestOidcProvider::start(config()).await;
    let doc: Value = reqwest::get(op.discovery_url()).await.unwrap().json().await.unwrap();
    assert_eq!(doc["issuer"], op.issuer);
    assert_eq!(doc["registration_endpoint"], op.registration_endpoint());
    assert_eq!(doc["introspection_endpoint"], op.introspection_endpoint());
    assert_eq!(doc["revocation_endpoint"], op.revocation_endpoint());
    assert_eq!(doc["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert!(doc.get("pushed_authorization_request_endpoint").is_none());
    let grants = doc["grant_types_supported"].as_array().unwrap();
    for grant in ["authorization_code", "refresh_token", "client_credentials"] {
        assert!(grants.iter().any(|g| g == grant), "{grant} missing from {grants:?}");
    }
}

#[tokio::test]
async fn code_flow_with_resource_issues_a_jwt_access_token_for_that_resource() {
    let op = TestOidcProvider::start(config()).await;
    let tokens = code_flow(&op, None).await;
    let access = jwt_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["iss"], op.issuer);
    assert_eq!(access["aud"], RESOURCE);
    assert_eq!(access["sub"], "alice");
    assert_eq!(access["scope"], "mcp:read");
    assert_eq!(access["client_id"], "app");
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["email"], "alice@example.com");
    assert_eq!(id["groups"], serde_json::json!(["eng"]));
    assert_eq!(id["tenant"], "acme");

    let as_bob = code_flow(&op, Some("bob@example.com")).await;
    assert_eq!(jwt_claims(as_bob["access_token"].as_str().unwrap())["sub"], "bob");

    let stats = op.stats().await;
    assert_eq!(stats.authorizations, 2);
    assert_eq!(stats.token_requests("authorization_code"), 2);
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_fails() {
    let op = TestOidcProvider::start(config()).await;
    let tokens = code_flow(&op, None).await;
    let first = tokens["refresh_token"].as_str().expect("a refresh token").to_owned();

    let (status, rotated) = refresh(&op, &first).await;
    assert_eq!(status, 200, "{rotated}");
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second, "rotated on use");
    assert_eq!(jwt_claims(rotated["access_token"].as_str().unwrap())["aud"], RESOURCE);

    let (status, body) = refresh(&op, &first).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));

    let stats = op.stats().await;
    assert_eq!(stats.refresh_requests, 2);
    assert_eq!(stats.token_errors.get("invalid_grant"), Some(&1));
    op.reset_stats().await;
    assert_eq!(op.stats().await, Default::default());
}

#[tokio::test]
async fn revoked_grants_make_the_next_refresh_fail() {
    let op = TestOidcProvider::start(config()).await;
    let tokens = code_flow(&op, None).await;
    assert!(op.revoke_grants("alice").await >= 1);
    let (status, body) = refresh(&op, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn dynamic_registration_then_public_client_code_flow() {
    let op = TestOidcProvider::start(config()).await;
    let http = reqwest::Client::new();
    let resp = http
        .post(op.registration_endpoint())
        .json(&serde_json::json!({
            "client_name": "mcp client",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let client: Value = resp.json().await.unwrap();
    let client_id = client["client_id"].as_str().unwrap();

    let (verifier, challenge) = pkce_pair();
    let url = op.authorize_url(&[
        ("client_id", client_id),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "mcp:tools"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("resource", RESOURCE),
    ]);
    let callback = authorize_headless(&no_redirect_client(), &url).await;
    let code = callback.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let resp = http
        .post(op.token_endpoint())
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
            ("resource", RESOURCE),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let tokens: Value = resp.json().await.unwrap();
    assert_eq!(jwt_claims(tokens["access_token"].as_str().unwrap())["scope"], "mcp:tools");
    assert_eq!(op.stats().await.registrations, 1);
}

#[tokio::test]
async fn pkce_is_required() {
    let op = TestOidcProvider::start(config()).await;
    let url = op.authorize_url(&[
        ("client_id", "app"),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
    ]);
    let callback = authorize_headless(&no_redirect_client(), &url).await;
    let error = callback.query_pairs().find(|(k, _)| k == "error").map(|(_, v)| v.into_owned());
    assert_eq!(error.as_deref(), Some("invalid_request"), "{callback}");
}

#[tokio::test]
async fn client_credentials_and_introspection() {
    let op =
        TestOidcProvider::start(config().access_token_ttl(Duration::from_secs(120)).opaque_access_tokens())
            .await;
    let http = reqwest::Client::new();
    let resp = http
        .post(op.token_endpoint())
        .basic_auth("app", Some("app-secret"))
        .form(&[("grant_type", "client_credentials"), ("scope", "mcp:read"), ("resource", RESOURCE)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let tokens: Value = resp.json().await.unwrap();
    assert_eq!(tokens["expires_in"], 120);
    let token = tokens["access_token"].as_str().unwrap();
    assert!(!token.contains('.'), "opaque, not a JWT");

    let intro: Value = http
        .post(op.introspection_endpoint())
        .basic_auth("app", Some("app-secret"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(intro["active"], true, "{intro}");
    assert_eq!(intro["aud"], RESOURCE);

    let stats = op.stats().await;
    assert_eq!(stats.token_requests("client_credentials"), 1);
    assert_eq!(stats.introspections, 1);
}

#[tokio::test]
async fn rotated_keys_sign_new_tokens_and_old_keys_can_be_dropped() {
    let op = TestOidcProvider::start(config()).await;
    let kids = |jwks: Value| -> Vec<String> {
        jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
    };
    let before = kids(op.jwks().await);
    assert_eq!(before.len(), 1);

    let kid = op.rotate_keys(true).await;
    let after = kids(op.jwks().await);
    assert_eq!(after, vec![kid.clone(), before[0].clone()]);
    let tokens = code_flow(&op, None).await;
    let header = jsonwebtoken::decode_header(tokens["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.kid.as_deref(), Some(kid.as_str()));

    let newest = op.rotate_keys(false).await;
    assert_eq!(kids(op.jwks().await), vec![newest]);
}

mod protected {
    use super::*;
    use gatehouse_tests::protected_upstream::{ProtectedOptions, ProtectedUpstream};

    async fn token_for(op: &TestOidcProvider, resource: &str, scope: &str) -> String {
        let resp = reqwest::Client::new()
            .post(op.token_endpoint())
            .basic_auth("app", Some("app-secret"))
            .form(&[("grant_type", "client_credentials"), ("scope", scope), ("resource", resource)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    fn rpc(method: &str, params: Value) -> Value {
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    }

    fn initialize() -> Value {
        rpc(
            "initialize",
            serde_json::json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"},
            }),
        )
    }

    async fn post(upstream: &ProtectedUpstream, token: Option<&str>, body: &Value) -> reqwest::Response {
        let mut req = reqwest::Client::new()
            .post(&upstream.url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.unwrap()
    }

    fn challenge(resp: &reqwest::Response) -> String {
        resp.headers()["www-authenticate"].to_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn serves_protected_resource_metadata_and_challenges_without_a_token() {
        let op = TestOidcProvider::start(config()).await;
        let upstream = ProtectedUpstream::start(&op, ProtectedOptions::default()).await;
        assert!(upstream.prm_url.ends_with("/.well-known/oauth-protected-resource/mcp"));
        let prm: Value = reqwest::get(&upstream.prm_url).await.unwrap().json().await.unwrap();
        assert_eq!(prm["resource"], upstream.url);
        assert_eq!(prm["authorization_servers"], serde_json::json!([op.issuer]));
        assert_eq!(prm["scopes_supported"], serde_json::json!(["mcp:read", "mcp:write"]));

        let resp = post(&upstream, None, &initialize()).await;
        assert_eq!(resp.status(), 401);
        assert_eq!(
            challenge(&resp),
            format!("Bearer resource_metadata=\"{}\", scope=\"mcp:read mcp:write\"", upstream.prm_url)
        );

        let wrong_audience = token_for(&op, "http://127.0.0.1:1/other", "mcp:read").await;
        let resp = post(&upstream, Some(&wrong_audience), &initialize()).await;
        assert_eq!(resp.status(), 401);
        assert!(challenge(&resp).contains("error=\"invalid_token\""));
        assert_eq!(upstream.log.unauthorized(), 2);
        assert!(upstream.log.accepted().is_empty());
    }

    #[tokio::test]
    async fn accepts_tokens_for_itself_and_enforces_tool_scopes() {
        let op = TestOidcProvider::start(config()).await;
        let options = ProtectedOptions::default().tool_scope("delete_everything", "mcp:write");
        let upstream = ProtectedUpstream::start(&op, options).await;
        let token = token_for(&op, &upstream.url, "mcp:read").await;

        let resp = post(&upstream, Some(&token), &initialize()).await;
        assert_eq!(resp.status(), 200);
        let call =
            |name: &str| rpc("tools/call", serde_json::json!({"name": name, "arguments": {"text": "hi"}}));
        let resp = post(&upstream, Some(&token), &call("echo")).await;
        assert_eq!(resp.status(), 200);
        assert!(resp.text().await.unwrap().contains("hi"));
        assert_eq!(upstream.calls.count("echo"), 1);

        let resp = post(&upstream, Some(&token), &call("delete_everything")).await;
        assert_eq!(resp.status(), 403);
        assert!(challenge(&resp).starts_with("Bearer error=\"insufficient_scope\", scope=\"mcp:write\""));
        assert_eq!(upstream.calls.count("delete_everything"), 0);
        assert_eq!(upstream.log.forbidden(), 1);

        let accepted = upstream.log.last_accepted().unwrap();
        assert_eq!((accepted.token.as_str(), accepted.sub.as_str()), (token.as_str(), "app"));
        assert_eq!(accepted.scope, "mcp:read");
        assert_eq!(upstream.log.accepted().len(), 2);
    }

    #[tokio::test]
    async fn refuses_expired_tokens_and_follows_key_rotation() {
        let op = TestOidcProvider::start(config().access_token_ttl(Duration::from_secs(1))).await;
        let upstream = ProtectedUpstream::start(&op, ProtectedOptions::default()).await;
        let token = token_for(&op, &upstream.url, "mcp:read").await;
        assert_eq!(post(&upstream, Some(&token), &initialize()).await.status(), 200);

        op.rotate_keys(false).await;
        let fresh = token_for(&op, &upstream.url, "mcp:read").await;
        assert_eq!(post(&upstream, Some(&fresh), &initialize()).await.status(), 200);

        gatehouse_tests::eventually(Duration::from_secs(4), "the 1 s token to expire", || async {
            let status = post(&upstream, Some(&fresh), &initialize()).await.status();
            (status == 401).then_some(())
        })
        .await;
    }

    #[tokio::test]
    async fn introspection_refuses_revoked_tokens() {
        let op = TestOidcProvider::start(config().opaque_access_tokens()).await;
        let upstream =
            ProtectedUpstream::start(&op, ProtectedOptions::default().introspect_as("app", "app-secret"))
                .await;
        let token = token_for(&op, &upstream.url, "mcp:read").await;
        assert_eq!(post(&upstream, Some(&token), &initialize()).await.status(), 200);
        let resp = reqwest::Client::new()
            .post(op.revocation_endpoint())
            .basic_auth("app", Some("app-secret"))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(post(&upstream, Some(&token), &initialize()).await.status(), 401);
        assert_eq!(op.stats().await.revocations, 1);
    }
}
