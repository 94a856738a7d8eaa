//! URL-elicitation completions. An authorization link started from an MCP
//! session remembers that session (by SHA-256) and the elicitation id it was
//! handed out under; when the callback stores the grant, a completion row is
//! written and published to the edges, which send
//! `notifications/elicitation/complete` on that session's open stream.
//! Completions are pruned after a few minutes.

use sea_orm_migration::{prelude::*, schema::*};

/// Adds the session columns to links and pending authorizations and creates
/// `upstream_elicitation_completions`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000001_elicitation_completions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        add_text_column(manager, UpstreamAuthorizationLinks::Table, UpstreamAuthorizationLinks::SessionHash)
            .await?;
        for column in
            [UpstreamPendingAuthorizations::ElicitationId, UpstreamPendingAuthorizations::SessionHash]
        {
            add_text_column(manager, UpstreamPendingAuthorizations::Table, column).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(UpstreamElicitationCompletions::Table)
                    .col(string(UpstreamElicitationCompletions::ElicitationId).primary_key())
                    .col(string(UpstreamElicitationCompletions::OrgId))
                    .col(string(UpstreamElicitationCompletions::UserName))
                    .col(string(UpstreamElicitationCompletions::ServerId))
                    .col(string(UpstreamElicitationCompletions::SessionHash))
                    .col(timestamp_with_time_zone(UpstreamElicitationCompletions::CompletedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_upstream_elicitation_completions_completed_at")
                    .table(UpstreamElicitationCompletions::Table)
                    .col(UpstreamElicitationCompletions::CompletedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(UpstreamElicitationCompletions::Table).to_owned()).await?;
        for column in
            [UpstreamPendingAuthorizations::SessionHash, UpstreamPendingAuthorizations::ElicitationId]
        {
            drop_column(manager, UpstreamPendingAuthorizations::Table, column).await?;
        }
        drop_column(manager, UpstreamAuthorizationLinks::Table, UpstreamAuthorizationLinks::SessionHash).await
    }
}

async fn add_text_column(
    manager: &SchemaManager<'_>,
    table: impl IntoIden + 'static,
    column: impl IntoIden + 'static,
) -> Result<(), DbErr> {
    manager.alter_table(Table::alter().table(table).add_column(string_null(column)).to_owned()).await
}

async fn drop_column(
    manager: &SchemaManager<'_>,
    table: impl IntoIden + 'static,
    column: impl IntoIden + 'static,
) -> Result<(), DbErr> {
    manager.alter_table(Table::alter().table(table).drop_column(column).to_owned()).await
}

#[derive(DeriveIden)]
enum UpstreamAuthorizationLinks {
    Table,
    SessionHash,
}

#[derive(DeriveIden)]
enum UpstreamPendingAuthorizations {
    Table,
    ElicitationId,
    SessionHash,
}

#[derive(DeriveIden)]
enum UpstreamElicitationCompletions {
    Table,
    ElicitationId,
    OrgId,
    UserName,
    ServerId,
    SessionHash,
    CompletedAt,
}
