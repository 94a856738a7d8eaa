//! Admin authentication: either `Authorization: Bearer <admin token>`
//! (compared by SHA-256 hash in constant time) or an SSO session of a user
//! with the `admin` role in the org. Session callers must also pass the CSRF
//! check on mutating requests; bearer callers need none (browsers never
//! attach bearer tokens on their own).

use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};
use crate::sso::api::forbidden;
use crate::sso::CurrentUser;

/// Why a caller may not use an admin route.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthError {
    /// No or invalid credentials (401).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Authenticated but not allowed (403).
    #[error("{message}")]
    Forbidden {
        /// Machine-readable code.
        code: &'static str,
        /// Human-readable reason.
        message: &'static str,
    },
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        match self {
            AuthError::Api(e) => e.into_response(),
            AuthError::Forbidden { code, message } => forbidden(code, message),
        }
    }
}

/// Rejects requests without a valid admin token or an admin session.
///
/// A session caller's [`CurrentUser`] is put in the request extensions.
pub(crate) async fn require_admin(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, AuthError> {
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        let presented = value.to_str().ok().and_then(bearer).ok_or(ApiError::Unauthorized)?;
        let hash = crate::tokens::hash(presented);
        // Compare against every known hash so timing does not reveal which matched.
        let matched = state
            .admin_token_hashes
            .iter()
            .fold(subtle::Choice::from(0), |acc, known| acc | known.ct_eq(&hash));
        if bool::from(matched) {
            return Ok(next.run(request).await);
        }
        tracing::warn!(method = %request.method(), path = request.uri().path(), "admin request with an invalid token");
        return Err(ApiError::Unauthorized.into());
    }

    let session = state.sso.session_from_headers(request.headers()).await?.ok_or(ApiError::Unauthorized)?;
    if session.user.org_id != *state.org_id {
        return Err(AuthError::Forbidden {
            code: "forbidden",
            message: "this session belongs to another organisation",
        });
    }
    if !session.user.is_admin() {
        tracing::info!(user_id = %session.user.user_id, path = request.uri().path(), "admin route refused to a member");
        return Err(AuthError::Forbidden { code: "forbidden", message: "the admin role is required" });
    }
    if is_mutating(request.method()) {
        if let Err(message) = state.sso.check_csrf(request.headers(), &session) {
            tracing::warn!(user_id = %session.user.user_id, path = request.uri().path(), "csrf check failed");
            return Err(AuthError::Forbidden { code: "csrf_failed", message });
        }
    }
    request.extensions_mut().insert(CurrentUser(Some(session.user)));
    Ok(next.run(request).await)
}

/// Methods that change state (everything but GET, HEAD, OPTIONS, TRACE).
fn is_mutating(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

/// The credentials of a `Bearer` authorization value (scheme is case-insensitive).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::{bearer, is_mutating, Method};

    #[test]
    fn parses_bearer() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer"), None);
    }

    #[test]
    fn only_safe_methods_skip_csrf() {
        assert!(!is_mutating(&Method::GET));
        assert!(!is_mutating(&Method::HEAD));
        assert!(is_mutating(&Method::POST));
        assert!(is_mutating(&Method::PATCH));
        assert!(is_mutating(&Method::DELETE));
        assert!(is_mutating(&Method::PUT));
    }
}
