//! `GET`/`PATCH /v1/org`: the org's edge authentication settings
//! (`jwt_validation`, `external_auth_config`), validated with the schemas the edge compiles
//! (`gatehouse_config::identity`).

use crate::accounts::OrgScope;
use axum::extract::State;
use axum::Json;
use gatehouse_config::identity::advanced_config::validate_org_jwt_validation;
use gatehouse_config::identity::external_auth::ExternalAuthConfig;
use serde::{Deserialize, Deserializer, Serialize};
use tracing::instrument;
use utoipa::ToSchema;

use super::jwt_warning::Warnings;
use super::ApiState;
use crate::rest::json::ApiJson;
use crate::rest::{ApiError, ErrorBody};
use crate::store::{OrgAuthPatch, OrgAuthSettings};
use crate::validation::FieldError;

/// The org's edge authentication settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgSettingsView {
    /// The org's slug, as in `/v1/orgs/{org}` and the edge's `/mcp/{org}/{server}`.
    pub slug: String,
    /// Org-wide bring-your-own-JWT validation (see docs/edge.md); null = none.
    #[schema(value_type = Option<Object>)]
    pub jwt_validation: Option<serde_json::Value>,
    /// The org's own authorization server (`{issuer, scopes_supported}` or
    /// `{authorization_endpoint, token_endpoint, scope}`); null = Gatehouse's.
    #[schema(value_type = Option<Object>)]
    pub external_auth_config: Option<serde_json::Value>,
    /// What the saved `jwt_validation` accepts that may be weaker or narrower than intended
    /// (also sent as `Warning` headers); only in the answer to an update.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub warnings: Vec<String>,
}

impl OrgSettingsView {
    fn of(s: OrgAuthSettings, scope: &OrgScope) -> Self {
        Self {
            slug: scope.org_slug.clone(),
            jwt_validation: s.jwt_validation,
            external_auth_config: s.external_auth_config,
            warnings: Vec::new(),
        }
    }
}

/// A change to the settings: an absent field is unchanged, `null` clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrgSettings {
    /// New org-wide `jwt_validation`, or null.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub jwt_validation: Option<serde_json::Value>,
    /// New `external_auth_config`, or null.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub external_auth_config: Option<serde_json::Value>,
}

/// Keeps an explicit `null` as `Some(Null)` so it can clear a setting.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// `Some(None)` for null, `Some(Some(v))` for a value.
fn change(value: Option<serde_json::Value>) -> Option<Option<serde_json::Value>> {
    value.map(|v| (!v.is_null()).then_some(v))
}

/// Gets the org's edge authentication settings.
#[utoipa::path(get, path = "/v1/org", tag = "org", security(("admin_token" = [])),
    responses((status = 200, body = OrgSettingsView), (status = 401, body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<ApiState>,
    scope: OrgScope,
) -> Result<Json<OrgSettingsView>, ApiError> {
    Ok(Json(OrgSettingsView::of(state.store.org_auth_settings(&scope.org_id).await?, &scope)))
}

/// Changes the org's edge authentication settings and pushes them to the edges.
#[utoipa::path(patch, path = "/v1/org", tag = "org", request_body = UpdateOrgSettings, security(("admin_token" = [])),
    responses((status = 200, body = OrgSettingsView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
#[instrument(skip_all)]
pub(crate) async fn update(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiJson(body): ApiJson<UpdateOrgSettings>,
) -> Result<(axum::http::HeaderMap, Json<OrgSettingsView>), ApiError> {
    let jwt_validation = change(body.jwt_validation);
    let warnings = Warnings::for_jwt_validation(jwt_validation.as_ref().and_then(Option::as_ref));
    if let Some(Some(v)) = &jwt_validation {
        validate_org_jwt_validation("jwt_validation", v).map_err(|e| FieldError::new(e.field, e.message))?;
    }
    let external_auth_config = change(body.external_auth_config);
    if let Some(Some(v)) = &external_auth_config {
        ExternalAuthConfig::from_value("external_auth_config", v)
            .map_err(|e| FieldError::new(e.field, e.message))?;
    }
    let patch = OrgAuthPatch { jwt_validation, external_auth_config };
    let updated = state.store.update_org_auth_settings(&scope.org_id, patch).await?;
    tracing::info!(version = updated.version, "org auth settings updated");
    let view = OrgSettingsView { warnings: warnings.texts(), ..OrgSettingsView::of(updated.value, &scope) };
    Ok((warnings.headers(), Json(view)))
}
