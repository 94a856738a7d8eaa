//! Admin API authentication: either `Authorization: Bearer <admin token>`
//! (compared by SHA-256 hash in constant time) or an SSO session in the org:
//! admin routes need the `admin` role, member routes (a user's own upstream
//! connections) any member. Session callers must also pass the CSRF
//! check on mutating requests; bearer callers need none (browsers never
//! attach bearer tokens on their own).
//!
//! Every subsystem's admin routes go through [`AdminAuth::admin_only`]; the
//! subsystems themselves never see how admins authenticate.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use subtle::ConstantTimeEq;

use crate::accounts::AuthenticatedUser;
use crate::rest::{forbidden, ApiError};
use crate::sso::{CurrentUser, SsoContext};

/// What admin authentication needs: the org, the admin-token hashes and SSO sessions.
#[derive(Clone)]
pub(crate) struct AdminAuth {
    /// The org every admin request acts on (the default org, for now).
    pub org_id: Arc<str>,
    /// SHA-256 of every valid admin token.
    pub admin_token_hashes: Arc<[[u8; 32]]>,
    /// SSO sessions, for people using the console.
    pub sso: SsoContext,
}

impl AdminAuth {
    /// `routes` behind admin authentication: an admin token or an admin's session.
    pub(crate) fn admin_only<S: Clone + Send + Sync + 'static>(&self, routes: Router<S>) -> Router<S> {
        routes.route_layer(middleware::from_fn_with_state(self.clone(), require_admin))
    }

    /// `routes` behind member authentication: an admin token or any member's session.
    pub(crate) fn members_only<S: Clone + Send + Sync + 'static>(&self, routes: Router<S>) -> Router<S> {
        routes.route_layer(middleware::from_fn_with_state(self.clone(), require_member))
    }
}

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

/// Who is calling an authenticated route; put in the request extensions.
#[derive(Debug, Clone)]
pub(crate) enum Principal {
    /// A bearer admin token: the whole org.
    AdminToken,
    /// A signed-in person (admin or member).
    Session(AuthenticatedUser),
}

impl Principal {
    /// Whether the caller may act on anything in the org.
    pub(crate) fn is_admin(&self) -> bool {
        match self {
            Principal::AdminToken => true,
            Principal::Session(user) => user.is_admin(),
        }
    }

    /// Whether `user` (a Gatehouse user name as grants and gateway tokens carry
    /// it) is the caller: their user id, or their email (case-insensitive),
    /// since gateway tokens usually name people by email. Admins own everything.
    pub(crate) fn owns(&self, user: &str) -> bool {
        match self {
            Principal::AdminToken => true,
            Principal::Session(me) => {
                me.is_admin() || crate::store::name_denotes(user, &me.user_id, &me.email)
            }
        }
    }
}

/// Rejects requests without a valid admin token or an admin session.
///
/// A session caller's [`CurrentUser`] is put in the request extensions.
async fn require_admin(
    State(auth): State<AdminAuth>,
    mut request: Request,
    next: Next,
) -> Result<Response, AuthError> {
    let path = request.uri().path().to_owned();
    let principal = authenticate(&auth, request.headers(), request.method(), &path).await?;
    if let Principal::Session(user) = principal {
        if !user.is_admin() {
            tracing::info!(user_id = %user.user_id, path, "admin route refused to a member");
            return Err(AuthError::Forbidden { code: "forbidden", message: "the admin role is required" });
        }
        request.extensions_mut().insert(CurrentUser(Some(user)));
    }
    Ok(next.run(request).await)
}

/// Rejects requests without a valid admin token or a session of any member
/// of the org; the [`Principal`] goes into the request extensions so the
/// handler can limit a member to their own records.
async fn require_member(
    State(auth): State<AdminAuth>,
    mut request: Request,
    next: Next,
) -> Result<Response, AuthError> {
    let path = request.uri().path().to_owned();
    let principal = authenticate(&auth, request.headers(), request.method(), &path).await?;
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

/// An admin token, or a session in this org (CSRF-checked on mutating requests).
///
/// Takes the request's parts, not the request: its body is not `Sync`, and this
/// future holds them across awaits.
async fn authenticate(
    auth: &AdminAuth,
    headers: &HeaderMap,
    method: &Method,
    path: &str,
) -> Result<Principal, AuthError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let presented = value.to_str().ok().and_then(bearer).ok_or(ApiError::Unauthorized)?;
        let hash = gatehouse_config::token_hash::hash_token(presented);
        // Compare against every known hash so timing does not reveal which matched.
        let matched = auth
            .admin_token_hashes
            .iter()
            .fold(subtle::Choice::from(0), |acc, known| acc | known.ct_eq(&hash));
        if bool::from(matched) {
            return Ok(Principal::AdminToken);
        }
        tracing::warn!(%method, path, "admin request with an invalid token");
        return Err(ApiError::Unauthorized.into());
    }

    let session = auth.sso.session_from_headers(headers).await?.ok_or(ApiError::Unauthorized)?;
    if session.user.org_id != *auth.org_id {
        return Err(AuthError::Forbidden {
            code: "forbidden",
            message: "this session belongs to another organisation",
        });
    }
    if is_mutating(method) {
        if let Err(message) = auth.sso.check_csrf(headers, &session) {
            tracing::warn!(user_id = %session.user.user_id, path, "csrf check failed");
            return Err(AuthError::Forbidden { code: "csrf_failed", message });
        }
    }
    Ok(Principal::Session(session.user))
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
