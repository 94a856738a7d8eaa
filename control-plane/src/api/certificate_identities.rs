//! `/v1/auth/certificate-identities`: bind the name a client certificate carries
//! (SAN URI such as a SPIFFE ID, SAN DNS, SAN e-mail or subject CN) to a user
//! and workspace, like a gateway token without a secret.
//!
//! Which certificates are trusted at all is the edge's `GATEHOUSE_EDGE_TLS_CLIENT_CA`;
//! a binding says who the holder of a trusted certificate is, and which CA of that
//! bundle must have issued it (`issuer_ca_sha256`, required), so that one CA's holders
//! cannot pose as another's by carrying the same name.

use crate::accounts::OrgScope;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use gatehouse_config::identity::cert_issuer;
use gatehouse_config::identity::cert_names::{self, CertNameKind};
use serde::{Deserialize, Serialize};
use tracing::instrument;
use utoipa::ToSchema;

use super::tokens::{validate_grant, Permissions};
use super::ApiState;
use crate::rest::json::{ApiJson, ApiPath, ApiQuery};
use crate::rest::{ApiError, ErrorBody, PageQuery};
use crate::store::{CertificateIdentityRecord, CertificateIssuer, NewCertificateIdentity};
use crate::validation::FieldError;

/// Body of `POST /v1/auth/certificate-identities`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterCertificateIdentity {
    /// Which certificate name to match: `san_uri`, `san_dns`, `san_email` or `subject_cn`.
    #[schema(pattern = r"^(san_uri|san_dns|san_email|subject_cn)$")]
    pub kind: String,
    /// The name, matched exactly (DNS names and e-mail domains case-insensitively),
    /// e.g. `spiffe://acme/agent/ci`.
    pub value: String,
    /// Who the certificate holder is (1-256 characters).
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub user: String,
    /// Slug of the workspace the holder acts in.
    #[schema(pattern = r"^[a-z0-9][a-z0-9-]{0,62}$", max_length = 63)]
    pub team: String,
    /// Free-form scopes.
    #[serde(default)]
    #[schema(schema_with = crate::rest::schemas::scopes)]
    pub scopes: Vec<String>,
    /// What the holder may reach.
    #[serde(default)]
    pub permissions: Permissions,
    /// SHA-256 fingerprint of the certificate of the CA that issues the holder's certificates
    /// (the CA that signed them, one of the edge's `GATEHOUSE_EDGE_TLS_CLIENT_CA` or an
    /// intermediate the client presents), as `openssl x509 -noout -fingerprint -sha256 -in ca.crt`
    /// prints it or as 64 hex digits. A certificate with this identity's name from any other CA
    /// is refused.
    #[schema(pattern = r"^([0-9A-Fa-f]{64}|[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){31})$")]
    pub issuer_ca_sha256: String,
    /// When set, a matching certificate must also carry a SPIFFE ID (URI SAN) in this trust
    /// domain, e.g. `acme.example` for `spiffe://acme.example/...`.
    #[serde(default)]
    #[schema(pattern = r"^[a-z0-9._-]{1,255}$", min_length = 1, max_length = 255)]
    pub spiffe_trust_domain: Option<String>,
}

/// A certificate identity.
#[derive(Debug, Serialize, ToSchema)]
pub struct CertificateIdentityView {
    /// Stable id.
    pub id: String,
    /// `san_uri`, `san_dns`, `san_email` or `subject_cn`.
    pub kind: &'static str,
    /// The name as the edge compares it (normalised).
    pub value: String,
    /// Who the certificate holder is.
    pub user: String,
    /// Workspace slug.
    pub team: String,
    /// Free-form scopes.
    pub scopes: Vec<String>,
    /// What the holder may reach.
    pub permissions: Permissions,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When the deactivation of the user it names disabled it (it no longer authenticates); `null` while active.
    pub disabled_at: Option<DateTime<Utc>>,
    /// SHA-256 of the certificate of the CA that must have issued a matching certificate, 64
    /// lower-case hex digits; `null` on identities registered before bindings existed, which a
    /// certificate from any CA the edge trusts still matches (the edge logs a warning).
    pub issuer_ca_sha256: Option<String>,
    /// The SPIFFE trust domain a matching certificate's SPIFFE ID must be in; `null` = any.
    pub spiffe_trust_domain: Option<String>,
}

impl From<CertificateIdentityRecord> for CertificateIdentityView {
    fn from(c: CertificateIdentityRecord) -> Self {
        Self {
            id: c.id,
            kind: c.kind.as_str(),
            value: c.value,
            user: c.user,
            team: c.team,
            scopes: c.scopes,
            permissions: Permissions { servers: c.server_permissions, tools: c.tool_permissions },
            created_at: c.created_at,
            disabled_at: c.disabled_at,
            issuer_ca_sha256: c.issuer.ca_sha256.map(|f| cert_issuer::fingerprint_hex(&f)),
            spiffe_trust_domain: c.issuer.spiffe_trust_domain,
        }
    }
}

