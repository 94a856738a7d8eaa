//! Admin API authentication and authorisation, in front of every subsystem's
//! admin routes.
//!
//! A caller is one of: the platform admin token (`GATEHOUSE_ADMIN_TOKEN`,
//! compared by SHA-256 hash in constant time), an org API key (looked up by
//! hash), or a console session (SSO, or opened with one of the former two; CSRF-checked on mutating requests; bearer callers
//! need no CSRF check, browsers never attach bearer tokens on their own).
//!
//! The org a request acts on is the one named by an `/v1/orgs/{org}/...`
//! prefix (see [`rewrite_org_prefix`]), else the caller's own (the default org
//! for the platform admin). A caller of another org gets the same 404 as for an
//! org that does not exist. The route's [`Access`] (from [`super::access`])
//! is then checked against the caller's role, and the [`OrgScope`] handlers
//! work from goes into the request extensions.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use subtle::ConstantTimeEq;

use crate::accounts::{Access, OrgScope, Principal, Role, DEFAULT_ORG_SLUG};
use crate::rest::{forbidden, ApiError};
use crate::sso::{CurrentUser, SsoContext};
use crate::store::{Org, Store};

/// What admin authentication needs: the platform token hashes, org API keys and SSO sessions.
#[derive(Clone)]
pub(crate) struct AdminAuth {
    /// SHA-256 of every valid platform admin token.
    pub admin_token_hashes: Arc<[[u8; 32]]>,
    /// Org API keys and orgs.
    pub store: Store,
    /// SSO sessions, for people using the console.
    pub sso: SsoContext,
    /// Reverse proxies in front of the API, for the client address audit rows name.
    pub trusted_proxy_hops: usize,
    /// Where committed audit rows are counted.
    pub metrics: Arc<crate::metrics::ControlPlaneMetrics>,
}

/// The org named by an `/v1/orgs/{org}/...` prefix, put in the request
/// extensions by [`rewrite_org_prefix`] before routing.
#[derive(Debug, Clone)]
pub(crate) struct PrefixedOrg(pub String);

impl AdminAuth {
    /// `routes` behind admin authentication; each route's access comes from the table.
    pub(crate) fn guard<S: Clone + Send + Sync + 'static>(&self, routes: Router<S>) -> Router<S> {
        routes.route_layer(middleware::from_fn_with_state(self.clone(), require_access))
    }
}

/// Why a caller may not use an admin route.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthError {
    /// No or invalid credentials (401), unknown org (404), or a failure.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Authenticated but not allowed (403).
    #[error("{message}")]
    Forbidden {
        /// Machine-readable code.
        code: &'static str,
        /// Human-readable reason.
        message: String,
    },
}

impl From<crate::store::StoreError> for AuthError {
    fn from(e: crate::store::StoreError) -> Self {
        AuthError::Api(e.into())
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        match self {
            AuthError::Api(e) => e.into_response(),
            AuthError::Forbidden { code, message } => forbidden(code, &message),
        }
    }
}

/// Rewrites `/v1/orgs/{org}/<rest>` to `/v1/<rest>` when `/v1/<rest>` is an
/// org route, remembering the org: every org route can be reached for any
/// org this way. Runs before routing (the router is wrapped in it).
pub(crate) fn rewrite_org_prefix(mut request: Request) -> Request {
    let path = request.uri().path();
    let Some(tail) = path.strip_prefix("/v1/orgs/") else { return request };
    let Some((org, rest)) = tail.split_once('/') else { return request };
    if org.is_empty() || rest.is_empty() {
        return request;
    }
    let unprefixed = format!("/v1/{rest}");
    if !super::access::is_org_route(&unprefixed) {
        return request;
    }
    let org = org.to_owned();
    let path_and_query = match request.uri().query() {
        Some(q) => format!("{unprefixed}?{q}"),
        None => unprefixed,
    };
    let mut parts = request.uri().clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    if let Ok(uri) = Uri::from_parts(parts) {
        *request.uri_mut() = uri;
        request.extensions_mut().insert(PrefixedOrg(org));
    }
    request
}

/// Authenticates the caller, resolves the org, checks the route's access and
/// puts the [`OrgScope`] (and, for people, the [`CurrentUser`]) in the request.
async fn require_access(
    State(auth): State<AdminAuth>,
    mut request: Request,
    next: Next,
) -> Result<Response, AuthError> {
    let path = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_default();
    let Some(access) = super::access::lookup(request.method(), &path) else {
        tracing::error!(method = %request.method(), path, "admin route without an access rule: refused");
        return Err(AuthError::Forbidden {
            code: "forbidden",
            message: "this route has no access rule".into(),
        });
    };
    let prefixed = request.extensions().get::<PrefixedOrg>().map(|p| p.0.clone());
    let principal = match authenticate(&auth, request.headers(), request.method(), &path).await {
        Err(AuthError::Api(ApiError::Unauthorized)) => {
            let failure = super::audit_trail::AdminAuthFailure::of(&request, &path, auth.trusted_proxy_hops);
            failure.record(&auth.store, &auth.metrics, prefixed.as_deref()).await;
            return Err(ApiError::Unauthorized.into());
        }
        other => other?,
    };
    let scope = scope_for(&auth, principal, prefixed, access).await?;
    if !scope.role.allows(access) && !matches!(scope.principal, Principal::Platform) {
        tracing::info!(role = %scope.role, method = %request.method(), path, "admin route refused to the caller's role");
        return Err(AuthError::Forbidden {
            code: "forbidden",
            message: format!(
                "{} {path} needs {}; the caller's role is {}",
                request.method(),
                access.describe(),
                scope.role
            ),
        });
    }
    if let Principal::Session(user) = &scope.principal {
        request.extensions_mut().insert(CurrentUser(Some(user.clone())));
    }
    request.extensions_mut().insert(scope.clone());
    if is_mutating(request.method()) {
        return Ok(super::audit_trail::run_audited(
            auth.trusted_proxy_hops,
            &auth.metrics,
            &scope,
            &path,
            request,
            next,
        )
        .await);
    }
    Ok(next.run(request).await)
}

