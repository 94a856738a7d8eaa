//! SSO routes of the admin API: provider CRUD under `/v1/sso/providers`
//! (admins), `GET /v1/me` (any session) and `POST /auth/logout`.

use crate::accounts::OrgScope;
use std::net::IpAddr;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tracing::instrument;
use utoipa::ToSchema;

use super::session::set_cookie;
use super::{SsoContext, SsoSettings, SsoState};
use crate::accounts::{ClaimMappings, ProviderKind, RoleMapping, WorkspaceMapping};
use crate::rest::json::{ApiJson, ApiPath, ApiQuery};
use crate::rest::{forbidden, ApiError, ErrorBody, PageQuery};
use crate::store::{NewSsoProvider, SsoProvider, SsoProviderPatch};
use crate::validation::{self, FieldError};

const MAX_CLIENT_ID_LEN: usize = 512;
const MAX_CLIENT_SECRET_LEN: usize = 4096;

/// Claim mappings as submitted: omitted names take the provider kind's defaults.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimMappingsInput {
    /// Claim with the stable user id (default `sub`).
    #[serde(default)]
    pub user_claim: Option<String>,
    /// Claim with the email (default `email`; `preferred_username` for Entra).
    #[serde(default)]
    pub email_claim: Option<String>,
    /// Claim that must be true for the email to be recorded (default `email_verified`;
    /// `xms_edov` for Entra).
    #[serde(default)]
    pub email_verified_claim: Option<String>,
    /// Record emails the provider does not mark verified (default `false`): only for
    /// providers that never send the claim and only issue addresses they own.
    #[serde(default)]
    pub trust_unverified_email: bool,
    /// Claim with the display name (default `name`).
    #[serde(default)]
    pub name_claim: Option<String>,
    /// Claim with group names (default `groups` for Okta, Entra and generic OIDC).
    #[serde(default)]
    pub groups_claim: Option<String>,
    /// Claim value → role.
    #[serde(default)]
    pub role_mappings: Vec<RoleMapping>,
    /// Claim value → workspace slug.
    #[serde(default)]
    pub workspace_mappings: Vec<WorkspaceMapping>,
}

impl ClaimMappingsInput {
    fn resolve(self, kind: ProviderKind) -> Result<ClaimMappings, FieldError> {
        let preset = ClaimMappings::preset(kind);
        let mappings = ClaimMappings {
            user_claim: self.user_claim.unwrap_or(preset.user_claim),
            email_claim: self.email_claim.unwrap_or(preset.email_claim),
            email_verified_claim: self.email_verified_claim.unwrap_or(preset.email_verified_claim),
            trust_unverified_email: self.trust_unverified_email,
            name_claim: self.name_claim.unwrap_or(preset.name_claim),
            groups_claim: self.groups_claim.or(preset.groups_claim),
            role_mappings: self.role_mappings,
            workspace_mappings: self.workspace_mappings,
        };
        mappings.validate()?;
        Ok(mappings)
    }
}

/// Body of `POST /v1/sso/providers`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSsoProvider {
    /// Display name, unique in the org.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// `okta`, `auth0`, `entra`, `google` or `oidc` (default); presets only change defaults.
    #[serde(default)]
    pub kind: Option<ProviderKind>,
    /// Issuer URL; https (http only on loopback in dev).
    #[schema(schema_with = crate::rest::schemas::https_url)]
    pub issuer: String,
    /// OAuth client id registered at the provider.
    #[schema(pattern = "^[!-~]{1,512}$")]
    pub client_id: String,
    /// Client secret (write-only; sealed at rest). Omit for a public client.
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 4096, pattern = r"^[^\x00-\x1f\x7f-\x9f]+$")]
    pub client_secret: Option<SecretString>,
    /// Scopes to request (default per kind: `openid email profile`, plus `groups` for Okta).
    #[serde(default)]
    #[schema(schema_with = crate::rest::schemas::nullable_scopes)]
    pub scopes: Option<Vec<String>>,
    /// Claim mappings.
    #[serde(default)]
    pub claim_mappings: Option<ClaimMappingsInput>,
    /// Whether logins may use it (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// Body of `PATCH /v1/sso/providers/{id}`; omitted fields stay.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSsoProvider {
    /// Display name.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: Option<String>,
    /// Preset.
    #[serde(default)]
    pub kind: Option<ProviderKind>,
    /// Issuer URL.
    #[serde(default)]
    #[schema(schema_with = crate::rest::schemas::nullable_https_url)]
    pub issuer: Option<String>,
    /// Client id.
    #[serde(default)]
    #[schema(pattern = "^[!-~]{1,512}$")]
    pub client_id: Option<String>,
    /// New client secret (write-only).
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 4096, pattern = r"^[^\x00-\x1f\x7f-\x9f]+$")]
    pub client_secret: Option<SecretString>,
    /// Scopes.
    #[serde(default)]
    #[schema(schema_with = crate::rest::schemas::nullable_scopes)]
    pub scopes: Option<Vec<String>>,
    /// Replaces the claim mappings.
    #[serde(default)]
    pub claim_mappings: Option<ClaimMappingsInput>,
    /// Enabled.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// An SSO provider (the client secret is never returned).
