//! The audit trail's routes: `GET /v1/audit-events` (newest first, filtered,
//! paginated), `GET /v1/audit-events/export` (the same events as streamed JSON
//! lines), `GET /v1/usage` (aggregates for charts) and the org's audit settings
//! (`GET`/`PUT /v1/audit-settings`). Every lookup is keyed by the scope's org.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::instrument;
use utoipa::{IntoParams, ToSchema};

use super::ApiState;
use crate::accounts::OrgScope;
use crate::audit::usage::{self, GroupBy, Interval, UsageRow};
use crate::rest::json::{ApiJson, ApiQuery};
use crate::rest::{ApiError, ErrorBody};
use crate::store::page::PageRequest;
use crate::store::{AuditEvent, AuditFilter, AuditKind, AuditSettings, Store};
use crate::validation::FieldError;

/// Page size of one export round trip to the database.
const EXPORT_PAGE: u64 = 500;
/// Most request events one usage query aggregates.
const USAGE_MAX_EVENTS: u64 = 200_000;
/// Longest usage window.
const USAGE_MAX_DAYS: i64 = 93;

/// The audit routes (paths included).
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/audit-events", get(list))
        .route("/v1/audit-events/export", get(export))
        .route("/v1/usage", get(usage_report))
        .route("/v1/audit-settings", get(get_settings).put(put_settings))
}

/// `?kind=&actor=&action=&user=&server=&tool=&decision=&since=&until=&limit=&cursor=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// `admin`, `tool_call`, `mcp_request`, `auth_failure` or `auth_failure_burst`.
    #[param(pattern = "^(admin|tool_call|mcp_request|auth_failure|auth_failure_burst)?$")]
    pub kind: Option<String>,
    /// Admin actor: `platform`, `api_key:<id>` or `user:<id>`.
    pub actor: Option<String>,
    /// What was done: an admin event's `METHOD /route/template` (e.g. `PATCH /v1/servers/{slug}`)
    /// or an edge event's MCP method (e.g. `tools/call`).
    pub action: Option<String>,
    /// The edge caller's user.
    pub user: Option<String>,
    /// Server slug.
    pub server: Option<String>,
    /// Tool name.
    pub tool: Option<String>,
    /// `allow` or `deny`.
    #[param(pattern = "^(allow|deny)?$")]
    pub decision: Option<String>,
    /// RFC 3339 time: events at or after it.
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<String>,
    /// RFC 3339 time: events before it.
    #[param(value_type = Option<String>, format = DateTime)]
    pub until: Option<String>,
    /// Rows per page, 1-1000 (default 100; ignored by the export).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn time(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, FieldError> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| FieldError::new(field, "must be an RFC 3339 time such as 2026-12-01T00:00:00Z"))
        })
        .transpose()
}

impl AuditQuery {
    fn filter(&self) -> Result<AuditFilter, ApiError> {
        let kind = match self.kind.as_deref().filter(|k| !k.is_empty()) {
            None => None,
            Some(k) => Some(AuditKind::parse(k).ok_or_else(|| {
                FieldError::new(
                    "kind",
                    "must be one of admin, tool_call, mcp_request, auth_failure, auth_failure_burst",
                )
            })?),
        };
        let decision = self.decision.clone().filter(|d| !d.is_empty());
        if decision.as_deref().is_some_and(|d| d != "allow" && d != "deny") {
            return Err(FieldError::new("decision", "must be allow or deny").into());
        }
        let since = time("since", self.since.as_deref())?;
        let until = time("until", self.until.as_deref())?;
        if let (Some(s), Some(u)) = (since, until) {
            if s >= u {
                return Err(FieldError::new("until", "must be later than since").into());
            }
        }
        let text = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        Ok(AuditFilter {
            kind,
            actor: text(&self.actor),
            action: text(&self.action),
            user: text(&self.user),
            server: text(&self.server),
            tool: text(&self.tool),
            decision,
            since,
            until,
        })
    }
}

