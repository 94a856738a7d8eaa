//! Workspaces, with auto-provisioning of flagged servers on creation.

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use super::entities::{provision, server, workspace};
use super::{
    new_id, now, to_json_text, NewWorkspace, Provision, Store, StoreError, ToolRules, Versioned, Workspace,
};

use super::audit_views::AuditView;

impl Store {
    /// Creates a workspace and provisions every `auto_provision` server to it, in one transaction.
    pub async fn create_workspace(
        &self,
        org_id: &str,
        new: NewWorkspace,
    ) -> Result<Versioned<(Workspace, Vec<Provision>)>, StoreError> {
        let (txn, version) = self.begin_write().await?;
        if find_workspace(&txn, org_id, &new.slug).await?.is_some() {
            return Err(duplicate(&new.slug));
        }
        let created_at = now();
        let ws = workspace::Model {
            id: new_id(),
            org_id: org_id.to_owned(),
            slug: new.slug,
            name: new.name,
            created_at,
        };
        workspace::Entity::insert(workspace::ActiveModel::from(ws.clone()))
            .exec_without_returning(&txn)
            .await
            .map_err(|e| {
                StoreError::unique_or_db(e, "slug", format!("workspace {:?} already exists", ws.slug))
            })?;

        let servers = server::Entity::find()
            .filter(server::Column::OrgId.eq(org_id))
            .filter(server::Column::AutoProvision.eq(true))
            .order_by_asc(server::Column::Slug)
            .all(&txn)
            .await?;
        let empty = to_json_text(&Vec::<String>::new());
        let mut provisions = Vec::with_capacity(servers.len());
        for s in servers {
            provision::Entity::insert(provision::ActiveModel {
                workspace_id: Set(ws.id.clone()),
                server_id: Set(s.id.clone()),
                tool_allow: Set(empty.clone()),
                tool_deny: Set(empty.clone()),
                created_at: Set(created_at),
                updated_at: Set(created_at),
            })
            .exec_without_returning(&txn)
            .await?;
            provisions.push(Provision {
                workspace_id: ws.id.clone(),
                workspace_slug: ws.slug.clone(),
                server_id: s.id,
                server_slug: s.slug,
                tools: ToolRules::default(),
                created_at,
                updated_at: created_at,
            });
        }
        {
            let mut touched = txn.touched();
            touched.workspaces.insert(ws.id.clone());
            touched.provisions.extend(
                provisions
                    .iter()
                    .map(|p| super::touch::provision_id((p.workspace_id.clone(), p.server_id.clone()))),
            );
        }
        let created = workspace_from(ws);
        let mut after = created.audit_view();
        after["provisions"] = provisions.iter().map(AuditView::audit_view).collect();
        txn.audit_after(&after);
        txn.commit().await?;
        Ok(Versioned { value: (created, provisions), version })
    }

    /// All workspaces of the org, by slug.
    pub async fn list_workspaces(&self, org_id: &str) -> Result<Vec<Workspace>, StoreError> {
        let rows = workspace::Entity::find()
            .filter(workspace::Column::OrgId.eq(org_id))
            .order_by_asc(workspace::Column::Slug)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(workspace_from).collect())
    }

    /// The workspace with `slug`.
    pub async fn get_workspace(&self, org_id: &str, slug: &str) -> Result<Workspace, StoreError> {
        find_workspace(&self.db, org_id, slug)
            .await?
            .map(workspace_from)
            .ok_or(StoreError::NotFound("workspace"))
    }

    /// Deletes a workspace with its provisions and gateway tokens.
    pub async fn delete_workspace(&self, org_id: &str, slug: &str) -> Result<Versioned<()>, StoreError> {
        let (txn, version) = self.begin_write().await?;
        let ws = find_workspace(&txn, org_id, slug).await?.ok_or(StoreError::NotFound("workspace"))?;
        txn.audit_before(&workspace_from(ws.clone()));
        super::touch::touch_workspace(&txn, &ws.id).await?;
        // Foreign keys cascade too; deleting explicitly keeps this independent of FK enforcement.
        provision::Entity::delete_many().filter(provision::Column::WorkspaceId.eq(&ws.id)).exec(&txn).await?;
        super::entities::gateway_token::Entity::delete_many()
            .filter(super::entities::gateway_token::Column::WorkspaceId.eq(&ws.id))
            .exec(&txn)
            .await?;
        workspace::Entity::delete_by_id(ws.id).exec(&txn).await?;
        txn.commit().await?;
        Ok(Versioned { value: (), version })
    }
}

pub(super) async fn find_workspace(
    conn: &impl ConnectionTrait,
    org_id: &str,
    slug: &str,
) -> Result<Option<workspace::Model>, StoreError> {
    Ok(workspace::Entity::find()
        .filter(workspace::Column::OrgId.eq(org_id))
        .filter(workspace::Column::Slug.eq(slug))
        .one(conn)
        .await?)
}

pub(super) fn workspace_from(m: workspace::Model) -> Workspace {
    Workspace { id: m.id, org_id: m.org_id, slug: m.slug, name: m.name, created_at: m.created_at }
}

fn duplicate(slug: &str) -> StoreError {
    StoreError::Conflict { field: Some("slug"), message: format!("workspace {slug:?} already exists") }
}
