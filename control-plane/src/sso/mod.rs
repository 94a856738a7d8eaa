//! Single sign-on for the console and the admin API: per-org OIDC providers
//! (any issuer, by discovery), the authorization-code + PKCE login with nonce
//! and `iss` checks, just-in-time users mapped to roles and workspaces from
//! claims, and server-side sessions carried by a `__Host-` cookie with CSRF
//! protection.
//!
//! Other modules use the seam at the top of this file: the [`CurrentUser`]
//! extractor (the session's [`AuthenticatedUser`]) and [`login_redirect`].
//! The routes come with their own state, [`SsoState`]; the provider admin
//! routes are put behind admin authentication by whoever mounts them.

pub mod api;
mod discovery;
mod error;
mod login;
mod session;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

pub use error::SsoError;
pub use login::{callback, login};
pub(crate) use session::hash_hex as session_id_hash;
pub use session::{csrf_token_for, SessionCookie};

use crate::accounts::AuthenticatedUser;
use crate::rest::ApiError;
use crate::store::Store;
use discovery::DiscoveryCache;

/// Path of the login route; `{org_slug}` is the org's slug.
pub const LOGIN_PATH: &str = "/auth/sso/{org_slug}/login";
/// Path of the redirect URI registered at every provider.
pub const CALLBACK_PATH: &str = "/auth/sso/callback";
/// Path of the logout route.
pub const LOGOUT_PATH: &str = "/auth/logout";
/// Header carrying the per-session CSRF token on mutating requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The caller's session user, if a valid session cookie came with the request.
///
/// Works in any router whose state provides an [`SsoContext`] (`FromRef`).
/// Never rejects for a missing, unknown or expired session (that is `None`);
/// only a database failure is an error.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Option<AuthenticatedUser>);

impl<S> FromRequestParts<S> for CurrentUser
where
    S: Send + Sync,
    SsoContext: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let sso = SsoContext::from_ref(state);
        let session = sso.session_from_headers(&parts.headers).await?;
        Ok(CurrentUser(session.map(|s| s.user)))
    }
}

/// A 302 to the SSO login of `org_slug`, coming back to `return_to` (a
/// relative path or a URL on the control plane's own origin) afterwards.
pub fn login_redirect(org_slug: &str, return_to: &str) -> Response {
    let mut url = url::Url::parse("http://login.invalid/").expect("static url");
    url.path_segments_mut().expect("http urls have segments").extend(["auth", "sso", org_slug, "login"]);
    url.query_pairs_mut().append_pair("return_to", return_to);
    let location = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Deletes expired sessions and abandoned logins every ten minutes until `cancel` fires
/// (idle sessions are also dropped when next presented).
pub async fn purge_expired(store: Store, cancel: tokio_util::sync::CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        match store.purge_expired_sessions(chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(rows) => tracing::debug!(rows, "purged expired sessions and logins"),
            Err(error) => tracing::warn!(%error, "purging expired sessions failed"),
        }
    }
}

/// SSO settings, derived once from the control-plane config.
#[derive(Debug, Clone)]
pub struct SsoSettings {
    /// The control plane's public origin (scheme, host, port); redirect URIs and `return_to` checks use it.
    pub public_url: url::Url,
    /// Absolute session lifetime.
    pub session_ttl: Duration,
    /// A session unused this long expires.
    pub session_idle_timeout: Duration,
    /// How long a started login may take to come back.
    pub login_timeout: Duration,
    /// Allow `http://` issuers on loopback addresses (dev and tests only).
    pub allow_loopback_issuers: bool,
    /// How long a discovery document is reused.
    pub discovery_ttl: Duration,
}

impl SsoSettings {
    /// Settings with the default lifetimes (12 h absolute, 1 h idle).
    pub fn new(public_url: url::Url) -> Self {
        Self {
            public_url,
            session_ttl: Duration::from_secs(12 * 3600),
            session_idle_timeout: Duration::from_secs(3600),
            login_timeout: Duration::from_secs(600),
            allow_loopback_issuers: false,
            discovery_ttl: Duration::from_secs(300),
        }
    }

