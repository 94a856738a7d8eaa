//! The storage suite: the same test bodies against SQLite and, when
//! `GATEHOUSE_TEST_DATABASE_URL` is set, PostgreSQL.

use std::collections::BTreeMap;

use gatehouse_config::identity::cert_names::CertNameKind;
use gatehouse_config::token_hash::hash_token;
use gatehouse_control_plane::store::grants::{GrantTokens, NewTokens};
use gatehouse_control_plane::store::page::PageRequest;
use gatehouse_control_plane::store::{
    CertificateIssuer, NewCertificateIdentity, NewEdgeToken, NewServer, NewToken, NewWorkspace, ServerPatch,
    Store, StoreError, TokenFilter, ToolRules,
};
use gatehouse_control_plane::tokens::{self, Lifetime};
use gatehouse_control_plane::{Keyring, MasterKey};
use gatehouse_tests::db::TestDb;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

async fn open(db: &TestDb, keyring: Keyring) -> (Store, String) {
    let store = Store::connect(&db.url(), keyring).await.expect("connect and migrate");
    let org = store.ensure_org("default", "Default").await.expect("default org");
    (store, org.id)
}

async fn store(db: &TestDb) -> (Store, String) {
    open(db, Keyring::new(MasterKey::generate(), vec![])).await
}

fn workspace(slug: &str) -> NewWorkspace {
    NewWorkspace { slug: slug.into(), name: format!("Workspace {slug}") }
}

fn server(slug: &str, headers: &[(&str, &str)]) -> NewServer {
    let headers: BTreeMap<String, SecretString> =
        headers.iter().map(|(k, v)| ((*k).to_owned(), SecretString::from(*v))).collect();
    NewServer {
        slug: slug.into(),
        name: slug.into(),
        url: format!("https://{slug}.example.com/mcp"),
        auth_type: if headers.is_empty() { "none" } else { "headers" }.into(),
        headers,
        advanced_config: json!({"timeout_ms": 1000}),
        auto_provision: false,
    }
}

fn new_token(team: &str, servers: &[&str]) -> (NewToken, String) {
    let generated = tokens::generate();
    let token = NewToken {
        team: team.into(),
        user: "alice@example.com".into(),
        scopes: vec!["mcp".into()],
        server_permissions: servers.iter().map(|s| (*s).to_owned()).collect(),
        tool_permissions: vec!["get_*".into()],
        lifetime: Lifetime::For(chrono::Duration::days(1)),
        hash: generated.hash,
        hint: generated.hint,
    };
    (token, generated.token.expose_secret().to_owned())
}

#[tokio::test]
async fn storage_workspace_and_server_crud() {
    for db in TestDb::all().await {
        let (store, org) = store(&db).await;
        let backend = db.backend();

        let ws = store.create_workspace(&org, workspace("team-a")).await.unwrap().value.0;
        assert_eq!(ws.slug, "team-a");
        assert_eq!(store.get_workspace(&org, "team-a").await.unwrap(), ws, "{backend}");
        assert_eq!(store.list_workspaces(&org).await.unwrap(), vec![ws.clone()]);

        let created = store
            .create_server(&org, server("github", &[("authorization", "Bearer x"), ("x-org", "1")]))
            .await
            .unwrap();
        let s = created.value;
        assert_eq!(s.header_names, vec!["authorization", "x-org"]);
        assert_eq!(s.advanced_config, json!({"timeout_ms": 1000}));
        assert_eq!(store.get_server(&org, "github").await.unwrap(), s, "{backend}");

        let patch = ServerPatch {
            name: Some("GitHub".into()),
            url: Some("https://api.github.example/mcp".into()),
            headers: Some(BTreeMap::from([("x-api-key".to_owned(), SecretString::from("k"))])),
            auto_provision: Some(true),
            ..Default::default()
        };
        let updated = store.update_server(&org, "github", patch).await.unwrap().value;
        assert_eq!(updated.name, "GitHub");
        assert_eq!(updated.url, "https://api.github.example/mcp");
        assert_eq!(updated.header_names, vec!["x-api-key"]);
        assert!(updated.auto_provision);
        assert_eq!(updated.created_at, s.created_at);
        assert_eq!(store.list_servers(&org).await.unwrap(), vec![updated.clone()], "{backend}");

        // Switching to auth_type none clears the headers.
        let none = ServerPatch { auth_type: Some("none".into()), ..Default::default() };
        let cleared = store.update_server(&org, "github", none).await.unwrap().value;
        assert!(cleared.header_names.is_empty());
        let state = store.load_edge_state().await.unwrap();
        assert!(state.servers[0].headers.is_empty());

        store.delete_server(&org, "github").await.unwrap();
        assert!(matches!(store.get_server(&org, "github").await, Err(StoreError::NotFound("server"))));
        store.delete_workspace(&org, "team-a").await.unwrap();
        assert!(matches!(store.get_workspace(&org, "team-a").await, Err(StoreError::NotFound("workspace"))));
        assert!(matches!(store.delete_workspace(&org, "team-a").await, Err(StoreError::NotFound(_))));
    }
}

