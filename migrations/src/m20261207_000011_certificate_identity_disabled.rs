//! `certificate_identities.disabled_at`: set when the user an identity names is
//! deactivated; a disabled identity no longer reaches the edges.

use sea_orm_migration::{prelude::*, schema::*};

/// Adds `disabled_at`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000011_certificate_identity_disabled"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(CertificateIdentities::Table)
                    .add_column(timestamp_with_time_zone_null(CertificateIdentities::DisabledAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(CertificateIdentities::Table)
                    .drop_column(CertificateIdentities::DisabledAt)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum CertificateIdentities {
    Table,
    DisabledAt,
}
