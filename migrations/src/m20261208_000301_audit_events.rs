//! The audit trail: admin mutations, MCP requests decided at the edges and
//! authentication failures, one row each, plus each org's audit settings.
//!
//! Rows are read newest first per org and deleted by age, so the one index
//! that matters is `(org_id, occurred_at, id)`; on PostgreSQL that index is
//! what keeps the retention delete and the paginated reads cheap.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `audit_events` and `audit_settings`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261208_000301_audit_events"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    // Generated where the event happens (edge events: at the edge), so a
                    // batch shipped twice is stored once.
                    .col(string(AuditEvents::Id).primary_key())
                    .col(string(AuditEvents::OrgId))
                    .col(string(AuditEvents::Kind))
                    .col(timestamp_with_time_zone(AuditEvents::OccurredAt))
                    .col(string_null(AuditEvents::Actor))
                    .col(string_null(AuditEvents::UserName))
                    .col(string_null(AuditEvents::IdentitySource))
                    .col(string_null(AuditEvents::Workspace))
                    .col(string_null(AuditEvents::Server))
                    .col(string_null(AuditEvents::Method))
                    .col(string_null(AuditEvents::Tool))
                    .col(string_null(AuditEvents::Decision))
                    .col(string_null(AuditEvents::Reason))
                    .col(integer_null(AuditEvents::JsonrpcCode))
                    .col(integer_null(AuditEvents::UpstreamStatus))
                    .col(big_integer_null(AuditEvents::LatencyMs))
                    .col(big_integer_null(AuditEvents::RequestBytes))
                    .col(big_integer_null(AuditEvents::ResponseBytes))
                    .col(string_null(AuditEvents::TraceId))
                    .col(string_null(AuditEvents::SessionHash))
                    .col(string_null(AuditEvents::ClientAddress))
                    .col(string_null(AuditEvents::RequestId))
                    .col(string_null(AuditEvents::Action))
                    .col(string_null(AuditEvents::Target))
                    .col(string_null(AuditEvents::Edge))
                    // Kind-specific JSON (an admin change's redacted before/after).
                    .col(text_null(AuditEvents::Detail))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_events_org_time")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::OrgId)
                    .col(AuditEvents::OccurredAt)
                    .col(AuditEvents::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditSettings::Table)
                    .col(string(AuditSettings::OrgId).primary_key())
                    .col(integer(AuditSettings::RetentionDays))
                    .col(integer(AuditSettings::BurstThreshold))
                    .col(integer(AuditSettings::BurstWindowSecs))
                    .col(timestamp_with_time_zone(AuditSettings::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AuditSettings::Table, AuditSettings::OrgId)
                            .to(Orgs::Table, Orgs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AuditSettings::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(AuditEvents::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    OrgId,
    Kind,
    OccurredAt,
    Actor,
    UserName,
    IdentitySource,
    Workspace,
    Server,
    Method,
    Tool,
    Decision,
    Reason,
    JsonrpcCode,
    UpstreamStatus,
    LatencyMs,
    RequestBytes,
    ResponseBytes,
    TraceId,
    SessionHash,
    ClientAddress,
    RequestId,
    Action,
    Target,
    Edge,
    Detail,
}

#[derive(DeriveIden)]
enum AuditSettings {
    Table,
    OrgId,
    RetentionDays,
    BurstThreshold,
    BurstWindowSecs,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Orgs {
    Table,
    Id,
}