#[tokio::test]
async fn storage_duplicate_slugs_conflict() {
    for db in TestDb::all().await {
        let (store, org) = store(&db).await;
        store.create_workspace(&org, workspace("dup")).await.unwrap();
        let before = store.config_version().await.unwrap();
        let err = store.create_workspace(&org, workspace("dup")).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict { field: Some("slug"), .. }), "{}: {err:?}", db.backend());
        store.create_server(&org, server("dup", &[])).await.unwrap();
        let err = store.create_server(&org, server("dup", &[])).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict { field: Some("slug"), .. }), "{err:?}");
        assert_eq!(store.config_version().await.unwrap(), before + 1, "only the successful create bumped");

        // Same slug in another org is fine.
        let other = store.ensure_org("other", "Other").await.unwrap();
        store.create_workspace(&other.id, workspace("dup")).await.unwrap();
        assert_eq!(store.list_workspaces(&org).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn storage_deleting_a_server_cascades_to_provisions() {
    for db in TestDb::all().await {
        let (store, org) = store(&db).await;
        store.create_workspace(&org, workspace("w1")).await.unwrap();
        store.create_workspace(&org, workspace("w2")).await.unwrap();
        let s1 = store.create_server(&org, server("s1", &[("x-key", "v")])).await.unwrap().value.id;
        let s2 = store.create_server(&org, server("s2", &[])).await.unwrap().value.id;
        let grant = |server_id: String| {
            let store = store.clone();
            let org = org.clone();
            async move {
                let tokens = GrantTokens { access_token: SecretString::from("a"), refresh_token: None };
                let new = NewTokens { tokens, access_expires_at: 0, scopes: vec![] };
                store.store_grant(&org, "alice", &server_id, new, None).await.unwrap().id
            }
        };
        let (s1_grant, s2_grant) = (grant(s1).await, grant(s2).await);
        let rules = ToolRules { allow: vec!["get_*".into()], deny: vec!["get_secret".into()] };
        let (p, created) = store.provision(&org, "w1", "s1", rules.clone()).await.unwrap().value;
        assert!(created);
        assert_eq!(p.tools, rules);
        // Idempotent upsert.
        let (again, created) = store.provision(&org, "w1", "s1", ToolRules::default()).await.unwrap().value;
        assert!(!created);
        assert_eq!(again.tools, ToolRules::default());
        assert_eq!(again.created_at, p.created_at);
        store.provision(&org, "w2", "s1", ToolRules::default()).await.unwrap();
        store.provision(&org, "w1", "s2", ToolRules::default()).await.unwrap();

        store.delete_server(&org, "s1").await.unwrap();
        let w1: Vec<_> = store
            .workspace_provisions(&org, "w1")
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.server_slug)
            .collect();
        assert_eq!(w1, vec!["s2"], "{}", db.backend());
        assert!(store.workspace_provisions(&org, "w2").await.unwrap().is_empty());
        let state = store.load_edge_state().await.unwrap();
        assert_eq!(state.provisions.len(), 1);
        // Users' grants of the server go in the same transaction, tombstoned for the edges.
        let grants: Vec<_> = store.list_grants(&org, None).await.unwrap().into_iter().map(|g| g.id).collect();
        assert_eq!(grants, vec![s2_grant], "{}", db.backend());
        assert_eq!(state.revoked_grants, vec![s1_grant], "{}", db.backend());

        // Deleting the workspace takes its provisions and tokens with it.
        let (token, _) = new_token("w1", &[]);
        store.create_token(&org, token).await.unwrap();
        store.delete_workspace(&org, "w1").await.unwrap();
        let state = store.load_edge_state().await.unwrap();
        assert!(state.provisions.is_empty());
        assert!(state.tokens.is_empty());
        assert!(store
            .list_tokens(&org, &TokenFilter::default(), &PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty());

        assert!(matches!(store.unprovision(&org, "w2", "s2").await, Err(StoreError::NotFound("provision"))));
    }
}

#[tokio::test]
async fn storage_auto_provision_on_workspace_create() {
    for db in TestDb::all().await {
        let (store, org) = store(&db).await;
        let mut auto = server("auto", &[]);
        auto.auto_provision = true;
        store.create_server(&org, auto).await.unwrap();
        store.create_server(&org, server("manual", &[])).await.unwrap();
        let before = store.config_version().await.unwrap();
        let created = store.create_workspace(&org, workspace("fresh")).await.unwrap();
        assert_eq!(created.version, before + 1, "workspace and its provisions commit as one version");
        let slugs: Vec<_> = created.value.1.iter().map(|p| p.server_slug.clone()).collect();
        assert_eq!(slugs, vec!["auto"], "{}", db.backend());
        let stored: Vec<_> = store
            .workspace_provisions(&org, "fresh")
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.server_slug)
            .collect();
        assert_eq!(stored, vec!["auto"]);
    }
}

