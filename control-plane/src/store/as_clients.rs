//! OAuth clients of the authorization server: dynamically registered and machine identities.

use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};

use super::entities::{as_client, as_consent, as_refresh_token};
use super::{from_json_text, now, to_json_text, AsClient, AsClientKind, Store, StoreError};

impl Store {
    /// Registers a client (its secret, if any, is already hashed). One write
    /// transaction, so an admin's machine client and its audit row commit together.
    pub async fn insert_as_client(&self, client: &AsClient) -> Result<(), StoreError> {
        let txn = self.begin_change().await?;
        as_client::Entity::insert(as_client::ActiveModel {
            client_id: Set(client.client_id.clone()),
            kind: Set(client.kind.as_str().to_owned()),
            name: Set(client.name.clone()),
            redirect_uris: Set(to_json_text(&client.redirect_uris)),
            grant_types: Set(to_json_text(&client.grant_types)),
            auth_method: Set(client.auth_method.clone()),
            secret_hash: Set(client.secret_hash.clone()),
            logo_uri: Set(client.logo_uri.clone()),
            scopes: Set(to_json_text(&client.scopes)),
            org_id: Set(client.org_id.clone()),
            workspace_id: Set(client.workspace_id.clone()),
            created_at: Set(client.created_at),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(|e| StoreError::unique_or_db(e, "client_id", "client_id already registered".into()))?;
        txn.audit_after(client);
        txn.commit().await
    }

    /// The client with `client_id`, if registered.
    pub async fn get_as_client(&self, client_id: &str) -> Result<Option<AsClient>, StoreError> {
        as_client::Entity::find_by_id(client_id).one(&self.db).await?.map(client_from).transpose()
    }

    /// How many clients Dynamic Client Registration has stored.
    pub async fn count_as_dynamic_clients(&self) -> Result<u64, StoreError> {
        Ok(as_client::Entity::find()
            .filter(as_client::Column::Kind.eq(AsClientKind::Dynamic.as_str()))
            .count(&self.db)
            .await?)
    }

    /// The org's machine clients, oldest first.
    pub async fn list_as_machine_clients(&self, org_id: &str) -> Result<Vec<AsClient>, StoreError> {
        as_client::Entity::find()
            .filter(as_client::Column::OrgId.eq(org_id))
            .filter(as_client::Column::Kind.eq(AsClientKind::Machine.as_str()))
            .order_by_asc(as_client::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(client_from)
            .collect()
    }

    /// Deletes one of the org's machine clients, with its consents and refresh
    /// tokens, in one write transaction (with its audit row).
    pub async fn delete_as_machine_client(&self, org_id: &str, client_id: &str) -> Result<(), StoreError> {
        let txn = self.begin_change().await?;
        let row = as_client::Entity::find_by_id(client_id)
            .filter(as_client::Column::OrgId.eq(org_id))
            .filter(as_client::Column::Kind.eq(AsClientKind::Machine.as_str()))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound("oauth client"))?;
        txn.audit_before(&client_from(row)?);
        as_client::Entity::delete_by_id(client_id).exec(&txn).await?;
        as_consent::Entity::delete_many()
            .filter(as_consent::Column::ClientId.eq(client_id))
            .exec(&txn)
            .await?;
        as_refresh_token::Entity::update_many()
            .col_expr(as_refresh_token::Column::RevokedAt, Some(now()).into())
            .filter(as_refresh_token::Column::ClientId.eq(client_id))
            .filter(as_refresh_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        txn.commit().await
    }
}

fn client_from(row: as_client::Model) -> Result<AsClient, StoreError> {
    let kind = match row.kind.as_str() {
        "machine" => AsClientKind::Machine,
        "dynamic" => AsClientKind::Dynamic,
        other => return Err(StoreError::Corrupt(format!("as_clients.kind: unknown {other:?}"))),
    };
    Ok(AsClient {
        redirect_uris: from_json_text("as_clients.redirect_uris", &row.redirect_uris)?,
        grant_types: from_json_text("as_clients.grant_types", &row.grant_types)?,
        scopes: from_json_text("as_clients.scopes", &row.scopes)?,
        client_id: row.client_id,
        kind,
        name: row.name,
        auth_method: row.auth_method,
        secret_hash: row.secret_hash,
        logo_uri: row.logo_uri,
        org_id: row.org_id,
        workspace_id: row.workspace_id,
        created_at: row.created_at,
    })
}
