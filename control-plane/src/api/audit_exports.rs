//! The org's audit export destinations: `GET /v1/audit-exports` (auditor, admin,
//! owner) and `PUT /v1/audit-exports` (owner). The webhook secret and the OTLP
//! header values are write-only: answers say `"set"`, never the value. URLs
//! follow the control plane's egress rules (no private, link-local or metadata
//! address; loopback only with `GATEHOUSE_ALLOW_LOOPBACK_UPSTREAMS`).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tracing::instrument;
use utoipa::ToSchema;

use super::ApiState;
use crate::accounts::OrgScope;
use crate::rest::json::ApiJson;
use crate::rest::{ApiError, ErrorBody};
use crate::store::{AuditKind, ExportCredential, ExportDestination, ExportSpec, ExportStatus, ExportView};
use crate::upstream_oauth::ssrf::SsrfPolicy;
use crate::validation::{self, FieldError};

/// Shortest webhook secret accepted.
const MIN_SECRET_LEN: usize = 16;
/// Longest webhook secret accepted.
const MAX_SECRET_LEN: usize = 512;

/// The routes (paths included).
pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/v1/audit-exports", get(get_exports).put(put_exports))
}

/// What a write-only value reads as.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SetMarker {
    /// A value is stored.
    Set,
}

/// The webhook as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookExportView {
    /// Where batches are POSTed.
    pub url: String,
    /// Only these kinds (absent: every kind).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<String>>,
    /// Whether events are delivered.
    pub enabled: bool,
    /// The signing secret is write-only: `"set"`.
    pub secret: SetMarker,
    /// Delivery status.
    pub status: ExportStatus,
}

/// The OTLP logs endpoint as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OtlpExportView {
    /// The OTLP/HTTP logs URL (e.g. `https://collector:4318/v1/logs`).
    pub endpoint: String,
    /// Header names; values are write-only (`"set"`).
    pub headers: BTreeMap<String, SetMarker>,
    /// Whether events are delivered.
    pub enabled: bool,
    /// Delivery status.
    pub status: ExportStatus,
}

/// The org's audit export destinations.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditExports {
    /// The signed webhook, or `null` when none is set.
    pub webhook: Option<WebhookExportView>,
    /// The OTLP logs endpoint, or `null` when none is set.
    pub otlp: Option<OtlpExportView>,
}

/// A webhook destination.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookExportBody {
    /// Where batches are POSTed (http or https).
    #[schema(schema_with = crate::rest::schemas::http_url)]
    pub url: String,
    /// The HMAC-SHA256 signing secret (16-512 characters); required for a new webhook,
    /// omitted to keep the stored one. Never returned.
    #[schema(value_type = Option<String>, min_length = 16, max_length = 512, pattern = r"^[\x21-\x7e]+$")]
    pub secret: Option<SecretString>,
    /// Only these kinds (`admin`, `tool_call`, `mcp_request`, `auth_failure`,
    /// `auth_failure_burst`); absent or `null`: every kind.
    #[schema(schema_with = crate::rest::schemas::nullable_audit_kinds)]
    pub kinds: Option<Vec<String>>,
    /// Whether events are delivered (default `true`).
    #[serde(default = "enabled")]
    #[schema(default = true)]
    pub enabled: bool,
}

/// An OTLP logs destination.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OtlpExportBody {
    /// The OTLP/HTTP logs URL, path included (e.g. `https://collector:4318/v1/logs`).
    #[schema(schema_with = crate::rest::schemas::http_url)]
    pub endpoint: String,
    /// Headers sent with every request (e.g. an API key); omitted to keep the stored
    /// ones, `{}` for none. Values are sealed and never returned.
    #[schema(schema_with = crate::rest::schemas::nullable_upstream_headers)]
    pub headers: Option<BTreeMap<String, SecretString>>,
    /// Whether events are delivered (default `true`).
    #[serde(default = "enabled")]
    #[schema(default = true)]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}

/// Body of `PUT /v1/audit-exports`: both destinations; an absent or `null` one is removed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditExportsBody {
    /// The signed webhook, or `null` for none.
    #[schema(nullable)]
    pub webhook: Option<WebhookExportBody>,
    /// The OTLP logs endpoint, or `null` for none.
    #[schema(nullable)]
    pub otlp: Option<OtlpExportBody>,
}