#[tokio::test]
async fn storage_every_mutation_bumps_the_version_once() {
    for db in TestDb::all().await {
        let (store, org) = store(&db).await;
        let mut expected = store.config_version().await.unwrap();
        let mut check = |version: u64| {
            expected += 1;
            assert_eq!(version, expected, "{}", db.backend());
        };
        check(store.create_workspace(&org, workspace("w")).await.unwrap().version);
        check(store.create_server(&org, server("s", &[("x-a", "1")])).await.unwrap().version);
        let renamed = ServerPatch { name: Some("renamed".into()), ..Default::default() };
        check(store.update_server(&org, "s", renamed).await.unwrap().version);
        // A patch that changes nothing (header values included) writes nothing.
        let same = ServerPatch {
            name: Some("renamed".into()),
            headers: Some([("x-a".to_owned(), secrecy::SecretString::from("1"))].into()),
            ..Default::default()
        };
        let unchanged = store.update_server(&org, "s", same).await.unwrap().version;
        assert_eq!(unchanged, store.config_version().await.unwrap(), "{}", db.backend());
        let after_noop = store.config_version().await.unwrap();
        let provisioned = store.provision(&org, "w", "s", ToolRules::default()).await.unwrap().version;
        assert_eq!(provisioned, after_noop + 1, "the no-op patch took no version: {}", db.backend());
        check(provisioned);
        let (token, _) = new_token("w", &["s"]);
        let minted = store.create_token(&org, token).await.unwrap();
        check(minted.version);
        let fresh = tokens::generate();
        check(store.rotate_token(&org, &minted.value.id, fresh.hash, fresh.hint).await.unwrap().version);
        check(store.revoke_token(&org, &minted.value.id).await.unwrap().version);
        check(store.unprovision(&org, "w", "s").await.unwrap().version);
        check(store.delete_server(&org, "s").await.unwrap().version);
        check(store.delete_workspace(&org, "w").await.unwrap().version);
        assert_eq!(store.config_version().await.unwrap(), expected);
        assert_eq!(store.load_edge_state().await.unwrap().version, expected);
    }
}

#[tokio::test]
async fn storage_concurrent_mutations_get_distinct_versions() {
    for db in TestDb::all().await {
        let (store, org) = store(&db).await;
        let before = store.config_version().await.unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (store, org) = (store.clone(), org.clone());
                tokio::spawn(async move { store.create_workspace(&org, workspace(&format!("c{i}"))).await })
            })
            .collect();
        let mut versions = Vec::new();
        for t in tasks {
            versions.push(t.await.unwrap().expect("concurrent create").version);
        }
        versions.sort_unstable();
        assert_eq!(versions, (before + 1..=before + 8).collect::<Vec<_>>(), "{}", db.backend());
        assert_eq!(store.list_workspaces(&org).await.unwrap().len(), 8);
    }
}

