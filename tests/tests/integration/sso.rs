//! SSO against a real OpenID provider (oidc-provider, headless login): provider
//! CRUD with a sealed secret, the full browser login with a cookie-keeping
//! client, just-in-time users, role and workspace mapping from claims, CSRF,
//! logout, session expiry, and refused callbacks (tampered, replayed, swapped,
//! wrong issuer) and open redirects.

use std::time::Duration;

use gatehouse_control_plane::store::PendingLogin;
use gatehouse_tests::control_plane::{SsoBrowser, TestControlPlane};
use gatehouse_tests::db::TestDb;
use gatehouse_tests::eventually;
use gatehouse_tests::oidc::{OidcClient, OidcConfig, OidcUser, TestOidcProvider};
use reqwest::{header, Method, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};

const CLIENT_ID: &str = "gatehouse-console";
const CLIENT_SECRET: &str = "console-secret-6d1f0a";

/// A control plane that accepts the loopback test OP as an issuer.
async fn control_plane(db: TestDb) -> TestControlPlane {
    TestControlPlane::start_with(db, |c| c.allow_loopback_upstreams = true).await
}

/// The OP with `alice` (an admin by group) and `bob` (a member), allowing every control plane's callback.
async fn provider(cps: &[&TestControlPlane]) -> TestOidcProvider {
    let mut client = OidcClient::confidential(CLIENT_ID, CLIENT_SECRET);
    for cp in cps {
        client = client.redirect_uri(&format!("{}/auth/sso/callback", cp.api_url));
    }
    TestOidcProvider::start(
        OidcConfig::new()
            .client(client)
            .user(
                OidcUser::new("alice")
                    .email("alice@example.com")
                    .name("Alice")
                    .groups(&["gatehouse-admins", "eng"]),
            )
            .user(OidcUser::new("bob").email("bob@example.com").name("Bob").groups(&["eng"])),
    )
    .await
}

fn mappings() -> Value {
    json!({
        "groups_claim": "groups",
        "role_mappings": [{"claim": "groups", "value": "gatehouse-admins", "role": "admin"}],
        "workspace_mappings": [{"claim": "groups", "value": "eng", "workspace": "platform"}],
    })
}

/// Registers the OP for the default org and creates the `platform` workspace.
async fn configure(cp: &TestControlPlane, op: &TestOidcProvider) -> Value {
    cp.admin().create_workspace("platform").await;
    cp.admin()
        .sso_create_provider(json!({
            "name": "Test IdP", "issuer": op.issuer, "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "claim_mappings": mappings(),
        }))
        .await
}

/// The session cookie's `name=value` from a callback response.
fn session_cookie(resp: &reqwest::Response) -> String {
    let set = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("gatehouse_session="))
        .expect("a session cookie");
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Lax"), "{set}");
    assert!(set.contains("Path=/;"), "{set}");
    // Plain-http public URL: no `__Host-` prefix and no `Secure` (browsers would drop it).
    assert!(!set.contains("Secure"), "{set}");
    set.split(';').next().unwrap().to_owned()
}

/// `GET /v1/me` with an explicit cookie (no cookie store), to test the server side alone.
async fn me_with_cookie(cp: &TestControlPlane, cookie: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{}/v1/me", cp.api_url))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap()
        .status()
}

/// `url` with query parameter `name` removed, then set to `value` when given.
fn with_param(url: &url::Url, name: &str, value: Option<&str>) -> url::Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .chain(value.map(|v| (name.to_owned(), v.to_owned())))
        .collect();
    let mut out = url.clone();
    out.query_pairs_mut().clear().extend_pairs(pairs);
    out
}

/// Hex SHA-256, as the store keys login states.
fn hex_sha256(text: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of query parameter `name`.
fn param(url: &url::Url, name: &str) -> String {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).unwrap_or_default()
}

