//! The config publisher: reloads the edge-facing state after each change,
//! diffs it against what it last published and broadcasts the delta.
//!
//! The diff is generic (maps keyed by id), so handlers never build deltas.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_proto::config::v1 as pb;
use pb::change::Kind;
use secrecy::ExposeSecret;
use tokio::sync::{broadcast, Mutex};
use tokio_util::sync::CancellationToken;

use crate::store::{EdgeState, Store, StoreError};

/// Deltas buffered per subscriber before it counts as lagging (and gets a snapshot).
const BROADCAST_CAPACITY: usize = 1024;

/// The edge-facing state in wire form, keyed for diffing.
#[derive(Debug, Default, Clone, PartialEq)]
struct WireState {
    orgs: BTreeMap<String, pb::Org>,
    servers: BTreeMap<String, pb::Server>,
    workspaces: BTreeMap<String, pb::Workspace>,
    provisions: BTreeMap<(String, String), pb::Provision>,
    tokens: BTreeMap<String, pb::GatewayToken>,
    certificate_identities: BTreeMap<String, pb::CertificateIdentity>,
    settings: pb::EdgeSettings,
    /// Tombstones of disconnected upstream grants, by grant id.
    revoked_grants: BTreeMap<String, String>,
    /// Recently completed URL elicitations, by elicitation id.
    completed_elicitations: BTreeMap<String, pb::ElicitationCompletion>,
}

#[derive(Debug)]
struct Published {
    version: u64,
    state: WireState,
}

/// Publishes config versions to subscribed edges.
pub struct Publisher {
    store: Store,
    published: Mutex<Published>,
    deltas: broadcast::Sender<Arc<pb::Delta>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

impl Publisher {
    /// Loads the current state; it becomes the first published version.
    pub async fn load(store: Store) -> Result<Self, StoreError> {
        let state = store.load_edge_state().await?;
        let version = state.version;
        let (deltas, _) = broadcast::channel(BROADCAST_CAPACITY);
        Ok(Self { store, published: Mutex::new(Published { version, state: to_wire(state) }), deltas })
    }

    /// The last published version.
    pub async fn version(&self) -> u64 {
        self.published.lock().await.version
    }

    /// Reloads the state and, if the version moved, broadcasts the delta from the last
    /// published version. Returns the version now published.
    ///
    /// Call after every committed mutation. Holding the lock across the reload keeps
    /// deltas in order, so each one starts where the previous one ended.
    pub async fn publish(&self) -> Result<u64, StoreError> {
        let mut published = self.published.lock().await;
        let state = self.store.load_edge_state().await?;
        if state.version <= published.version {
            return Ok(published.version);
        }
        let version = state.version;
        let next = to_wire(state);
        let changes = diff(&published.state, &next);
        let delta = pb::Delta { from_version: published.version, version, changes };
        tracing::debug!(
            from_version = delta.from_version,
            version,
            changes = delta.changes.len(),
            "publishing config delta"
        );
        *published = Published { version, state: next };
        // No receivers is fine: nobody is subscribed right now.
        let _ = self.deltas.send(Arc::new(delta));
        Ok(version)
    }

    /// A snapshot of the published state plus a receiver of every later delta.
    ///
    /// Both are taken under the publish lock, so no delta falls between them.
    pub async fn subscribe(&self) -> (pb::Snapshot, broadcast::Receiver<Arc<pb::Delta>>) {
        let published = self.published.lock().await;
        let snapshot = pb::Snapshot { version: published.version, state: Some(to_state(&published.state)) };
        (snapshot, self.deltas.subscribe())
    }

    /// Publishes whenever the database version moves (e.g. another replica
    /// wrote), every `interval`, until `shutdown`.
    pub async fn poll(self: Arc<Self>, interval: Duration, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let current = match self.store.config_version().await {
                Ok(v) => v,
                Err(error) => {
                    tracing::warn!(%error, "config version poll failed");
                    continue;
                }
            };
            if current > self.version().await {
                if let Err(error) = self.publish().await {
                    tracing::error!(%error, "publishing polled config change failed");
                }
            }
        }
    }
}