#[derive(Debug, Serialize, ToSchema)]
pub struct SsoProviderView {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Preset.
    pub kind: ProviderKind,
    /// Issuer URL.
    pub issuer: String,
    /// Client id.
    pub client_id: String,
    /// Whether a client secret is stored.
    pub client_secret_set: bool,
    /// Scopes requested.
    pub scopes: Vec<String>,
    /// Claim mappings.
    pub claim_mappings: ClaimMappings,
    /// Enabled.
    pub enabled: bool,
    /// The redirect URI to register at the provider.
    pub redirect_uri: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// SSO providers.
#[derive(Debug, Serialize, ToSchema)]
pub struct SsoProviderList {
    /// Providers, oldest first.
    pub providers: Vec<SsoProviderView>,
    /// Cursor of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

fn view(p: SsoProvider, settings: &SsoSettings) -> SsoProviderView {
    SsoProviderView {
        id: p.id,
        name: p.name,
        kind: p.kind,
        issuer: p.issuer,
        client_id: p.client_id,
        client_secret_set: p.has_client_secret,
        scopes: p.scopes,
        claim_mappings: p.claim_mappings,
        enabled: p.enabled,
        redirect_uri: settings.redirect_uri(),
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

/// Creates an SSO provider for the org.
#[utoipa::path(post, path = "/v1/sso/providers", tag = "sso", request_body = CreateSsoProvider,
    security(("admin_token" = []), ("session" = [])),
    responses((status = 201, body = SsoProviderView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[instrument(skip_all, fields(name = %body.name))]
pub(crate) async fn create_provider(
    State(state): State<SsoState>,
    scope: OrgScope,
    ApiJson(body): ApiJson<CreateSsoProvider>,
) -> Result<(StatusCode, Json<SsoProviderView>), ApiError> {
    let settings = &state.context.settings;
    let kind = body.kind.unwrap_or(ProviderKind::Oidc);
    let new = NewSsoProvider {
        name: validation::name("name", &body.name)?,
        kind,
        issuer: issuer(settings, &body.issuer)?,
        client_id: client_id(&body.client_id)?,
        client_secret: body.client_secret.map(client_secret).transpose()?,
        scopes: scopes(body.scopes.unwrap_or_else(|| kind.default_scopes()))?,
        claim_mappings: body.claim_mappings.unwrap_or_default().resolve(kind)?,
        enabled: body.enabled.unwrap_or(true),
    };
    let created = state.context.store.create_sso_provider(&scope.org_id, new).await?;
    tracing::info!(provider_id = %created.id, issuer = %created.issuer, "sso provider created");
    Ok((StatusCode::CREATED, Json(view(created, settings))))
}

/// Lists the org's SSO providers.
#[utoipa::path(get, path = "/v1/sso/providers", tag = "sso", params(PageQuery), security(("admin_token" = []), ("session" = [])),
    responses((status = 200, body = SsoProviderList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub(crate) async fn list_providers(
    State(state): State<SsoState>,
    scope: OrgScope,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<SsoProviderList>, ApiError> {
    let page = query.page()?;
    let mut providers = state.context.store.list_sso_providers(&scope.org_id).await?;
    providers.sort_by(|a, b| a.id.cmp(&b.id));
    let page = page.slice(providers, |p| p.id.clone());
    Ok(Json(SsoProviderList {
        providers: page.items.into_iter().map(|p| view(p, &state.context.settings)).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Gets one SSO provider.
#[utoipa::path(get, path = "/v1/sso/providers/{id}", tag = "sso", security(("admin_token" = []), ("session" = [])),
    params(("id" = String, Path, description = "Provider id")),
    responses((status = 200, body = SsoProviderView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_provider(
    State(state): State<SsoState>,
    scope: OrgScope,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SsoProviderView>, ApiError> {
    Ok(Json(view(state.context.store.get_sso_provider(&scope.org_id, &id).await?, &state.context.settings)))
}

/// Updates an SSO provider; `claim_mappings` replaces the whole mapping.
#[utoipa::path(patch, path = "/v1/sso/providers/{id}", tag = "sso", request_body = UpdateSsoProvider,
    security(("admin_token" = []), ("session" = [])),
    params(("id" = String, Path, description = "Provider id")),
    responses((status = 200, body = SsoProviderView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[instrument(skip_all, fields(provider_id = %id))]
pub(crate) async fn update_provider(
    State(state): State<SsoState>,
    scope: OrgScope,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateSsoProvider>,
) -> Result<Json<SsoProviderView>, ApiError> {
    let settings = &state.context.settings;
    let current = state.context.store.get_sso_provider(&scope.org_id, &id).await?;
    let kind = body.kind.unwrap_or(current.kind);
    let patch = SsoProviderPatch {
        name: body.name.as_deref().map(|n| validation::name("name", n)).transpose()?,
        kind: body.kind,
        issuer: body.issuer.as_deref().map(|i| issuer(settings, i)).transpose()?,
        client_id: body.client_id.as_deref().map(client_id).transpose()?,
        client_secret: body.client_secret.map(client_secret).transpose()?,
        scopes: body.scopes.map(scopes).transpose()?,
        claim_mappings: body.claim_mappings.map(|m| m.resolve(kind)).transpose()?,
        enabled: body.enabled,
    };
    let updated = state.context.store.update_sso_provider(&scope.org_id, &id, patch).await?;
    tracing::info!("sso provider updated");
    Ok(Json(view(updated, settings)))
}

/// Deletes an SSO provider (users it created stay).
#[utoipa::path(delete, path = "/v1/sso/providers/{id}", tag = "sso", security(("admin_token" = []), ("session" = [])),
    params(("id" = String, Path, description = "Provider id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[instrument(skip(state))]
pub(crate) async fn delete_provider(
    State(state): State<SsoState>,
    scope: OrgScope,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.context.store.delete_sso_provider(&scope.org_id, &id).await?;
    tracing::info!("sso provider deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    /// The user.
    pub user: MeUser,
    /// The user's org.
    pub org: MeOrg,
    /// Org-level roles (`admin` or `member`).
    pub roles: Vec<String>,
    /// Workspaces the user is a member of.
    pub workspaces: Vec<MeWorkspace>,
    /// Send as `X-CSRF-Token` on every mutating request made with this session.
    pub csrf_token: String,
}

/// The user part of [`MeView`].
#[derive(Debug, Serialize, ToSchema)]
pub struct MeUser {
    /// User id.
    pub id: String,
    /// Email.
    pub email: String,
    /// Display name.
    pub name: String,
}

/// The org part of [`MeView`].
#[derive(Debug, Serialize, ToSchema)]
pub struct MeOrg {
    /// Org id.
    pub id: String,
    /// Org slug.
    pub slug: String,
    /// Org name.
    pub name: String,
}

/// A workspace the caller belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeWorkspace {
    /// Workspace id.
    pub id: String,
    /// Slug.
    pub slug: String,
    /// Name.
    pub name: String,
}

/// The caller of a session: user, org, roles, workspaces and the CSRF token.
#[utoipa::path(get, path = "/v1/me", tag = "sso", security(("session" = [])),
    responses((status = 200, body = MeView), (status = 401, body = ErrorBody)))]
pub(crate) async fn me(State(sso): State<SsoContext>, headers: HeaderMap) -> Result<Json<MeView>, ApiError> {
    let session = sso.session_from_headers(&headers).await?.ok_or(ApiError::Unauthorized)?;
    let user = session.user;
    let org = sso.store.sso_org(&user.org_id).await?.ok_or(ApiError::Unauthorized)?;
    let workspaces = sso
        .store
        .list_workspaces(&user.org_id)
        .await?
        .into_iter()
        .filter(|w| user.workspace_ids.contains(&w.id))
        .map(|w| MeWorkspace { id: w.id, slug: w.slug, name: w.name })
        .collect();
    Ok(Json(MeView {
        user: MeUser { id: user.user_id, email: user.email, name: user.name },
        org: MeOrg { id: org.id, slug: org.slug, name: org.name },
        roles: user.roles,
        workspaces,
        csrf_token: session.csrf_token,
    }))
}

/// Ends the caller's session (requires `X-CSRF-Token`) and clears the cookie.
#[utoipa::path(post, path = "/auth/logout", tag = "sso", security((), ("session" = [])),
    responses((status = 204), (status = 403, body = ErrorBody)))]
pub(crate) async fn logout(State(sso): State<SsoContext>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(session) = sso.session_from_headers(&headers).await? {
        if let Err(message) = sso.check_csrf(&headers, &session) {
            return Ok(forbidden("csrf_failed", message));
        }
        sso.store.delete_session(&session.id_hash).await?;
        tracing::info!(user_id = %session.user.user_id, "logged out");
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let cookie = set_cookie(&sso.settings, sso.settings.session_cookie_name(), "", "/", None);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

/// An issuer URL: https, or http on a loopback address when the settings allow it.
fn issuer(settings: &SsoSettings, value: &str) -> Result<String, FieldError> {
    let field = "issuer";
    let url =
        url::Url::parse(value.trim()).map_err(|_| FieldError::new(field, "must be an absolute https URL"))?;
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(FieldError::new(field, "must not contain a query, fragment or credentials"));
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => return Err(FieldError::new(field, "must have a host")),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback && settings.allow_loopback_issuers => {}
        "http" if loopback => {
            return Err(FieldError::new(
                field,
                "must use https (http on loopback needs GATEHOUSE_ALLOW_LOOPBACK_UPSTREAMS=true)",
            ))
        }
        _ => return Err(FieldError::new(field, "must use https")),
    }
    // Issuers are compared exactly; keep the text as given (minus surrounding space).
    Ok(value.trim().to_owned())
}

fn client_id(value: &str) -> Result<String, FieldError> {
    let ok =
        !value.is_empty() && value.len() <= MAX_CLIENT_ID_LEN && value.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(value.to_owned())
    } else {
        Err(FieldError::new("client_id", format!("must be 1-{MAX_CLIENT_ID_LEN} visible ASCII characters")))
    }
}

fn client_secret(value: SecretString) -> Result<SecretString, FieldError> {
    let text = value.expose_secret();
    if text.is_empty() || text.len() > MAX_CLIENT_SECRET_LEN {
        return Err(FieldError::new("client_secret", format!("must be 1-{MAX_CLIENT_SECRET_LEN} bytes")));
    }
    if text.chars().any(char::is_control) {
        return Err(FieldError::new("client_secret", "must not contain control characters"));
    }
    Ok(value)
}

fn scopes(mut scopes: Vec<String>) -> Result<Vec<String>, FieldError> {
    validation::scopes("scopes", &scopes)?;
    if !scopes.iter().any(|s| s == "openid") {
        scopes.insert(0, "openid".to_owned());
    }
    scopes.dedup();
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_need_https_except_allowed_loopback() {
        let mut s = SsoSettings::new(url::Url::parse("http://127.0.0.1:8080").unwrap());
        assert!(issuer(&s, "https://id.example.com").is_ok());
        assert_eq!(issuer(&s, "http://id.example.com").unwrap_err().field, "issuer");
        assert!(issuer(&s, "http://127.0.0.1:9000")
            .unwrap_err()
            .message
            .contains("GATEHOUSE_ALLOW_LOOPBACK_UPSTREAMS"));
        s.allow_loopback_issuers = true;
        assert!(issuer(&s, "http://127.0.0.1:9000").is_ok());
        assert!(issuer(&s, "http://localhost:9000/realm").is_ok());
        assert!(issuer(&s, "http://10.0.0.1").is_err());
        assert!(issuer(&s, "https://id.example.com/?x=1").is_err());
    }
}
