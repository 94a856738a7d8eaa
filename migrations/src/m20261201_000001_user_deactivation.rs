//! Deactivated users: `users.deactivated_at` (NULL = active). A deactivated user
//! cannot sign in, and everything they held was revoked when it was set.

use sea_orm_migration::{prelude::*, schema::*};

/// Adds `users.deactivated_at`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000001_user_deactivation"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(timestamp_with_time_zone_null(Users::DeactivatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Users::Table).drop_column(Users::DeactivatedAt).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    DeactivatedAt,
}
