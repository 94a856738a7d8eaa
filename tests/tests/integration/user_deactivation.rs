//! Deactivating a user (`POST /v1/users/{id}/deactivate`) revokes, in one change,
//! everything they hold: their refresh tokens and unredeemed codes at Gatehouse's
//! authorization server, their access tokens and gateway tokens at the edge,
//! their console session, and their next SSO login. On SQLite and PostgreSQL.

use gatehouse_control_plane::store::grants::{GrantTokens, NewTokens};
use gatehouse_tests::control_plane::SsoBrowser;
use gatehouse_tests::db::TestDb;
use gatehouse_tests::oauth_browser::{location, query_of, register_public_client, start_org_sso};
use gatehouse_tests::oidc::{pkce_pair, OidcUser, TestOidcProvider};
use gatehouse_tests::upstream::McpUpstream;
use gatehouse_tests::TestStack;
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};

const REDIRECT: &str = "http://127.0.0.1:47123/callback";

/// A stack whose edge is the AS's resource base, SSO with alice (member) and bob
/// (admin), both in `platform` where the `tools` server is provisioned.
struct Env {
    stack: TestStack,
    _op: TestOidcProvider,
    _upstream: McpUpstream,
    http: reqwest::Client,
    client_id: String,
}

async fn env(db: TestDb) -> Env {
    let stack = TestStack::start_with_public_edge_on(db).await;
    let op = start_org_sso(
        &stack.cp,
        vec![
            OidcUser::new("alice").email("alice@example.com").name("Alice").groups(&["eng"]),
            OidcUser::new("bob").email("bob@example.com").name("Bob").groups(&["eng", "gatehouse-admins"]),
        ],
    )
    .await;
    let upstream = stack.cp.admin().platform_with_tools().await;
    let client_id = register_public_client(&stack.cp.api_url, "Agent", REDIRECT).await;
    let http = reqwest::Client::new();
    Env { stack, _op: op, _upstream: upstream, http, client_id }
}

impl Env {
    /// An authorization code for `tools` as `login` in `browser` (consenting when asked);
    /// returns `(code, verifier)`.
    async fn code(&self, browser: &SsoBrowser, login: &str) -> (String, String) {
        let (verifier, challenge) = pkce_pair();
        let mut url = url::Url::parse(&format!("{}/oauth/authorize", self.stack.cp.api_url)).unwrap();
        url.query_pairs_mut().extend_pairs([
            ("response_type", "code"),
            ("client_id", &self.client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("resource", &self.stack.edge.mcp_url("tools")),
        ]);
        let mut resp = browser.oauth_authorize(login, url.as_str()).await;
        if resp.status() == StatusCode::OK {
            let page = browser.oauth_consent(resp).await;
            resp = browser.oauth_decide(&page, "approve", None).await;
        }
        let q = query_of(&location(&resp));
        (q.get("code").unwrap_or_else(|| panic!("a code: {q:?}")).clone(), verifier)
    }

    async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let resp =
            self.http.post(format!("{}/oauth/token", self.stack.cp.api_url)).form(form).send().await.unwrap();
        (resp.status(), resp.json().await.unwrap())
    }

    async fn exchange(&self, code: &str, verifier: &str) -> (StatusCode, Value) {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &self.client_id),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", REDIRECT),
        ])
        .await
    }

    async fn refresh(&self, refresh_token: &str) -> (StatusCode, Value) {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &self.client_id),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// The id of the user with `email`, from `GET /v1/users`.
    async fn user(&self, email: &str) -> Value {
        let (status, list) = self.stack.cp.admin().request(Method::GET, "/v1/users", None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        list["users"].as_array().unwrap().iter().find(|u| u["email"] == email).cloned().expect("listed")
    }
}