/// A URL the control plane may deliver to: valid, and no address literal its egress rules refuse.
fn delivery_url(field: &str, value: &str, egress: SsrfPolicy) -> Result<String, FieldError> {
    let normalised = validation::upstream_url(field, value)?;
    let parsed =
        url::Url::parse(&normalised).map_err(|_| FieldError::new(field, "must be an absolute URL"))?;
    egress.check_url(&parsed).map_err(|_| {
        FieldError::new(
            field,
            "must not name a private, link-local, metadata or (unless allowed) loopback address",
        )
    })?;
    Ok(normalised)
}

impl WebhookExportBody {
    fn validate(self, egress: SsrfPolicy) -> Result<ExportSpec, FieldError> {
        let url = delivery_url("webhook.url", &self.url, egress)?;
        if let Some(secret) = &self.secret {
            let text = secret.expose_secret();
            if !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&text.len())
                || !text.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(FieldError::new(
                    "webhook.secret",
                    format!(
                        "must be {MIN_SECRET_LEN}-{MAX_SECRET_LEN} visible ASCII characters (e.g. 32 random bytes, hex-encoded)"
                    ),
                ));
            }
        }
        let kinds = match self.kinds {
            None => None,
            Some(kinds) if kinds.is_empty() => {
                return Err(FieldError::new(
                    "webhook.kinds",
                    "must name at least one kind, or be left out for all",
                ))
            }
            Some(kinds) => {
                let mut parsed = Vec::new();
                for kind in kinds {
                    let known = AuditKind::parse(&kind).ok_or_else(|| {
                        FieldError::new(
                            "webhook.kinds",
                            "must list kinds among admin, tool_call, mcp_request, auth_failure, auth_failure_burst",
                        )
                    })?;
                    if !parsed.contains(&known.as_str().to_owned()) {
                        parsed.push(known.as_str().to_owned());
                    }
                }
                Some(parsed)
            }
        };
        Ok(ExportSpec {
            url,
            enabled: self.enabled,
            kinds,
            credential: self.secret.map(ExportCredential::Secret),
        })
    }
}

impl OtlpExportBody {
    fn validate(self, egress: SsrfPolicy) -> Result<ExportSpec, FieldError> {
        let url = delivery_url("otlp.endpoint", &self.endpoint, egress)?;
        let headers = self
            .headers
            .as_ref()
            .map(|h| {
                validation::upstream_headers(h)
                    .map_err(|e| FieldError::new(format!("otlp.{}", e.field), e.message.clone()))
            })
            .transpose()?;
        Ok(ExportSpec {
            url,
            enabled: self.enabled,
            kinds: None,
            credential: headers.map(ExportCredential::Headers),
        })
    }
}

fn answer(views: Vec<ExportView>) -> AuditExports {
    let mut out = AuditExports { webhook: None, otlp: None };
    for v in views {
        match v.destination {
            ExportDestination::Webhook => {
                out.webhook = Some(WebhookExportView {
                    url: v.url,
                    kinds: v.kinds,
                    enabled: v.enabled,
                    secret: SetMarker::Set,
                    status: v.status,
                });
            }
            ExportDestination::Otlp => {
                out.otlp = Some(OtlpExportView {
                    endpoint: v.url,
                    headers: v.header_names.into_iter().map(|n| (n, SetMarker::Set)).collect(),
                    enabled: v.enabled,
                    status: v.status,
                });
            }
        }
    }
    out
}

/// Gets the org's audit export destinations and how delivery is going.
#[utoipa::path(get, path = "/v1/audit-exports", tag = "audit", security(("admin_token" = [])),
    responses((status = 200, body = AuditExports), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn get_exports(
    State(state): State<ApiState>,
    scope: OrgScope,
) -> Result<Json<AuditExports>, ApiError> {
    Ok(Json(answer(state.store.audit_exports(&scope.org_id).await?)))
}

/// Replaces the org's audit export destinations (saving resumes a paused one).
#[utoipa::path(put, path = "/v1/audit-exports", tag = "audit", request_body = AuditExportsBody, security(("admin_token" = [])),
    responses((status = 200, body = AuditExports), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
#[instrument(skip_all)]
pub(crate) async fn put_exports(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiJson(body): ApiJson<AuditExportsBody>,
) -> Result<Json<AuditExports>, ApiError> {
    let specs = BTreeMap::from([
        (ExportDestination::Webhook, body.webhook.map(|w| w.validate(state.egress)).transpose()?),
        (ExportDestination::Otlp, body.otlp.map(|o| o.validate(state.egress)).transpose()?),
    ]);
    state.store.set_audit_exports(&scope.org_id, specs).await?;
    // A destination just enabled or resumed gets its backlog now, not at the next tick.
    state.store.audit_export_wake().notify_one();
    Ok(Json(answer(state.store.audit_exports(&scope.org_id).await?)))
}
