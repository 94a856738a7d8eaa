//! The [`OrgScope`] of an admin request as a handler argument, and the
//! pagination query every list takes.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Deserialize;
use utoipa::IntoParams;

use super::ApiError;
use crate::accounts::OrgScope;
use crate::store::page::PageRequest;

impl<S: Send + Sync> FromRequestParts<S> for OrgScope {
    type Rejection = ApiError;

    /// The scope admin authentication put in the request; a handler mounted
    /// without that authentication is a bug, answered with a 500.
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<OrgScope>().cloned().ok_or_else(|| {
            tracing::error!(
                path = parts.uri.path(),
                "org-scoped handler reached without admin authentication"
            );
            ApiError::Internal
        })
    }
}

/// `?limit=&cursor=` of every list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Rows per page, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page asked for, or a 400 naming `limit` or `cursor`.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        Ok(PageRequest::parse(self.limit, self.cursor.as_deref())?)
    }
}
