//! Upstream servers and their sealed static headers.

use std::collections::BTreeMap;

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use secrecy::{ExposeSecret, SecretString};

use super::entities::{provision, server, server_header, upstream_oauth_client};
use super::{from_json_text, new_id, now, NewServer, Server, ServerPatch, Store, StoreError, Versioned};
use crate::credentials::{Keyring, SealedRecord};
use crate::validation::FieldError;

/// AAD binding a sealed header value to its server and header name.
pub(super) fn header_aad(server_id: &str, name: &str) -> Vec<u8> {
    format!("server:{server_id}:header:{name}").into_bytes()
}

impl Store {
    /// Registers a server; header values are sealed before they are written.
    pub async fn create_server(&self, org_id: &str, new: NewServer) -> Result<Versioned<Server>, StoreError> {
        check_auth(&new.auth_type, &new.headers)?;
        let (txn, version) = self.begin_write().await?;
        if find_server(&txn, org_id, &new.slug).await?.is_some() {
            return Err(duplicate(&new.slug));
        }
        let at = now();
        let row = server::Model {
            id: new_id(),
            org_id: org_id.to_owned(),
            slug: new.slug,
            name: new.name,
            url: new.url,
            auth_type: new.auth_type,
            advanced_config: super::to_json_text(&new.advanced_config),
            auto_provision: new.auto_provision,
            created_at: at,
            updated_at: at,
        };
        server::Entity::insert(server::ActiveModel::from(row.clone()))
            .exec_without_returning(&txn)
            .await
            .map_err(|e| {
                StoreError::unique_or_db(e, "slug", format!("server {:?} already exists", row.slug))
            })?;
        write_headers(&txn, &self.keyring, &row.id, &new.headers).await?;
        txn.touched().servers.insert(row.id.clone());
        let names: Vec<String> = new.headers.keys().cloned().collect();
        txn.set_audit_change(None, Some(audit_view(&row, &names)));
        txn.commit().await?;
        Ok(Versioned { value: server_from(row, names)?, version })
    }

    /// All servers of the org, by slug.
    pub async fn list_servers(&self, org_id: &str) -> Result<Vec<Server>, StoreError> {
        let rows = server::Entity::find()
            .filter(server::Column::OrgId.eq(org_id))
            .order_by_asc(server::Column::Slug)
            .all(&self.db)
            .await?;
        let mut names = header_names(&self.db, rows.iter().map(|r| r.id.clone()).collect()).await?;
        rows.into_iter()
            .map(|r| {
                let n = names.remove(&r.id).unwrap_or_default();
                server_from(r, n)
            })
            .collect()
    }

    /// The server with `slug`.
    pub async fn get_server(&self, org_id: &str, slug: &str) -> Result<Server, StoreError> {
        let row = find_server(&self.db, org_id, slug).await?.ok_or(StoreError::NotFound("server"))?;
        let mut names = header_names(&self.db, vec![row.id.clone()]).await?;
        let n = names.remove(&row.id).unwrap_or_default();
        server_from(row, n)
    }

    /// Applies a partial update; `headers` replaces the whole set. The slug never changes.
    ///
    /// Switching `auth_type` to `none` without sending `headers` clears the headers.
    pub async fn update_server(
        &self,
        org_id: &str,
        slug: &str,
        patch: ServerPatch,
    ) -> Result<Versioned<Server>, StoreError> {
        let (txn, version) = self.begin_write().await?;
        let current = find_server(&txn, org_id, slug).await?.ok_or(StoreError::NotFound("server"))?;
        let current_names: Vec<String> =
            header_names(&txn, vec![current.id.clone()]).await?.remove(&current.id).unwrap_or_default();

        let auth_type = patch.auth_type.clone().unwrap_or_else(|| current.auth_type.clone());
        let headers = match (&patch.headers, auth_type.as_str()) {
            (Some(h), _) => Some(h.clone()),
            (None, "none") if !current_names.is_empty() => Some(BTreeMap::new()),
            (None, _) => None,
        };
        match &headers {
            Some(h) => check_auth(&auth_type, h)?,
            None => check_auth_names(&auth_type, current_names.len())?,
        }

        let mut row = current.clone();
        if let Some(name) = patch.name {
            row.name = name;
        }
        if let Some(url) = patch.url {
            row.url = url;
        }
        row.auth_type = auth_type;
        if let Some(config) = &patch.advanced_config {
            row.advanced_config = super::to_json_text(config);
        }
        if let Some(flag) = patch.auto_provision {
            row.auto_provision = flag;
        }
        // A change to nothing is no change: no version, no `updated_at`, no re-sealed headers.
        // Header values are compared decrypted, so re-applying the same secret (as config as
        // code does, values being write-only) is recognised as unchanged.
        if row == current && headers_unchanged(&txn, &self.keyring, &current.id, headers.as_ref()).await? {
            txn.rollback().await?;
            let version = self.config_version().await?;
            return Ok(Versioned { value: server_from(current, current_names)?, version });
        }
        row.updated_at = now();
        let before = audit_view(&current, &current_names);
        server::Entity::update(server::ActiveModel::from(row.clone()).reset_all()).exec(&txn).await?;

        let names = match &headers {
            Some(h) => {
                server_header::Entity::delete_many()
                    .filter(server_header::Column::ServerId.eq(&row.id))
                    .exec(&txn)
                    .await?;
                write_headers(&txn, &self.keyring, &row.id, h).await?;
                h.keys().cloned().collect()
            }
            None => current_names,
        };
        txn.touched().servers.insert(row.id.clone());
        txn.set_audit_change(Some(before), Some(audit_view(&row, &names)));
        txn.commit().await?;
        Ok(Versioned { value: server_from(row, names)?, version })
    }

