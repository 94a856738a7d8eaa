//! OAuth errors: RFC 6749 §5.2 JSON bodies at the token, registration and
//! revocation endpoints; §4.1.2.1 redirects or an HTML page at the
//! authorization endpoint.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::store::StoreError;

/// An OAuth protocol error (`error` code + description).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    /// RFC 6749 / 7591 / 8707 error code.
    pub code: &'static str,
    /// Human-readable description (never contains a secret).
    pub description: String,
    /// Whether the client authenticated with HTTP Basic (401 then names the scheme).
    pub basic_auth: bool,
    /// Set when the request was rate limited: 429 with `Retry-After`.
    pub retry_after: Option<std::time::Duration>,
}

impl OAuthError {
    /// An error with `code` and `description`.
    pub fn new(code: &'static str, description: impl Into<String>) -> Self {
        Self { code, description: description.into(), basic_auth: false, retry_after: None }
    }

    /// Too many requests from this client: `temporarily_unavailable`, answered 429 with `Retry-After`.
    pub fn rate_limited(retry_after: std::time::Duration, description: impl Into<String>) -> Self {
        Self { retry_after: Some(retry_after), ..Self::new("temporarily_unavailable", description) }
    }

    /// `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }

    /// `invalid_client`.
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new("invalid_client", description)
    }

    /// `invalid_grant`.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", description)
    }

    /// `server_error`; the cause is logged here, never returned.
    pub fn server_error(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "oauth request failed");
        Self::new("server_error", "internal error")
    }

    fn status(&self) -> StatusCode {
        if self.retry_after.is_some() {
            return StatusCode::TOO_MANY_REQUESTS;
        }
        match self.code {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl From<StoreError> for OAuthError {
    fn from(err: StoreError) -> Self {
        OAuthError::server_error(&err)
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response =
            (status, Json(Body { error: self.code, error_description: &self.description })).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(wait) = self.retry_after {
            // Whole seconds, rounded up, at least 1.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if status == StatusCode::UNAUTHORIZED {
            let scheme = if self.basic_auth { "Basic realm=\"gatehouse\"" } else { "Bearer" };
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(scheme));
        }
        response
    }
}
