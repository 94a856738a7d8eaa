//! Multi-tenancy of the admin API, checked from outside: the platform admin
//! creates two orgs with the same workspace and server slugs, each with an API
//! key per role and SSO users signed in through a real OpenID provider; then
//! every admin route (read from the OpenAPI document, so a new route cannot
//! escape) is called with every credential of one org against the other's
//! objects. Org A's credentials never read, list, change or use org B's
//! objects, and every role gets exactly what the roles table says.

use std::collections::BTreeMap;

use gatehouse_control_plane::store::grants::{GrantTokens, NewTokens};
use secrecy::SecretString;

use gatehouse_tests::control_plane::{AdminClient, SsoBrowser, TestControlPlane};
use gatehouse_tests::db::TestDb;
use gatehouse_tests::oidc::{OidcClient, OidcConfig, OidcUser, TestOidcProvider};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const CLIENT_ID: &str = "gatehouse-console";
const CLIENT_SECRET: &str = "console-secret-6d1f0a";
const ROLES: [&str; 5] = ["owner", "admin", "auditor", "viewer", "member"];

/// What each access level admits (the roles table of docs/multi-tenancy.md).
fn allows(role: &str, access: &str) -> bool {
    match access {
        "platform" => false,
        "owner" => role == "owner",
        "admin" => matches!(role, "owner" | "admin"),
        "audit" => matches!(role, "owner" | "admin" | "auditor"),
        "read" => role != "member",
        "own_read" => true,
        "own_write" => matches!(role, "owner" | "admin" | "member"),
        other => panic!("unknown access level {other}"),
    }
}

/// A caller of the admin API: a bearer credential or a signed-in browser.
enum Caller {
    Bearer(AdminClient),
    Session { browser: SsoBrowser, csrf: String },
}

impl Caller {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        match self {
            Caller::Bearer(client) => client.request(method, path, body).await,
            Caller::Session { browser, csrf } => browser.sso_request(method, path, body, Some(csrf)).await,
        }
    }
}

/// One org as the test sets it up.
struct Tenant {
    slug: String,
    id: String,
    /// API key text by role.
    keys: BTreeMap<&'static str, String>,
    /// Ids of the org's objects, by the path parameter that names them.
    ids: BTreeMap<&'static str, String>,
    /// Every id of the org's objects, which no other org's caller may ever see.
    secrets_of_identity: Vec<String>,
}

