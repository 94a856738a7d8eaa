//! Certificate identities: a name a verified mTLS client certificate carries
//! (SAN URI, SAN DNS, SAN e-mail or subject CN) bound to a user and workspace,
//! like a gateway token without a secret. Nothing here is secret: the edge's
//! TLS layer decides whom to trust; this only says who the holder is.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `certificate_identities`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000006_certificate_identities"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CertificateIdentities::Table)
                    .col(string(CertificateIdentities::Id).primary_key())
                    .col(string(CertificateIdentities::OrgId))
                    .col(string(CertificateIdentities::WorkspaceId))
                    // `san_uri` | `san_dns` | `san_email` | `subject_cn`; checked in code.
                    .col(string(CertificateIdentities::Kind))
                    // Normalised as the edge compares it.
                    .col(text(CertificateIdentities::Value))
                    .col(string(CertificateIdentities::UserName))
                    .col(text(CertificateIdentities::Scopes))
                    .col(text(CertificateIdentities::ServerPermissions))
                    .col(text(CertificateIdentities::ToolPermissions))
                    .col(timestamp_with_time_zone(CertificateIdentities::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(CertificateIdentities::Table, CertificateIdentities::OrgId)
                            .to(Orgs::Table, Orgs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(CertificateIdentities::Table, CertificateIdentities::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One caller per certificate name across all orgs: the edge looks a name up
        // without knowing the org, as it does a gateway token hash.
        manager
            .create_index(
                Index::create()
                    .name("ux_certificate_identities_name")
                    .table(CertificateIdentities::Table)
                    .col(CertificateIdentities::Kind)
                    .col(CertificateIdentities::Value)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_certificate_identities_workspace")
                    .table(CertificateIdentities::Table)
                    .col(CertificateIdentities::WorkspaceId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(CertificateIdentities::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum CertificateIdentities {
    Table,
    Id,
    OrgId,
    WorkspaceId,
    Kind,
    Value,
    UserName,
    Scopes,
    ServerPermissions,
    ToolPermissions,
    CreatedAt,
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