fn to_wire(state: EdgeState) -> WireState {
    let servers = state
        .servers
        .into_iter()
        .map(|s| {
            let headers = s.headers.iter().map(|(k, v)| (k.clone(), v.expose_secret().to_owned())).collect();
            let server = s.server;
            let wire = pb::Server {
                id: server.id.clone(),
                org_id: server.org_id,
                slug: server.slug,
                name: server.name,
                url: server.url,
                auth_type: server.auth_type,
                headers,
                advanced_config_json: server.advanced_config.to_string(),
                oauth: state.upstream_oauth.servers.get(&server.id).map(upstream_oauth_wire),
            };
            (server.id, wire)
        })
        .collect();
    let workspaces = state
        .workspaces
        .into_iter()
        .map(|w| {
            let wire = pb::Workspace { id: w.id.clone(), org_id: w.org_id, slug: w.slug, name: w.name };
            (w.id, wire)
        })
        .collect();
    let provisions = state
        .provisions
        .into_iter()
        .map(|p| {
            let key = (p.workspace_id.clone(), p.server_id.clone());
            let wire = pb::Provision {
                workspace_id: p.workspace_id,
                server_id: p.server_id,
                tool_allow: p.tools.allow,
                tool_deny: p.tools.deny,
            };
            (key, wire)
        })
        .collect();
    let tokens = state
        .tokens
        .into_iter()
        .map(|t| {
            let r = t.record;
            let wire = pb::GatewayToken {
                id: r.id.clone(),
                org_id: r.org_id,
                token_hash: t.hash.to_vec(),
                user: r.user,
                workspace_id: r.workspace_id,
                scopes: r.scopes,
                server_permissions: r.server_permissions,
                tool_permissions: r.tool_permissions,
                expires_at: r.expires_at.map_or(0, |e| e.timestamp()),
            };
            (r.id, wire)
        })
        .collect();
    let certificate_identities = state
        .certificate_identities
        .into_iter()
        .map(|c| {
            let wire = pb::CertificateIdentity {
                id: c.id.clone(),
                org_id: c.org_id,
                kind: c.kind.as_str().to_owned(),
                value: c.value,
                user: c.user,
                workspace_id: c.workspace_id,
                scopes: c.scopes,
                server_permissions: c.server_permissions,
                tool_permissions: c.tool_permissions,
            };
            (c.id, wire)
        })
        .collect();
    let settings = pb::EdgeSettings {
        session_binding_key: state
            .session_binding_key
            .map(|k| k.expose_secret().to_vec())
            .unwrap_or_default(),
        // Gatehouse's own OAuth authorization server.
        issuer: state.oauth_server.issuer,
        jwks_json: state.oauth_server.jwks_json,
        identity_signing_jwk: state
            .oauth_server
            .identity_signing_jwk
            .map(|k| k.expose_secret().to_owned())
            .unwrap_or_default(),
        edge_public_base_url: state.oauth_server.edge_public_base_url,
        control_plane_public_url: state.oauth_server.control_plane_public_url,
        deactivated_users: state.oauth_server.deactivated_users,
        token_cache_key: state
            .upstream_oauth
            .token_cache_key
            .as_ref()
            .map(|k| k.expose_secret().to_vec())
            .unwrap_or_default(),
    };
    let orgs = state
        .orgs
        .into_iter()
        .map(|o| {
            let auth = state.org_auth.get(&o.id).cloned().unwrap_or_default();
            let json = |v: Option<serde_json::Value>| v.map(|v| v.to_string()).unwrap_or_default();
            let org = pb::Org {
                id: o.id.clone(),
                slug: o.slug,
                jwt_validation_json: json(auth.jwt_validation),
                external_auth_config_json: json(auth.external_auth_config),
            };
            (o.id, org)
        })
        .collect();
    let revoked_grants = state.revoked_grants.into_iter().map(|id| (id.clone(), id)).collect();
    let completed_elicitations = state
        .completed_elicitations
        .into_iter()
        .map(|c| {
            let wire = pb::ElicitationCompletion {
                elicitation_id: c.elicitation_id.clone(),
                org_id: c.org_id,
                user: c.user,
                server_id: c.server_id,
                session_hash: c.session_hash,
            };
            (c.elicitation_id, wire)
        })
        .collect();
    WireState {
        orgs,
        servers,
        workspaces,
        provisions,
        tokens,
        certificate_identities,
        settings,
        revoked_grants,
        completed_elicitations,
    }
}

/// `Server.oauth` of a resolved upstream OAuth client.
fn upstream_oauth_wire(record: &crate::store::oauth_clients::OAuthClientRecord) -> pb::UpstreamOAuth {
    crate::upstream_oauth::edge_config::to_wire(record)
}

fn to_state(w: &WireState) -> pb::ConfigState {
    pb::ConfigState {
        servers: w.servers.values().cloned().collect(),
        workspaces: w.workspaces.values().cloned().collect(),
        provisions: w.provisions.values().cloned().collect(),
        tokens: w.tokens.values().cloned().collect(),
        settings: Some(w.settings.clone()),
        orgs: w.orgs.values().cloned().collect(),
        revoked_grants: w.revoked_grants.values().cloned().collect(),
        certificate_identities: w.certificate_identities.values().cloned().collect(),
        completed_elicitations: w.completed_elicitations.values().cloned().collect(),
    }
}