    /// The decrypted static headers of the server `server_id` of `org_id`, for the
    /// control plane's own upstream calls (the console's tool list), which inject
    /// them exactly as an edge does. Never returned by the API.
    pub async fn server_header_values(
        &self,
        org_id: &str,
        server_id: &str,
    ) -> Result<BTreeMap<String, SecretString>, StoreError> {
        let owned = server::Entity::find_by_id(server_id)
            .filter(server::Column::OrgId.eq(org_id))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound("server"))?;
        let ids = [owned.id];
        Ok(decrypted_headers(&self.db, &self.keyring, Some(&ids)).await?.remove(&ids[0]).unwrap_or_default())
    }

    /// The ids of the org's `oauth2` and `client_credentials` servers whose OAuth
    /// set-up (discovery, client registration) is resolved and stored.
    pub async fn oauth_resolved_server_ids(
        &self,
        org_id: &str,
    ) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let rows = server::Entity::find()
            .filter(server::Column::OrgId.eq(org_id))
            .filter(server::Column::AuthType.is_in(["oauth2", "client_credentials"]))
            .all(&self.db)
            .await?;
        let keys: BTreeMap<String, String> =
            rows.into_iter().map(|r| (super::oauth_clients::server_key(&r.id), r.id)).collect();
        if keys.is_empty() {
            return Ok(Default::default());
        }
        Ok(upstream_oauth_client::Entity::find()
            .filter(upstream_oauth_client::Column::Key.is_in(keys.keys().cloned()))
            .all(&self.db)
            .await?
            .into_iter()
            .filter_map(|r| keys.get(&r.key).cloned())
            .collect())
    }

    /// Servers of auth type `oauth2` or `client_credentials` whose OAuth client
    /// is not resolved yet (e.g. their authorization server was down).
    pub async fn unresolved_oauth_servers(&self) -> Result<Vec<Server>, StoreError> {
        let rows = server::Entity::find()
            .filter(server::Column::AuthType.is_in(["oauth2", "client_credentials"]))
            .all(&self.db)
            .await?;
        let keys: Vec<String> = rows.iter().map(|r| super::oauth_clients::server_key(&r.id)).collect();
        let resolved: std::collections::BTreeSet<String> = upstream_oauth_client::Entity::find()
            .filter(upstream_oauth_client::Column::Key.is_in(keys))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| r.key)
            .collect();
        rows.into_iter()
            .filter(|r| !resolved.contains(&super::oauth_clients::server_key(&r.id)))
            // OAuth servers carry no static headers.
            .map(|r| server_from(r, Vec::new()))
            .collect()
    }

    /// Deletes a server with everything of it in one transaction: headers,
    /// provisions, upstream OAuth client records and users' grants (tombstoned).
    pub async fn delete_server(&self, org_id: &str, slug: &str) -> Result<Versioned<()>, StoreError> {
        let (txn, version) = self.begin_write().await?;
        let row = find_server(&txn, org_id, slug).await?.ok_or(StoreError::NotFound("server"))?;
        let names = header_names(&txn, vec![row.id.clone()]).await?.remove(&row.id).unwrap_or_default();
        txn.set_audit_change(Some(audit_view(&row, &names)), None);
        super::touch::touch_server(&txn, &row.id).await?;
        provision::Entity::delete_many().filter(provision::Column::ServerId.eq(&row.id)).exec(&txn).await?;
        server_header::Entity::delete_many()
            .filter(server_header::Column::ServerId.eq(&row.id))
            .exec(&txn)
            .await?;
        super::oauth_clients::delete_server_clients(&txn, &row.id).await?;
        super::grants::revoke_server_grants(&txn, &row.id, super::now()).await?;
        server::Entity::delete_by_id(row.id).exec(&txn).await?;
        txn.commit().await?;
        Ok(Versioned { value: (), version })
    }
}

/// `none` takes no headers; `headers` needs at least one.
fn check_auth(auth_type: &str, headers: &BTreeMap<String, SecretString>) -> Result<(), FieldError> {
    check_auth_names(auth_type, headers.len())
}

fn check_auth_names(auth_type: &str, count: usize) -> Result<(), FieldError> {
    match (auth_type, count) {
        ("none", n) if n > 0 => Err(FieldError::new(
            "headers",
            "must be empty when auth_type is \"none\" (use auth_type \"headers\")",
        )),
        ("headers", 0) => {
            Err(FieldError::new("headers", "needs at least one header when auth_type is \"headers\""))
        }
        _ => Ok(()),
    }
}

