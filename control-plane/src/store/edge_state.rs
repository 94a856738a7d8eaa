//! The edge-facing state, read at one version in one transaction: all of it
//! (a publisher starting, or resynchronising), or only the entries a set of
//! keys names (a publisher following the outbox). Both go through the same
//! queries, so an entry is visible to the edges by the same rules either way.

use std::collections::BTreeSet;

use gatehouse_config::limits::{DEACTIVATED_LIST_WINDOW, GRANT_REVOCATION_RETENTION};
use gatehouse_config::state::KeySet;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Select};

use super::certificate_identities::load_certificate_identities;
use super::entities::{gateway_token, org, provision, server, upstream_grant_revocation, workspace};
use super::provisions::load_provisions;
use super::servers::{decrypted_headers, server_from};
use super::settings::{load_random_key, SESSION_BINDING_KEY};
use super::tokens::{token_from, workspace_slugs};
use super::workspaces::workspace_from;
use super::{now, read_version, EdgeServer, EdgeState, EdgeToken, Org, Store, StoreError};
use crate::credentials::Keyring;

/// Which entries to load: every one, or those a key set names.
#[derive(Debug, Clone, Copy)]
pub(super) enum Selection<'a> {
    All,
    Keys(&'a KeySet),
}

impl Selection<'_> {
    /// `query` restricted to the ids selected from `pick`, or `None` when none are.
    fn filter<E: EntityTrait>(
        self,
        query: Select<E>,
        column: impl ColumnTrait,
        pick: impl FnOnce(&KeySet) -> &BTreeSet<String>,
    ) -> Option<Select<E>> {
        match self {
            Selection::All => Some(query),
            Selection::Keys(keys) => {
                let ids = pick(keys);
                (!ids.is_empty()).then(|| query.filter(column.is_in(ids.iter().cloned())))
            }
        }
    }

    fn settings(self) -> bool {
        match self {
            Selection::All => true,
            Selection::Keys(keys) => keys.settings,
        }
    }
}

impl Store {
    /// Loads the version and everything the edges need, consistently, with
    /// header values decrypted. Revoked and expired tokens are left out.
    pub async fn load_edge_state(&self) -> Result<EdgeState, StoreError> {
        let txn = self.begin_read().await?;
        let state = load(&txn, &self.keyring, Selection::All).await?;
        txn.commit().await?;
        Ok(state)
    }
}

