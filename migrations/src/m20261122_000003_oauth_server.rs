//! Gatehouse's own OAuth 2.1 authorization server: plain settings (issuer,
//! edge base URL), signing keys (private parts sealed), registered clients,
//! pending authorization requests, authorization codes, refresh tokens and
//! remembered consents.
//!
//! Secrets are never stored in plaintext: client secrets, codes, refresh
//! tokens and request ids are SHA-256 hex digests; private keys are sealed
//! with the credential store's envelope encryption.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates the authorization server's tables.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000003_oauth_server"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AsSettings::Table)
                    .col(string(AsSettings::Name).primary_key())
                    .col(text(AsSettings::Value))
                    .col(timestamp_with_time_zone(AsSettings::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AsSigningKeys::Table)
                    .col(string(AsSigningKeys::Kid).primary_key())
                    .col(string(AsSigningKeys::Purpose))
                    .col(text(AsSigningKeys::PublicJwk))
                    .col(string(AsSigningKeys::KeyId))
                    .col(blob(AsSigningKeys::WrappedKey))
                    .col(blob(AsSigningKeys::Ciphertext))
                    .col(timestamp_with_time_zone(AsSigningKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(AsSigningKeys::RetiredAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AsClients::Table)
                    .col(string(AsClients::ClientId).primary_key())
                    .col(string(AsClients::Kind))
                    .col(string(AsClients::Name))
                    .col(text(AsClients::RedirectUris))
                    .col(text(AsClients::GrantTypes))
                    .col(string(AsClients::AuthMethod))
                    .col(string_null(AsClients::SecretHash))
                    .col(text_null(AsClients::LogoUri))
                    .col(text(AsClients::Scopes))
                    .col(string_null(AsClients::OrgId))
                    .col(string_null(AsClients::WorkspaceId))
                    .col(timestamp_with_time_zone(AsClients::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AsPendingRequests::Table)
                    .col(string(AsPendingRequests::IdHash).primary_key())
                    .col(string(AsPendingRequests::UserId))
                    .col(text(AsPendingRequests::Request))
                    .col(timestamp_with_time_zone(AsPendingRequests::ExpiresAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AsAuthCodes::Table)
                    .col(string(AsAuthCodes::CodeHash).primary_key())
                    .col(string(AsAuthCodes::FamilyId))
                    .col(string(AsAuthCodes::ClientId))
                    .col(text(AsAuthCodes::RedirectUri))
                    .col(string(AsAuthCodes::CodeChallenge))
                    .col(text(AsAuthCodes::Resource))
                    .col(text(AsAuthCodes::Scope))
                    .col(text(AsAuthCodes::Subject))
                    .col(timestamp_with_time_zone(AsAuthCodes::ExpiresAt))
                    .col(timestamp_with_time_zone_null(AsAuthCodes::UsedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AsRefreshTokens::Table)
                    .col(string(AsRefreshTokens::TokenHash).primary_key())
                    .col(string(AsRefreshTokens::FamilyId))
                    .col(string(AsRefreshTokens::ClientId))
                    .col(string(AsRefreshTokens::UserId))
                    .col(text(AsRefreshTokens::Resource))
                    .col(text(AsRefreshTokens::Scope))
                    .col(text(AsRefreshTokens::Subject))
                    .col(timestamp_with_time_zone(AsRefreshTokens::CreatedAt))
                    .col(timestamp_with_time_zone(AsRefreshTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(AsRefreshTokens::RotatedAt))
                    .col(timestamp_with_time_zone_null(AsRefreshTokens::RevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_as_refresh_tokens_family")
                    .table(AsRefreshTokens::Table)
                    .col(AsRefreshTokens::FamilyId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AsConsents::Table)
                    .col(string(AsConsents::UserId))
                    .col(string(AsConsents::ClientId))
                    .col(string(AsConsents::Resource))
                    .col(string(AsConsents::Scope))
                    .col(timestamp_with_time_zone(AsConsents::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(AsConsents::UserId)
                            .col(AsConsents::ClientId)
                            .col(AsConsents::Resource)
                            .col(AsConsents::Scope),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AsConsents::Table.into_iden(),
            AsRefreshTokens::Table.into_iden(),
            AsAuthCodes::Table.into_iden(),
            AsPendingRequests::Table.into_iden(),
            AsClients::Table.into_iden(),
            AsSigningKeys::Table.into_iden(),
            AsSettings::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum AsSettings {
    Table,
    Name,
    Value,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AsSigningKeys {
    Table,
    Kid,
    Purpose,
    PublicJwk,
    KeyId,
    WrappedKey,
    Ciphertext,
    CreatedAt,
    RetiredAt,
}

#[derive(DeriveIden)]
enum AsClients {
    Table,
    ClientId,
    Kind,
    Name,
    RedirectUris,
    GrantTypes,
    AuthMethod,
    SecretHash,
    LogoUri,
    Scopes,
    OrgId,
    WorkspaceId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AsPendingRequests {
    Table,
    IdHash,
    UserId,
    Request,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum AsAuthCodes {
    Table,
    CodeHash,
    FamilyId,
    ClientId,
    RedirectUri,
    CodeChallenge,
    Resource,
    Scope,
    Subject,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum AsRefreshTokens {
    Table,
    TokenHash,
    FamilyId,
    ClientId,
    UserId,
    Resource,
    Scope,
    Subject,
    CreatedAt,
    ExpiresAt,
    RotatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AsConsents {
    Table,
    UserId,
    ClientId,
    Resource,
    Scope,
    CreatedAt,
}