/// The changes turning `old` into `new`: parents are upserted before children
/// and deleted after them.
fn diff(old: &WireState, new: &WireState) -> Vec<pb::Change> {
    let mut upserts = Vec::new();
    let mut deletes = Vec::new();
    diff_map(&old.orgs, &new.orgs, Kind::UpsertOrg, Kind::DeleteOrg, &mut upserts, &mut deletes);
    diff_map(
        &old.workspaces,
        &new.workspaces,
        Kind::UpsertWorkspace,
        Kind::DeleteWorkspace,
        &mut upserts,
        &mut deletes,
    );
    diff_map(&old.servers, &new.servers, Kind::UpsertServer, Kind::DeleteServer, &mut upserts, &mut deletes);
    diff_map(
        &old.provisions,
        &new.provisions,
        Kind::UpsertProvision,
        |(workspace_id, server_id)| Kind::DeleteProvision(pb::ProvisionKey { workspace_id, server_id }),
        &mut upserts,
        &mut deletes,
    );
    diff_map(&old.tokens, &new.tokens, Kind::UpsertToken, Kind::DeleteToken, &mut upserts, &mut deletes);
    diff_map(
        &old.revoked_grants,
        &new.revoked_grants,
        Kind::RevokeGrant,
        Kind::ForgetRevokedGrant,
        &mut upserts,
        &mut deletes,
    );
    diff_map(
        &old.certificate_identities,
        &new.certificate_identities,
        Kind::UpsertCertificateIdentity,
        Kind::DeleteCertificateIdentity,
        &mut upserts,
        &mut deletes,
    );
    diff_map(
        &old.completed_elicitations,
        &new.completed_elicitations,
        Kind::CompleteElicitation,
        Kind::ForgetElicitation,
        &mut upserts,
        &mut deletes,
    );
    if old.settings != new.settings {
        upserts.push(Kind::Settings(new.settings.clone()));
    }
    deletes.reverse();
    upserts.into_iter().chain(deletes).map(|kind| pb::Change { kind: Some(kind) }).collect()
}

fn diff_map<K: Ord + Clone, V: PartialEq + Clone>(
    old: &BTreeMap<K, V>,
    new: &BTreeMap<K, V>,
    upsert: impl Fn(V) -> Kind,
    delete: impl Fn(K) -> Kind,
    upserts: &mut Vec<Kind>,
    deletes: &mut Vec<Kind>,
) {
    for (key, value) in new {
        if old.get(key) != Some(value) {
            upserts.push(upsert(value.clone()));
        }
    }
    // Pushed in reverse so that, after the final reverse, kinds come out in diff order.
    let mut gone: Vec<Kind> =
        old.keys().filter(|k| !new.contains_key(*k)).map(|k| delete(k.clone())).collect();
    gone.reverse();
    deletes.extend(gone);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(id: &str, name: &str) -> pb::Workspace {
        pb::Workspace { id: id.into(), org_id: "o".into(), slug: id.into(), name: name.into() }
    }

    fn prov(w: &str, s: &str) -> pb::Provision {
        pb::Provision { workspace_id: w.into(), server_id: s.into(), ..Default::default() }
    }

    #[test]
    fn diff_upserts_changed_and_deletes_vanished_children_first() {
        let mut old = WireState::default();
        old.workspaces.insert("a".into(), ws("a", "A"));
        old.workspaces.insert("b".into(), ws("b", "B"));
        old.provisions.insert(("b".into(), "s".into()), prov("b", "s"));
        let mut new = WireState::default();
        new.workspaces.insert("a".into(), ws("a", "A2"));
        new.workspaces.insert("c".into(), ws("c", "C"));
        new.settings.session_binding_key = vec![1; 32];

        let kinds: Vec<Kind> = diff(&old, &new).into_iter().filter_map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            vec![
                Kind::UpsertWorkspace(ws("a", "A2")),
                Kind::UpsertWorkspace(ws("c", "C")),
                Kind::Settings(pb::EdgeSettings { session_binding_key: vec![1; 32], ..Default::default() }),
                Kind::DeleteProvision(pb::ProvisionKey { workspace_id: "b".into(), server_id: "s".into() }),
                Kind::DeleteWorkspace("b".into()),
            ]
        );
        assert!(diff(&new, &new).is_empty());
    }
}
