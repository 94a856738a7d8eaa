//! Provisions: servers made available to workspaces, with tool globs.

use std::collections::BTreeMap;

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::entities::{provision, server, workspace};
use super::servers::find_server;
use super::workspaces::find_workspace;
use super::{from_json_text, now, to_json_text, Provision, Store, StoreError, ToolRules, Versioned};

impl Store {
    /// Provisions a server to a workspace, or replaces its tool rules. Returns whether it was created.
    pub async fn provision(
        &self,
        org_id: &str,
        workspace_slug: &str,
        server_slug: &str,
        tools: ToolRules,
    ) -> Result<Versioned<(Provision, bool)>, StoreError> {
        let (txn, version) = self.begin_write().await?;
        let ws =
            find_workspace(&txn, org_id, workspace_slug).await?.ok_or(StoreError::NotFound("workspace"))?;
        let srv = find_server(&txn, org_id, server_slug).await?.ok_or(StoreError::NotFound("server"))?;
        let existing = provision::Entity::find_by_id((ws.id.clone(), srv.id.clone())).one(&txn).await?;
        let at = now();
        let created = existing.is_none();
        let row = provision::Model {
            workspace_id: ws.id,
            server_id: srv.id,
            tool_allow: to_json_text(&tools.allow),
            tool_deny: to_json_text(&tools.deny),
            created_at: existing.as_ref().map_or(at, |e| e.created_at),
            updated_at: at,
        };
        if created {
            provision::Entity::insert(provision::ActiveModel::from(row.clone()))
                .exec_without_returning(&txn)
                .await?;
        } else {
            provision::Entity::update(provision::ActiveModel {
                tool_allow: Set(row.tool_allow.clone()),
                tool_deny: Set(row.tool_deny.clone()),
                updated_at: Set(at),
                ..provision::ActiveModel::from(row.clone())
            })
            .exec(&txn)
            .await?;
        }
        txn.touched()
            .provisions
            .insert(super::touch::provision_id((row.workspace_id.clone(), row.server_id.clone())));
        let value = Provision {
            workspace_id: row.workspace_id,
            workspace_slug: ws.slug,
            server_id: row.server_id,
            server_slug: srv.slug,
            tools,
            created_at: row.created_at,
            updated_at: row.updated_at,
        };
        if let Some(existing) = existing {
            let before = Provision {
                tools: ToolRules {
                    allow: from_json_text("provisions.tool_allow", &existing.tool_allow)?,
                    deny: from_json_text("provisions.tool_deny", &existing.tool_deny)?,
                },
                ..value.clone()
            };
            txn.audit_before(&before);
        }
        txn.audit_after(&value);
        txn.commit().await?;
        Ok(Versioned { value: (value, created), version })
    }

    /// Removes a server from a workspace.
    pub async fn unprovision(
        &self,
        org_id: &str,
        workspace_slug: &str,
        server_slug: &str,
    ) -> Result<Versioned<()>, StoreError> {
        let (txn, version) = self.begin_write().await?;
        let ws =
            find_workspace(&txn, org_id, workspace_slug).await?.ok_or(StoreError::NotFound("workspace"))?;
        let srv = find_server(&txn, org_id, server_slug).await?.ok_or(StoreError::NotFound("server"))?;
        txn.audit_before(&serde_json::json!({"workspace": ws.slug, "server": srv.slug}));
        let key = super::touch::provision_id((ws.id, srv.id));
        let deleted = provision::Entity::delete_by_id((key.workspace_id.clone(), key.server_id.clone()))
            .exec(&txn)
            .await?;
        if deleted.rows_affected == 0 {
            return Err(StoreError::NotFound("provision"));
        }
        txn.touched().provisions.insert(key);
        txn.commit().await?;
        Ok(Versioned { value: (), version })
    }

    /// The provisions of one workspace, by server slug.
    pub async fn workspace_provisions(
        &self,
        org_id: &str,
        workspace_slug: &str,
    ) -> Result<Vec<Provision>, StoreError> {
        let ws = find_workspace(&self.db, org_id, workspace_slug)
            .await?
            .ok_or(StoreError::NotFound("workspace"))?;
        let mut list = load_provisions(&self.db, Some(org_id), Some(&ws.id)).await?;
        list.sort_by(|a, b| a.server_slug.cmp(&b.server_slug));
        Ok(list)
    }

    /// Every provision of the org, by workspace slug then server slug.
    pub async fn org_provisions(&self, org_id: &str) -> Result<Vec<Provision>, StoreError> {
        let mut list = load_provisions(&self.db, Some(org_id), None).await?;
        list.sort_by(|a, b| (&a.workspace_slug, &a.server_slug).cmp(&(&b.workspace_slug, &b.server_slug)));
        Ok(list)
    }
}

/// Provisions of the org (optionally of one workspace), with slugs resolved.
pub(super) async fn load_provisions(
    conn: &impl ConnectionTrait,
    org_id: Option<&str>,
    workspace_id: Option<&str>,
) -> Result<Vec<Provision>, StoreError> {
    let mut workspaces = workspace::Entity::find();
    let mut servers = server::Entity::find();
    if let Some(org_id) = org_id {
        workspaces = workspaces.filter(workspace::Column::OrgId.eq(org_id));
        servers = servers.filter(server::Column::OrgId.eq(org_id));
    }
    let workspaces: BTreeMap<String, String> =
        workspaces.all(conn).await?.into_iter().map(|w| (w.id, w.slug)).collect();
    let servers: BTreeMap<String, String> =
        servers.all(conn).await?.into_iter().map(|s| (s.id, s.slug)).collect();
    let mut query = provision::Entity::find();
    if let Some(id) = workspace_id {
        query = query.filter(provision::Column::WorkspaceId.eq(id));
    }
    let mut out = Vec::new();
    for p in query.all(conn).await? {
        let (Some(ws), Some(srv)) = (workspaces.get(&p.workspace_id), servers.get(&p.server_id)) else {
            continue; // another org's provision
        };
        out.push(provision_from(p, ws.clone(), srv.clone())?);
    }
    Ok(out)
}

/// A provision row with its workspace and server slugs.
pub(super) fn provision_from(
    p: provision::Model,
    workspace_slug: String,
    server_slug: String,
) -> Result<Provision, StoreError> {
    Ok(Provision {
        tools: ToolRules {
            allow: from_json_text("provisions.tool_allow", &p.tool_allow)?,
            deny: from_json_text("provisions.tool_deny", &p.tool_deny)?,
        },
        workspace_slug,
        server_slug,
        workspace_id: p.workspace_id,
        server_id: p.server_id,
        created_at: p.created_at,
        updated_at: p.updated_at,
    })
}
