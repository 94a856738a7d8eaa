//! The edge-facing state, read at one version in one transaction.

use gatehouse_config::limits::{DEACTIVATED_LIST_WINDOW, GRANT_REVOCATION_RETENTION};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::certificate_identities::load_certificate_identities;
use super::entities::{gateway_token, org, server, upstream_grant_revocation, workspace};
use super::provisions::load_provisions;
use super::servers::{decrypted_headers, server_from};
use super::settings::{load_random_key, SESSION_BINDING_KEY};
use super::tokens::{token_from, workspace_slugs};
use super::workspaces::workspace_from;
use super::{now, read_version, EdgeServer, EdgeState, EdgeToken, Org, Store, StoreError};

impl Store {
    /// Loads the version and everything the edges need, consistently, with
    /// header values decrypted. Revoked and expired tokens are left out.
    pub async fn load_edge_state(&self) -> Result<EdgeState, StoreError> {
        let txn = self.begin_read().await?;
        let version = read_version(&txn).await?;

        let mut headers = decrypted_headers(&txn, &self.keyring).await?;
        let servers = server::Entity::find()
            .all(&txn)
            .await?
            .into_iter()
            .map(|row| {
                let headers = headers.remove(&row.id).unwrap_or_default();
                let server = server_from(row, headers.keys().cloned().collect())?;
                Ok(EdgeServer { server, headers })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;

        let org_rows = org::Entity::find().all(&txn).await?;
        let org_auth = org_rows
            .iter()
            .map(|r| Ok((r.id.clone(), super::orgs::org_auth_from(r)?)))
            .collect::<Result<_, StoreError>>()?;
        let orgs = org_rows.into_iter().map(|r| Org { id: r.id, slug: r.slug, name: r.name }).collect();
        let workspaces = workspace::Entity::find().all(&txn).await?.into_iter().map(workspace_from).collect();
        let provisions = load_provisions(&txn, None, None).await?;

        let slugs = workspace_slugs(&txn, None).await?;
        let at = now();
        let mut tokens = Vec::new();
        for row in
            gateway_token::Entity::find().filter(gateway_token::Column::RevokedAt.is_null()).all(&txn).await?
        {
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

        let revoked_grants = upstream_grant_revocation::Entity::find()
            .filter(upstream_grant_revocation::Column::RevokedAt.gt(at - GRANT_REVOCATION_RETENTION))
            .all(&txn)
            .await?
            .into_iter()
            .map(|r| r.grant_id)
            .collect();

        let completed_elicitations = super::elicitation_completions::recent(&txn, at).await?;
        let certificate_identities = load_certificate_identities(&txn).await?;
        let session_binding_key = load_random_key(&txn, &self.keyring, SESSION_BINDING_KEY).await?;
        let mut oauth_server = super::as_keys::load_as_edge_settings(&txn, &self.keyring).await?;
        oauth_server.deactivated_users =
            super::user_deactivation::deactivated_since(&txn, at - DEACTIVATED_LIST_WINDOW).await?;
        let upstream_oauth = super::oauth_clients::load_upstream_oauth_edge(&txn, &self.keyring).await?;
        txn.commit().await?;
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
            completed_elicitations,
        })
    }
}
