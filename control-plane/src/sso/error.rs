//! `SsoError`: failures of the browser login flow, mapped once to a response.
//! The browser sees a short JSON error; details go to the log only.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::rest::{ErrorBody, ErrorDetail};
use crate::store::StoreError;
use crate::validation::FieldError;

/// A failed login step.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// The org does not exist or has no enabled provider (404).
    #[error("single sign-on is not configured for this organisation")]
    NotConfigured,
    /// A query parameter is invalid, e.g. an off-site `return_to` (400).
    #[error("{0}")]
    InvalidRequest(FieldError),
    /// The callback's `state` is unknown, used, expired or not this browser's (400).
    #[error("the login request is unknown, expired or was already used; start again")]
    InvalidState,
    /// The provider returned an error instead of a code (401).
    #[error("the identity provider refused the login")]
    ProviderRefused,
    /// The response's `iss` is not the provider's issuer (RFC 9207) (400).
    #[error("the authorization response came from the wrong issuer")]
    IssuerMismatch,
    /// The token exchange or ID token validation failed (401).
    #[error("the identity provider's response could not be verified")]
    InvalidIdToken,
    /// The ID token lacks a claim the mapping needs (401).
    #[error("{0}")]
    MissingClaim(String),
    /// An admin deactivated this user (403).
    #[error("this user has been deactivated; ask an administrator")]
    UserDeactivated,
    /// The provider's discovery document or keys could not be fetched (502).
    #[error("the identity provider could not be reached")]
    Discovery(String),
    /// Storage failed (500).
    #[error("internal error")]
    Store(#[from] StoreError),
}

impl IntoResponse for SsoError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            SsoError::NotConfigured => (StatusCode::NOT_FOUND, "sso_not_configured"),
            SsoError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            SsoError::InvalidState => (StatusCode::BAD_REQUEST, "invalid_state"),
            SsoError::ProviderRefused => (StatusCode::UNAUTHORIZED, "access_denied"),
            SsoError::IssuerMismatch => (StatusCode::BAD_REQUEST, "issuer_mismatch"),
            SsoError::InvalidIdToken => (StatusCode::UNAUTHORIZED, "invalid_id_token"),
            SsoError::MissingClaim(_) => (StatusCode::UNAUTHORIZED, "missing_claim"),
            SsoError::UserDeactivated => (StatusCode::FORBIDDEN, "user_deactivated"),
            SsoError::Discovery(_) => (StatusCode::BAD_GATEWAY, "provider_unavailable"),
            SsoError::Store(e) => {
                tracing::error!(error = %e, "sso store operation failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        let field = match &self {
            SsoError::InvalidRequest(e) => Some(e.field.clone()),
            _ => None,
        };
        let body = ErrorBody { error: ErrorDetail { code, message: self.to_string(), field } };
        let mut response = (status, Json(body)).into_response();
        response
            .headers_mut()
            .insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
        response
    }
}
