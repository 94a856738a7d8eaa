//! SSO: per-org OIDC providers (client secret sealed), users created just in
//! time, workspace memberships, server-side sessions and pending login states.
//!
//! Session ids and login states are stored only as SHA-256 hashes; the PKCE
//! verifier and nonce of a pending login are sealed like every other secret.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates the SSO tables.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000002_sso_users"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SsoProviders::Table)
                    .col(string(SsoProviders::Id).primary_key())
                    .col(string(SsoProviders::OrgId))
                    .col(string(SsoProviders::Name))
                    .col(string(SsoProviders::Kind))
                    .col(text(SsoProviders::Issuer))
                    .col(string(SsoProviders::ClientId))
                    .col(string_null(SsoProviders::SecretKeyId))
                    .col(blob_null(SsoProviders::SecretWrappedKey))
                    .col(blob_null(SsoProviders::SecretCiphertext))
                    .col(text(SsoProviders::Scopes))
                    .col(text(SsoProviders::ClaimMappings))
                    .col(boolean(SsoProviders::Enabled))
                    .col(timestamp_with_time_zone(SsoProviders::CreatedAt))
                    .col(timestamp_with_time_zone(SsoProviders::UpdatedAt))
                    .foreign_key(&mut cascade_fk(
                        SsoProviders::Table,
                        SsoProviders::OrgId,
                        Orgs::Table,
                        Orgs::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_sso_providers_org_name")
                    .table(SsoProviders::Table)
                    .col(SsoProviders::OrgId)
                    .col(SsoProviders::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(string(Users::Id).primary_key())
                    .col(string(Users::OrgId))
                    .col(string(Users::Issuer))
                    .col(string(Users::Subject))
                    .col(string(Users::Email))
                    .col(string(Users::Name))
                    .col(string(Users::Role))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Users::LastLoginAt))
                    .foreign_key(&mut cascade_fk(Users::Table, Users::OrgId, Orgs::Table, Orgs::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_users_org_issuer_subject")
                    .table(Users::Table)
                    .col(Users::OrgId)
                    .col(Users::Issuer)
                    .col(Users::Subject)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Memberships::Table)
                    .col(string(Memberships::UserId))
                    .col(string(Memberships::WorkspaceId))
                    .col(timestamp_with_time_zone(Memberships::CreatedAt))
                    .primary_key(Index::create().col(Memberships::UserId).col(Memberships::WorkspaceId))
                    .foreign_key(&mut cascade_fk(
                        Memberships::Table,
                        Memberships::UserId,
                        Users::Table,
                        Users::Id,
                    ))
                    .foreign_key(&mut cascade_fk(
                        Memberships::Table,
                        Memberships::WorkspaceId,
                        Workspaces::Table,
                        Workspaces::Id,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    // Hex SHA-256 of the cookie value; the value itself is never stored.
                    .col(string(Sessions::IdHash).primary_key())
                    .col(string(Sessions::UserId))
                    .col(text(Sessions::UserAgent))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::LastSeenAt))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .foreign_key(&mut cascade_fk(Sessions::Table, Sessions::UserId, Users::Table, Users::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_sessions_user")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SsoLoginStates::Table)
                    // Hex SHA-256 of the `state` parameter.
                    .col(string(SsoLoginStates::StateHash).primary_key())
                    .col(string(SsoLoginStates::OrgId))
                    .col(string(SsoLoginStates::ProviderId))
                    .col(text(SsoLoginStates::ReturnTo))
                    .col(string(SsoLoginStates::KeyId))
                    .col(blob(SsoLoginStates::WrappedKey))
                    .col(blob(SsoLoginStates::Ciphertext))
                    .col(timestamp_with_time_zone(SsoLoginStates::CreatedAt))
                    .col(timestamp_with_time_zone(SsoLoginStates::ExpiresAt))
                    .foreign_key(&mut cascade_fk(
                        SsoLoginStates::Table,
                        SsoLoginStates::ProviderId,
                        SsoProviders::Table,
                        SsoProviders::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SsoLoginStates::Table.into_iden(),
            Sessions::Table.into_iden(),
            Memberships::Table.into_iden(),
            Users::Table.into_iden(),
            SsoProviders::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

/// A foreign key that deletes the child row with its parent.
fn cascade_fk(
    from_table: impl IntoIden + 'static,
    from_col: impl IntoIden + 'static,
    to_table: impl IntoIden + 'static,
    to_col: impl IntoIden + 'static,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from_table, from_col)
        .to(to_table, to_col)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[derive(DeriveIden)]
enum Orgs {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum SsoProviders {
    Table,
    Id,
    OrgId,
    Name,
    Kind,
    Issuer,
    ClientId,
    SecretKeyId,
    SecretWrappedKey,
    SecretCiphertext,
    Scopes,
    ClaimMappings,
    Enabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    OrgId,
    Issuer,
    Subject,
    Email,
    Name,
    Role,
    CreatedAt,
    UpdatedAt,
    LastLoginAt,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    UserId,
    WorkspaceId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    IdHash,
    UserId,
    UserAgent,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum SsoLoginStates {
    Table,
    StateHash,
    OrgId,
    ProviderId,
    ReturnTo,
    KeyId,
    WrappedKey,
    Ciphertext,
    CreatedAt,
    ExpiresAt,
}
