//! The initial schema: organisations, workspaces, servers and their sealed
//! headers, provisions, gateway tokens, admin tokens, sealed settings and the
//! config version counter.
//!
//! JSON values (tool globs, scopes, advanced config) are stored as text so the
//! same schema works on SQLite and PostgreSQL; the store (de)serialises them.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates the initial schema.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20250801_000001_initial"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Orgs::Table)
                    .col(string(Orgs::Id).primary_key())
                    .col(string_uniq(Orgs::Slug))
                    .col(string(Orgs::Name))
                    .col(timestamp_with_time_zone(Orgs::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Workspaces::Table)
                    .col(string(Workspaces::Id).primary_key())
                    .col(string(Workspaces::OrgId))
                    .col(string(Workspaces::Slug))
                    .col(string(Workspaces::Name))
                    .col(timestamp_with_time_zone(Workspaces::CreatedAt))
                    .foreign_key(&mut cascade_fk(Workspaces::Table, Workspaces::OrgId, Orgs::Table, Orgs::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_workspaces_org_slug")
                    .table(Workspaces::Table)
                    .col(Workspaces::OrgId)
                    .col(Workspaces::Slug)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Servers::Table)
                    .col(string(Servers::Id).primary_key())
                    .col(string(Servers::OrgId))
                    .col(string(Servers::Slug))
                    .col(string(Servers::Name))
                    .col(text(Servers::Url))
                    // Free text validated in code, so new auth types need no migration.
                    .col(string(Servers::AuthType))
                    .col(text(Servers::AdvancedConfig))
                    .col(boolean(Servers::AutoProvision))
                    .col(timestamp_with_time_zone(Servers::CreatedAt))
                    .col(timestamp_with_time_zone(Servers::UpdatedAt))
                    .foreign_key(&mut cascade_fk(Servers::Table, Servers::OrgId, Orgs::Table, Orgs::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_servers_org_slug")
                    .table(Servers::Table)
                    .col(Servers::OrgId)
                    .col(Servers::Slug)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ServerHeaders::Table)
                    .col(string(ServerHeaders::ServerId))
                    .col(string(ServerHeaders::Name))
                    .col(string(ServerHeaders::KeyId))
                    .col(blob(ServerHeaders::WrappedKey))
                    .col(blob(ServerHeaders::Ciphertext))
                    .primary_key(Index::create().col(ServerHeaders::ServerId).col(ServerHeaders::Name))
                    .foreign_key(&mut cascade_fk(
                        ServerHeaders::Table,
                        ServerHeaders::ServerId,
                        Servers::Table,
                        Servers::Id,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Provisions::Table)
                    .col(string(Provisions::WorkspaceId))
                    .col(string(Provisions::ServerId))
                    .col(text(Provisions::ToolAllow))
                    .col(text(Provisions::ToolDeny))
                    .col(timestamp_with_time_zone(Provisions::CreatedAt))
                    .col(timestamp_with_time_zone(Provisions::UpdatedAt))
                    .primary_key(Index::create().col(Provisions::WorkspaceId).col(Provisions::ServerId))
                    .foreign_key(&mut cascade_fk(
                        Provisions::Table,
                        Provisions::WorkspaceId,
                        Workspaces::Table,
                        Workspaces::Id,
                    ))
                    .foreign_key(&mut cascade_fk(
                        Provisions::Table,
                        Provisions::ServerId,
                        Servers::Table,
                        Servers::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_provisions_server")
                    .table(Provisions::Table)
                    .col(Provisions::ServerId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(GatewayTokens::Table)
                    .col(string(GatewayTokens::Id).primary_key())
                    .col(string(GatewayTokens::OrgId))
                    .col(string(GatewayTokens::WorkspaceId))
                    .col(string(GatewayTokens::UserName))
                    // SHA-256 of the token text; the text itself is never stored.
                    .col(blob(GatewayTokens::TokenHash))
                    .col(string(GatewayTokens::TokenHint))
                    .col(text(GatewayTokens::Scopes))
                    .col(text(GatewayTokens::ServerPermissions))
                    .col(text(GatewayTokens::ToolPermissions))
                    .col(timestamp_with_time_zone_null(GatewayTokens::ExpiresAt))
                    .col(timestamp_with_time_zone(GatewayTokens::CreatedAt))
                    .col(timestamp_with_time_zone(GatewayTokens::IssuedAt))
                    .col(timestamp_with_time_zone_null(GatewayTokens::RevokedAt))
                    .foreign_key(&mut cascade_fk(
                        GatewayTokens::Table,
                        GatewayTokens::OrgId,
                        Orgs::Table,
                        Orgs::Id,
                    ))
                    .foreign_key(&mut cascade_fk(
                        GatewayTokens::Table,
                        GatewayTokens::WorkspaceId,
                        Workspaces::Table,
                        Workspaces::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_gateway_tokens_hash")
                    .table(GatewayTokens::Table)
                    .col(GatewayTokens::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_gateway_tokens_workspace")
                    .table(GatewayTokens::Table)
                    .col(GatewayTokens::WorkspaceId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AdminTokens::Table)
                    .col(string(AdminTokens::Id).primary_key())
                    .col(blob(AdminTokens::TokenHash))
                    .col(timestamp_with_time_zone(AdminTokens::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Settings::Table)
                    .col(string(Settings::Name).primary_key())
                    .col(string(Settings::KeyId))
                    .col(blob(Settings::WrappedKey))
                    .col(blob(Settings::Ciphertext))
                    .col(timestamp_with_time_zone(Settings::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ConfigVersion::Table)
                    .col(integer(ConfigVersion::Id).primary_key())
                    .col(big_integer(ConfigVersion::Version))
                    .to_owned(),
            )
            .await?;
        // The single counter row every mutation bumps.
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(ConfigVersion::Table)
                    .columns([ConfigVersion::Id, ConfigVersion::Version])
                    .values_panic([1.into(), 0i64.into()])
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ConfigVersion::Table.into_iden(),
            Settings::Table.into_iden(),
            AdminTokens::Table.into_iden(),
            GatewayTokens::Table.into_iden(),
            Provisions::Table.into_iden(),
            ServerHeaders::Table.into_iden(),
            Servers::Table.into_iden(),
            Workspaces::Table.into_iden(),
            Orgs::Table.into_iden(),
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
    Slug,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Id,
    OrgId,
    Slug,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Servers {
    Table,
    Id,
    OrgId,
    Slug,
    Name,
    Url,
    AuthType,
    AdvancedConfig,
    AutoProvision,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ServerHeaders {
    Table,
    ServerId,
    Name,
    KeyId,
    WrappedKey,
    Ciphertext,
}

#[derive(DeriveIden)]
enum Provisions {
    Table,
    WorkspaceId,
    ServerId,
    ToolAllow,
    ToolDeny,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum GatewayTokens {
    Table,
    Id,
    OrgId,
    WorkspaceId,
    UserName,
    TokenHash,
    TokenHint,
    Scopes,
    ServerPermissions,
    ToolPermissions,
    ExpiresAt,
    CreatedAt,
    IssuedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AdminTokens {
    Table,
    Id,
    TokenHash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Settings {
    Table,
    Name,
    KeyId,
    WrappedKey,
    Ciphertext,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ConfigVersion {
    Table,
    Id,
    Version,
}
