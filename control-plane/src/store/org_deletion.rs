//! Deleting an org: everything it owns, in one transaction that names every
//! edge-config entry it removes, so edges drop the org's servers, tokens and
//! identities with the same version.
//!
//! No grant tombstones are kept: once the org's tokens, identities and
//! identity settings are gone no caller can reach its grants at any edge, and
//! keeping a tombstone would keep a row of the org. What stays is the outbox
//! row naming the deleted keys (ids only), which ages out like every other.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::entities::{
    as_auth_code, as_client, as_consent, as_pending_request, as_refresh_token, certificate_identity,
    console_key_session, edge_token, gateway_token, membership, org, org_api_key, provision, server,
    server_header, session, sso_login_state, sso_provider, upstream_authorization_link,
    upstream_elicitation_completion, upstream_grant, upstream_grant_revocation,
    upstream_pending_authorization, user, workspace,
};
use super::{Store, StoreError, Versioned};

impl Store {
    /// Deletes the org `org_id` and everything of it. The default org cannot be deleted.
    pub async fn delete_org(&self, org_id: &str) -> Result<Versioned<()>, StoreError> {
        let (txn, version) = self.begin_write().await?;
        let row = org::Entity::find_by_id(org_id).one(&txn).await?.ok_or(StoreError::NotFound("org"))?;
        if row.slug == crate::accounts::DEFAULT_ORG_SLUG {
            return Err(StoreError::Conflict {
                field: None,
                message:
                    "the default org cannot be deleted (single-org installs and plain /v1 routes use it)"
                        .into(),
            });
        }

        macro_rules! ids {
            ($entity:ident, $id:ident, $filter:expr) => {{
                let ids: Vec<String> = $entity::Entity::find()
                    .select_only()
                    .column($entity::Column::$id)
                    .filter($filter)
                    .into_tuple()
                    .all(&txn)
                    .await?;
                ids
            }};
        }
        let workspaces = ids!(workspace, Id, workspace::Column::OrgId.eq(org_id));
        let servers = ids!(server, Id, server::Column::OrgId.eq(org_id));
        let users = ids!(user, Id, user::Column::OrgId.eq(org_id));
        let clients = ids!(as_client, ClientId, as_client::Column::OrgId.eq(org_id));
        let provisions: Vec<(String, String)> = provision::Entity::find()
            .select_only()
            .columns([provision::Column::WorkspaceId, provision::Column::ServerId])
            .filter(provision::Column::WorkspaceId.is_in(workspaces.clone()))
            .into_tuple()
            .all(&txn)
            .await?;
        {
            let mut touched = txn.touched();
            touched.orgs.insert(org_id.to_owned());
            touched.workspaces.extend(workspaces.iter().cloned());
            touched.servers.extend(servers.iter().cloned());
            touched.provisions.extend(provisions.into_iter().map(super::touch::provision_id));
        }
        let tokens = ids!(gateway_token, Id, gateway_token::Column::OrgId.eq(org_id));
        let identities = ids!(certificate_identity, Id, certificate_identity::Column::OrgId.eq(org_id));
        let tombstones =
            ids!(upstream_grant_revocation, GrantId, upstream_grant_revocation::Column::OrgId.eq(org_id));
        let completions = ids!(
            upstream_elicitation_completion,
            ElicitationId,
            upstream_elicitation_completion::Column::OrgId.eq(org_id)
        );
        {
            let mut touched = txn.touched();
            touched.tokens.extend(tokens);
            touched.certificate_identities.extend(identities);
            touched.revoked_grants.extend(tombstones);
            touched.completed_elicitations.extend(completions);
        }
        // Rate limits go with the org (foreign key cascade); the edges drop them.
        let rate_limits = super::rate_limits::org_rate_limit_ids(&txn, org_id).await?;
        txn.touched().rate_limits.extend(rate_limits);

        // The authorization server's records of the org's people and machine clients. Codes
        // and refresh tokens name their org inside the subject JSON, written compactly.
        let subject_of_org = format!("%\"org\":{}%", serde_json::Value::String(org_id.to_owned()));
        as_auth_code::Entity::delete_many()
            .filter(
                as_auth_code::Column::ClientId
                    .is_in(clients.clone())
                    .or(as_auth_code::Column::Subject.like(subject_of_org.clone())),
            )
            .exec(&txn)
            .await?;
        as_refresh_token::Entity::delete_many()
            .filter(
                as_refresh_token::Column::UserId
                    .is_in(users.clone())
                    .or(as_refresh_token::Column::ClientId.is_in(clients.clone()))
                    .or(as_refresh_token::Column::Subject.like(subject_of_org)),
            )
            .exec(&txn)
            .await?;
        as_consent::Entity::delete_many()
            .filter(
                as_consent::Column::UserId
                    .is_in(users.clone())
                    .or(as_consent::Column::ClientId.is_in(clients.clone())),
            )
            .exec(&txn)
            .await?;
        as_pending_request::Entity::delete_many()
            .filter(as_pending_request::Column::UserId.is_in(users.clone()))
            .exec(&txn)
            .await?;
        as_client::Entity::delete_many().filter(as_client::Column::OrgId.eq(org_id)).exec(&txn).await?;

        // People.
        session::Entity::delete_many()
            .filter(session::Column::UserId.is_in(users.clone()))
            .exec(&txn)
            .await?;
        membership::Entity::delete_many()
            .filter(
                membership::Column::UserId
                    .is_in(users)
                    .or(membership::Column::WorkspaceId.is_in(workspaces.clone())),
            )
            .exec(&txn)
            .await?;
        user::Entity::delete_many().filter(user::Column::OrgId.eq(org_id)).exec(&txn).await?;
        sso_login_state::Entity::delete_many()
            .filter(sso_login_state::Column::OrgId.eq(org_id))
            .exec(&txn)
            .await?;
        sso_provider::Entity::delete_many().filter(sso_provider::Column::OrgId.eq(org_id)).exec(&txn).await?;
        console_key_session::Entity::delete_many()
            .filter(console_key_session::Column::OrgId.eq(org_id))
            .exec(&txn)
            .await?;
        org_api_key::Entity::delete_many().filter(org_api_key::Column::OrgId.eq(org_id)).exec(&txn).await?;

        // Upstream credentials.
        upstream_grant::Entity::delete_many()
            .filter(upstream_grant::Column::OrgId.eq(org_id))
            .exec(&txn)
            .await?;
        upstream_grant_revocation::Entity::delete_many()
            .filter(upstream_grant_revocation::Column::OrgId.eq(org_id))
            .exec(&txn)
            .await?;
        upstream_elicitation_completion::Entity::delete_many()
            .filter(upstream_elicitation_completion::Column::OrgId.eq(org_id))
            .exec(&txn)
            .await?;
        upstream_authorization_link::Entity::delete_many()
            .filter(upstream_authorization_link::Column::OrgId.eq(org_id))
            .exec(&txn)
            .await?;
        upstream_pending_authorization::Entity::delete_many()
            .filter(upstream_pending_authorization::Column::OrgId.eq(org_id))
            .exec(&txn)
            .await?;
        for server_id in &servers {
            super::oauth_clients::delete_server_clients(&txn, server_id).await?;
        }

        // The registry.
        gateway_token::Entity::delete_many()
            .filter(gateway_token::Column::OrgId.eq(org_id))
            .exec(&txn)
            .await?;
        certificate_identity::Entity::delete_many()
            .filter(certificate_identity::Column::OrgId.eq(org_id))
            .exec(&txn)
            .await?;
        provision::Entity::delete_many()
            .filter(
                provision::Column::WorkspaceId
                    .is_in(workspaces)
                    .or(provision::Column::ServerId.is_in(servers.clone())),
            )
            .exec(&txn)
            .await?;
        server_header::Entity::delete_many()
            .filter(server_header::Column::ServerId.is_in(servers))
            .exec(&txn)
            .await?;
        server::Entity::delete_many().filter(server::Column::OrgId.eq(org_id)).exec(&txn).await?;
        workspace::Entity::delete_many().filter(workspace::Column::OrgId.eq(org_id)).exec(&txn).await?;
        // Edge tokens scoped to the org lose it: a new org given the same slug later is
        // another tenant, and must not reach edges dedicated to this one.
        for token in
            edge_token::Entity::find().filter(edge_token::Column::Orgs.is_not_null()).all(&txn).await?
        {
            let Some(text) = token.orgs.as_deref() else { continue };
            let orgs: Vec<String> = super::from_json_text("edge_tokens.orgs", text)?;
            if orgs.contains(&row.slug) {
                let kept: Vec<String> = orgs.into_iter().filter(|o| *o != row.slug).collect();
                edge_token::Entity::update_many()
                    .col_expr(
                        edge_token::Column::Orgs,
                        sea_orm::sea_query::Expr::value(super::to_json_text(&kept)),
                    )
                    .filter(edge_token::Column::Id.eq(&token.id))
                    .exec(&txn)
                    .await?;
            }
        }
        super::entities::rate_limit::Entity::delete_many()
            .filter(super::entities::rate_limit::Column::OrgId.eq(org_id))
            .exec(&txn)
            .await?;
        org::Entity::delete_by_id(org_id).exec(&txn).await?;
        // After the org row: an edge batch storing events of this org holds that row
        // (`insert_edge_audit_events`), so its events are either deleted here or never stored.
        Store::delete_org_audit_events(&txn, org_id).await?;
        // The deletion's own row outlives the org: it is kept in the default org.
        txn.audit_before(&crate::store::Org {
            id: row.id.clone(),
            slug: row.slug.clone(),
            name: row.name.clone(),
        });
        let default = org::Entity::find()
            .filter(org::Column::Slug.eq(crate::accounts::DEFAULT_ORG_SLUG))
            .one(&txn)
            .await?;
        if let Some(default) = default {
            txn.audit_in_org(default.id);
        }
        txn.commit().await?;
        Ok(Versioned { value: (), version })
    }
}