/// A page of audit events.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventList {
    /// Newest first.
    pub audit_events: Vec<AuditEvent>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Lists the org's audit events, newest first.
#[utoipa::path(get, path = "/v1/audit-events", tag = "audit", params(AuditQuery), security(("admin_token" = [])),
    responses((status = 200, body = AuditEventList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditEventList>, ApiError> {
    let filter = query.filter()?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let page = state.store.list_audit_events(&scope.org_id, &filter, &page).await?;
    Ok(Json(AuditEventList { audit_events: page.items, next_cursor: page.next_cursor }))
}

/// `?format=jsonl` (the export also takes every filter of the list).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportFormat {
    /// `jsonl` (the default and only format): one event per line.
    #[param(pattern = "^jsonl$")]
    pub format: Option<String>,
}

/// Streams the org's matching audit events as JSON lines, newest first.
#[utoipa::path(get, path = "/v1/audit-events/export", tag = "audit", params(ExportFormat, AuditQuery), security(("admin_token" = [])),
    responses((status = 200, description = "One JSON event per line", content_type = "application/x-ndjson", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[instrument(skip_all)]
pub(crate) async fn export(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiQuery(format): ApiQuery<ExportFormat>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Response, ApiError> {
    if format.format.as_deref().is_some_and(|f| f != "jsonl") {
        return Err(FieldError::new("format", "must be jsonl").into());
    }
    let filter = query.filter()?;
    let first = PageRequest::parse(Some(EXPORT_PAGE), None)?;
    let stream = export_stream(state.store.clone(), scope.org_id, filter, first);
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(stream)).into_response())
}

/// Pages through the events, one database page at a time, as lines.
fn export_stream(
    store: Store,
    org_id: String,
    filter: AuditFilter,
    first: PageRequest,
) -> impl futures::Stream<Item = Result<axum::body::Bytes, std::io::Error>> + Send {
    futures::stream::unfold(Some(first), move |next| {
        let store = store.clone();
        let org_id = org_id.clone();
        let filter = filter.clone();
        async move {
            let page = next?;
            match store.list_audit_events(&org_id, &filter, &page).await {
                Ok(found) => {
                    let mut lines = Vec::new();
                    for event in &found.items {
                        if serde_json::to_writer(&mut lines, event).is_ok() {
                            lines.push(b'\n');
                        }
                    }
                    let after = found
                        .next_cursor
                        .as_deref()
                        .and_then(|c| PageRequest::parse(Some(EXPORT_PAGE), Some(c)).ok());
                    Some((Ok(axum::body::Bytes::from(lines)), after))
                }
                Err(error) => {
                    // The status is sent already; a cut stream is how the client learns.
                    tracing::error!(%error, "audit export failed");
                    Some((Err(std::io::Error::other("audit export failed")), None))
                }
            }
        }
    })
}

/// `?group_by=&interval=&since=&until=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// `server`, `tool`, `user` or `workspace`.
    #[param(required = true, pattern = "^(server|tool|user|workspace)$")]
    pub group_by: Option<String>,
    /// `hour` or `day` (default `day`).
    #[param(pattern = "^(hour|day)$")]
    pub interval: Option<String>,
    /// RFC 3339 start (default 7 days before `until`).
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<String>,
    /// RFC 3339 end (default now).
    #[param(value_type = Option<String>, format = DateTime)]
    pub until: Option<String>,
}

/// Usage rows.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageReport {
    /// Per bucket and group, ordered by bucket then key.
    pub usage: Vec<UsageRow>,
    /// Whether the window held more request events than one report aggregates (the oldest were left out).
    pub truncated: bool,
}