#[tokio::test]
async fn storage_failed_mutations_leave_nothing_behind() {
    for db in TestDb::all().await {
        let (store, org) = store(&db).await;
        store.create_workspace(&org, workspace("w")).await.unwrap();
        store.create_server(&org, server("s", &[("x-key", "v1")])).await.unwrap();
        let before_version = store.config_version().await.unwrap();
        let before_server = store.get_server(&org, "s").await.unwrap();

        // Unknown server in the permissions: no token, no version bump.
        let (token, _) = new_token("w", &["s", "nope"]);
        let err = store.create_token(&org, token).await.unwrap_err();
        assert!(matches!(&err, StoreError::Invalid(e) if e.field == "permissions.servers[1]"), "{err:?}");
        let (token, _) = new_token("missing", &[]);
        let err = store.create_token(&org, token).await.unwrap_err();
        assert!(matches!(&err, StoreError::Invalid(e) if e.field == "team"), "{err:?}");

        // An inconsistent patch changes nothing, not even the fields that were fine.
        let patch = ServerPatch {
            name: Some("renamed".into()),
            auth_type: Some("none".into()),
            headers: Some(BTreeMap::from([("x-key".to_owned(), SecretString::from("v2"))])),
            ..Default::default()
        };
        let err = store.update_server(&org, "s", patch).await.unwrap_err();
        assert!(matches!(&err, StoreError::Invalid(e) if e.field == "headers"), "{err:?}");

        // Provisioning to an unknown workspace.
        assert!(matches!(
            store.provision(&org, "nope", "s", ToolRules::default()).await,
            Err(StoreError::NotFound("workspace"))
        ));

        assert!(
            store
                .list_tokens(&org, &TokenFilter::default(), &PageRequest::default())
                .await
                .unwrap()
                .items
                .is_empty(),
            "{}",
            db.backend()
        );
        assert_eq!(store.get_server(&org, "s").await.unwrap(), before_server);
        assert_eq!(store.config_version().await.unwrap(), before_version);
        let state = store.load_edge_state().await.unwrap();
        assert_eq!(state.servers[0].headers["x-key"].expose_secret(), "v1");
    }
}

#[tokio::test]
async fn storage_tokens_revoke_and_rotate() {
    for db in TestDb::all().await {
        let (store, org) = store(&db).await;
        store.create_workspace(&org, workspace("w")).await.unwrap();
        let (token, text) = new_token("w", &[]);
        let minted = store.create_token(&org, token).await.unwrap().value;
        assert_eq!(minted.team, "w");
        let lifetime = minted.expires_at.unwrap() - minted.issued_at;

        let state = store.load_edge_state().await.unwrap();
        assert_eq!(state.tokens.len(), 1);
        assert_eq!(state.tokens[0].hash, hash_token(&text));

        let fresh = tokens::generate();
        let rotated =
            store.rotate_token(&org, &minted.id, fresh.hash, fresh.hint.clone()).await.unwrap().value;
        assert_eq!(rotated.id, minted.id);
        assert_eq!(rotated.token_hint, fresh.hint);
        assert_eq!(rotated.expires_at.unwrap() - rotated.issued_at, lifetime, "rotation keeps the lifetime");
        let state = store.load_edge_state().await.unwrap();
        assert_eq!(state.tokens[0].hash, fresh.hash, "{}", db.backend());

        let revoked = store.revoke_token(&org, &minted.id).await.unwrap();
        assert!(revoked.value.revoked_at.is_some());
        assert!(store.load_edge_state().await.unwrap().tokens.is_empty());
        let team = TokenFilter { team: Some("w".into()), ..Default::default() };
        let listed = store.list_tokens(&org, &team, &PageRequest::default()).await.unwrap().items;
        assert_eq!(listed.len(), 1, "revoked tokens stay listed");
        assert!(listed[0].revoked_at.is_some());
        // Revoking again changes nothing; rotating a revoked token conflicts.
        let again = store.revoke_token(&org, &minted.id).await.unwrap();
        assert_eq!(again.version, revoked.version);
        let other = tokens::generate();
        assert!(matches!(
            store.rotate_token(&org, &minted.id, other.hash, other.hint).await,
            Err(StoreError::Conflict { .. })
        ));
        assert!(store
            .list_tokens(
                &org,
                &TokenFilter { user: Some("bob".into()), ..Default::default() },
                &PageRequest::default()
            )
            .await
            .unwrap()
            .items
            .is_empty());

        // Expired tokens are not sent to edges.
        let (mut short, _) = new_token("w", &[]);
        short.lifetime = Lifetime::For(chrono::Duration::seconds(-1));
        store.create_token(&org, short).await.unwrap();
        assert!(store.load_edge_state().await.unwrap().tokens.is_empty());
    }
}

