//! Naming what a mutation touches when it deletes something with children:
//! the children's keys are read before they are deleted, so the deletions
//! reach the edges too.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::entities::{certificate_identity, gateway_token, provision};
use super::{StoreError, WriteTxn};

/// Names a workspace and everything that goes with it: its provisions, its
/// tokens and its certificate identities (call before deleting them).
pub(super) async fn touch_workspace(txn: &WriteTxn, workspace_id: &str) -> Result<(), StoreError> {
    let provisions = provision_keys(txn, provision::Column::WorkspaceId, workspace_id).await?;
    let tokens: Vec<String> = gateway_token::Entity::find()
        .select_only()
        .column(gateway_token::Column::Id)
        .filter(gateway_token::Column::WorkspaceId.eq(workspace_id))
        .into_tuple()
        .all(txn)
        .await?;
    let identities: Vec<String> = certificate_identity::Entity::find()
        .select_only()
        .column(certificate_identity::Column::Id)
        .filter(certificate_identity::Column::WorkspaceId.eq(workspace_id))
        .into_tuple()
        .all(txn)
        .await?;
    let mut touched = txn.touched();
    touched.workspaces.insert(workspace_id.to_owned());
    touched.provisions.extend(provisions.into_iter().map(provision_id));
    touched.tokens.extend(tokens);
    touched.certificate_identities.extend(identities);
    Ok(())
}

/// Names a server and its provisions (call before deleting them).
pub(super) async fn touch_server(txn: &WriteTxn, server_id: &str) -> Result<(), StoreError> {
    let provisions = provision_keys(txn, provision::Column::ServerId, server_id).await?;
    let mut touched = txn.touched();
    touched.servers.insert(server_id.to_owned());
    touched.provisions.extend(provisions.into_iter().map(provision_id));
    Ok(())
}

/// The keys of the provisions whose `column` is `id`.
async fn provision_keys(
    txn: &WriteTxn,
    column: provision::Column,
    id: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    Ok(provision::Entity::find()
        .select_only()
        .columns([provision::Column::WorkspaceId, provision::Column::ServerId])
        .filter(column.eq(id))
        .into_tuple()
        .all(txn)
        .await?)
}

/// The key of a provision.
pub(super) fn provision_id(
    (workspace_id, server_id): (String, String),
) -> gatehouse_config::state::ProvisionId {
    gatehouse_config::state::ProvisionId { workspace_id, server_id }
}