/// Everything `selection` names that the edges may see, at the transaction's version.
pub(super) async fn load(
    txn: &impl ConnectionTrait,
    keyring: &Keyring,
    selection: Selection<'_>,
) -> Result<EdgeState, StoreError> {
    let version = read_version(txn).await?;
    let at = now();

    let mut servers = Vec::new();
    let mut upstream_oauth = super::oauth_clients::UpstreamOAuthEdge::default();
    if let Some(query) = selection.filter(server::Entity::find(), server::Column::Id, |k| &k.servers) {
        let rows = query.all(txn).await?;
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let mut headers = decrypted_headers(txn, keyring, Some(&ids)).await?;
        for row in rows {
            let headers = headers.remove(&row.id).unwrap_or_default();
            let server = server_from(row, headers.keys().cloned().collect())?;
            servers.push(EdgeServer { server, headers });
        }
        upstream_oauth.servers = super::oauth_clients::load_server_clients(txn, keyring, &ids).await?;
    }

    let mut orgs = Vec::new();
    let mut org_auth = std::collections::BTreeMap::new();
    if let Some(query) = selection.filter(org::Entity::find(), org::Column::Id, |k| &k.orgs) {
        for r in query.all(txn).await? {
            org_auth.insert(r.id.clone(), super::orgs::org_auth_from(&r)?);
            orgs.push(Org { id: r.id, slug: r.slug, name: r.name });
        }
    }
    let workspaces =
        match selection.filter(workspace::Entity::find(), workspace::Column::Id, |k| &k.workspaces) {
            Some(query) => query.all(txn).await?.into_iter().map(workspace_from).collect(),
            None => Vec::new(),
        };
    let provisions = match selection {
        Selection::All => load_provisions(txn, None, None).await?,
        Selection::Keys(keys) if keys.provisions.is_empty() => Vec::new(),
        Selection::Keys(keys) => {
            let workspace_ids: BTreeSet<&String> = keys.provisions.iter().map(|p| &p.workspace_id).collect();
            let rows = provision::Entity::find()
                .filter(provision::Column::WorkspaceId.is_in(workspace_ids.into_iter().cloned()))
                .all(txn)
                .await?;
            let wanted = |p: &super::Provision| {
                keys.provisions.iter().any(|k| k.workspace_id == p.workspace_id && k.server_id == p.server_id)
            };
            let mut loaded = Vec::new();
            for row in rows {
                // The edges key provisions by ids; slugs are for the admin API.
                let p = super::provisions::provision_from(row, String::new(), String::new())?;
                if wanted(&p) {
                    loaded.push(p);
                }
            }
            loaded
        }
    };

    let mut tokens = Vec::new();
    if let Some(query) = selection.filter(
        gateway_token::Entity::find().filter(gateway_token::Column::RevokedAt.is_null()),
        gateway_token::Column::Id,
        |k| &k.tokens,
    ) {
        let rows = query.all(txn).await?;
        // Token records carry the workspace slug; the edges only need its id.
        let slugs = match selection {
            Selection::All => workspace_slugs(txn, None).await?,
            Selection::Keys(_) => Default::default(),
        };
        for row in rows {
            if row.expires_at.is_some_and(|exp| exp <= at) {
                continue;
            }
            let hash: [u8; 32] = row
                .token_hash
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::Corrupt("gateway token hash length".into()))?;
            let team = slugs.get(&row.workspace_id).cloned().unwrap_or_default();
            tokens.push(EdgeToken { record: token_from(row, team)?, hash });
        }
    }

    let revocations = match selection.filter(
        upstream_grant_revocation::Entity::find()
            .filter(upstream_grant_revocation::Column::RevokedAt.gt(at - GRANT_REVOCATION_RETENTION)),
        upstream_grant_revocation::Column::GrantId,
        |k| &k.revoked_grants,
    ) {
        Some(query) => query.all(txn).await?,
        None => Vec::new(),
    };
    let revoked_grant_orgs = revocations.iter().map(|r| (r.grant_id.clone(), r.org_id.clone())).collect();
    let revoked_grants = revocations.into_iter().map(|r| r.grant_id).collect();

    let completed_elicitations = match selection {
        Selection::All => super::elicitation_completions::recent(txn, at, None).await?,
        Selection::Keys(keys) if keys.completed_elicitations.is_empty() => Vec::new(),
        Selection::Keys(keys) => {
            super::elicitation_completions::recent(txn, at, Some(&keys.completed_elicitations)).await?
        }
    };
    let certificate_identities = match selection {
        Selection::All => load_certificate_identities(txn, None).await?,
        Selection::Keys(keys) if keys.certificate_identities.is_empty() => Vec::new(),
        Selection::Keys(keys) => load_certificate_identities(txn, Some(&keys.certificate_identities)).await?,
    };

    let rate_limits = match selection {
        Selection::All => super::rate_limits::load_rate_limits(txn, None).await?,
        Selection::Keys(keys) if keys.rate_limits.is_empty() => Vec::new(),
        Selection::Keys(keys) => super::rate_limits::load_rate_limits(txn, Some(&keys.rate_limits)).await?,
    };

    let mut session_binding_key = None;
    let mut oauth_server = super::AsEdgeSettings::default();
    if selection.settings() {
        session_binding_key = load_random_key(txn, keyring, SESSION_BINDING_KEY).await?;
        oauth_server = super::as_keys::load_as_edge_settings(txn, keyring).await?;
        oauth_server.deactivated_users =
            super::user_deactivation::deactivated_since(txn, at - DEACTIVATED_LIST_WINDOW).await?;
        upstream_oauth.token_cache_key = super::settings::load_token_cache_key(txn, keyring).await?;
    }
    Ok(EdgeState {
        version,
        orgs,
        servers,
        workspaces,
        provisions,
        tokens,
        certificate_identities,
        session_binding_key,
        oauth_server,
        upstream_oauth,
        org_auth,
        revoked_grants,
        revoked_grant_orgs,
        completed_elicitations,
        rate_limits,
    })
}
