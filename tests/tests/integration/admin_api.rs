//! The admin REST API over real HTTP against `run()`: validation and error
//! shapes, auth, secrecy of header values and tokens, and the OpenAPI document.

use gatehouse_tests::control_plane::TestControlPlane;
use gatehouse_tests::db::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn assert_error(
    status: StatusCode,
    body: &Value,
    expected_status: StatusCode,
    code: &str,
    field: Option<&str>,
) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    if let Some(field) = field {
        assert_eq!(body["error"]["field"], field, "{body}");
    }
}

#[tokio::test]
async fn admin_api_crud_round_trip() {
    for db in TestDb::all().await {
        let cp = TestControlPlane::start(db).await;
        let admin = cp.admin();
        let ws = admin.create_workspace("team-a").await;
        assert_eq!(ws["slug"], "team-a");
        let server = admin
            .create_server_json(json!({
                "slug": "github", "name": "GitHub", "url": "https://mcp.example.com/mcp",
                "headers": {"Authorization": "Bearer x"}, "advanced_config": {"a": 1}, "auto_provision": true,
            }))
            .await;
        assert_eq!(server["auth_type"], "headers", "defaults to headers when headers are given");
        assert_eq!(server["headers"], json!(["authorization"]));
        assert_eq!(server["advanced_config"], json!({"a": 1}));

        // Auto-provisioned to a new workspace.
        let ws2 = admin.create_workspace("team-b").await;
        assert_eq!(ws2["provisioned_servers"], json!(["github"]));

        let (status, list) = admin.request(Method::GET, "/v1/workspaces", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list["workspaces"].as_array().unwrap().len(), 2);
        let (status, one) = admin.request(Method::GET, "/v1/workspaces/team-a", None).await;
        assert_eq!((status, one["slug"].clone()), (StatusCode::OK, json!("team-a")));

        let created = admin.provision("team-a", "github", &["get_*"], &["get_secret"]).await;
        assert_eq!(created["tools"], json!({"allow": ["get_*"], "deny": ["get_secret"]}));
        // Idempotent upsert: 200 the second time, body optional.
        let (status, _) = admin.request(Method::PUT, "/v1/workspaces/team-a/servers/github", None).await;
        assert_eq!(status, StatusCode::OK);
        let (status, provisions) = admin.request(Method::GET, "/v1/workspaces/team-a/servers", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(provisions["servers"][0]["server"], "github");
        assert_eq!(provisions["servers"][0]["tools"], json!({"allow": [], "deny": []}));

        let patched = admin.update_server("github", json!({"name": "GH", "auto_provision": false})).await;
        assert_eq!(patched["name"], "GH");
        assert_eq!(patched["headers"], json!(["authorization"]), "headers untouched by the patch");

        admin.unprovision("team-a", "github").await;
        let (status, body) =
            admin.request(Method::DELETE, "/v1/workspaces/team-a/servers/github", None).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found", None);

        admin.delete_server("github").await;
        let (status, body) = admin.request(Method::GET, "/v1/servers/github", None).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found", None);
        let (status, _) = admin.request(Method::DELETE, "/v1/workspaces/team-b", None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        cp.stop().await;
    }
}

#[tokio::test]
async fn admin_api_validation_errors_name_the_field() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let admin = cp.admin();
    admin.create_workspace("ws").await;

    let cases = [
        ("/v1/workspaces", json!({"slug": "Bad Slug"}), "slug"),
        ("/v1/workspaces", json!({"slug": "-x"}), "slug"),
        ("/v1/workspaces", json!({"slug": "ok", "name": ""}), "name"),
        ("/v1/servers", json!({"slug": "s", "url": "not a url"}), "url"),
        ("/v1/servers", json!({"slug": "s", "url": "ftp://example.com/"}), "url"),
        ("/v1/servers", json!({"slug": "s", "url": "https://user:pw@example.com/"}), "url"),
        ("/v1/servers", json!({"slug": "s", "url": "/relative"}), "url"),
        ("/v1/servers", json!({"slug": "S!", "url": "https://example.com/"}), "slug"),
        (
            "/v1/servers",
            json!({"slug": "s", "url": "https://example.com/", "auth_type": "magic"}),
            "auth_type",
        ),
        (
            "/v1/servers",
            json!({"slug": "s", "url": "https://example.com/", "headers": {"Host": "x"}}),
            "headers.Host",
        ),
        (
            "/v1/servers",
            json!({"slug": "s", "url": "https://example.com/", "headers": {"transfer-encoding": "chunked"}}),
            "headers.transfer-encoding",
        ),
        (
            "/v1/servers",
            json!({"slug": "s", "url": "https://example.com/", "headers": {"x-a": "a\nb"}}),
            "headers.x-a",
        ),
        (
            "/v1/servers",
            json!({"slug": "s", "url": "https://example.com/", "headers": {"bad name": "v"}}),
            "headers.badname",
        ),
        (
            "/v1/servers",
            json!({"slug": "s", "url": "https://example.com/", "auth_type": "none", "headers": {"x-a": "v"}}),
            "headers",
        ),
        (
            "/v1/servers",
            json!({"slug": "s", "url": "https://example.com/", "advanced_config": [1]}),
            "advanced_config",
        ),
        ("/v1/auth/tokens", json!({"user": "", "team": "ws"}), "user"),
        ("/v1/auth/tokens", json!({"user": "u".repeat(257), "team": "ws"}), "user"),
        ("/v1/auth/tokens", json!({"user": "u", "team": "unknown"}), "team"),
        ("/v1/auth/tokens", json!({"user": "u", "team": "ws", "scopes": ["has space"]}), "scopes[0]"),
        (
            "/v1/auth/tokens",
            json!({"user": "u", "team": "ws", "permissions": {"servers": ["nope"]}}),
            "permissions.servers[0]",
        ),
        (
            "/v1/auth/tokens",
            json!({"user": "u", "team": "ws", "permissions": {"tools": [""]}}),
            "permissions.tools[0]",
        ),
        ("/v1/auth/tokens", json!({"user": "u", "team": "ws", "expiresIn": "1y"}), "expiresIn"),
        ("/v1/auth/tokens", json!({"user": "u", "team": "ws", "expiresIn": "0d"}), "expiresIn"),
    ];
    for (path, body, field) in cases {
        let (status, resp) = admin.request(Method::POST, path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {resp}");
        assert_eq!(resp["error"]["field"], field, "{path} {body}: {resp}");
        assert_eq!(resp["error"]["code"], "invalid_field", "{resp}");
    }

    admin.create_server("s", "https://example.com/mcp", &[]).await;
    let (status, resp) = admin
        .request(
            Method::PUT,
            "/v1/workspaces/ws/servers/s",
            Some(json!({"tools": {"allow": ["ok", "a\tb"]}})),
        )
        .await;
    assert_error(status, &resp, StatusCode::BAD_REQUEST, "invalid_field", Some("tools.allow[1]"));
    let (status, resp) = admin.request(Method::PATCH, "/v1/servers/s", Some(json!({"url": "nope"}))).await;
    assert_error(status, &resp, StatusCode::BAD_REQUEST, "invalid_field", Some("url"));
    let (status, resp) = admin.request(Method::PATCH, "/v1/servers/s", Some(json!({"slug": "other"}))).await;
    assert_error(status, &resp, StatusCode::BAD_REQUEST, "invalid_field", Some("slug"));
    cp.stop().await;
}

#[tokio::test]
async fn admin_api_rejects_bad_json_with_json_errors() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let admin = cp.admin();
    let json_ct = Some("application/json");

    let (status, headers, body) =
        admin.request_raw(Method::POST, "/v1/workspaces", json_ct, "{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(headers[reqwest::header::CONTENT_TYPE].to_str().unwrap().starts_with("application/json"));
    let v: Value = serde_json::from_str(&body).expect("error body is JSON");
    assert_eq!(v["error"]["code"], "invalid_json");

    let (status, _, body) =
        admin.request_raw(Method::POST, "/v1/workspaces", json_ct, r#"{"slug": 5}"#).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_error(status, &v, StatusCode::BAD_REQUEST, "invalid_json", Some("slug"));

    let (status, _, body) =
        admin.request_raw(Method::POST, "/v1/workspaces", json_ct, r#"{"slug": "a", "extra": 1}"#).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_error(status, &v, StatusCode::BAD_REQUEST, "invalid_json", None);
    assert!(v["error"]["message"].as_str().unwrap().contains("extra"), "{v}");

    let (status, _, body) =
        admin.request_raw(Method::POST, "/v1/workspaces", json_ct, r#"{"name": "x"}"#).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_error(status, &v, StatusCode::BAD_REQUEST, "invalid_json", None);

    // A mistyped header value is never echoed back.
    let secret = "sk-live-DO-NOT-ECHO";
    let bad = json!({"slug": "s", "url": "https://example.com/", "headers": {"authorization": [secret]}});
    let (status, _, body) = admin.request_raw(Method::POST, "/v1/servers", json_ct, bad.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!body.contains(secret), "{body}");
    let bad = json!({"slug": "s", "url": "https://example.com/", "auto_provision": secret});
    let (status, _, body) = admin.request_raw(Method::POST, "/v1/servers", json_ct, bad.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!body.contains(secret), "{body}");

    let (status, _, body) =
        admin.request_raw(Method::POST, "/v1/workspaces", Some("text/plain"), r#"{"slug":"a"}"#).await;
    let v: Value = serde_json::from_str(&body).expect("415 body is JSON");
    assert_error(status, &v, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", None);
    let (status, _, body) = admin.request_raw(Method::POST, "/v1/workspaces", None, r#"{"slug":"a"}"#).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");

    let (status, body) = admin.request(Method::GET, "/v1/auth/tokens?bogus=1", None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_query", None);
    let (status, body) = admin.request(Method::GET, "/v1/nope", None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found", None);
    let (status, body) = admin.request(Method::PUT, "/v1/workspaces", None).await;
    assert_error(status, &body, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None);
    cp.stop().await;
}

#[tokio::test]
async fn admin_api_conflicts_and_not_found() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let admin = cp.admin();
    admin.create_workspace("ws").await;
    admin.create_server("s", "https://example.com/mcp", &[]).await;

    let (status, body) = admin.request(Method::POST, "/v1/workspaces", Some(json!({"slug": "ws"}))).await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict", Some("slug"));
    let (status, body) = admin
        .request(Method::POST, "/v1/servers", Some(json!({"slug": "s", "url": "https://x.example/"})))
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict", Some("slug"));

    for (method, path) in [
        (Method::GET, "/v1/workspaces/nope"),
        (Method::DELETE, "/v1/workspaces/nope"),
        (Method::GET, "/v1/workspaces/nope/servers"),
        (Method::GET, "/v1/servers/nope"),
        (Method::DELETE, "/v1/servers/nope"),
        (Method::PUT, "/v1/workspaces/nope/servers/s"),
        (Method::PUT, "/v1/workspaces/ws/servers/nope"),
        (Method::DELETE, "/v1/workspaces/ws/servers/s"),
        (Method::DELETE, "/v1/auth/tokens/nope"),
        (Method::POST, "/v1/auth/tokens/nope/rotate"),
    ] {
        let (status, body) = admin.request(method.clone(), path, None).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found", None);
    }
    let (status, body) = admin.request(Method::PATCH, "/v1/servers/nope", Some(json!({"name": "x"}))).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found", None);

    // A revoked token cannot be rotated.
    let minted = admin.mint_token("u", "ws").await;
    admin.revoke(&minted.id).await;
    admin.revoke(&minted.id).await; // idempotent
    let (status, body) =
        admin.request(Method::POST, &format!("/v1/auth/tokens/{}/rotate", minted.id), None).await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict", None);
    cp.stop().await;
}

#[tokio::test]
async fn admin_api_requires_the_admin_token() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let anonymous = cp.admin().with_token(None);
    let wrong = cp.admin().with_token(Some("not-the-admin-token"));
    for client in [&anonymous, &wrong] {
        for (method, path) in [
            (Method::GET, "/v1/workspaces"),
            (Method::POST, "/v1/servers"),
            (Method::GET, "/v1/auth/tokens"),
            (Method::GET, "/v1/edges"),
            (Method::DELETE, "/v1/servers/x"),
        ] {
            let (status, headers, body) = client.request_raw(method.clone(), path, None, "").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
            assert_eq!(headers[reqwest::header::WWW_AUTHENTICATE], "Bearer");
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["error"]["code"], "unauthorized");
        }
    }
    // Public endpoints.
    let (status, body) = anonymous.request(Method::GET, "/healthz", None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let (status, _, html) = anonymous.request_raw(Method::GET, "/", None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.to_lowercase().contains("<html"));
    cp.stop().await;
}

#[tokio::test]
async fn admin_api_never_returns_secrets() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let admin = cp.admin();
    let secret = "Bearer upstream-secret-9d1e";
    let rotated_secret = "rotated-secret-51ab";
    admin.create_workspace("ws").await;
    let mut bodies =
        vec![admin.create_server("s", "https://example.com/mcp", &[("Authorization", secret)]).await];
    bodies.push(admin.update_server("s", json!({"headers": {"x-api-key": rotated_secret}})).await);
    bodies.push(admin.request(Method::GET, "/v1/servers", None).await.1);
    bodies.push(admin.request(Method::GET, "/v1/servers/s", None).await.1);
    bodies.push(admin.provision("ws", "s", &[], &[]).await);
    bodies.push(admin.request(Method::GET, "/v1/workspaces/ws/servers", None).await.1);
    for body in &bodies {
        let text = body.to_string();
        assert!(!text.contains(secret) && !text.contains("upstream-secret"), "{text}");
        assert!(!text.contains(rotated_secret), "{text}");
    }
    assert_eq!(bodies[1]["headers"], json!(["x-api-key"]));

    // Token text: in the mint/rotate response only, never in a listing.
    let minted = admin
        .mint_token_json(json!({
            "user": "alice", "team": "ws", "scopes": ["mcp"], "permissions": {"servers": ["s"], "tools": ["get_*"]},
            "expiresIn": "2h",
        }))
        .await;
    assert!(minted.token.starts_with("gth_") && minted.token.len() == 50, "{}", minted.token);
    let hint = minted.body["token_hint"].as_str().unwrap();
    assert_eq!(hint, format!("{}…{}", &minted.token[..8], &minted.token[46..]));
    assert_eq!(minted.body["team"], "ws");
    assert_eq!(minted.body["permissions"], json!({"servers": ["s"], "tools": ["get_*"]}));
    let expires = chrono::DateTime::parse_from_rfc3339(minted.body["expires_at"].as_str().unwrap()).unwrap();
    let created = chrono::DateTime::parse_from_rfc3339(minted.body["created_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires - created, chrono::Duration::hours(2));

    let default = admin.mint_token("bob", "ws").await;
    let expires = chrono::DateTime::parse_from_rfc3339(default.body["expires_at"].as_str().unwrap()).unwrap();
    let created = chrono::DateTime::parse_from_rfc3339(default.body["created_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires - created, chrono::Duration::days(30), "expiresIn defaults to 30d");
    let never = admin.mint_token_json(json!({"user": "carol", "team": "ws", "expiresIn": "never"})).await;
    assert!(never.body["expires_at"].is_null());

    let rotated = admin.rotate(&minted.id).await;
    assert_eq!(rotated.id, minted.id);
    assert_ne!(rotated.token, minted.token);
    admin.revoke(&default.id).await;

    let list = admin.tokens().await;
    let text = list.to_string();
    for t in [&minted.token, &rotated.token, &default.token, &never.token] {
        assert!(!text.contains(t.as_str()), "token text listed: {text}");
    }
    let tokens = list["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 3);
    let revoked = tokens.iter().find(|t| t["id"] == default.id.as_str()).unwrap();
    assert_eq!(revoked["status"], "revoked");
    assert!(revoked["revoked_at"].is_string());
    let (_, filtered) = admin.request(Method::GET, "/v1/auth/tokens?team=ws&user=alice", None).await;
    assert_eq!(filtered["tokens"].as_array().unwrap().len(), 1);
    assert_eq!(filtered["tokens"][0]["token_hint"], rotated.body["token_hint"]);
    cp.stop().await;
}

#[tokio::test]
async fn admin_api_openapi_document_lists_the_routes() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let (status, doc) = cp.admin().with_token(None).request(Method::GET, "/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/healthz", "get"),
        ("/v1/workspaces", "post"),
        ("/v1/workspaces", "get"),
        ("/v1/workspaces/{ws}", "get"),
        ("/v1/workspaces/{ws}", "delete"),
        ("/v1/workspaces/{ws}/servers", "get"),
        ("/v1/workspaces/{ws}/servers/{slug}", "put"),
        ("/v1/workspaces/{ws}/servers/{slug}", "delete"),
        ("/v1/servers", "post"),
        ("/v1/servers", "get"),
        ("/v1/servers/{slug}", "get"),
        ("/v1/servers/{slug}", "patch"),
        ("/v1/servers/{slug}", "delete"),
        ("/v1/auth/tokens", "post"),
        ("/v1/auth/tokens", "get"),
        ("/v1/auth/tokens/{id}", "delete"),
        ("/v1/auth/tokens/{id}/rotate", "post"),
        ("/v1/edges", "get"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "missing {method} {path}");
    }
    assert!(doc["components"]["schemas"]["CreateServer"].is_object());
    assert!(doc["components"]["securitySchemes"]["admin_token"].is_object());
    cp.stop().await;
}

#[tokio::test]
async fn admin_api_survives_restart_on_the_same_ports() {
    let cp = TestControlPlane::start(TestDb::sqlite().await).await;
    let api_url = cp.api_url.clone();
    cp.admin().create_workspace("kept").await;
    let stopped = cp.stop().await;
    let cp = stopped.start_again().await;
    assert_eq!(cp.api_url, api_url);
    let (status, body) = cp.admin().request(Method::GET, "/v1/workspaces/kept", None).await;
    assert_eq!((status, body["slug"].clone()), (StatusCode::OK, json!("kept")));
    cp.stop().await;
}

#[tokio::test]
async fn admin_api_generates_a_bootstrap_admin_token_once() {
    use gatehouse_control_plane::{ControlPlaneConfig, Keyring, Listeners, MasterKey};
    use secrecy::SecretString;
    use tokio::net::TcpListener;

    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("admin-token");
    let mut config = ControlPlaneConfig::new(
        db.url(),
        Keyring::new(MasterKey::generate(), vec![]),
        vec![SecretString::from("node-token-0123456789abcdef")],
    );
    config.admin_token_file = Some(token_file.clone());

    async fn serve(
        config: ControlPlaneConfig,
    ) -> (String, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<anyhow::Result<()>>) {
        let api = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", api.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(gatehouse_control_plane::run(config, Listeners { api, grpc }, async move {
            let _ = rx.await;
        }));
        let client = reqwest::Client::new();
        gatehouse_tests::eventually(std::time::Duration::from_secs(20), "control plane healthy", || {
            let client = client.clone();
            let url = format!("{url}/healthz");
            async move { client.get(url).send().await.ok().filter(|r| r.status().is_success()).map(|_| ()) }
        })
        .await;
        (url, tx, task)
    }

    let logs = gatehouse_tests::logs::capture().expect("log capture");
    let (url, stop, task) = serve(config.clone()).await;
    let token = std::fs::read_to_string(&token_file).unwrap().trim().to_owned();
    // The token is only in the file; the log names the file.
    let text = logs.text();
    assert!(!text.contains(&token), "the admin token reached the log");
    assert!(text.contains(&token_file.display().to_string()), "the log does not name the token file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let admin = gatehouse_tests::control_plane::AdminClient::new(&url, Some(&token));
    let (status, _) = admin.request(Method::GET, "/v1/workspaces", None).await;
    assert_eq!(status, StatusCode::OK);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();

    // A later start without a configured token keeps accepting the stored hash,
    // and does not generate (or write) another one.
    std::fs::remove_file(&token_file).unwrap();
    let (url, stop, task) = serve(config).await;
    assert!(!token_file.exists());
    let admin = gatehouse_tests::control_plane::AdminClient::new(&url, Some(&token));
    let (status, _) = admin.request(Method::GET, "/v1/workspaces", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = admin.with_token(Some("gha_wrong")).request(Method::GET, "/v1/workspaces", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    assert!(!logs.text().contains(&token), "the admin token reached the log");
}

#[tokio::test]
async fn admin_api_refuses_to_start_when_a_generated_admin_token_has_nowhere_to_go() {
    use gatehouse_control_plane::{ControlPlaneConfig, Keyring, Listeners, MasterKey};
    use secrecy::SecretString;
    use tokio::net::TcpListener;

    let logs = gatehouse_tests::logs::capture().expect("log capture");
    let db = TestDb::sqlite().await;
    let config = ControlPlaneConfig::new(
        db.url(),
        Keyring::new(MasterKey::generate(), vec![]),
        vec![SecretString::from("node-token-0123456789abcdef")],
    );
    let api = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        gatehouse_control_plane::run(config, Listeners { api, grpc }, std::future::pending::<()>()),
    )
    .await
    .expect("the control plane started without an admin token");
    let error = format!("{:#}", result.expect_err("the control plane started without an admin token"));
    assert!(error.contains("GATEHOUSE_ADMIN_TOKEN_FILE"), "{error}");
    assert!(!logs.text().contains("gha_"), "a generated admin token reached the log");
}