async fn deactivation_revokes_everything_the_user_holds(db: TestDb) {
    let backend = db.backend();
    let env = env(db).await;
    let admin = env.stack.cp.admin();

    // Alice signs in for an MCP client: tokens, a second code she has not redeemed yet, and a
    // gateway token an admin minted for her e-mail (in another case).
    let alice = env.stack.cp.sso_browser();
    let (code, verifier) = env.code(&alice, "alice").await;
    let (status, tokens) = env.exchange(&code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{backend}: {tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let (status, rotated) = env.refresh(tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{backend}: {rotated}");
    let refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
    let (pending_code, pending_verifier) = env.code(&alice, "alice").await;
    let alices = admin.mint_token("ALICE@example.com", "platform").await;
    let bobs = admin.mint_token("bob@example.com", "platform").await;
    // An upstream grant of hers, and one of bob's.
    let store = env.stack.cp.store().await;
    let org_id = store.org_by_slug("default").await.unwrap().expect("default org").id;
    let seed = |user: &'static str| {
        let store = store.clone();
        let org_id = org_id.clone();
        async move {
            let tokens =
                GrantTokens { access_token: SecretString::from("upstream-access"), refresh_token: None };
            let new = NewTokens { tokens, access_expires_at: 0, scopes: vec![] };
            store.store_grant(&org_id, user, "server-1", new, None).await.unwrap().id
        }
    };
    let (alices_grant, bobs_grant) = (seed("alice@example.com").await, seed("bob@example.com").await);
    // Client-certificate identities naming her (by e-mail, in another case) and bob.
    let alices_cert = admin
        .register_certificate_identity("san_dns", "alice.agents.example.com", "Alice@Example.com", "platform")
        .await;
    let bobs_cert = admin
        .register_certificate_identity("san_dns", "bob.agents.example.com", "bob@example.com", "platform")
        .await;
    let edge_identities = |stack: &gatehouse_tests::TestStack| -> Vec<String> {
        let snapshot = stack.edge.state.config().to_snapshot();
        snapshot.state.unwrap().certificate_identities.into_iter().map(|c| c.id).collect()
    };
    env.stack.sync().await;
    assert_eq!(edge_identities(&env.stack).len(), 2, "{backend}");
    for token in [&access, &alices.token, &bobs.token] {
        assert_eq!(env.stack.edge.list_tools("tools", token).await.status(), StatusCode::OK, "{backend}");
    }
    assert_eq!(alice.sso_me().await.0, StatusCode::OK);

    let user = env.user("alice@example.com").await;
    assert_eq!(user["status"], "active");
    let id = user["id"].as_str().unwrap();
    let (status, done) = admin.request(Method::POST, &format!("/v1/users/{id}/deactivate"), None).await;
    assert_eq!(status, StatusCode::OK, "{backend}: {done}");
    assert_eq!(done["user"]["status"], "deactivated");
    assert_eq!(done["revoked"]["gateway_tokens"], 1, "{backend}: only alice's: {done}");
    assert_eq!(done["revoked"]["refresh_tokens"], 2, "{backend}: the rotated and the current one: {done}");
    assert_eq!(done["revoked"]["sessions"], 1, "{backend}: {done}");
    assert!(done["revoked"]["consents"].as_u64().unwrap() >= 1, "{backend}: {done}");
    assert_eq!(done["revoked"]["upstream_grants"], 1, "{backend}: {done}");
    assert_eq!(done["revoked"]["certificate_identities"], 1, "{backend}: {done}");
    env.stack.sync().await;
    // Her certificate identity no longer reaches the edges and is listed as disabled; bob's stays.
    assert_eq!(edge_identities(&env.stack), vec![bobs_cert.clone()], "{backend}");
    let (_, listed) =
        admin.request(Method::GET, &format!("/v1/auth/certificate-identities/{alices_cert}"), None).await;
    assert!(listed["disabled_at"].is_string(), "{backend}: {listed}");
    let body = json!({"kind": "san_dns", "value": "alice2.agents.example.com", "user": "alice@example.com", "team": "platform",
        "issuer_ca_sha256": gatehouse_tests::control_plane::NO_TEST_CA_SHA256});
    let (status, refused) = admin.request(Method::POST, "/v1/auth/certificate-identities", Some(body)).await;
    assert_eq!(
        (status, refused["error"]["field"].as_str()),
        (StatusCode::CONFLICT, Some("user")),
        "{backend}: {refused}"
    );
    // Her upstream grant is gone and tombstoned at the edge, like a disconnect; bob's is untouched.
    assert!(env.stack.edge.state.config().is_grant_revoked(&alices_grant), "{backend}");
    assert!(!env.stack.edge.state.config().is_grant_revoked(&bobs_grant), "{backend}");
    let remaining = store.list_grants(&org_id, None).await.unwrap();
    assert_eq!(remaining.iter().map(|g| g.id.clone()).collect::<Vec<_>>(), vec![bobs_grant.clone()]);

    // The authorization server: no refresh, no redemption of the code issued before.
    let (status, body) = env.refresh(&refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{backend}"
    );
    let (status, body) = env.exchange(&pending_code, &pending_verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{backend}"
    );
    // The edge: her gateway token and her unexpired access token are refused; bob's token works.
    for token in [&alices.token, &access] {
        let resp = env.stack.edge.list_tools("tools", token).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{backend}");
    }
    assert_eq!(env.stack.edge.list_tools("tools", &bobs.token).await.status(), StatusCode::OK, "{backend}");
    let listed = admin.tokens().await;
    let status_of = |id: &str| {
        listed["tokens"].as_array().unwrap().iter().find(|t| t["id"] == id).unwrap()["status"].clone()
    };
    assert_eq!((status_of(&alices.id), status_of(&bobs.id)), (json!("revoked"), json!("active")));
    // The console session is gone and SSO refuses her.
    assert_eq!(alice.sso_me().await.0, StatusCode::UNAUTHORIZED, "{backend}");
    let fresh = env.stack.cp.sso_browser();
    let callback = fresh.sso_authorize("default", None, "alice").await;
    let resp = fresh.sso_callback(&callback).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{backend}");
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], "user_deactivated");
    assert_eq!(env.user("alice@example.com").await["status"], "deactivated");

    // No new gateway token for her while she is deactivated (by e-mail in any case, or by id).
    for user in ["Alice@Example.com", id] {
        let mint = json!({"user": user, "team": "platform"});
        let (status, body) = admin.request(Method::POST, "/v1/auth/tokens", Some(mint)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{backend}: {body}");
        assert_eq!(body["error"]["field"], "user", "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("deactivated"), "{body}");
    }

    // Reactivation lets her sign in again; nothing revoked comes back.
    let (status, back) = admin.request(Method::POST, &format!("/v1/users/{id}/reactivate"), None).await;
    assert_eq!((status, back["status"].as_str()), (StatusCode::OK, Some("active")), "{backend}: {back}");
    let again = env.stack.cp.sso_browser();
    again.sso_login("default", "alice").await;
    assert_eq!(env.refresh(&refresh).await.0, StatusCode::BAD_REQUEST, "{backend}");
    env.stack.sync().await;
    assert_eq!(env.stack.edge.list_tools("tools", &alices.token).await.status(), StatusCode::UNAUTHORIZED);
    let minted = admin.mint_token("alice@example.com", "platform").await;
    env.stack.sync().await;
    assert_eq!(env.stack.edge.list_tools("tools", &minted.token).await.status(), StatusCode::OK, "{backend}");
    assert_eq!(
        edge_identities(&env.stack),
        vec![bobs_cert],
        "{backend}: her disabled identity stays disabled"
    );
}

#[tokio::test]
async fn deactivating_a_user_revokes_everything_they_hold() {
    deactivation_revokes_everything_the_user_holds(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn deactivating_a_user_revokes_everything_they_hold_on_postgres() {
    // PostgreSQL when configured (GATEHOUSE_TEST_DATABASE_URL), SQLite otherwise.
    let db = match TestDb::postgres().await {
        Some(db) => db,
        None => TestDb::sqlite().await,
    };
    deactivation_revokes_everything_the_user_holds(db).await;
}

#[tokio::test]
async fn deactivation_input_errors_and_self_deactivation() {
    let env = env(TestDb::sqlite().await).await;
    let admin = env.stack.cp.admin();
    let (status, body) = admin.request(Method::POST, "/v1/users/nope/deactivate", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    let (status, _) = admin.request(Method::GET, "/v1/users/nope/deactivate", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _) = admin.with_token(None).request(Method::GET, "/v1/users", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // An admin signed in through SSO cannot lock themselves out, but can deactivate others.
    let bob = env.stack.cp.sso_browser();
    bob.sso_login("default", "bob").await;
    let alice = env.stack.cp.sso_browser();
    alice.sso_login("default", "alice").await;
    let (_, me) = bob.sso_me().await;
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let bob_id = env.user("bob@example.com").await["id"].as_str().unwrap().to_owned();
    let alice_id = env.user("alice@example.com").await["id"].as_str().unwrap().to_owned();
    let (status, body) =
        bob.sso_request(Method::POST, &format!("/v1/users/{bob_id}/deactivate"), None, Some(&csrf)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{body}");
    assert_eq!(env.user("bob@example.com").await["status"], "active");
    let (status, body) =
        bob.sso_request(Method::POST, &format!("/v1/users/{alice_id}/deactivate"), None, Some(&csrf)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Deactivating again is harmless and revokes what was issued since (nothing here).
    let (status, body) = admin.request(Method::POST, &format!("/v1/users/{alice_id}/deactivate"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["revoked"],
        json!({"gateway_tokens": 0, "refresh_tokens": 0, "consents": 0, "sessions": 0, "upstream_grants": 0,
            "certificate_identities": 0})
    );
}
