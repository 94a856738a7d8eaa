//! Audit export: each org's webhook and OTLP logs destinations, and the order
//! they are delivered in.
//!
//! Events arrive late (an edge ships its queue after an outage) and from many
//! writers at once, so neither `occurred_at` nor an id orders them as stored. Each
//! event therefore gets `seq`, a per-org number drawn from `audit_sequences` in the
//! transaction that stores it: the counter row's lock serialises an org's writers,
//! so numbers become visible in order and a destination's cursor (the last `seq`
//! it acknowledged) never skips an event committed later with a smaller number.
//! Rows stored before this migration have no `seq` and are not exported.

use sea_orm_migration::{prelude::*, schema::*};

/// Adds `audit_events.seq`, `audit_sequences` and `audit_exports`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261209_000301_audit_exports"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(big_integer_null(AuditEvents::Seq))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_events_org_seq")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::OrgId)
                    .col(AuditEvents::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditSequences::Table)
                    .col(string(AuditSequences::OrgId).primary_key())
                    .col(big_integer(AuditSequences::LastSeq))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditExports::Table)
                    .col(string(AuditExports::OrgId))
                    // `webhook` or `otlp`.
                    .col(string(AuditExports::Destination))
                    .col(boolean(AuditExports::Enabled))
                    .col(text(AuditExports::Url))
                    // JSON list of event kinds; null = every kind.
                    .col(text_null(AuditExports::Kinds))
                    // JSON list of the OTLP header names (their values are sealed).
                    .col(text_null(AuditExports::HeaderNames))
                    // The webhook's signing secret, or the OTLP headers as a JSON object.
                    .col(string_null(AuditExports::KeyId))
                    .col(blob_null(AuditExports::WrappedKey))
                    .col(blob_null(AuditExports::Ciphertext))
                    // The last `seq` the destination acknowledged.
                    .col(big_integer(AuditExports::Cursor))
                    // The replica delivering it, until `lease_until`.
                    .col(string_null(AuditExports::LeaseOwner))
                    .col(timestamp_with_time_zone_null(AuditExports::LeaseUntil))
                    .col(integer(AuditExports::Attempts))
                    .col(timestamp_with_time_zone_null(AuditExports::NextAttemptAt))
                    .col(boolean(AuditExports::Paused))
                    .col(timestamp_with_time_zone_null(AuditExports::LastSuccessAt))
                    .col(text_null(AuditExports::LastError))
                    .col(timestamp_with_time_zone_null(AuditExports::LastErrorAt))
                    .col(timestamp_with_time_zone(AuditExports::UpdatedAt))
                    .primary_key(Index::create().col(AuditExports::OrgId).col(AuditExports::Destination))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AuditExports::Table, AuditExports::OrgId)
                            .to(Orgs::Table, Orgs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AuditExports::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(AuditSequences::Table).to_owned()).await?;
        manager
            .drop_index(Index::drop().name("ix_audit_events_org_seq").table(AuditEvents::Table).to_owned())
            .await?;
        manager
            .alter_table(Table::alter().table(AuditEvents::Table).drop_column(AuditEvents::Seq).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    OrgId,
    Seq,
}

#[derive(DeriveIden)]
enum AuditSequences {
    Table,
    OrgId,
    LastSeq,
}

#[derive(DeriveIden)]
enum AuditExports {
    Table,
    OrgId,
    Destination,
    Enabled,
    Url,
    Kinds,
    HeaderNames,
    KeyId,
    WrappedKey,
    Ciphertext,
    Cursor,
    LeaseOwner,
    LeaseUntil,
    Attempts,
    NextAttemptAt,
    Paused,
    LastSuccessAt,
    LastError,
    LastErrorAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Orgs {
    Table,
    Id,
}
