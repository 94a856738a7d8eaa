//! Per-org edge authentication settings: bring-your-own JWT validation and the
//! org's own authorization server advertised in protected resource metadata.
//! Both are JSON text (NULL = not configured) and hold no secrets.

use sea_orm_migration::{prelude::*, schema::*};

/// Adds `orgs.jwt_validation` and `orgs.external_auth_config`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000004_org_auth_settings"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds a single column.
        manager
            .alter_table(
                Table::alter().table(Orgs::Table).add_column(text_null(Orgs::JwtValidation)).to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter().table(Orgs::Table).add_column(text_null(Orgs::ExternalAuthConfig)).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Orgs::Table).drop_column(Orgs::ExternalAuthConfig).to_owned())
            .await?;
        manager
            .alter_table(Table::alter().table(Orgs::Table).drop_column(Orgs::JwtValidation).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Orgs {
    Table,
    JwtValidation,
    ExternalAuthConfig,
}
