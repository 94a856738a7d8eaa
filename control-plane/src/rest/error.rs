//! `ApiError`: every failure of a JSON endpoint, mapped once to an HTTP status
//! and a JSON body `{"error": {"code", "message", "field"}}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::StoreError;
use crate::validation::FieldError;

/// An admin API error.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A field failed validation (400 `invalid_field`).
    #[error("{0}")]
    InvalidField(#[from] FieldError),
    /// The body is not valid JSON of the expected shape (400 `invalid_json`).
    #[error("{message}")]
    InvalidJson {
        /// Path of the offending field, when known.
        field: Option<String>,
        /// What is wrong (values are redacted).
        message: String,
    },
    /// A query string parameter is invalid (400 `invalid_query`).
    #[error("{0}")]
    InvalidQuery(String),
    /// A path segment is invalid, e.g. not UTF-8 once percent-decoded (400 `invalid_path`).
    #[error("invalid path parameters")]
    InvalidPath,
    /// The body is not `application/json` (415).
    #[error("expected a body with content-type application/json")]
    UnsupportedMediaType,
    /// The body is too large (413).
    #[error("request body is too large")]
    PayloadTooLarge,
    /// Missing or wrong admin token (401 with `WWW-Authenticate: Bearer`).
    #[error("a valid credential is required: Authorization: Bearer <admin token or org API key>, or an SSO session")]
    Unauthorized,
    /// Authenticated, but the caller's role may not do this (403 `forbidden`).
    #[error("{0}")]
    Forbidden(String),
    /// The thing does not exist (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The route exists but not for this method (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Conflicts with existing state (409).
    #[error("{message}")]
    Conflict {
        /// The conflicting field, if one.
        field: Option<&'static str>,
        /// What conflicts.
        message: String,
    },
    /// Per-user OAuth and the caller has no usable connection (409 `connection_required`):
    /// the message says how to connect.
    #[error("{0}")]
    ConnectionRequired(String),
    /// An upstream MCP server, its authorization server or an edge failed (502 `upstream_error`);
    /// the message names the problem, never a credential.
    #[error("{0}")]
    Upstream(String),
    /// An upstream MCP server or an edge did not answer in time (504 `upstream_timeout`).
    #[error("{0}")]
    UpstreamTimeout(String),
    /// A dependency (the database) is down (503).
    #[error("service unavailable")]
    Unavailable,
    /// Anything else; details are logged where it happened, never returned (500).
    #[error("internal error")]
    Internal,
}

/// The JSON error envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Details of an error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable code: `invalid_field`, `invalid_json`, `conflict`, `not_found`, `unauthorized`, `internal`, …
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// The offending field, when one is at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::InvalidField(_) => (StatusCode::BAD_REQUEST, "invalid_field"),
            ApiError::InvalidJson { .. } => (StatusCode::BAD_REQUEST, "invalid_json"),
            ApiError::InvalidQuery(_) => (StatusCode::BAD_REQUEST, "invalid_query"),
            ApiError::InvalidPath => (StatusCode::BAD_REQUEST, "invalid_path"),
            ApiError::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
            ApiError::ConnectionRequired(_) => (StatusCode::CONFLICT, "connection_required"),
            ApiError::Upstream(_) => (StatusCode::BAD_GATEWAY, "upstream_error"),
            ApiError::UpstreamTimeout(_) => (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
            ApiError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            ApiError::InvalidField(e) => Some(e.field.clone()),
            ApiError::InvalidJson { field, .. } => field.clone(),
            ApiError::Conflict { field, .. } => field.map(str::to_owned),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let body = ErrorBody { error: ErrorDetail { code, message: self.to_string(), field: self.field() } };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// A 403 with the JSON error envelope.
pub fn forbidden(code: &'static str, message: &str) -> Response {
    let body = ErrorBody { error: ErrorDetail { code, message: message.to_owned(), field: None } };
    (StatusCode::FORBIDDEN, Json(body)).into_response()
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Conflict { field, message } => ApiError::Conflict { field, message },
            StoreError::Invalid(e) => ApiError::InvalidField(e),
            StoreError::Credential(_) | StoreError::Corrupt(_) | StoreError::Db(_) => {
                // Store errors never carry secret values; log them, return a generic message.
                tracing::error!(error = %err, "store operation failed");
                ApiError::Internal
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unauthorized_sets_www_authenticate() {
        let r = ApiError::Unauthorized.into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }

    #[tokio::test]
    async fn field_errors_name_the_field() {
        let r = ApiError::from(FieldError::new("url", "bad")).into_response();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let bytes = axum::body::to_bytes(r.into_body(), 4096).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["error"]["code"], "invalid_field");
        assert_eq!(v["error"]["field"], "url");
    }
}
