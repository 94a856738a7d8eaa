//! `certificate_identities`: client certificate names bound to a user and workspace;
//! unique `(kind, value)` across orgs.

use sea_orm::entity::prelude::*;

/// A row of `certificate_identities`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "certificate_identities")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub workspace_id: String,
    /// `san_uri` | `san_dns` | `san_email` | `subject_cn`.
    pub kind: String,
    /// The normalised certificate name.
    #[sea_orm(column_type = "Text")]
    pub value: String,
    pub user_name: String,
    /// JSON arrays, as text.
    #[sea_orm(column_type = "Text")]
    pub scopes: String,
    #[sea_orm(column_type = "Text")]
    pub server_permissions: String,
    #[sea_orm(column_type = "Text")]
    pub tool_permissions: String,
    pub created_at: DateTimeUtc,
    /// Set when the user it names was deactivated; disabled identities never reach the edges.
    pub disabled_at: Option<DateTimeUtc>,
    /// SHA-256 of the certificate of the CA that must have signed a matching certificate,
    /// lower-case hex; null on identities registered before bindings existed.
    pub issuer_ca_sha256: Option<String>,
    /// The SPIFFE trust domain a matching certificate's SPIFFE ID must be in; null = any.
    pub spiffe_trust_domain: Option<String>,
}

/// No navigated relations; the store joins by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
