//! `GET /v1/rate-limits/{id}/usage`: how much of a budget the current window
//! has used, read from the Redis counters the edges keep.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use gatehouse_config::rate_limit::{budget_key, budget_window, LimitKind};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiState;
use crate::accounts::OrgScope;
use crate::rest::json::{ApiPath, ApiQuery};
use crate::rest::{ApiError, ErrorBody};
use crate::validation::{self, FieldError};

/// `?user=`: whose counter of a per-caller budget.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UsageQuery {
    /// The caller whose counter to read; required for a `per_caller` budget, refused otherwise.
    #[param(min_length = 1, max_length = 256)]
    pub user: Option<String>,
}

/// A budget's consumption in its current window.
#[derive(Debug, Serialize, ToSchema)]
pub struct BudgetUsage {
    /// Tool calls counted in the window.
    pub used: u64,
    /// Tool calls the budget allows per window.
    pub limit: u64,
    /// `limit - used`, never negative.
    pub remaining: u64,
    /// Start of the window (UTC day or calendar month).
    pub period_start: DateTime<Utc>,
    /// End of the window (exclusive): the counter starts again at zero.
    pub period_end: DateTime<Utc>,
    /// The caller whose counter this is (per-caller budgets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// A budget's consumption in the current window. The counters live in the Redis the
/// edges share; the control plane reads it when `GATEHOUSE_REDIS_URL` is set.
#[utoipa::path(get, path = "/v1/rate-limits/{id}/usage", tag = "rate limits",
    params(("id" = String, Path, description = "Rate limit id"), UsageQuery),
    security(("admin_token" = [])),
    responses((status = 200, body = BudgetUsage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub(crate) async fn usage(
    State(state): State<ApiState>,
    scope: OrgScope,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> Result<Json<BudgetUsage>, ApiError> {
    let record = state.store.get_rate_limit(&scope.org_id, &id).await?;
    let spec = &record.spec;
    if spec.kind != LimitKind::Budget {
        return Err(ApiError::Conflict {
            field: None,
            message: "usage is counted for budgets; this is a rate limit, whose state is how recently requests came, not a count".to_owned(),
        });
    }
    let user = match (&query.user, spec.per_caller) {
        (Some(user), true) => {
            validation::user("user", user)?;
            Some(user.as_str())
        }
        (None, true) => {
            return Err(FieldError::new("user", "this budget counts per caller: name one with ?user=").into())
        }
        (Some(_), false) => {
            return Err(
                FieldError::new("user", "this budget is shared by every caller: leave user out").into()
            )
        }
        (None, false) => None,
    };
    let Some(counters) = &state.rate_limit_counters else {
        return Err(ApiError::Conflict {
            field: None,
            message: "budget usage is counted in the Redis the edges share: set GATEHOUSE_REDIS_URL (and GATEHOUSE_REDIS_KEY_PREFIX, if the edges set one) on the control plane".to_owned(),
        });
    };
    let (start, end) = budget_window(spec.period, Utc::now().timestamp_millis());
    let key = budget_key(counters.prefix(), &record.org_id, &record.id, start, user);
    let used = counters.count(&key).await.map_err(|e| {
        tracing::warn!(reason = %e, "reading a budget counter failed");
        ApiError::Unavailable
    })?;
    let time = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap_or_default();
    Ok(Json(BudgetUsage {
        used,
        limit: spec.amount,
        remaining: spec.amount.saturating_sub(used),
        period_start: time(start),
        period_end: time(end),
        user: user.map(str::to_owned),
    }))
}
