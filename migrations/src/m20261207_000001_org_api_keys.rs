//! `org_api_keys`: an org's API keys for automation and bootstrap, stored as
//! SHA-256 hashes with the role they act with.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `org_api_keys`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000001_org_api_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OrgApiKeys::Table)
                    .col(string(OrgApiKeys::Id).primary_key())
                    .col(string(OrgApiKeys::OrgId))
                    .col(string(OrgApiKeys::Name))
                    .col(string(OrgApiKeys::Role))
                    .col(blob(OrgApiKeys::KeyHash))
                    .col(string(OrgApiKeys::Hint))
                    .col(timestamp_with_time_zone(OrgApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(OrgApiKeys::LastUsedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_org_api_keys_key_hash")
                    .table(OrgApiKeys::Table)
                    .col(OrgApiKeys::KeyHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_org_api_keys_org_id")
                    .table(OrgApiKeys::Table)
                    .col(OrgApiKeys::OrgId)
                    .col(OrgApiKeys::Id)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(OrgApiKeys::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum OrgApiKeys {
    Table,
    Id,
    OrgId,
    Name,
    Role,
    KeyHash,
    Hint,
    CreatedAt,
    LastUsedAt,
}