    /// Whether cookies are `Secure` (and the session cookie may use the `__Host-` prefix).
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The session cookie name.
    ///
    /// Browsers only accept `__Host-` cookies that are `Secure`, and a plain
    /// http origin (loopback dev) cannot set those, so there the name drops the prefix.
    pub fn session_cookie_name(&self) -> &'static str {
        if self.secure_cookies() {
            "__Host-gatehouse_session"
        } else {
            "gatehouse_session"
        }
    }

    /// The redirect URI registered at providers.
    pub fn redirect_uri(&self) -> String {
        format!("{}{}", self.public_origin(), CALLBACK_PATH)
    }

    /// `scheme://host[:port]` of the public URL.
    pub fn public_origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }
}

/// Everything SSO handlers and the session extractor need; cheap to clone.
#[derive(Clone)]
pub struct SsoContext {
    pub(crate) store: Store,
    pub(crate) settings: Arc<SsoSettings>,
    discovery: Arc<DiscoveryCache>,
}

impl std::fmt::Debug for SsoContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoContext").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl SsoContext {
    /// A context over `store` with `settings`.
    pub fn new(store: Store, settings: SsoSettings) -> anyhow::Result<Self> {
        let discovery = DiscoveryCache::new(settings.discovery_ttl)?;
        Ok(Self { store, settings: Arc::new(settings), discovery: Arc::new(discovery) })
    }

    /// The settings.
    pub fn settings(&self) -> &SsoSettings {
        &self.settings
    }
}

/// State of the SSO routes (the provider admin routes act on the request's org scope).
#[derive(Clone)]
pub struct SsoState {
    /// Providers, logins and sessions.
    pub context: SsoContext,
}

impl FromRef<SsoState> for SsoContext {
    fn from_ref(state: &SsoState) -> Self {
        state.context.clone()
    }
}

/// The SSO routes: login, callback, logout and the session caller, open to
/// anyone, and the provider routes, which `admin_only` puts behind admin
/// authentication (SSO does not know how admins authenticate).
pub fn routes(state: SsoState, admin_only: impl FnOnce(Router) -> Router) -> Router {
    let providers = Router::new()
        .route("/v1/sso/providers", post(api::create_provider).get(api::list_providers))
        .route(
            "/v1/sso/providers/{id}",
            get(api::get_provider).patch(api::update_provider).delete(api::delete_provider),
        )
        .with_state(state.clone());
    Router::new()
        .route(LOGIN_PATH, get(login))
        .route(CALLBACK_PATH, get(callback))
        .route(LOGOUT_PATH, post(api::logout))
        .route("/v1/me", get(api::me))
        .with_state(state)
        .merge(admin_only(providers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_redirect_points_at_the_login_route() {
        let r = login_redirect("acme", "/oauth/authorize?client_id=a&x=1 2");
        assert_eq!(r.status(), StatusCode::FOUND);
        let location = r.headers()[header::LOCATION].to_str().unwrap();
        assert_eq!(location, "/auth/sso/acme/login?return_to=%2Foauth%2Fauthorize%3Fclient_id%3Da%26x%3D1+2");
    }

    #[test]
    fn cookie_name_follows_the_public_scheme() {
        let https = SsoSettings::new(url::Url::parse("https://gh.example.com").unwrap());
        assert_eq!(https.session_cookie_name(), "__Host-gatehouse_session");
        assert_eq!(https.redirect_uri(), "https://gh.example.com/auth/sso/callback");
        let http = SsoSettings::new(url::Url::parse("http://127.0.0.1:8080/").unwrap());
        assert_eq!(http.session_cookie_name(), "gatehouse_session");
        assert!(!http.secure_cookies());
    }
}
