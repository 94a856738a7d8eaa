//! `certificate_identities.issuer_ca_sha256` and `spiffe_trust_domain`: the CA that
//! must have issued a matching certificate (SHA-256 of its certificate, lower-case
//! hex) and the SPIFFE trust domain its SPIFFE ID must be in. Both are null on
//! identities registered before bindings existed; the edge keeps matching those
//! (warning once), the API requires a CA for new ones.

use sea_orm_migration::{prelude::*, schema::*};

/// Adds `issuer_ca_sha256` and `spiffe_trust_domain`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261208_000101_certificate_identity_issuer"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one column at a time.
        for column in [CertificateIdentities::IssuerCaSha256, CertificateIdentities::SpiffeTrustDomain] {
            manager
                .alter_table(
                    Table::alter()
                        .table(CertificateIdentities::Table)
                        .add_column(string_null(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [CertificateIdentities::SpiffeTrustDomain, CertificateIdentities::IssuerCaSha256] {
            manager
                .alter_table(
                    Table::alter().table(CertificateIdentities::Table).drop_column(column).to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum CertificateIdentities {
    Table,
    IssuerCaSha256,
    SpiffeTrustDomain,
}
