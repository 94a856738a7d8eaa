//! `as_refresh_tokens.family_expires_at`: when the token family (one authorization)
//! ends, however often it is refreshed. NULL on rows written before: such a family
//! ends when its current token expires.

use sea_orm_migration::{prelude::*, schema::*};

/// Adds `as_refresh_tokens.family_expires_at`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000010_refresh_family_deadline"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AsRefreshTokens::Table)
                    .add_column(timestamp_with_time_zone_null(AsRefreshTokens::FamilyExpiresAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AsRefreshTokens::Table)
                    .drop_column(AsRefreshTokens::FamilyExpiresAt)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum AsRefreshTokens {
    Table,
    FamilyExpiresAt,
}
