//! `config_outbox`: one row per config version, naming the edge-config entries
//! that version's transaction touched (keys only, never values, so no secret is
//! written twice). Publishers follow it instead of reloading the whole state.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `config_outbox`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000001_config_outbox"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ConfigOutbox::Table)
                    .col(big_integer(ConfigOutbox::Version).primary_key())
                    .col(text(ConfigOutbox::Keys))
                    .col(timestamp_with_time_zone(ConfigOutbox::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_config_outbox_created_at")
                    .table(ConfigOutbox::Table)
                    .col(ConfigOutbox::CreatedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ConfigOutbox::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum ConfigOutbox {
    Table,
    Version,
    Keys,
    CreatedAt,
}