async fn setup_org(cp: &TestControlPlane, op: &TestOidcProvider, slug: &str) -> Tenant {
    let platform = cp.admin();
    let (status, org) =
        platform.request(Method::POST, "/v1/orgs", Some(json!({"slug": slug, "name": slug}))).await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    let prefix = format!("/v1/orgs/{slug}");
    let (status, owner) = platform
        .request(
            Method::POST,
            &format!("{prefix}/api-keys"),
            Some(json!({"name": "bootstrap", "role": "owner"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{owner}");
    let owner_key = owner["key"].as_str().unwrap().to_owned();
    assert!(owner_key.starts_with("gak_"), "{owner}");
    assert_eq!(owner["org"], slug);

    // Everything else is set up by the org's own owner key, on plain routes.
    let own = AdminClient::new(&cp.api_url, Some(&owner_key));
    let mut keys = BTreeMap::from([("owner", owner_key.clone())]);
    let mut key_ids = vec![owner["id"].as_str().unwrap().to_owned()];
    for role in &ROLES[1..] {
        let (status, key) =
            own.request(Method::POST, "/v1/api-keys", Some(json!({"name": role, "role": role}))).await;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        assert_eq!(key["role"], *role);
        keys.insert(role, key["key"].as_str().unwrap().to_owned());
        key_ids.push(key["id"].as_str().unwrap().to_owned());
    }
    let ws = own.create_workspace("eng").await;
    let upstream = format!("https://{slug}.upstream.example.com/mcp");
    let server = own
        .create_server_json(json!({"slug": "github", "url": upstream, "headers": {"Authorization": format!("Bearer {slug}-upstream-secret")}}))
        .await;
    own.provision("eng", "github", &["*"], &[]).await;
    let token = own.mint_token("bob@example.com", "eng").await;
    let cert =
        own.register_certificate_identity("san_dns", &format!("agent.{slug}.example.com"), "ci", "eng").await;
    let (status, client) =
        own.request(Method::POST, "/v1/oauth/clients", Some(json!({"name": "ci", "workspace": "eng"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{client}");
    let (status, provider) = own
        .request(
            Method::POST,
            "/v1/sso/providers",
            Some(json!({
                "name": "IdP", "issuer": op.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                "claim_mappings": {
                    "groups_claim": "groups",
                    "role_mappings": [{"claim": "groups", "value": "gatehouse-admins", "role": "admin"}],
                    "workspace_mappings": [{"claim": "groups", "value": "eng", "workspace": "eng"}],
                },
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{provider}");
    let (status, rate_limit) = own
        .request(
            Method::POST,
            "/v1/rate-limits",
            Some(json!({"name": "eng budget", "match": {"workspace": "eng", "server": "github"},
                "budget": {"calls": 100, "per": "day"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rate_limit}");

    // An upstream connection of bob's, as the OAuth callback would store it.
    let store = cp.store().await;
    let tokens = GrantTokens {
        access_token: SecretString::from(format!("{slug}-upstream-access")),
        refresh_token: None,
    };
    let grant = store
        .store_grant(
            org["id"].as_str().unwrap(),
            "bob@example.com",
            server["id"].as_str().unwrap(),
            NewTokens { tokens, access_expires_at: 0, scopes: vec![] },
            None,
        )
        .await
        .unwrap();

    let mut ids = BTreeMap::new();
    ids.insert("connection", grant.id.clone());
    ids.insert("token", token.id.clone());
    ids.insert("api-key", key_ids[1].clone());
    ids.insert("certificate-identity", cert.clone());
    ids.insert("oauth-client", client["client_id"].as_str().unwrap().to_owned());
    ids.insert("sso-provider", provider["id"].as_str().unwrap().to_owned());
    ids.insert("rate-limit", rate_limit["id"].as_str().unwrap().to_owned());
    let mut secrets_of_identity = vec![
        org["id"].as_str().unwrap().to_owned(),
        ws["id"].as_str().unwrap().to_owned(),
        server["id"].as_str().unwrap().to_owned(),
        token.id,
        cert,
        client["client_id"].as_str().unwrap().to_owned(),
        provider["id"].as_str().unwrap().to_owned(),
        rate_limit["id"].as_str().unwrap().to_owned(),
        upstream,
        grant.id,
        format!("{slug}-upstream-access"),
        format!("{slug}-upstream-secret"),
    ];
    secrets_of_identity.extend(key_ids);
    Tenant {
        slug: slug.to_owned(),
        id: org["id"].as_str().unwrap().to_owned(),
        keys,
        ids,
        secrets_of_identity,
    }
}

/// Signs `user` in to `org` and returns the browser with its CSRF token.
async fn sign_in(cp: &TestControlPlane, org: &str, user: &str) -> (Caller, Value) {
    let browser = cp.sso_browser();
    browser.sso_login(org, user).await;
    let (status, me) = browser.sso_me().await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["org"]["slug"], org, "{me}");
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    (Caller::Session { browser, csrf }, me)
}

/// Every operation of the admin API with its access level, from the OpenAPI document.
async fn admin_operations(cp: &TestControlPlane) -> Vec<(Method, String, String)> {
    let doc: Value =
        reqwest::get(format!("{}/v1/openapi.json", cp.api_url)).await.unwrap().json().await.unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(access) = op["x-gatehouse-access"]["access"].as_str() else { continue };
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            out.push((method, path.clone(), access.to_owned()));
        }
    }
    assert!(
        out.len() > 80,
        "the document lists every admin operation and its org-prefixed copy: {}",
        out.len()
    );
    out
}

/// `template` with its parameters filled from `target`'s objects. Slugs are
/// shared by both orgs, so a change names a slug neither has (it must not act
/// on the caller's own org's object of that slug either).
fn fill(template: &str, method: &Method, target: &Tenant) -> String {
    let mutating = *method != Method::GET;
    let id_kind = if template.contains("/auth/tokens/") {
        "token"
    } else if template.contains("/api-keys/") {
        "api-key"
    } else if template.contains("/certificate-identities/") {
        "certificate-identity"
    } else if template.contains("/oauth/clients/") {
        "oauth-client"
    } else if template.contains("/sso/providers/") {
        "sso-provider"
    } else if template.contains("/connections/") {
        "connection"
    } else if template.contains("/rate-limits/") {
        "rate-limit"
    } else {
        ""
    };
    let id = target.ids.get(id_kind).cloned().unwrap_or_else(|| "0190a1b2-no-such-id".to_owned());
    template
        .replace("{org}", &target.slug)
        .replace("{slug}", if mutating { "no-such-server" } else { "github" })
        .replace("{ws}", if mutating { "no-such-workspace" } else { "eng" })
        .replace("{id}", &id)
}

fn leaks(body: &Value, other: &Tenant) -> Option<String> {
    let text = body.to_string();
    other.secrets_of_identity.iter().find(|s| text.contains(s.as_str())).cloned()
}

/// Org B's objects as its platform admin sees them, to check nothing changed.
async fn inventory(cp: &TestControlPlane, org: &Tenant) -> Value {
    let platform = cp.admin();
    let mut all = serde_json::Map::new();
    for list in [
        "servers",
        "workspaces",
        "auth/tokens",
        "api-keys",
        "auth/certificate-identities",
        "oauth/clients",
        "sso/providers",
        "rate-limits",
        "users",
        "workspaces/eng/servers",
        "org",
    ] {
        let (status, body) =
            platform.request(Method::GET, &format!("/v1/orgs/{}/{list}", org.slug), None).await;
        assert_eq!(status, StatusCode::OK, "{list}: {body}");
        all.insert(list.to_owned(), body);
    }
    Value::Object(all)
}

#[tokio::test]
async fn org_credentials_never_cross_and_every_role_gets_what_the_table_says() {
    let cp =
        TestControlPlane::start_with(TestDb::sqlite().await, |c| c.allow_loopback_upstreams = true).await;
    let op = TestOidcProvider::start(
        OidcConfig::new()
            .client(
                OidcClient::confidential(CLIENT_ID, CLIENT_SECRET)
                    .redirect_uri(&format!("{}/auth/sso/callback", cp.api_url)),
            )
            .user(
                OidcUser::new("alice")
                    .email("alice@example.com")
                    .name("Alice")
                    .groups(&["gatehouse-admins", "eng"]),
            )
            .user(OidcUser::new("bob").email("bob@example.com").name("Bob").groups(&["eng"])),
    )
    .await;
    let a = setup_org(&cp, &op, "acme").await;
    let b = setup_org(&cp, &op, "globex").await;

    // The same people in both orgs are different users.
    let (alice_a, me_a) = sign_in(&cp, "acme", "alice").await;
    let (bob_a, _) = sign_in(&cp, "acme", "bob").await;
    let (_alice_b, me_b) = sign_in(&cp, "globex", "alice").await;
    let (_bob_b, me_bob_b) = sign_in(&cp, "globex", "bob").await;
    assert_ne!(me_a["user"]["id"], me_b["user"]["id"], "one e-mail in two orgs is two users");
    assert_eq!(me_a["roles"], json!(["admin"]));
    let mut b = b;
    b.ids.insert("user", me_bob_b["user"]["id"].as_str().unwrap().to_owned());
    b.secrets_of_identity.push(me_b["user"]["id"].as_str().unwrap().to_owned());
    b.secrets_of_identity.push(me_bob_b["user"]["id"].as_str().unwrap().to_owned());

    let before = inventory(&cp, &b).await;
    let operations = admin_operations(&cp).await;

    // Every credential of org A: API keys of every role, and two signed-in people.
    let mut callers: Vec<(String, &str, Caller)> = a
        .keys
        .iter()
        .map(|(role, key)| {
            (format!("{role} key"), *role, Caller::Bearer(AdminClient::new(&cp.api_url, Some(key))))
        })
        .collect();
    callers.push(("alice (admin by SSO)".into(), "admin", alice_a));
    callers.push(("bob (member by SSO)".into(), "member", bob_a));

    let mut checked = 0;
    for (method, template, access) in &operations {
        let prefixed = template.starts_with("/v1/orgs/{org}/");
        for (name, role, caller) in &callers {
            // Deleting one's own org is checked on its own below.
            if template == "/v1/org" && *method == Method::DELETE && allows(role, access) {
                continue;
            }
            let path = fill(template, method, &b);
            let body = matches!(*method, Method::POST | Method::PUT | Method::PATCH).then(|| json!({}));
            let (status, response) = caller.call(method.clone(), &path, body).await;
            let what = format!("{name}: {method} {path} ({access})");
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{what}: {response}");
            assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{what}: {response}");
            if let Some(leak) = leaks(&response, &b) {
                panic!("{what} revealed org B's {leak}: {response}");
            }
            if prefixed && template != "/v1/orgs/{org}" {
                // Another org's prefix is answered as if it did not exist, whatever the role.
                assert_eq!(status, StatusCode::NOT_FOUND, "{what}: {response}");
                assert_eq!(response["error"]["code"], "not_found", "{what}: {response}");
            } else if allows(role, access) {
                assert_ne!(status, StatusCode::FORBIDDEN, "{what} is allowed to {role}: {response}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{what} is not allowed to {role}: {response}");
                assert_eq!(response["error"]["code"], "forbidden", "{what}: {response}");
                let message = response["error"]["message"].as_str().unwrap_or_default();
                assert!(
                    message.contains("role") || message.contains("platform"),
                    "{what} names the role needed: {message}"
                );
            }
            // An id of org B never reaches org B's object through a plain route either.
            if !prefixed && template.contains("{id}") && allows(role, access) {
                assert_eq!(status, StatusCode::NOT_FOUND, "{what}: {response}");
            }
            checked += 1;
        }
    }
    assert!(checked > 500, "{checked} calls");
    assert_eq!(inventory(&cp, &b).await, before, "org B is untouched by everything org A's callers did");

    // Org A's own prefix is the same as its plain routes; an unknown org is 404 even to the platform.
    let owner_a = AdminClient::new(&cp.api_url, Some(&a.keys["owner"]));
    let (status, own) = owner_a.request(Method::GET, "/v1/orgs/acme/servers", None).await;
    assert_eq!(status, StatusCode::OK, "{own}");
    assert!(leaks(&own, &b).is_none());
    assert_eq!(own["servers"][0]["slug"], "github");
    let (status, _) = cp.admin().request(Method::GET, "/v1/orgs/initech/servers", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The platform admin acts in any org by prefix; plain routes stay on the default org.
    let (_, globex) = cp.admin().request(Method::GET, "/v1/orgs/globex/servers", None).await;
    assert_eq!(globex["servers"][0]["url"], "https://globex.upstream.example.com/mcp");
    let (_, default) = cp.admin().request(Method::GET, "/v1/servers", None).await;
    assert_eq!(default["servers"], json!([]), "{default}");
    // Org credentials cannot manage orgs.
    let (status, err) = owner_a.request(Method::POST, "/v1/orgs", Some(json!({"slug": "mine"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("platform admin"), "{err}");
    let _ = a.id;
}

#[tokio::test]
async fn api_keys_are_shown_once_limited_by_role_and_revocable() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let platform = cp.admin();
    platform.request(Method::POST, "/v1/orgs", Some(json!({"slug": "acme", "name": "Acme"}))).await;
    let (status, owner) = platform
        .request(Method::POST, "/v1/orgs/acme/api-keys", Some(json!({"name": "bootstrap", "role": "owner"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{owner}");
    let owner = AdminClient::new(&cp.api_url, Some(owner["key"].as_str().unwrap()));
    let (_, admin_key) = owner
        .request(Method::POST, "/v1/api-keys", Some(json!({"name": "automation", "role": "admin"})))
        .await;
    let admin_text = admin_key["key"].as_str().unwrap().to_owned();
    let admin = AdminClient::new(&cp.api_url, Some(&admin_text));

    // Listed without the text; the database holds only its hash.
    let (_, list) = owner.request(Method::GET, "/v1/api-keys", None).await;
    assert_eq!(list["api_keys"].as_array().unwrap().len(), 2, "{list}");
    assert!(!list.to_string().contains(&admin_text), "{list}");
    assert!(list["api_keys"][1]["hint"].as_str().unwrap().starts_with("gak_"), "{list}");
    let store_dump = gatehouse_tests::db::dump_text(cp.db()).await;
    assert!(!store_dump.contains(&admin_text), "the key text is never stored");

    // An admin manages keys up to admin; owner keys need an owner.
    let (status, err) =
        admin.request(Method::POST, "/v1/api-keys", Some(json!({"name": "escalate", "role": "owner"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("owner"), "{err}");
    let (status, viewer) =
        admin.request(Method::POST, "/v1/api-keys", Some(json!({"name": "dash", "role": "viewer"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{viewer}");
    let (status, err) =
        admin.request(Method::POST, "/v1/api-keys", Some(json!({"name": "x", "role": "root"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["error"]["field"], "role", "{err}");

    // A viewer reads, and is told which role a change needs.
    let viewer = AdminClient::new(&cp.api_url, Some(viewer["key"].as_str().unwrap()));
    assert_eq!(viewer.request(Method::GET, "/v1/servers", None).await.0, StatusCode::OK);
    let (status, err) = viewer.request(Method::POST, "/v1/workspaces", Some(json!({"slug": "w"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    assert_eq!(
        err["error"]["message"],
        "POST /v1/workspaces needs the admin or owner role; the caller's role is viewer",
        "{err}"
    );

    // Deleted: it stops working at once.
    let id = admin_key["id"].as_str().unwrap();
    assert_eq!(
        owner.request(Method::DELETE, &format!("/v1/api-keys/{id}"), None).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, _) = admin.request(Method::GET, "/v1/servers", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn lists_are_paginated_with_a_cursor() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let admin = cp.admin();
    for i in 0..7 {
        admin.create_workspace(&format!("team-{i}")).await;
        admin.mint_token(&format!("user-{i}"), &format!("team-{i}")).await;
    }
    for list in ["workspaces", "auth/tokens"] {
        let key = list.rsplit('/').next().unwrap();
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/{list}?limit=3&cursor={c}"),
                None => format!("/v1/{list}?limit=3"),
            };
            let (status, page) = admin.request(Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let rows = page[key].as_array().unwrap();
            assert!(rows.len() <= 3);
            seen.extend(rows.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
            pages += 1;
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(pages, 3, "{list}: 7 rows in pages of 3");
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!((seen.len(), unique.len()), (7, 7), "{list}: every row once");
    }
    let (_, newest) = admin.request(Method::GET, "/v1/auth/tokens?limit=1", None).await;
    assert_eq!(newest["tokens"][0]["user"], "user-6", "tokens are newest first: {newest}");
    for bad in ["limit=0", "limit=1001", "cursor=%25%25"] {
        let (status, err) = admin.request(Method::GET, &format!("/v1/servers?{bad}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {err}");
        assert!(["limit", "cursor"].contains(&err["error"]["field"].as_str().unwrap_or_default()), "{err}");
    }
}

/// Deleting an org removes everything of it in one change: its tokens stop
/// working at the edge within a second, and no table holds a row of it after.
#[tokio::test]
async fn deleting_an_org_stops_its_tokens_and_leaves_nothing_behind() {
    for db in TestDb::all().await {
        let backend = db.backend();
        let stack = gatehouse_tests::TestStack::start_with_public_edge_on(db).await;
        let cp = &stack.cp;
        let platform = cp.admin();
        let upstream =
            gatehouse_tests::upstream::McpUpstream::start(gatehouse_tests::upstream::SessionMode::Stateless)
                .await;
        let (status, org) = platform.request(Method::POST, "/v1/orgs", Some(json!({"slug": "acme"}))).await;
        assert_eq!(status, StatusCode::CREATED, "{org}");
        let org_id = org["id"].as_str().unwrap().to_owned();
        let (_, key) = platform
            .request(Method::POST, "/v1/orgs/acme/api-keys", Some(json!({"name": "ops", "role": "owner"})))
            .await;
        let acme = AdminClient::new(&cp.api_url, Some(key["key"].as_str().unwrap()));
        let ws = acme.create_workspace("eng").await;
        let server = acme
            .create_server_json(json!({"slug": "tools", "url": upstream.url, "headers": {"X-Api-Key": "acme-upstream-secret"}}))
            .await;
        acme.provision("eng", "tools", &["*"], &[]).await;
        let token = acme.mint_token("carol@example.com", "eng").await;
        let cert = acme.register_certificate_identity("san_dns", "agent.acme.example.com", "ci", "eng").await;
        let (status, client) = acme
            .request(Method::POST, "/v1/oauth/clients", Some(json!({"name": "ci", "workspace": "eng"})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{client}");
        let store = cp.store().await;
        let tokens = GrantTokens { access_token: SecretString::from("upstream-access"), refresh_token: None };
        let grant = store
            .store_grant(
                &org_id,
                "carol@example.com",
                server["id"].as_str().unwrap(),
                NewTokens { tokens, access_expires_at: 0, scopes: vec![] },
                None,
            )
            .await
            .unwrap();
        // The default org's own token keeps working throughout.
        let default_upstream = platform.platform_with_tools().await;
        let default_token = platform.mint_token("dave", "platform").await;
        stack.sync().await;
        let url = "acme/tools";
        assert_eq!(stack.edge.list_tools(url, &token.token).await.status(), StatusCode::OK, "{backend}");

        let (status, err) = acme.request(Method::DELETE, "/v1/orgs/default", None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "org credentials cannot delete orgs: {err}");
        let (status, err) = platform.request(Method::DELETE, "/v1/orgs/default", None).await;
        assert_eq!(status, StatusCode::CONFLICT, "the default org stays: {err}");

        let (status, edge_token) = platform
            .request(
                Method::POST,
                "/v1/edges/tokens",
                Some(json!({"name": "acme-dedicated", "orgs": ["acme"]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{edge_token}");

        let deleted_at = std::time::Instant::now();
        let (status, body) = platform.request(Method::DELETE, "/v1/orgs/acme", None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        gatehouse_tests::eventually(
            std::time::Duration::from_secs(1),
            "the org's token refused at the edge",
            || async {
                (stack.edge.list_tools(url, &token.token).await.status() == StatusCode::UNAUTHORIZED)
                    .then_some(())
            },
        )
        .await;
        let took = deleted_at.elapsed();
        assert!(took < std::time::Duration::from_secs(1), "{backend}: {took:?}");
        assert_eq!(stack.edge.list_tools("tools", &default_token.token).await.status(), StatusCode::OK);
        assert_eq!(acme.request(Method::GET, "/v1/servers", None).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(platform.request(Method::GET, "/v1/orgs/acme", None).await.0, StatusCode::NOT_FOUND);
        // An edge dedicated to acme is not handed a later org that takes the same slug.
        let (_, edge_tokens) = platform.request(Method::GET, "/v1/edges/tokens", None).await;
        let dedicated = edge_tokens["tokens"]
            .as_array()
            .unwrap_or_else(|| panic!("{edge_tokens}"))
            .iter()
            .find(|t| t["id"] == edge_token["id"])
            .cloned()
            .unwrap();
        assert_eq!(dedicated["orgs"], json!([]), "{backend}: {dedicated}");

        // Nothing of it in any table; only the outbox's row of keys names what went.
        let needles = [
            org_id.clone(),
            ws["id"].as_str().unwrap().to_owned(),
            server["id"].as_str().unwrap().to_owned(),
            token.id.clone(),
            cert,
            client["client_id"].as_str().unwrap().to_owned(),
            grant.id.clone(),
            key["id"].as_str().unwrap().to_owned(),
            upstream.url.clone(),
        ];
        let tables = gatehouse_tests::db::dump_tables(stack.cp.db()).await;
        assert!(tables.len() > 25, "{backend}: every table was read: {:?}", tables.keys());
        for (table, rows) in &tables {
            if table == "config_outbox" {
                continue;
            }
            for row in rows {
                for needle in &needles {
                    assert!(!row.contains(needle.as_str()), "{backend}: {table} still holds {needle}: {row}");
                }
            }
        }
        drop(default_upstream);
    }
}