/// Tool calls, errors, denials and latency percentiles from the stored request events.
#[utoipa::path(get, path = "/v1/usage", tag = "audit", params(UsageQuery), security(("admin_token" = [])),
    responses((status = 200, body = UsageReport), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub(crate) async fn usage_report(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> Result<Json<UsageReport>, ApiError> {
    let group_by = GroupBy::parse(query.group_by.as_deref().unwrap_or_default())
        .ok_or_else(|| FieldError::new("group_by", "must be one of server, tool, user, workspace"))?;
    let interval = Interval::parse(query.interval.as_deref().unwrap_or("day"))
        .ok_or_else(|| FieldError::new("interval", "must be hour or day"))?;
    let until = time("until", query.until.as_deref())?.unwrap_or_else(Utc::now);
    let since = time("since", query.since.as_deref())?.unwrap_or(until - chrono::Duration::days(7));
    if since >= until {
        return Err(FieldError::new("until", "must be later than since").into());
    }
    if until - since > chrono::Duration::days(USAGE_MAX_DAYS) {
        return Err(FieldError::new("since", format!("the window is at most {USAGE_MAX_DAYS} days")).into());
    }
    let events = state.store.audit_request_events(&scope.org_id, since, until, USAGE_MAX_EVENTS).await?;
    let truncated = events.len() as u64 >= USAGE_MAX_EVENTS;
    Ok(Json(UsageReport { usage: usage::aggregate(&events, group_by, interval), truncated }))
}

/// Gets the org's audit settings.
#[utoipa::path(get, path = "/v1/audit-settings", tag = "audit", security(("admin_token" = [])),
    responses((status = 200, body = AuditSettings), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn get_settings(
    State(state): State<ApiState>,
    scope: OrgScope,
) -> Result<Json<AuditSettings>, ApiError> {
    Ok(Json(state.store.audit_settings(&scope.org_id).await?))
}

/// Replaces the org's audit settings.
#[utoipa::path(put, path = "/v1/audit-settings", tag = "audit", request_body = AuditSettingsBody, security(("admin_token" = [])),
    responses((status = 200, body = AuditSettings), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
#[instrument(skip_all)]
pub(crate) async fn put_settings(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiJson(body): ApiJson<AuditSettingsBody>,
) -> Result<Json<AuditSettings>, ApiError> {
    let settings = body.validate()?;
    Ok(Json(state.store.set_audit_settings(&scope.org_id, settings).await?))
}

/// Body of `PUT /v1/audit-settings` (every field required).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditSettingsBody {
    /// Days events are kept, 1-3650.
    #[schema(minimum = 1, maximum = 3650)]
    #[serde(deserialize_with = "whole_number")]
    pub audit_retention_days: u32,
    /// Failures from one address within the window that make a burst, 1-100000.
    #[schema(minimum = 1, maximum = 100000)]
    #[serde(deserialize_with = "whole_number")]
    pub auth_failure_burst_threshold: u32,
    /// The burst window in seconds, 1-86400.
    #[schema(minimum = 1, maximum = 86400)]
    #[serde(deserialize_with = "whole_number")]
    pub auth_failure_burst_window_secs: u32,
}

/// A JSON integer, also written as a whole float (`38.0`), which JSON Schema counts as one.
fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let value = f64::deserialize(deserializer)?;
    if value.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&value) {
        Ok(value as u32)
    } else {
        Err(serde::de::Error::custom("must be a whole number"))
    }
}

impl AuditSettingsBody {
    fn validate(self) -> Result<AuditSettings, FieldError> {
        let check = |field: &str, v: u32, max: u32| {
            if (1..=max).contains(&v) {
                Ok(v)
            } else {
                Err(FieldError::new(field, format!("must be between 1 and {max}")))
            }
        };
        Ok(AuditSettings {
            audit_retention_days: check("audit_retention_days", self.audit_retention_days, 3650)?,
            auth_failure_burst_threshold: check(
                "auth_failure_burst_threshold",
                self.auth_failure_burst_threshold,
                100_000,
            )?,
            auth_failure_burst_window_secs: check(
                "auth_failure_burst_window_secs",
                self.auth_failure_burst_window_secs,
                86_400,
            )?,
        })
    }
}
