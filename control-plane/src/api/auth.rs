//! Admin authentication: `Authorization: Bearer <admin token>`, compared by
//! SHA-256 hash in constant time.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};

/// Rejects requests without a valid admin token.
pub(crate) async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .ok_or(ApiError::Unauthorized)?;
    let hash = crate::tokens::hash(presented);
    // Compare against every known hash so timing does not reveal which matched.
    let matched =
        state.admin_token_hashes.iter().fold(subtle::Choice::from(0), |acc, known| acc | known.ct_eq(&hash));
    if bool::from(matched) {
        Ok(next.run(request).await)
    } else {
        tracing::warn!(method = %request.method(), path = request.uri().path(), "admin request with an invalid token");
        Err(ApiError::Unauthorized)
    }
}

/// The credentials of a `Bearer` authorization value (scheme is case-insensitive).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn parses_bearer() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer"), None);
    }
}