#[tokio::test]
async fn sso_provider_crud_keeps_the_client_secret_sealed() {
    let cp = control_plane(TestDb::sqlite().await).await;
    let admin = cp.admin();
    let created = admin
        .sso_create_provider(json!({
            "name": "Okta", "kind": "okta", "issuer": "https://acme.okta.example.com",
            "client_id": "0oa123", "client_secret": CLIENT_SECRET,
        }))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["client_secret_set"], true);
    assert_eq!(created["kind"], "okta");
    assert_eq!(created["scopes"], json!(["openid", "email", "profile", "groups"]), "okta preset scopes");
    assert_eq!(created["claim_mappings"]["groups_claim"], "groups");
    assert_eq!(created["redirect_uri"], format!("{}/auth/sso/callback", cp.api_url));

    let (status, list) = admin.request(Method::GET, "/v1/sso/providers", None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, one) = admin.request(Method::GET, &format!("/v1/sso/providers/{id}"), None).await;
    for body in [&created, &list, &one] {
        assert!(!body.to_string().contains(CLIENT_SECRET), "secret returned: {body}");
    }
    assert_eq!(list["providers"][0]["id"], id);

    let (status, patched) = admin
        .request(
            Method::PATCH,
            &format!("/v1/sso/providers/{id}"),
            Some(json!({"name": "Okta prod", "enabled": false, "client_secret": "rotated-secret-123"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["name"], "Okta prod");
    assert_eq!(patched["enabled"], false);

    // At rest: only ciphertext, and it opens to the rotated secret.
    let db = Database::connect(cp.db().url()).await.unwrap();
    let rows = db
        .query_all(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT secret_ciphertext, claim_mappings, scopes FROM sso_providers",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let ciphertext: Vec<u8> = rows[0].try_get("", "secret_ciphertext").unwrap();
    for secret in [CLIENT_SECRET, "rotated-secret-123"] {
        assert!(!ciphertext.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
    let store = cp.store().await;
    let org = store.org_by_slug("default").await.unwrap().unwrap();
    let secret = store.sso_provider_secret(&org.id, &id).await.unwrap().unwrap();
    assert_eq!(secrecy::ExposeSecret::expose_secret(&secret), "rotated-secret-123");

    // Validation names the field.
    for (body, field) in [
        (json!({"name": "x", "issuer": "http://idp.example.com", "client_id": "c"}), "issuer"),
        (json!({"name": "x", "issuer": "https://idp.example.com", "client_id": ""}), "client_id"),
        (json!({"name": "", "issuer": "https://idp.example.com", "client_id": "c"}), "name"),
        (
            json!({"name": "x", "issuer": "https://idp.example.com", "client_id": "c",
                "claim_mappings": {"role_mappings": [{"claim": "g", "value": "v", "role": "superuser"}]}}),
            "claim_mappings.role_mappings[0].role",
        ),
        (
            json!({"name": "x", "issuer": "https://idp.example.com", "client_id": "c",
                "claim_mappings": {"workspace_mappings": [{"claim": "g", "value": "v", "workspace": "No Slug"}]}}),
            "claim_mappings.workspace_mappings[0].workspace",
        ),
    ] {
        let (status, err) = admin.request(Method::POST, "/v1/sso/providers", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        assert_eq!(err["error"]["field"], field, "{err}");
    }
    // Loopback http issuers need the dev flag; without it they are refused.
    let strict =
        TestControlPlane::start_with(TestDb::sqlite().await, |c| c.allow_loopback_upstreams = false).await;
    let (status, err) = strict
        .admin()
        .request(
            Method::POST,
            "/v1/sso/providers",
            Some(json!({"name": "x", "issuer": "http://127.0.0.1:9", "client_id": "c"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        err["error"]["message"].as_str().unwrap().contains("GATEHOUSE_ALLOW_LOOPBACK_UPSTREAMS"),
        "{err}"
    );

    let (status, _) = admin
        .request(
            Method::POST,
            "/v1/sso/providers",
            Some(json!({
        "name": "Okta prod", "issuer": "https://other.example.com", "client_id": "c"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "names are unique per org");
    let (status, _) = admin.request(Method::DELETE, &format!("/v1/sso/providers/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = admin.request(Method::GET, &format!("/v1/sso/providers/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) =
        SsoBrowser::new(&cp.api_url).sso_request(Method::GET, "/v1/sso/providers", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no token and no session");
}

#[tokio::test]
async fn sso_login_maps_claims_to_roles_workspaces_and_sessions_sqlite() {
    login_maps_claims_to_roles_workspaces_and_sessions(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn sso_login_maps_claims_to_roles_workspaces_and_sessions_postgres() {
    if let Some(db) = TestDb::postgres().await {
        login_maps_claims_to_roles_workspaces_and_sessions(db).await;
    }
}

async fn login_maps_claims_to_roles_workspaces_and_sessions(db: TestDb) {
    let logs = gatehouse_tests::logs::capture().expect("log capture installed first in this process");
    let cp = control_plane(db).await;
    let op = provider(&[&cp]).await;
    let provider_view = configure(&cp, &op).await;
    let platform_id = cp.admin().request(Method::GET, "/v1/workspaces/platform", None).await.1["id"].clone();

    // Alice: admin by group, member of `platform` by group.
    let alice = cp.sso_browser();
    let callback = alice.sso_authorize("default", Some("/console"), "alice").await;
    let resp = alice.sso_callback(&callback).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(resp.headers()[header::LOCATION], "/console", "back to return_to");
    let cookie = session_cookie(&resp);
    let (status, me) = alice.sso_me().await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["email"], "alice@example.com");
    assert_eq!(me["user"]["name"], "Alice");
    assert_eq!(me["org"]["slug"], "default");
    assert_eq!(me["roles"], json!(["admin"]));
    assert_eq!(me["workspaces"][0]["slug"], "platform");
    assert_eq!(me["workspaces"][0]["id"], platform_id);
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let alice_id = me["user"]["id"].clone();

    // CSRF: missing or wrong token → 403; the right one → allowed. Reads need none.
    let (status, _) = alice.sso_request(Method::GET, "/v1/workspaces", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let body = json!({"slug": "from-console"});
    let (status, err) = alice.sso_request(Method::POST, "/v1/workspaces", Some(body.clone()), None).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("csrf_failed")),
        "{err}"
    );
    let (status, _) =
        alice.sso_request(Method::POST, "/v1/workspaces", Some(body.clone()), Some("wrong")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let foreign = alice
        .http
        .post(format!("{}/v1/workspaces", cp.api_url))
        .header("x-csrf-token", &csrf)
        .header(header::ORIGIN, "https://evil.example.com")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN, "a foreign Origin is refused");
    let (status, created) = alice.sso_request(Method::POST, "/v1/workspaces", Some(body), Some(&csrf)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    // Bob: a member; admin routes answer 403 with a JSON error, /v1/me works.
    let bob = cp.sso_browser();
    bob.sso_login("default", "bob").await;
    let (status, me_bob) = bob.sso_me().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me_bob["roles"], json!(["member"]));
    assert_eq!(me_bob["workspaces"][0]["slug"], "platform");
    let bob_csrf = me_bob["csrf_token"].as_str().unwrap().to_owned();
    assert_ne!(bob_csrf, csrf, "csrf tokens are per session");
    let (status, err) =
        bob.sso_request(Method::POST, "/v1/workspaces", Some(json!({"slug": "bobs"})), Some(&bob_csrf)).await;
    assert_eq!((status, err["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{err}");
    let (status, _) = bob.sso_request(Method::GET, "/v1/sso/providers", None, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Alice's csrf token does not work with Bob's session either way.
    let (status, _) =
        alice.sso_request(Method::POST, "/v1/workspaces", Some(json!({"slug": "x1"})), Some(&bob_csrf)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The admin token keeps working, alongside sessions.
    let (status, _) = cp.admin().request(Method::GET, "/v1/workspaces", None).await;
    assert_eq!(status, StatusCode::OK);

    // Second login after the mapping changes: same user, updated role and memberships.
    let store = cp.store().await;
    let before = store.get_user(alice_id.as_str().unwrap()).await.unwrap().unwrap();
    let id = provider_view["id"].as_str().unwrap();
    let (status, _) = cp
        .admin()
        .request(
            Method::PATCH,
            &format!("/v1/sso/providers/{id}"),
            Some(json!({"claim_mappings": {"workspace_mappings": [
                {"claim": "groups", "value": "gatehouse-admins", "workspace": "from-console"}]}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let again = cp.sso_browser();
    again.sso_login("default", "alice").await;
    let (_, me2) = again.sso_me().await;
    assert_eq!(me2["user"]["id"], alice_id, "the same user, not a new one");
    assert_eq!(me2["roles"], json!(["member"]), "role mappings removed → member");
    assert_eq!(me2["workspaces"].as_array().unwrap().len(), 1);
    assert_eq!(me2["workspaces"][0]["slug"], "from-console");
    let after = store.get_user(alice_id.as_str().unwrap()).await.unwrap().unwrap();
    assert_eq!(after.created_at, before.created_at);
    assert!(after.last_login_at > before.last_login_at);
    assert_eq!(after.issuer, op.issuer);
    assert_eq!(after.subject, "alice");
    // The earlier session sees the change too (roles are read per request).
    let (_, me_old) = alice.sso_me().await;
    assert_eq!(me_old["roles"], json!(["member"]));

    // No secret of the flow reaches the logs (captured at TRACE level).
    // The test browser's own cookie jar (`cookie_store`) logs what it stores; that is not Gatehouse.
    let text = logs.text().lines().filter(|l| !l.contains(" cookie_store::")).collect::<Vec<_>>().join("\n");
    assert!(text.contains("sso login succeeded"), "log capture is working");
    let session_value = cookie.split_once('=').unwrap().1;
    let secrets =
        [CLIENT_SECRET, session_value, &csrf, &param(&callback, "code"), &param(&callback, "state")];
    for (i, secret) in secrets.iter().enumerate() {
        assert!(
            !text.contains(secret),
            "secret #{i} (client secret, cookie, csrf, code, state) reached the logs"
        );
    }
}

#[tokio::test]
async fn sso_logout_and_expiry_end_sessions_server_side() {
    let cp = control_plane(TestDb::sqlite().await).await;
    let short = TestControlPlane::start_with(TestDb::sqlite().await, |c| {
        c.allow_loopback_upstreams = true;
        c.session_ttl = Duration::from_secs(1);
    })
    .await;
    let idle = TestControlPlane::start_with(TestDb::sqlite().await, |c| {
        c.allow_loopback_upstreams = true;
        c.session_idle_timeout = Duration::from_secs(1);
    })
    .await;
    let op = provider(&[&cp, &short, &idle]).await;
    for c in [&cp, &short, &idle] {
        configure(c, &op).await;
    }

    // Logout needs the CSRF token, then the old cookie is dead on the server.
    let browser = cp.sso_browser();
    let cookie = session_cookie(&browser.sso_login("default", "alice").await);
    let (_, me) = browser.sso_me().await;
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let (status, _) = browser.sso_request(Method::POST, "/auth/logout", None, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "logout without csrf");
    assert_eq!(me_with_cookie(&cp, &cookie).await, StatusCode::OK);
    let (status, _) = browser.sso_request(Method::POST, "/auth/logout", None, Some(&csrf)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(browser.sso_me().await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(me_with_cookie(&cp, &cookie).await, StatusCode::UNAUTHORIZED, "replayed cookie after logout");

    // Absolute and idle expiry, checked with the raw cookie (not the client's jar).
    let short_cookie = session_cookie(&short.sso_browser().sso_login("default", "alice").await);
    let idle_cookie = session_cookie(&idle.sso_browser().sso_login("default", "bob").await);
    assert_eq!(me_with_cookie(&short, &short_cookie).await, StatusCode::OK);
    eventually(Duration::from_secs(4), "sessions to expire", || async {
        let a = me_with_cookie(&short, &short_cookie).await;
        let b = me_with_cookie(&idle, &idle_cookie).await;
        (a == StatusCode::UNAUTHORIZED && b == StatusCode::UNAUTHORIZED).then_some(())
    })
    .await;
}

#[tokio::test]
async fn sso_callback_refuses_tampered_replayed_swapped_and_foreign_responses() {
    let cp = control_plane(TestDb::sqlite().await).await;
    let op = provider(&[&cp]).await;
    configure(&cp, &op).await;
    let code_of = |body: &Value| body["error"]["code"].as_str().map(str::to_owned);

    // Tampered state.
    let browser = cp.sso_browser();
    let callback = browser.sso_authorize("default", None, "alice").await;
    let tampered = with_param(&callback, "state", Some(&format!("{}x", param(&callback, "state"))));
    let resp = browser.sso_callback(&tampered).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code_of(&resp.json().await.unwrap()).as_deref(), Some("invalid_state"));

    // The state belongs to the browser that started the login.
    let other = cp.sso_browser();
    let resp = other.sso_callback(&callback).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "another browser cannot finish my login");

    // The real callback works once; a replay is refused.
    assert_eq!(browser.sso_callback(&callback).await.status(), StatusCode::FOUND);
    let resp = browser.sso_callback(&callback).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "replayed callback");

    // A code from one login with the state of a later one (PKCE verifier and nonce differ).
    let swapped = cp.sso_browser();
    let first = swapped.sso_authorize("default", None, "bob").await;
    let second = swapped.sso_authorize("default", None, "bob").await;
    let mixed = with_param(&second, "code", Some(&param(&first, "code")));
    let resp = swapped.sso_callback(&mixed).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(code_of(&resp.json().await.unwrap()).as_deref(), Some("invalid_id_token"));
    assert_eq!(swapped.sso_me().await.0, StatusCode::UNAUTHORIZED);

    // No open redirects through return_to.
    for target in
        ["https://evil.example.com/", "//evil.example.com/x", "/\\evil.example.com", "javascript:alert(1)"]
    {
        let resp = cp.sso_browser().sso_start_login("default", Some(target)).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{target}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["field"], "return_to", "{body}");
    }
    let own = format!("{}/v1/me?x=1", cp.api_url);
    let b = cp.sso_browser();
    let cb = b.sso_authorize("default", Some(&own), "alice").await;
    let resp = b.sso_callback(&cb).await;
    assert_eq!(resp.headers()[header::LOCATION], "/v1/me?x=1", "own-origin URLs become paths");

    // Unknown org, or an org without SSO.
    let resp = cp.sso_browser().sso_start_login("nope", None).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sso_callback_refuses_a_wrong_nonce_or_issuer() {
    let cp = control_plane(TestDb::sqlite().await).await;
    let op = provider(&[&cp]).await;
    configure(&cp, &op).await;
    let code_of = |body: &Value| body["error"]["code"].as_str().map(str::to_owned);

    // The provider signs the nonce it was sent; swap the nonce the control plane
    // expects (re-sealed in its store) and the otherwise valid ID token is refused.
    let store = cp.store().await;
    let b = cp.sso_browser();
    let cb = b.sso_authorize("default", None, "alice").await;
    let state_hash = hex_sha256(&param(&cb, "state"));
    let pending = store.take_login_state(&state_hash).await.unwrap().expect("pending login");
    let mut secrets: Value =
        serde_json::from_str(secrecy::ExposeSecret::expose_secret(&pending.secret)).unwrap();
    secrets["nonce"] = json!("not-the-nonce-sent");
    let pending = PendingLogin { secret: secrecy::SecretString::from(secrets.to_string()), ..pending };
    store.create_login_state(&state_hash, pending).await.unwrap();
    let resp = b.sso_callback(&cb).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(code_of(&resp.json().await.unwrap()).as_deref(), Some("invalid_id_token"));
    assert_eq!(b.sso_me().await.0, StatusCode::UNAUTHORIZED);

    // Keys rotated since discovery was cached: the control plane refetches them once and accepts the token.
    cp.sso_browser().sso_login("default", "bob").await;
    op.rotate_keys(false).await;
    let rotated = cp.sso_browser();
    rotated.sso_login("default", "bob").await;
    assert_eq!(rotated.sso_me().await.0, StatusCode::OK);

    // RFC 9207: a different `iss`, or none from a provider that promises one, is refused.
    for iss in [Some("https://evil.example.com"), None] {
        let b = cp.sso_browser();
        let cb = b.sso_authorize("default", None, "alice").await;
        let bad = with_param(&cb, "iss", iss);
        let resp = b.sso_callback(&bad).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "iss {iss:?}");
        assert_eq!(code_of(&resp.json().await.unwrap()).as_deref(), Some("issuer_mismatch"));
        assert_eq!(b.sso_me().await.0, StatusCode::UNAUTHORIZED);
    }
}

/// Grants are created through the store here: how a grant comes to be is the
/// upstream OAuth tests' business; this tests who may see and disconnect it.
async fn seed_grant(cp: &TestControlPlane, org_id: &str, user: &str, server_id: &str) -> String {
    use gatehouse_control_plane::store::grants::{GrantTokens, NewTokens};
    let tokens = GrantTokens {
        access_token: secrecy::SecretString::from(format!("access-{user}")),
        refresh_token: None,
    };
    let new = NewTokens { tokens, access_expires_at: 0, scopes: vec!["read".into()] };
    cp.store().await.store_grant(org_id, user, server_id, new, None).await.unwrap().id
}

#[tokio::test]
async fn sso_members_see_and_disconnect_only_their_own_connections() {
    let cp = control_plane(TestDb::sqlite().await).await;
    let op = provider(&[&cp]).await;
    configure(&cp, &op).await;
    let admin = cp.admin();
    let server = admin
        .create_server_json(
            json!({"slug": "linear", "url": "https://mcp.linear.example/mcp", "auth_type": "oauth2"}),
        )
        .await;
    let server_id = server["id"].as_str().unwrap();

    let bob = cp.sso_browser();
    bob.sso_login("default", "bob").await;
    let (_, me) = bob.sso_me().await;
    let (bob_id, csrf) = (me["user"]["id"].as_str().unwrap(), me["csrf_token"].as_str().unwrap());
    let org_id = cp.store().await.org_by_slug("default").await.unwrap().unwrap().id;
    // Bob's grants: one from an OAuth (SSO) login, one from a gateway token naming him by email.
    let by_id = seed_grant(&cp, &org_id, bob_id, server_id).await;
    let other_server = admin
        .create_server_json(
            json!({"slug": "github", "url": "https://mcp.github.example/mcp", "auth_type": "oauth2"}),
        )
        .await;
    let by_email = seed_grant(&cp, &org_id, "Bob@Example.com", other_server["id"].as_str().unwrap()).await;
    let alices = seed_grant(&cp, &org_id, "alice@example.com", server_id).await;

    let (status, list) = bob.sso_request(Method::GET, "/v1/connections", None, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut ids: Vec<&str> =
        list["connections"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    ids.sort();
    let mut expected = vec![by_id.as_str(), by_email.as_str()];
    expected.sort();
    assert_eq!(ids, expected, "only bob's own connections: {list}");
    assert!(!list.to_string().contains("access-"), "tokens never appear: {list}");

    let (status, err) =
        bob.sso_request(Method::GET, "/v1/connections?user=alice@example.com", None, None).await;
    assert_eq!((status, err["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{err}");

    // Someone else's connection is "not found"; CSRF applies; his own goes.
    let (status, _) =
        bob.sso_request(Method::DELETE, &format!("/v1/connections/{alices}"), None, Some(csrf)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = bob.sso_request(Method::DELETE, &format!("/v1/connections/{by_id}"), None, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a session needs the CSRF token to disconnect");
    let (status, _) =
        bob.sso_request(Method::DELETE, &format!("/v1/connections/{by_id}"), None, Some(csrf)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // The admin still sees everyone's (alice's and bob's by email), and the org's users stay hidden from members.
    let (_, all) = admin.request(Method::GET, "/v1/connections", None).await;
    assert_eq!(all["connections"].as_array().unwrap().len(), 2, "{all}");
    let (status, _) = bob.sso_request(Method::GET, "/v1/users", None, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) =
        reqwest::get(format!("{}/v1/connections", cp.api_url)).await.map(|r| (r.status(), ())).unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sso_an_unverified_email_owns_nothing_unless_the_provider_is_trusted() {
    let cp = control_plane(TestDb::sqlite().await).await;
    let mut client = OidcClient::confidential(CLIENT_ID, CLIENT_SECRET);
    client = client.redirect_uri(&format!("{}/auth/sso/callback", cp.api_url));
    // Mallory's provider account claims alice's address without having verified it.
    let op = TestOidcProvider::start(
        OidcConfig::new().client(client).user(
            OidcUser::new("mallory")
                .email("alice@example.com")
                .name("Mallory")
                .groups(&["eng"])
                .claim("email_verified", json!(false)),
        ),
    )
    .await;
    let provider = configure(&cp, &op).await;
    let admin = cp.admin();
    let server = admin
        .create_server_json(
            json!({"slug": "linear", "url": "https://mcp.linear.example/mcp", "auth_type": "oauth2"}),
        )
        .await;
    let org_id = cp.store().await.org_by_slug("default").await.unwrap().unwrap().id;
    let alices = seed_grant(&cp, &org_id, "alice@example.com", server["id"].as_str().unwrap()).await;

    let mallory = cp.sso_browser();
    mallory.sso_login("default", "mallory").await;
    let (_, me) = mallory.sso_me().await;
    assert_eq!(me["user"]["email"], "", "an unverified address is not recorded: {me}");
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let (status, list) = mallory.sso_request(Method::GET, "/v1/connections", None, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["connections"], json!([]), "alice's connection is not mallory's: {list}");
    let (status, _) =
        mallory.sso_request(Method::DELETE, &format!("/v1/connections/{alices}"), None, Some(&csrf)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mint = json!({"user": "alice@example.com", "team": "platform"});
    let (status, body) =
        mallory.sso_request(Method::POST, "/v1/auth/tokens", Some(mint.clone()), Some(&csrf)).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("user")), "{body}");

    // A provider the admin trusts with unverified addresses: the address counts again.
    let id = provider["id"].as_str().unwrap();
    let mut trusting = mappings();
    trusting["trust_unverified_email"] = json!(true);
    let (status, body) = admin
        .request(Method::PATCH, &format!("/v1/sso/providers/{id}"), Some(json!({"claim_mappings": trusting})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["claim_mappings"]["trust_unverified_email"], json!(true), "{body}");
    let mallory = cp.sso_browser();
    mallory.sso_login("default", "mallory").await;
    let (status, list) = mallory.sso_request(Method::GET, "/v1/connections", None, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["connections"].as_array().unwrap().len(), 1, "{list}");
}
