//! Tombstones of disconnected upstream grants. Edges cache upstream access
//! tokens; the ids of grants deleted recently are published to them so that
//! a cached token of a disconnected grant stops working at once. Rows older
//! than the edges' longest cache lifetime are pruned.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `upstream_grant_revocations`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000005_grant_revocations"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UpstreamGrantRevocations::Table)
                    .col(string(UpstreamGrantRevocations::GrantId).primary_key())
                    .col(string(UpstreamGrantRevocations::OrgId))
                    .col(timestamp_with_time_zone(UpstreamGrantRevocations::RevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_upstream_grant_revocations_revoked_at")
                    .table(UpstreamGrantRevocations::Table)
                    .col(UpstreamGrantRevocations::RevokedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(UpstreamGrantRevocations::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum UpstreamGrantRevocations {
    Table,
    GrantId,
    OrgId,
    RevokedAt,
}
