//! `console_key_sessions`: console sessions opened with an org API key or the
//! platform admin token instead of SSO. Like `sessions`, keyed by the SHA-256
//! of the cookie value; the credential itself is never stored, only which API
//! key it was (the session dies with the key) or the hash the platform admin
//! token is compared by (the session dies when the token is rotated).

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `console_key_sessions`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261208_000601_console_key_sessions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ConsoleKeySessions::Table)
                    .col(string(ConsoleKeySessions::IdHash).primary_key())
                    .col(string(ConsoleKeySessions::OrgId))
                    // Exactly one of the two is set.
                    .col(string_null(ConsoleKeySessions::ApiKeyId))
                    .col(blob_null(ConsoleKeySessions::AdminTokenHash))
                    .col(timestamp_with_time_zone(ConsoleKeySessions::CreatedAt))
                    .col(timestamp_with_time_zone(ConsoleKeySessions::LastSeenAt))
                    .col(timestamp_with_time_zone(ConsoleKeySessions::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ConsoleKeySessions::Table, ConsoleKeySessions::OrgId)
                            .to(Orgs::Table, Orgs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ConsoleKeySessions::Table, ConsoleKeySessions::ApiKeyId)
                            .to(OrgApiKeys::Table, OrgApiKeys::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ConsoleKeySessions::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum ConsoleKeySessions {
    Table,
    IdHash,
    OrgId,
    ApiKeyId,
    AdminTokenHash,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Orgs {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum OrgApiKeys {
    Table,
    Id,
}
