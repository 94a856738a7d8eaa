//! `/v1/rate-limits`: per-org rate limits (requests per second, minute, hour or
//! day, smoothed with a burst) and budgets (tool calls per UTC day or calendar
//! month), matched on any combination of workspace, user, server and tool glob.
//! The edges enforce them, counting in Redis shared by all of them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use gatehouse_config::rate_limit::{LimitKind, Period};
use serde::{Deserialize, Deserializer, Serialize};
use tracing::instrument;
use utoipa::ToSchema;

use super::ApiState;
use crate::accounts::OrgScope;
use crate::rest::json::{ApiJson, ApiPath, ApiQuery};
use crate::rest::{ApiError, ErrorBody, PageQuery};
use crate::store::{RateLimitRecord, RateLimitSpec};
use crate::validation::{self, FieldError};

/// Most requests or calls a limit or budget may allow per period.
const MAX_AMOUNT: u64 = 1_000_000_000_000;

/// Which requests a limit counts; an absent field matches every value.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitMatch {
    /// Slug of the workspace the request is routed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^[a-z0-9][a-z0-9-]{0,62}$", max_length = 63)]
    pub workspace: Option<String>,
    /// The caller's user, as tokens name it (`user` of a gateway token, the `sub` or e-mail of a JWT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub user: Option<String>,
    /// Server slug.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^[a-z0-9][a-z0-9-]{0,62}$", max_length = 63)]
    pub server: Option<String>,
    /// Tool-name glob (`*` any characters, `?` one); when set, only `tools/call` requests of
    /// matching tools count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 256, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]+$")]
    pub tool: Option<String>,
}

/// A request rate: `requests` per `per`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitRate {
    /// Requests per period.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_u64)]
    pub requests: u64,
    /// `second`, `minute`, `hour` or `day`.
    #[schema(pattern = "^(second|minute|hour|day)$")]
    pub per: String,
}

/// A quota of tool calls: `calls` per UTC day or calendar month.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetQuota {
    /// Tool calls per period.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_u64)]
    pub calls: u64,
    /// `day` (UTC) or `month` (calendar, UTC).
    #[schema(pattern = "^(day|month)$")]
    pub per: String,
}

/// Body of `POST /v1/rate-limits`: exactly one of `limit` and `budget`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRateLimit {
    /// Unique in the org.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// Which requests count (absent = all of the org's).
    #[serde(default, rename = "match")]
    pub matches: RateLimitMatch,
    /// A request rate.
    #[serde(default)]
    pub limit: Option<LimitRate>,
    /// A tool-call quota.
    #[serde(default)]
    pub budget: Option<BudgetQuota>,
    /// Requests a limit lets through at once (default: `limit.requests`); limits only.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1_000_000_000_000_u64)]
    pub burst: Option<u64>,
    /// One counter per caller (user) instead of one shared by everyone matched.
    #[serde(default)]
    pub per_caller: bool,
}

/// Body of `PATCH /v1/rate-limits/{id}`: absent fields are unchanged; `match` is
/// replaced whole; giving `limit` or `budget` replaces the other; `burst: null` clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRateLimit {
    /// New name.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: Option<String>,
    /// New match.
    #[serde(default, rename = "match")]
    pub matches: Option<RateLimitMatch>,
    /// New request rate (turns a budget into a limit).
    pub limit: Option<LimitRate>,
    /// New quota (turns a limit into a budget).
    pub budget: Option<BudgetQuota>,
    /// New burst, or `null` for the default.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 1_000_000_000_000_u64)]
    pub burst: Option<Option<u64>>,
    /// New per-caller setting.
    pub per_caller: Option<bool>,
}

/// Keeps an explicit `null` apart from an absent field.
fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    Option::<u64>::deserialize(d).map(Some)
}

