//! Upstream OAuth: client registrations and resolved per-server client config,
//! per-user grants (tokens sealed), single-use authorization links and pending
//! authorizations (PKCE verifier sealed, state hashed).
//!
//! Times compared by compare-and-swap (leases) are stored as Unix
//! milliseconds so the same SQL works on SQLite and PostgreSQL.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates the upstream OAuth tables.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000001_upstream_oauth"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UpstreamOauthClients::Table)
                    .col(string(UpstreamOauthClients::Key).primary_key())
                    .col(string(UpstreamOauthClients::Issuer))
                    .col(text(UpstreamOauthClients::ClientId))
                    .col(string(UpstreamOauthClients::AuthMethod))
                    .col(text(UpstreamOauthClients::Metadata))
                    .col(string_null(UpstreamOauthClients::SecretKeyId))
                    .col(blob_null(UpstreamOauthClients::SecretWrappedKey))
                    .col(blob_null(UpstreamOauthClients::SecretCiphertext))
                    .col(timestamp_with_time_zone(UpstreamOauthClients::CreatedAt))
                    .col(timestamp_with_time_zone(UpstreamOauthClients::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(UpstreamGrants::Table)
                    .col(string(UpstreamGrants::Id).primary_key())
                    .col(string(UpstreamGrants::OrgId))
                    .col(string(UpstreamGrants::UserName))
                    .col(string(UpstreamGrants::ServerId))
                    .col(string(UpstreamGrants::Status))
                    .col(big_integer(UpstreamGrants::Version))
                    .col(text(UpstreamGrants::Scopes))
                    .col(string(UpstreamGrants::KeyId))
                    .col(blob(UpstreamGrants::WrappedKey))
                    .col(blob(UpstreamGrants::Ciphertext))
                    .col(big_integer(UpstreamGrants::AccessExpiresAt))
                    .col(string_null(UpstreamGrants::LeaseHolder))
                    .col(big_integer_null(UpstreamGrants::LeaseUntilMs))
                    .col(big_integer(UpstreamGrants::Fencing))
                    .col(timestamp_with_time_zone(UpstreamGrants::CreatedAt))
                    .col(timestamp_with_time_zone(UpstreamGrants::RefreshedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_upstream_grants_org_user_server")
                    .table(UpstreamGrants::Table)
                    .col(UpstreamGrants::OrgId)
                    .col(UpstreamGrants::UserName)
                    .col(UpstreamGrants::ServerId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(UpstreamAuthorizationLinks::Table)
                    .col(string(UpstreamAuthorizationLinks::IdHash).primary_key())
                    .col(string(UpstreamAuthorizationLinks::OrgId))
                    .col(string(UpstreamAuthorizationLinks::UserName))
                    .col(string(UpstreamAuthorizationLinks::ServerId))
                    .col(text(UpstreamAuthorizationLinks::Scopes))
                    .col(string(UpstreamAuthorizationLinks::ElicitationId))
                    .col(big_integer(UpstreamAuthorizationLinks::ExpiresAtMs))
                    .col(big_integer_null(UpstreamAuthorizationLinks::UsedAtMs))
                    .col(timestamp_with_time_zone(UpstreamAuthorizationLinks::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(UpstreamPendingAuthorizations::Table)
                    .col(string(UpstreamPendingAuthorizations::StateHash).primary_key())
                    .col(string(UpstreamPendingAuthorizations::OrgId))
                    .col(string(UpstreamPendingAuthorizations::UserName))
                    .col(string(UpstreamPendingAuthorizations::ServerId))
                    .col(text(UpstreamPendingAuthorizations::Scopes))
                    .col(string(UpstreamPendingAuthorizations::KeyId))
                    .col(blob(UpstreamPendingAuthorizations::WrappedKey))
                    .col(blob(UpstreamPendingAuthorizations::Ciphertext))
                    .col(big_integer(UpstreamPendingAuthorizations::ExpiresAtMs))
                    .col(big_integer_null(UpstreamPendingAuthorizations::UsedAtMs))
                    .col(timestamp_with_time_zone(UpstreamPendingAuthorizations::CreatedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            UpstreamPendingAuthorizations::Table.into_iden(),
            UpstreamAuthorizationLinks::Table.into_iden(),
            UpstreamGrants::Table.into_iden(),
            UpstreamOauthClients::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum UpstreamOauthClients {
    Table,
    Key,
    Issuer,
    ClientId,
    AuthMethod,
    Metadata,
    SecretKeyId,
    SecretWrappedKey,
    SecretCiphertext,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum UpstreamGrants {
    Table,
    Id,
    OrgId,
    UserName,
    ServerId,
    Status,
    Version,
    Scopes,
    KeyId,
    WrappedKey,
    Ciphertext,
    AccessExpiresAt,
    LeaseHolder,
    LeaseUntilMs,
    Fencing,
    CreatedAt,
    RefreshedAt,
}

#[derive(DeriveIden)]
enum UpstreamAuthorizationLinks {
    Table,
    IdHash,
    OrgId,
    UserName,
    ServerId,
    Scopes,
    ElicitationId,
    ExpiresAtMs,
    UsedAtMs,
    CreatedAt,
}

#[derive(DeriveIden)]
enum UpstreamPendingAuthorizations {
    Table,
    StateHash,
    OrgId,
    UserName,
    ServerId,
    Scopes,
    KeyId,
    WrappedKey,
    Ciphertext,
    ExpiresAtMs,
    UsedAtMs,
    CreatedAt,
}
