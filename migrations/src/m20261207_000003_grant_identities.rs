//! Upstream grants keyed by identity, not by a bare user string: a grant (and
//! the authorization link and pending authorization that lead to it) belongs
//! to (org, identity source, issuer, subject, server). `user_name` holds the
//! subject. Existing rows are Gatehouse users (`gatehouse`, empty issuer).

use sea_orm_migration::{prelude::*, schema::*};

/// Adds `identity_source` and `identity_issuer` and re-keys the grants' unique index.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000003_grant_identities"
    }
}

const OLD_INDEX: &str = "ux_upstream_grants_org_user_server";
const NEW_INDEX: &str = "ux_upstream_grants_org_identity_server";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [Table::Grants, Table::AuthorizationLinks, Table::PendingAuthorizations] {
            // One column per statement: SQLite alters one thing at a time.
            manager
                .alter_table(
                    sea_query::Table::alter()
                        .table(table)
                        .add_column(string(Column::IdentitySource).default("gatehouse"))
                        .to_owned(),
                )
                .await?;
            manager
                .alter_table(
                    sea_query::Table::alter()
                        .table(table)
                        .add_column(string(Column::IdentityIssuer).default(""))
                        .to_owned(),
                )
                .await?;
        }
        manager.drop_index(Index::drop().name(OLD_INDEX).table(Table::Grants).to_owned()).await?;
        manager
            .create_index(
                Index::create()
                    .name(NEW_INDEX)
                    .table(Table::Grants)
                    .col(Column::OrgId)
                    .col(Column::IdentitySource)
                    .col(Column::IdentityIssuer)
                    .col(Column::UserName)
                    .col(Column::ServerId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name(NEW_INDEX).table(Table::Grants).to_owned()).await?;
        for table in [Table::Grants, Table::AuthorizationLinks, Table::PendingAuthorizations] {
            for column in [Column::IdentityIssuer, Column::IdentitySource] {
                manager
                    .alter_table(sea_query::Table::alter().table(table).drop_column(column).to_owned())
                    .await?;
            }
        }
        manager
            .create_index(
                Index::create()
                    .name(OLD_INDEX)
                    .table(Table::Grants)
                    .col(Column::OrgId)
                    .col(Column::UserName)
                    .col(Column::ServerId)
                    .unique()
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Table {
    #[sea_orm(iden = "upstream_grants")]
    Grants,
    #[sea_orm(iden = "upstream_authorization_links")]
    AuthorizationLinks,
    #[sea_orm(iden = "upstream_pending_authorizations")]
    PendingAuthorizations,
}

#[derive(DeriveIden)]
enum Column {
    OrgId,
    UserName,
    ServerId,
    IdentitySource,
    IdentityIssuer,
}
