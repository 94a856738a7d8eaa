//! `POST /v1/connections`: the console's Connect button. An authorization link
//! for a user and an `oauth2` server, the same single-use link an edge hands out
//! in a `-32042` elicitation: who may ask for whose, which servers, and that the
//! link leads through the upstream's authorization to a stored connection.

use gatehouse_tests::control_plane::TestControlPlane;
use gatehouse_tests::db::TestDb;
use gatehouse_tests::oidc::{
    authorize_headless, browser_client, OidcClient, OidcConfig, OidcUser, TestOidcProvider,
};
use gatehouse_tests::protected_upstream::{ProtectedOptions, ProtectedUpstream};
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

const CLIENT_ID: &str = "gatehouse-sso";
const CLIENT_SECRET: &str = "sso-secret-5c1d0e";

#[tokio::test]
async fn connect_links_are_for_oauth2_servers_and_the_callers_own_user() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    // One OpenID provider is both the org's SSO and the upstream's authorization server.
    let op = TestOidcProvider::start(
        OidcConfig::new()
            .resource_scopes(&["mcp:read", "mcp:write"])
            .client(
                OidcClient::confidential(CLIENT_ID, CLIENT_SECRET)
                    .redirect_uri(&format!("{}/auth/sso/callback", cp.api_url)),
            )
            .user(OidcUser::new("bob").email("bob@example.com").name("Bob").groups(&["eng"])),
    )
    .await;
    let upstream = ProtectedUpstream::start(&op, ProtectedOptions::default()).await;
    let admin = cp.admin();
    admin.create_server_json(json!({"slug": "linear", "url": upstream.url, "auth_type": "oauth2"})).await;
    admin.create_server_json(json!({"slug": "github", "url": upstream.url, "auth_type": "oauth2"})).await;
    admin.create_server("plain", &upstream.url, &[]).await;
    admin.create_workspace("eng").await;
    admin.provision("eng", "linear", &[], &[]).await;
    admin
        .sso_create_provider(json!({
            "name": "Test IdP", "issuer": op.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "claim_mappings": {"groups_claim": "groups",
                "workspace_mappings": [{"claim": "groups", "value": "eng", "workspace": "eng"}]},
        }))
        .await;

    // Bad input is refused naming the field; nothing else happens.
    let connect = |body: Value| {
        let admin = admin.clone();
        async move { admin.request(Method::POST, "/v1/connections", Some(body)).await }
    };
    let (status, body) = connect(json!({"server": "linear"})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("user")), "{body}");
    let (status, body) = connect(json!({"server": "Not A Slug", "user": "ci-bot"})).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("server")),
        "{body}"
    );
    let (status, body) = connect(json!({"server": "linear", "user": ""})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("user")), "{body}");
    let (status, body) = connect(json!({"server": "nope", "user": "ci-bot"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = connect(json!({"server": "plain", "user": "ci-bot"})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::CONFLICT, Some("server")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("oauth2"), "{body}");

    // An admin connects a bot (a user SSO does not know): a bearer link, through the
    // upstream's authorization, to a connection stored for the bot.
    let (status, link) = connect(json!({"server": "linear", "user": "ci-bot"})).await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    assert_eq!((link["server"].as_str(), link["user"].as_str()), (Some("linear"), Some("ci-bot")));
    let url = link["authorization_url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/oauth/upstream/start/", cp.api_url)), "{url}");
    let expires = chrono::DateTime::parse_from_rfc3339(link["expires_at"].as_str().unwrap()).unwrap();
    let left = expires.timestamp() - chrono::Utc::now().timestamp();
    assert!((590..=610).contains(&left), "the link lasts 10 minutes: {left}");
    let browser = browser_client();
    let callback = authorize_headless(&browser, url).await;
    let response = browser.get(callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap_or_default());
    let (_, list) = admin.request(Method::GET, "/v1/connections?user=ci-bot", None).await;
    let connections = list["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 1, "{list}");
    assert_eq!(
        (connections[0]["server"].as_str(), connections[0]["status"].as_str()),
        (Some("linear"), Some("active"))
    );

    // A viewer key may not ask for links (connections are changed by members, admins and owners).
    let (_, key) =
        admin.request(Method::POST, "/v1/api-keys", Some(json!({"name": "ro", "role": "viewer"}))).await;
    let viewer = admin.with_token(key["key"].as_str());
    let (status, body) = viewer
        .request(Method::POST, "/v1/connections", Some(json!({"server": "linear", "user": "ci-bot"})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // A member (bob, in eng): a link for themselves by default, to a server of their
    // workspaces only, and never for someone else.
    let bob = cp.sso_browser();
    bob.sso_login("default", "bob").await;
    let (_, me) = bob.sso_me().await;
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let bob_id = me["user"]["id"].as_str().unwrap().to_owned();
    let post = |body: Value| bob.sso_request(Method::POST, "/v1/connections", Some(body), Some(&csrf));
    let (status, body) = post(json!({"server": "github"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "github is not provisioned to eng: {body}");
    let (status, body) = post(json!({"server": "linear", "user": "ci-bot"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, link) = post(json!({"server": "linear"})).await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    assert_eq!(link["user"], bob_id.as_str());
    // The link is bob's: another browser is sent to sign in, it is not a bearer link.
    let url = link["authorization_url"].as_str().unwrap();
    let stranger = browser_client().get(url).send().await.unwrap();
    assert_eq!(stranger.status(), StatusCode::FOUND);
    let to = stranger.headers()[header::LOCATION].to_str().unwrap().to_owned();
    assert!(to.contains("/auth/sso/"), "a browser without bob's session signs in first: {to}");
    assert!(!to.starts_with(&op.issuer), "{to}");
    cp.stop().await;
}

#[tokio::test]
async fn tokens_are_listed_by_status() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let admin = cp.admin();
    admin.create_workspace("eng").await;
    let active = admin.mint_token("a@example.com", "eng").await;
    let revoked = admin.mint_token("r@example.com", "eng").await;
    admin.revoke(&revoked.id).await;
    let expired =
        admin.mint_token_json(json!({"user": "e@example.com", "team": "eng", "expiresIn": "1s"})).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let ids = |status: &'static str| {
        let admin = admin.clone();
        async move {
            let (code, list) =
                admin.request(Method::GET, &format!("/v1/auth/tokens?status={status}"), None).await;
            assert_eq!(code, StatusCode::OK, "{list}");
            let tokens = list["tokens"].as_array().unwrap().clone();
            assert!(tokens.iter().all(|t| t["status"] == status), "{list}");
            tokens.iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    assert_eq!(ids("active").await, [active.id]);
    assert_eq!(ids("revoked").await, [revoked.id]);
    assert_eq!(ids("expired").await, [expired.id]);
    let (status, body) = admin.request(Method::GET, "/v1/auth/tokens?status=gone", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    cp.stop().await;
}