/// The org the request acts on and the caller's role in it.
async fn scope_for(
    auth: &AdminAuth,
    principal: Principal,
    prefixed: Option<String>,
    access: Access,
) -> Result<OrgScope, AuthError> {
    if access == Access::Platform && !matches!(principal, Principal::Platform) {
        return Err(AuthError::Forbidden {
            code: "forbidden",
            message: format!("this route needs {}; org credentials cannot use it", access.describe()),
        });
    }
    let own_org = match &principal {
        Principal::Platform => None,
        Principal::ApiKey { org_id, .. } => Some(org_id.clone()),
        Principal::Session(user) => Some(user.org_id.clone()),
    };
    let org: Org = match (prefixed, &own_org) {
        (Some(slug), _) => {
            let org = auth.store.org_by_slug(&slug).await?;
            // Another org's credential learns nothing: the same 404 as for no such org.
            match org {
                Some(org) if own_org.as_ref().is_none_or(|own| *own == org.id) => org,
                _ => return Err(ApiError::NotFound("org").into()),
            }
        }
        (None, Some(own)) => auth.store.org_by_id(own).await?.ok_or(ApiError::Unauthorized)?,
        (None, None) => auth.store.org_by_slug(DEFAULT_ORG_SLUG).await?.ok_or(ApiError::NotFound("org"))?,
    };
    let role = match &principal {
        Principal::Platform => Role::Owner,
        Principal::ApiKey { role, .. } => *role,
        Principal::Session(user) => user.role(),
    };
    Ok(OrgScope { org_id: org.id, org_slug: org.slug, principal, role })
}

/// The platform admin token, an org API key, or a session (CSRF-checked on mutating requests).
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
            return Ok(Principal::Platform);
        }
        if crate::tokens::is_api_key(presented) {
            if let Some(key) = auth.store.api_key_by_hash(&hash).await? {
                return Ok(Principal::ApiKey { id: key.id, org_id: key.org_id, role: key.role });
            }
        }
        tracing::warn!(%method, path, "admin request with an invalid token");
        return Err(ApiError::Unauthorized.into());
    }

    let (principal, csrf_token) = match auth.sso.session_from_headers(headers).await? {
        Some(session) => (Principal::Session(session.user), session.csrf_token),
        // A console session opened with an API key or the admin token acts as that credential.
        None => {
            crate::console::key_session_principal(&auth.store, &auth.sso, &auth.admin_token_hashes, headers)
                .await?
                .map(|key| (key.principal, key.csrf_token))
                .ok_or(ApiError::Unauthorized)?
        }
    };
    if is_mutating(method) {
        if let Err(message) = auth.sso.check_csrf_token(headers, &csrf_token) {
            tracing::warn!(path, "csrf check failed");
            return Err(AuthError::Forbidden { code: "csrf_failed", message: message.to_owned() });
        }
    }
    Ok(principal)
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
    use super::{bearer, is_mutating, rewrite_org_prefix, Method, PrefixedOrg, Request};

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

    fn rewritten(uri: &str) -> (String, Option<String>) {
        let request =
            rewrite_org_prefix(Request::builder().uri(uri).body(axum::body::Body::empty()).unwrap());
        (request.uri().to_string(), request.extensions().get::<PrefixedOrg>().map(|p| p.0.clone()))
    }

    #[test]
    fn org_prefix_is_rewritten_only_for_org_routes() {
        assert_eq!(rewritten("/v1/orgs/acme/servers"), ("/v1/servers".into(), Some("acme".into())));
        assert_eq!(
            rewritten("/v1/orgs/acme/auth/tokens?user=a&limit=2"),
            ("/v1/auth/tokens?user=a&limit=2".into(), Some("acme".into()))
        );
        assert_eq!(rewritten("/v1/orgs/acme/api-keys/k1"), ("/v1/api-keys/k1".into(), Some("acme".into())));
        assert_eq!(rewritten("/v1/orgs/acme"), ("/v1/orgs/acme".into(), None));
        assert_eq!(rewritten("/v1/orgs/acme/edges"), ("/v1/orgs/acme/edges".into(), None));
        assert_eq!(rewritten("/v1/orgs/acme/orgs"), ("/v1/orgs/acme/orgs".into(), None));
        assert_eq!(rewritten("/v1/orgs/acme/openapi.json"), ("/v1/orgs/acme/openapi.json".into(), None));
    }
}