#[tokio::test]
async fn storage_master_key_rotation_rewraps_secrets() {
    for db in TestDb::all().await {
        let old = MasterKey::generate();
        let (store, org) = open(&db, Keyring::new(old.clone(), vec![])).await;
        store.create_server(&org, server("s", &[("authorization", "Bearer rotated-secret")])).await.unwrap();
        store.ensure_session_binding_key().await.unwrap();
        let session_key =
            store.load_edge_state().await.unwrap().session_binding_key.unwrap().expose_secret().to_vec();
        store.close().await.unwrap();

        // A keyring without the old key cannot open the records.
        let new = MasterKey::generate();
        let (stranger, _) = open(&db, Keyring::new(new.clone(), vec![])).await;
        assert!(stranger.rewrap_all().await.is_err(), "{}", db.backend());
        stranger.close().await.unwrap();

        let (rotating, _) = open(&db, Keyring::new(new.clone(), vec![old])).await;
        assert_eq!(rotating.rewrap_all().await.unwrap(), 2);
        assert_eq!(rotating.rewrap_all().await.unwrap(), 0);
        rotating.close().await.unwrap();

        let (rotated, _) = open(&db, Keyring::new(new, vec![])).await;
        let state = rotated.load_edge_state().await.unwrap();
        assert_eq!(state.servers[0].headers["authorization"].expose_secret(), "Bearer rotated-secret");
        assert_eq!(state.session_binding_key.unwrap().expose_secret().to_vec(), session_key);
    }
}

/// Every sealed column of the schema (found by name: `*ciphertext`, `*wrapped_key`).
async fn sealed_columns_in_schema(db: &TestDb) -> std::collections::BTreeSet<(String, String)> {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let conn = Database::connect(db.url()).await.unwrap();
    let backend = conn.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Sqlite => {
            "SELECT m.name AS table_name, p.name AS column_name FROM sqlite_master m \
             JOIN pragma_table_info(m.name) p WHERE m.type = 'table'"
        }
        _ => {
            "SELECT table_name::text AS table_name, column_name::text AS column_name \
             FROM information_schema.columns WHERE table_schema = current_schema()"
        }
    };
    let rows = conn.query_all(Statement::from_string(backend, sql)).await.unwrap();
    let mut sealed = std::collections::BTreeSet::new();
    for row in rows {
        let table: String = row.try_get("", "table_name").unwrap();
        let column: String = row.try_get("", "column_name").unwrap();
        for suffix in ["ciphertext", "wrapped_key"] {
            if let Some(prefix) = column.strip_suffix(suffix) {
                sealed.insert((table.clone(), prefix.to_owned()));
            }
        }
    }
    conn.close().await.unwrap();
    sealed
}

#[tokio::test]
async fn storage_every_sealed_column_is_in_the_rewrap_registry() {
    use gatehouse_control_plane::store::sealed_columns::SEALED_COLUMNS;
    for db in TestDb::all().await {
        let (store, _) = store(&db).await;
        store.close().await.unwrap();
        let in_schema = sealed_columns_in_schema(&db).await;
        assert!(
            in_schema.contains(&("server_headers".into(), String::new())),
            "sanity: the scan finds sealed columns"
        );
        let registered: std::collections::BTreeSet<(String, String)> =
            SEALED_COLUMNS.iter().map(|c| (c.table.to_owned(), c.prefix.to_owned())).collect();
        let missing: Vec<_> = in_schema.difference(&registered).collect();
        assert!(
            missing.is_empty(),
            "{}: sealed columns missing from SEALED_COLUMNS: {missing:?}",
            db.backend()
        );
        let stale: Vec<_> = registered.difference(&in_schema).collect();
        assert!(
            stale.is_empty(),
            "{}: SEALED_COLUMNS names columns the schema lacks: {stale:?}",
            db.backend()
        );
    }
}