/// A rate limit or budget.
#[derive(Debug, Serialize, ToSchema)]
pub struct RateLimitView {
    /// Stable id.
    pub id: String,
    /// Unique in the org.
    pub name: String,
    /// Which requests count.
    #[serde(rename = "match")]
    pub matches: RateLimitMatch,
    /// The request rate (a limit), or absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<LimitRate>,
    /// The tool-call quota (a budget), or absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetQuota>,
    /// Requests let through at once (limits; absent = `limit.requests`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst: Option<u64>,
    /// One counter per caller.
    pub per_caller: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<RateLimitRecord> for RateLimitView {
    fn from(r: RateLimitRecord) -> Self {
        let s = r.spec;
        let per = s.period.as_str().to_owned();
        let (limit, budget) = match s.kind {
            LimitKind::Limit => (Some(LimitRate { requests: s.amount, per }), None),
            LimitKind::Budget => (None, Some(BudgetQuota { calls: s.amount, per })),
        };
        Self {
            id: r.id,
            name: s.name,
            matches: RateLimitMatch { workspace: s.workspace, user: s.user, server: s.server, tool: s.tool },
            limit,
            budget,
            burst: s.burst,
            per_caller: s.per_caller,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Rate limits list.
#[derive(Debug, Serialize, ToSchema)]
pub struct RateLimitList {
    /// Rate limits and budgets, newest first.
    pub rate_limits: Vec<RateLimitView>,
    /// Cursor of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// The parts of a definition before validation.
struct Draft {
    name: String,
    matches: RateLimitMatch,
    limit: Option<LimitRate>,
    budget: Option<BudgetQuota>,
    burst: Option<u64>,
    per_caller: bool,
}

/// Checks a whole definition and turns it into what the store keeps.
fn validate(d: Draft) -> Result<RateLimitSpec, FieldError> {
    let name = validation::name("name", &d.name)?;
    let m = d.matches;
    if let Some(ws) = &m.workspace {
        validation::slug("match.workspace", ws)?;
    }
    if let Some(user) = &m.user {
        validation::user("match.user", user)?;
    }
    if let Some(server) = &m.server {
        validation::slug("match.server", server)?;
    }
    if let Some(tool) = &m.tool {
        validation::tool_globs("match.tool", std::slice::from_ref(tool))
            .map_err(|e| FieldError::new("match.tool", e.message))?;
    }
    let in_range = |field: &str, n: u64| {
        if (1..=MAX_AMOUNT).contains(&n) {
            Ok(n)
        } else {
            Err(FieldError::new(field, format!("must be between 1 and {MAX_AMOUNT}")))
        }
    };
    let (kind, amount, period) = match (d.limit, d.budget) {
        (Some(l), None) => {
            let period = Period::parse(LimitKind::Limit, &l.per)
                .ok_or_else(|| FieldError::new("limit.per", "must be second, minute, hour or day"))?;
            (LimitKind::Limit, in_range("limit.requests", l.requests)?, period)
        }
        (None, Some(b)) => {
            let period = Period::parse(LimitKind::Budget, &b.per).ok_or_else(|| {
                FieldError::new("budget.per", "must be day (UTC) or month (calendar month, UTC)")
            })?;
            (LimitKind::Budget, in_range("budget.calls", b.calls)?, period)
        }
        (Some(_), Some(_)) | (None, None) => {
            return Err(FieldError::new(
                "limit",
                "give exactly one of limit ({\"requests\": n, \"per\": \"minute\"}) or budget ({\"calls\": n, \"per\": \"day\"})",
            ))
        }
    };
    let burst = match d.burst {
        Some(_) if kind == LimitKind::Budget => {
            return Err(FieldError::new("burst", "applies to limits only: a budget has no burst"))
        }
        Some(b) => Some(in_range("burst", b)?),
        None => None,
    };
    Ok(RateLimitSpec {
        name,
        workspace: m.workspace,
        user: m.user,
        server: m.server,
        tool: m.tool,
        per_caller: d.per_caller,
        kind,
        amount,
        period,
        burst,
    })
}

/// Checks a `POST /v1/rate-limits` body with the rules the route applies (field errors
/// named as the API names them), without a store: for clients such as
/// `gatehouse apply` that must refuse a bad file before their first call. Whether a
/// matched workspace or server exists is not checked here.
pub fn validate_create_body(body: &serde_json::Value) -> Result<(), FieldError> {
    let body: CreateRateLimit = serde_json::from_value(body.clone())
        .map_err(|e| FieldError::new("body", format!("not a rate limit: {e}")))?;
    validate(body.into()).map(drop)
}

impl From<CreateRateLimit> for Draft {
    fn from(body: CreateRateLimit) -> Self {
        Self {
            name: body.name,
            matches: body.matches,
            limit: body.limit,
            budget: body.budget,
            burst: body.burst,
            per_caller: body.per_caller,
        }
    }
}

/// Creates a rate limit or budget; edges enforce it within a second.
#[utoipa::path(post, path = "/v1/rate-limits", tag = "rate limits", request_body = CreateRateLimit,
    security(("admin_token" = [])),
    responses((status = 201, body = RateLimitView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[instrument(skip_all)]
pub(crate) async fn create(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiJson(body): ApiJson<CreateRateLimit>,
) -> Result<(StatusCode, Json<RateLimitView>), ApiError> {
    let spec = validate(body.into())?;
    let created = state.store.create_rate_limit(&scope.org_id, spec).await?;
    tracing::info!(version = created.version, rate_limit_id = %created.value.id, "rate limit created");
    Ok((StatusCode::CREATED, Json(created.value.into())))
}

/// Lists the org's rate limits and budgets, newest first.
#[utoipa::path(get, path = "/v1/rate-limits", tag = "rate limits", params(PageQuery),
    security(("admin_token" = [])),
    responses((status = 200, body = RateLimitList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<RateLimitList>, ApiError> {
    let page = query.page()?;
    let mut found = state.store.list_rate_limits(&scope.org_id).await?;
    found.sort_by(|a, b| b.id.cmp(&a.id));
    let page = page.slice_desc(found, |r| r.id.clone());
    Ok(Json(RateLimitList {
        rate_limits: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One rate limit or budget.
#[utoipa::path(get, path = "/v1/rate-limits/{id}", tag = "rate limits", params(("id" = String, Path, description = "Rate limit id")),
    security(("admin_token" = [])),
    responses((status = 200, body = RateLimitView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RateLimitView>, ApiError> {
    Ok(Json(state.store.get_rate_limit(&scope.org_id, &id).await?.into()))
}

/// Changes a rate limit or budget; edges enforce the new definition within a second
/// (counters already spent stay spent).
#[utoipa::path(patch, path = "/v1/rate-limits/{id}", tag = "rate limits", params(("id" = String, Path, description = "Rate limit id")),
    request_body = UpdateRateLimit, security(("admin_token" = [])),
    responses((status = 200, body = RateLimitView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[instrument(skip_all)]
pub(crate) async fn update(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateRateLimit>,
) -> Result<Json<RateLimitView>, ApiError> {
    if body.limit.is_some() && body.budget.is_some() {
        return Err(FieldError::new("limit", "give limit or budget, not both").into());
    }
    let current: RateLimitView = state.store.get_rate_limit(&scope.org_id, &id).await?.into();
    let (limit, budget) = match (body.limit, body.budget) {
        (Some(l), _) => (Some(l), None),
        (None, Some(b)) => (None, Some(b)),
        (None, None) => (current.limit, current.budget),
    };
    // A budget has no burst: turning a limit into one drops it unless the patch names one.
    let burst = match body.burst {
        Some(b) => b,
        None if budget.is_some() => None,
        None => current.burst,
    };
    let spec = validate(Draft {
        name: body.name.unwrap_or(current.name),
        matches: body.matches.unwrap_or(current.matches),
        limit,
        budget,
        burst,
        per_caller: body.per_caller.unwrap_or(current.per_caller),
    })?;
    let updated = state.store.update_rate_limit(&scope.org_id, &id, spec).await?;
    tracing::info!(version = updated.version, rate_limit_id = %id, "rate limit updated");
    Ok(Json(updated.value.into()))
}

/// Deletes a rate limit or budget; edges stop enforcing it within a second.
#[utoipa::path(delete, path = "/v1/rate-limits/{id}", tag = "rate limits", params(("id" = String, Path, description = "Rate limit id")),
    security(("admin_token" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[instrument(skip(state))]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let deleted = state.store.delete_rate_limit(&scope.org_id, &id).await?;
    tracing::info!(version = deleted.version, rate_limit_id = %id, "rate limit deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(limit: Option<LimitRate>, budget: Option<BudgetQuota>) -> Draft {
        Draft {
            name: "n".into(),
            matches: RateLimitMatch::default(),
            limit,
            budget,
            burst: None,
            per_caller: false,
        }
    }

    fn rate(requests: u64, per: &str) -> Option<LimitRate> {
        Some(LimitRate { requests, per: per.into() })
    }

    fn quota(calls: u64, per: &str) -> Option<BudgetQuota> {
        Some(BudgetQuota { calls, per: per.into() })
    }

    #[test]
    fn exactly_one_of_limit_and_budget() {
        assert_eq!(validate(draft(None, None)).unwrap_err().field, "limit");
        assert_eq!(validate(draft(rate(1, "minute"), quota(1, "day"))).unwrap_err().field, "limit");
        assert_eq!(validate(draft(rate(5, "minute"), None)).unwrap().kind, LimitKind::Limit);
        assert_eq!(validate(draft(None, quota(5, "month"))).unwrap().period, Period::Month);
    }

    #[test]
    fn a_body_is_checked_as_the_route_checks_it() {
        let both = serde_json::json!({"name": "n", "limit": {"requests": 1, "per": "minute"},
            "budget": {"calls": 1, "per": "day"}});
        assert_eq!(validate_create_body(&both).unwrap_err().field, "limit");
        let ok =
            serde_json::json!({"name": "n", "match": {"server": "s"}, "budget": {"calls": 1, "per": "day"}});
        assert!(validate_create_body(&ok).is_ok());
        let unknown = serde_json::json!({"name": "n", "budget": {"calls": 1, "per": "day"}, "window": 1});
        assert!(validate_create_body(&unknown).unwrap_err().message.contains("window"));
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(validate(draft(rate(0, "minute"), None)).unwrap_err().field, "limit.requests");
        assert_eq!(validate(draft(rate(1, "month"), None)).unwrap_err().field, "limit.per");
        assert_eq!(validate(draft(None, quota(1, "hour"))).unwrap_err().field, "budget.per");
        let mut d = draft(None, quota(1, "day"));
        d.burst = Some(3);
        assert_eq!(validate(d).unwrap_err().field, "burst");
        let mut d = draft(rate(1, "second"), None);
        d.matches.tool = Some("two words".into());
        assert_eq!(validate(d).unwrap_err().field, "match.tool");
        let mut d = draft(rate(1, "second"), None);
        d.matches.server = Some("Not_A_Slug".into());
        assert_eq!(validate(d).unwrap_err().field, "match.server");
    }
}
