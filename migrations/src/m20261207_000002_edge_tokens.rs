//! Edge tokens: the credentials edges present on the config stream and the
//! credential broker, as records (only their SHA-256 is stored). A token may
//! be scoped to orgs (by slug): its edges receive only those orgs' config.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `edge_tokens`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000002_edge_tokens"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EdgeTokens::Table)
                    .col(string(EdgeTokens::Id).primary_key())
                    .col(string(EdgeTokens::Name))
                    .col(blob(EdgeTokens::TokenHash))
                    .col(string(EdgeTokens::TokenHint))
                    // JSON array of org slugs; NULL = every org.
                    .col(text_null(EdgeTokens::Orgs))
                    .col(timestamp_with_time_zone(EdgeTokens::CreatedAt))
                    .col(timestamp_with_time_zone_null(EdgeTokens::RevokedAt))
                    .col(timestamp_with_time_zone_null(EdgeTokens::LastUsedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_edge_tokens_token_hash")
                    .table(EdgeTokens::Table)
                    .col(EdgeTokens::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(EdgeTokens::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum EdgeTokens {
    Table,
    Id,
    Name,
    TokenHash,
    TokenHint,
    Orgs,
    CreatedAt,
    RevokedAt,
    LastUsedAt,
}