#[tokio::test]
async fn storage_master_key_rotation_reaches_every_sealed_column_sso_included() {
    use gatehouse_control_plane::accounts::{ClaimMappings, ProviderKind};
    use gatehouse_control_plane::store::grants::{GrantTokens, NewTokens};
    use gatehouse_control_plane::store::oauth_clients::OAuthClientRecord;
    use gatehouse_control_plane::store::NewSsoProvider;
    for db in TestDb::all().await {
        let old = MasterKey::generate();
        let (store, org) = open(&db, Keyring::new(old.clone(), vec![])).await;
        store.create_server(&org, server("s", &[("authorization", "Bearer rotated-secret")])).await.unwrap();
        store.ensure_session_binding_key().await.unwrap();
        let provider = store
            .create_sso_provider(
                &org,
                NewSsoProvider {
                    name: "corp".into(),
                    kind: ProviderKind::Oidc,
                    issuer: "https://idp.example.com".into(),
                    client_id: "gatehouse".into(),
                    client_secret: Some(SecretString::from("sso-client-secret")),
                    scopes: vec!["openid".into()],
                    claim_mappings: ClaimMappings::preset(ProviderKind::Oidc),
                    enabled: true,
                },
            )
            .await
            .unwrap();
        let tokens = NewTokens {
            tokens: GrantTokens {
                access_token: SecretString::from("rotate-access"),
                refresh_token: Some(SecretString::from("rotate-refresh")),
            },
            access_expires_at: 0,
            scopes: vec![],
        };
        store.store_grant(&org, "ivy", "server-1", tokens, None).await.unwrap();
        let record = OAuthClientRecord {
            key: "preset:server-1".into(),
            issuer: String::new(),
            client_id: "c".into(),
            auth_method: "client_secret_basic".into(),
            metadata: json!({}),
            client_secret: Some(SecretString::from("rotate-secret")),
        };
        store.put_oauth_client(&record).await.unwrap();
        store.close().await.unwrap();

        let new = MasterKey::generate();
        let (rotating, _) = open(&db, Keyring::new(new.clone(), vec![old])).await;
        assert_eq!(rotating.rewrap_all().await.unwrap(), 5, "{}", db.backend());
        assert_eq!(rotating.rewrap_all().await.unwrap(), 0);
        rotating.close().await.unwrap();

        // The previous key is gone: every sealed value still opens.
        let (rotated, _) = open(&db, Keyring::new(new, vec![])).await;
        assert_eq!(rotated.rewrap_all().await.unwrap(), 0);
        let secret = rotated.sso_provider_secret(&org, &provider.id).await.unwrap().unwrap();
        assert_eq!(secret.expose_secret(), "sso-client-secret");
        let state = rotated.load_edge_state().await.unwrap();
        assert_eq!(state.servers[0].headers["authorization"].expose_secret(), "Bearer rotated-secret");
        let grant = rotated.find_grant(&org, "ivy", "server-1").await.unwrap().unwrap();
        assert_eq!(grant.tokens.refresh_token.unwrap().expose_secret(), "rotate-refresh");
        let client = rotated.oauth_client("preset:server-1").await.unwrap().unwrap();
        assert_eq!(client.client_secret.unwrap().expose_secret(), "rotate-secret");
        rotated.close().await.unwrap();
    }
}

#[tokio::test]
async fn storage_secrets_never_hit_the_sqlite_file_in_plaintext() {
    let db = TestDb::sqlite().await;
    let (store, org) = store(&db).await;
    let header_value = "Bearer PLAINTEXT-HEADER-7f3a9c";
    store.create_workspace(&org, workspace("w")).await.unwrap();
    store.create_server(&org, server("s", &[("authorization", header_value)])).await.unwrap();
    let (token, text) = new_token("w", &[]);
    store.create_token(&org, token).await.unwrap();
    store.ensure_session_binding_key().await.unwrap();
    let state = store.load_edge_state().await.unwrap();
    assert_eq!(state.servers[0].headers["authorization"].expose_secret(), header_value);
    let session_key = state.session_binding_key.unwrap().expose_secret().to_vec();

    let path = db.sqlite_path().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let wal = path.with_file_name(format!("{}-wal", path.file_name().unwrap().to_string_lossy()));
    if let Ok(more) = std::fs::read(&wal) {
        bytes.extend(more);
    }
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(contains(b"authorization"), "sanity: header names are stored in clear");
    assert!(!contains(header_value.as_bytes()), "header value found in plaintext");
    assert!(!contains(b"PLAINTEXT-HEADER"), "part of the header value found in plaintext");
    assert!(!contains(text.as_bytes()), "token text found in the database");
    assert!(!contains(&session_key), "session key found in plaintext");
    assert!(contains(&hash_token(&text)), "sanity: the token hash is stored");
}

fn certificate_identity(team: &str, kind: CertNameKind, value: &str) -> NewCertificateIdentity {
    NewCertificateIdentity {
        team: team.into(),
        kind,
        value: value.into(),
        user: "ci-agent".into(),
        scopes: vec!["mcp".into()],
        server_permissions: vec!["github".into()],
        tool_permissions: vec!["get_*".into()],
        // Read back by `get_certificate_identity` below: the binding survives both backends.
        issuer: CertificateIssuer { ca_sha256: Some([7; 32]), spiffe_trust_domain: Some("acme".into()) },
    }
}