/// Certificate identities list.
#[derive(Debug, Serialize, ToSchema)]
pub struct CertificateIdentityList {
    /// Certificate identities, newest first.
    pub certificate_identities: Vec<CertificateIdentityView>,
    /// Cursor of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// Registers a certificate identity; edges accept matching client certificates within a second.
#[utoipa::path(post, path = "/v1/auth/certificate-identities", tag = "certificate identities",
    request_body = RegisterCertificateIdentity, security(("admin_token" = [])),
    responses((status = 201, body = CertificateIdentityView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[instrument(skip_all, fields(team = %body.team, kind = %body.kind))]
pub(crate) async fn register(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiJson(body): ApiJson<RegisterCertificateIdentity>,
) -> Result<(StatusCode, Json<CertificateIdentityView>), ApiError> {
    let kind = CertNameKind::parse(&body.kind)
        .ok_or_else(|| FieldError::new("kind", "must be san_uri, san_dns, san_email or subject_cn"))?;
    let value = cert_names::validate_name(kind, &body.value).map_err(|m| FieldError::new("value", m))?;
    validate_grant(&body.user, &body.team, &body.scopes, &body.permissions)?;
    let issuer = issuer_of(kind, &value, &body.issuer_ca_sha256, body.spiffe_trust_domain)?;
    let new = NewCertificateIdentity {
        team: body.team,
        kind,
        value,
        user: body.user,
        scopes: body.scopes,
        server_permissions: body.permissions.servers,
        tool_permissions: body.permissions.tools,
        issuer,
    };
    let created = state.store.create_certificate_identity(&scope.org_id, new).await?;
    tracing::info!(version = created.version, identity_id = %created.value.id, "certificate identity registered");
    Ok((StatusCode::CREATED, Json(created.value.into())))
}

/// The CA binding of a new identity: a fingerprint, and a trust domain its SPIFFE ID (when
/// the name it matches is one) is in, since one that names another domain never matches.
fn issuer_of(
    kind: CertNameKind,
    value: &str,
    ca_sha256: &str,
    spiffe_trust_domain: Option<String>,
) -> Result<CertificateIssuer, FieldError> {
    let ca_sha256 =
        cert_issuer::parse_fingerprint(ca_sha256).map_err(|m| FieldError::new("issuer_ca_sha256", m))?;
    if let Some(domain) = &spiffe_trust_domain {
        cert_issuer::validate_trust_domain(domain).map_err(|m| FieldError::new("spiffe_trust_domain", m))?;
        let named = (kind == CertNameKind::SanUri).then(|| cert_issuer::spiffe_trust_domain(value)).flatten();
        if let Some(named) = named.filter(|named| named != domain) {
            return Err(FieldError::new(
                "spiffe_trust_domain",
                format!("the SPIFFE ID in value is in trust domain {named:?}, so no certificate could match; use {named:?} or leave it out"),
            ));
        }
    }
    Ok(CertificateIssuer { ca_sha256: Some(ca_sha256), spiffe_trust_domain })
}

/// Lists the org's certificate identities, newest first.
#[utoipa::path(get, path = "/v1/auth/certificate-identities", tag = "certificate identities",
    params(PageQuery), security(("admin_token" = [])),
    responses((status = 200, body = CertificateIdentityList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<CertificateIdentityList>, ApiError> {
    let page = query.page()?;
    let mut found = state.store.list_certificate_identities(&scope.org_id).await?;
    found.sort_by(|a, b| b.id.cmp(&a.id));
    let page = page.slice_desc(found, |c| c.id.clone());
    Ok(Json(CertificateIdentityList {
        certificate_identities: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One certificate identity.
#[utoipa::path(get, path = "/v1/auth/certificate-identities/{id}", tag = "certificate identities",
    security(("admin_token" = [])), params(("id" = String, Path, description = "Certificate identity id")),
    responses((status = 200, body = CertificateIdentityView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CertificateIdentityView>, ApiError> {
    Ok(Json(state.store.get_certificate_identity(&scope.org_id, &id).await?.into()))
}

/// Deletes a certificate identity: certificates carrying its name stop authenticating at
/// every edge within a second (TLS still accepts them; they just map to nobody).
#[utoipa::path(delete, path = "/v1/auth/certificate-identities/{id}", tag = "certificate identities",
    security(("admin_token" = [])), params(("id" = String, Path, description = "Certificate identity id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[instrument(skip(state))]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let deleted = state.store.delete_certificate_identity(&scope.org_id, &id).await?;
    tracing::info!(version = deleted.version, "certificate identity deleted");
    Ok(StatusCode::NO_CONTENT)
}