async fn write_headers(
    conn: &impl ConnectionTrait,
    keyring: &Keyring,
    server_id: &str,
    headers: &BTreeMap<String, SecretString>,
) -> Result<(), StoreError> {
    for (name, value) in headers {
        let sealed = keyring.seal(value.expose_secret().as_bytes(), &header_aad(server_id, name))?;
        server_header::Entity::insert(server_header::ActiveModel {
            server_id: Set(server_id.to_owned()),
            name: Set(name.clone()),
            key_id: Set(sealed.key_id),
            wrapped_key: Set(sealed.wrapped_key),
            ciphertext: Set(sealed.ciphertext),
        })
        .exec_without_returning(conn)
        .await?;
    }
    Ok(())
}

/// Header names per server id, sorted.
async fn header_names(
    conn: &impl ConnectionTrait,
    server_ids: Vec<String>,
) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
    if server_ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let rows = server_header::Entity::find()
        .filter(server_header::Column::ServerId.is_in(server_ids))
        .order_by_asc(server_header::Column::Name)
        .all(conn)
        .await?;
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in rows {
        out.entry(r.server_id).or_default().push(r.name);
    }
    Ok(out)
}

/// Whether `headers` (a replacement set, or `None` for none given) equals the server's
/// current headers, values compared in constant time.
async fn headers_unchanged(
    conn: &impl ConnectionTrait,
    keyring: &Keyring,
    server_id: &str,
    headers: Option<&BTreeMap<String, SecretString>>,
) -> Result<bool, StoreError> {
    let Some(wanted) = headers else { return Ok(true) };
    let ids = [server_id.to_owned()];
    let current = decrypted_headers(conn, keyring, Some(&ids)).await?.remove(server_id).unwrap_or_default();
    Ok(current.len() == wanted.len()
        && current.iter().zip(wanted).all(|((n1, v1), (n2, v2))| {
            n1 == n2
                && bool::from(subtle::ConstantTimeEq::ct_eq(
                    v1.expose_secret().as_bytes(),
                    v2.expose_secret().as_bytes(),
                ))
        }))
}

/// Decrypts every header of the servers `ids` names (all servers when `None`), by server id.
pub(super) async fn decrypted_headers(
    conn: &impl ConnectionTrait,
    keyring: &Keyring,
    ids: Option<&[String]>,
) -> Result<BTreeMap<String, BTreeMap<String, SecretString>>, StoreError> {
    let mut query = server_header::Entity::find();
    if let Some(ids) = ids {
        query = query.filter(server_header::Column::ServerId.is_in(ids.iter().cloned()));
    }
    let rows = query.all(conn).await?;
    let mut out: BTreeMap<String, BTreeMap<String, SecretString>> = BTreeMap::new();
    for r in rows {
        let sealed = SealedRecord { key_id: r.key_id, wrapped_key: r.wrapped_key, ciphertext: r.ciphertext };
        let value = keyring.unseal_string(&sealed, &header_aad(&r.server_id, &r.name))?;
        out.entry(r.server_id).or_default().insert(r.name, value);
    }
    Ok(out)
}

pub(super) async fn find_server(
    conn: &impl ConnectionTrait,
    org_id: &str,
    slug: &str,
) -> Result<Option<server::Model>, StoreError> {
    Ok(server::Entity::find()
        .filter(server::Column::OrgId.eq(org_id))
        .filter(server::Column::Slug.eq(slug))
        .one(conn)
        .await?)
}

pub(super) fn server_from(m: server::Model, header_names: Vec<String>) -> Result<Server, StoreError> {
    Ok(Server {
        advanced_config: from_json_text("servers.advanced_config", &m.advanced_config)?,
        id: m.id,
        org_id: m.org_id,
        slug: m.slug,
        name: m.name,
        url: m.url,
        auth_type: m.auth_type,
        header_names,
        auto_provision: m.auto_provision,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn duplicate(slug: &str) -> StoreError {
    StoreError::Conflict { field: Some("slug"), message: format!("server {slug:?} already exists") }
}

/// A server as its audit rows show it: header names only (values are sealed
/// secrets), and `advanced_config` with secret-looking values redacted.
fn audit_view(row: &server::Model, header_names: &[String]) -> serde_json::Value {
    let advanced: serde_json::Value = serde_json::from_str(&row.advanced_config).unwrap_or_default();
    serde_json::json!({
        "id": row.id,
        "slug": row.slug,
        "name": row.name,
        "url": row.url,
        "auth_type": row.auth_type,
        "headers": header_names
            .iter()
            .map(|n| (n.clone(), serde_json::Value::String(super::audit_events::REDACTED.into())))
            .collect::<serde_json::Map<_, _>>(),
        "advanced_config": super::audit_events::redacted(advanced),
        "auto_provision": row.auto_provision,
    })
}