#[tokio::test]
async fn storage_certificate_identities_are_unique_per_name_and_follow_their_workspace() {
    for db in TestDb::all().await {
        let (store, org) = store(&db).await;
        let backend = db.backend();
        store.create_workspace(&org, workspace("eng")).await.unwrap();
        store.create_server(&org, server("github", &[])).await.unwrap();
        let spiffe = "spiffe://acme/agent/ci";

        let before = store.config_version().await.unwrap();
        let created = store
            .create_certificate_identity(&org, certificate_identity("eng", CertNameKind::SanUri, spiffe))
            .await;
        let created = created.unwrap();
        assert!(created.version > before, "{backend}: registering bumps the config version");
        let record = created.value;
        assert_eq!(
            (record.team.as_str(), record.kind, record.value.as_str()),
            ("eng", CertNameKind::SanUri, spiffe)
        );
        assert_eq!(record.server_permissions, vec!["github"]);
        assert_eq!(store.get_certificate_identity(&org, &record.id).await.unwrap(), record, "{backend}");

        // One caller per certificate name, whichever org asks.
        let dup = store
            .create_certificate_identity(&org, certificate_identity("eng", CertNameKind::SanUri, spiffe));
        assert!(matches!(dup.await, Err(StoreError::Conflict { field: Some("value"), .. })), "{backend}");
        let other = store.ensure_org("other", "Other").await.unwrap().id;
        store.create_workspace(&other, workspace("ops")).await.unwrap();
        let mut elsewhere = certificate_identity("ops", CertNameKind::SanUri, spiffe);
        elsewhere.server_permissions.clear();
        let err = store.create_certificate_identity(&other, elsewhere).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict { field: Some("value"), .. }), "{backend}: {err:?}");
        // The same text as another kind of name is another name.
        let as_cn = store
            .create_certificate_identity(&org, certificate_identity("eng", CertNameKind::SubjectCn, spiffe))
            .await
            .unwrap();

        // References are checked like a gateway token's.
        let err = store
            .create_certificate_identity(
                &org,
                certificate_identity("nope", CertNameKind::SanDns, "a.example"),
            )
            .await
            .unwrap_err();
        assert!(matches!(&err, StoreError::Invalid(e) if e.field == "team"), "{backend}: {err:?}");
        let mut unknown_server = certificate_identity("eng", CertNameKind::SanDns, "a.example");
        unknown_server.server_permissions = vec!["jira".into()];
        let err = store.create_certificate_identity(&org, unknown_server).await.unwrap_err();
        assert!(matches!(&err, StoreError::Invalid(e) if e.field == "permissions.servers[0]"), "{err:?}");

        let edge = store.load_edge_state().await.unwrap();
        assert_eq!(edge.certificate_identities.len(), 2, "{backend}");
        assert_eq!(store.list_certificate_identities(&org).await.unwrap().len(), 2);
        assert!(store.list_certificate_identities(&other).await.unwrap().is_empty(), "{backend}: per org");

        store.delete_certificate_identity(&org, &as_cn.value.id).await.unwrap();
        assert!(matches!(
            store.get_certificate_identity(&org, &as_cn.value.id).await,
            Err(StoreError::NotFound("certificate identity"))
        ));
        assert!(
            matches!(
                store.delete_certificate_identity(&other, &record.id).await,
                Err(StoreError::NotFound(_))
            ),
            "{backend}: another org cannot delete it"
        );
        // Deleting the workspace takes its certificate identities with it.
        store.delete_workspace(&org, "eng").await.unwrap();
        assert!(store.list_certificate_identities(&org).await.unwrap().is_empty(), "{backend}");
        assert!(store.load_edge_state().await.unwrap().certificate_identities.is_empty(), "{backend}");
    }
}

