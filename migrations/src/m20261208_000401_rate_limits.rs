//! Rate limits and budgets: per-org limits on requests (per second, minute,
//! hour or day) or budgets of tool calls (per UTC day or calendar month),
//! matched on any of workspace, user, server and tool glob. Counters live in
//! Redis at the edges; this holds only the definitions.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `rate_limits`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261208_000401_rate_limits"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RateLimits::Table)
                    .col(string(RateLimits::Id).primary_key())
                    .col(string(RateLimits::OrgId))
                    .col(string(RateLimits::Name))
                    // Match fields; null matches everything. Slugs, not ids: a limit
                    // outlives the deletion and re-creation of what it names.
                    .col(string_null(RateLimits::Workspace))
                    .col(string_null(RateLimits::UserName))
                    .col(string_null(RateLimits::Server))
                    .col(string_null(RateLimits::Tool))
                    .col(boolean(RateLimits::PerCaller))
                    // `limit` | `budget`; checked in code.
                    .col(string(RateLimits::Kind))
                    .col(big_integer(RateLimits::Amount))
                    .col(string(RateLimits::Period))
                    .col(big_integer_null(RateLimits::Burst))
                    .col(timestamp_with_time_zone(RateLimits::CreatedAt))
                    .col(timestamp_with_time_zone(RateLimits::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RateLimits::Table, RateLimits::OrgId)
                            .to(Orgs::Table, Orgs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_rate_limits_org_name")
                    .table(RateLimits::Table)
                    .col(RateLimits::OrgId)
                    .col(RateLimits::Name)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(RateLimits::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum RateLimits {
    Table,
    Id,
    OrgId,
    Name,
    Workspace,
    UserName,
    Server,
    Tool,
    PerCaller,
    Kind,
    Amount,
    Period,
    Burst,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Orgs {
    Table,
    Id,
}