#[tokio::test]
async fn storage_edge_tokens_create_page_revoke() {
    for db in TestDb::all().await {
        let (store, _org) = store(&db).await;
        store.ensure_org("acme", "Acme").await.unwrap();
        let version = store.config_version().await.unwrap();
        let new = |name: &str, orgs: Option<Vec<String>>| {
            let generated = tokens::generate_edge_token();
            let text = generated.token.expose_secret().to_owned();
            (NewEdgeToken { name: name.into(), orgs, hash: generated.hash, hint: generated.hint }, text)
        };

        let (unknown, _) = new("x", Some(vec!["acme".into(), "nope".into()]));
        match store.create_edge_token(unknown).await {
            Err(StoreError::Invalid(e)) => assert_eq!(e.field, "orgs[1]"),
            other => panic!("expected an invalid orgs[1], got {other:?}"),
        }
        let (scoped, scoped_text) = new("eu", Some(vec!["acme".into()]));
        let scoped = store.create_edge_token(scoped).await.unwrap();
        assert_eq!(scoped.orgs.as_deref(), Some(&["acme".to_owned()][..]));
        let (everywhere, _) = new("all", None);
        let everywhere = store.create_edge_token(everywhere).await.unwrap();
        assert_eq!(store.config_version().await.unwrap(), version, "edge tokens are not edge config");

        let found = store.active_edge_token(&hash_token(&scoped_text)).await.unwrap().expect("found by hash");
        assert_eq!(found.id, scoped.id);
        let first = store.list_edge_tokens(None, 1).await.unwrap();
        assert_eq!(first.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), [scoped.id.as_str()]);
        let second = store.list_edge_tokens(Some(&scoped.id), 10).await.unwrap();
        assert_eq!(second.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), [everywhere.id.as_str()]);

        let at = chrono::Utc::now();
        store.touch_edge_token(&scoped.id, at).await.unwrap();
        let touched = store.edge_token(&scoped.id).await.unwrap().unwrap();
        assert!(touched.last_used_at.is_some(), "{}", db.backend());

        let revoked = store.revoke_edge_token(&scoped.id).await.unwrap();
        assert!(revoked.revoked_at.is_some());
        assert!(store.active_edge_token(&hash_token(&scoped_text)).await.unwrap().is_none());
        let again = store.revoke_edge_token(&scoped.id).await.unwrap();
        assert_eq!(again.revoked_at, revoked.revoked_at, "revoking twice keeps the first time");
        assert!(matches!(store.revoke_edge_token("missing").await, Err(StoreError::NotFound(_))));
        assert_eq!(store.list_edge_tokens(None, 10).await.unwrap().len(), 2, "revoked tokens stay listed");
    }
}

#[tokio::test]
async fn storage_grants_are_keyed_by_org_and_identity() {
    use gatehouse_config::grant_identity::{GrantIdentity, IdentitySource};
    for db in TestDb::all().await {
        let (store, default_org) = store(&db).await;
        let acme = store.ensure_org("acme", "Acme").await.unwrap().id;
        let tokens = |access: &str| NewTokens {
            tokens: GrantTokens { access_token: SecretString::from(access), refresh_token: None },
            access_expires_at: 0,
            scopes: vec![],
        };
        let jwt = GrantIdentity::jwt("https://idp.example.com", "alice@example.com");
        let other_issuer = GrantIdentity::jwt("https://other.example.com", "alice@example.com");
        let user =
            store.store_grant(&default_org, "alice@example.com", "s1", tokens("user"), None).await.unwrap();
        let by_jwt = store.store_grant(&default_org, &jwt, "s1", tokens("jwt"), None).await.unwrap();
        let by_other =
            store.store_grant(&default_org, &other_issuer, "s1", tokens("other"), None).await.unwrap();
        let in_acme =
            store.store_grant(&acme, "alice@example.com", "s1", tokens("acme"), None).await.unwrap();
        let ids = BTreeMap::from([
            (user.id.clone(), "user"),
            (by_jwt.id.clone(), "jwt"),
            (by_other.id.clone(), "other"),
            (in_acme.id.clone(), "acme"),
        ]);
        assert_eq!(ids.len(), 4, "four separate grants ({})", db.backend());
        assert_eq!(user.identity_source, IdentitySource::Gatehouse);
        assert_eq!(by_jwt.identity(), jwt);

        let find = |org: &str, who: GrantIdentity| {
            let store = store.clone();
            let org = org.to_owned();
            async move {
                let grant = store.find_grant(&org, who, "s1").await.unwrap().expect("a grant");
                grant.tokens.access_token.expose_secret().to_owned()
            }
        };
        assert_eq!(find(&default_org, "alice@example.com".into()).await, "user");
        assert_eq!(find(&default_org, jwt.clone()).await, "jwt");
        assert_eq!(find(&default_org, other_issuer).await, "other");
        assert_eq!(find(&acme, "alice@example.com".into()).await, "acme");
        assert!(store.find_grant(&acme, &jwt, "s1").await.unwrap().is_none());

        // Storing again for the same key replaces the tokens of the same grant.
        let again = store.store_grant(&default_org, &jwt, "s1", tokens("jwt-2"), None).await.unwrap();
        assert_eq!(again.id, by_jwt.id);
        assert_eq!(again.version, by_jwt.version + 1);

        // One Gatehouse user's grants never include a JWT subject's.
        let listed = store.list_grants(&default_org, Some("alice@example.com")).await.unwrap();
        assert_eq!(listed.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), [user.id.as_str()]);
        assert_eq!(store.list_grants(&default_org, None).await.unwrap().len(), 3);
    }
}
