//! Browser-facing routes: the authorization link start, the upstream callback
//! and Gatehouse's client metadata document. Errors are small HTML pages (JSON
//! when the client asks for it) that never contain secrets.

use axum::extract::{FromRef, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use gatehouse_config::grant_identity::IdentitySource;

use secrecy::ExposeSecret as _;

use super::browser_binding;
use super::callback::{self, CallbackBrowser, CallbackParams};
use super::now_ms;
use super::pkce::hash_hex;
use super::registration::client_metadata_document;
use super::{authorize, OAuthError, UpstreamOAuth, CALLBACK_PATH, CLIENT_METADATA_PATH, START_PATH};
use crate::accounts::AuthenticatedUser;
use crate::sso::{CurrentUser, SsoContext};
use crate::store::authorization_links::ConsumeError;

/// State of the browser routes: the broker, and SSO sessions for binding links to people.
#[derive(Clone)]
pub struct UpstreamOAuthState {
    /// The upstream OAuth machinery.
    pub upstream: UpstreamOAuth,
    /// SSO sessions.
    pub sso: SsoContext,
}

impl FromRef<UpstreamOAuthState> for UpstreamOAuth {
    fn from_ref(state: &UpstreamOAuthState) -> Self {
        state.upstream.clone()
    }
}

impl FromRef<UpstreamOAuthState> for SsoContext {
    fn from_ref(state: &UpstreamOAuthState) -> Self {
        state.sso.clone()
    }
}

/// The browser routes with their own state (none needs admin authentication).
pub fn routes(state: UpstreamOAuthState) -> Router {
    Router::new()
        .route(&format!("{START_PATH}/{{id}}"), get(start))
        .route(CALLBACK_PATH, get(complete))
        .route(CLIENT_METADATA_PATH, get(client_metadata))
        .with_state(state)
}

/// Opens an authorization link.
///
/// A link issued to a person Gatehouse knows from SSO (the link's user is an
/// SSO user's id or email) only works in that person's browser session: with
/// no session the browser is sent to log in first, with someone else's the
/// link is refused, so a forwarded or phished link can't attach another
/// person's upstream account to this user. Links of users SSO doesn't know
/// (gateway-token names such as `ci-bot`) stay bearer links: single-use and
/// short-lived.
async fn start(
    State(ctx): State<UpstreamOAuth>,
    CurrentUser(me): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match link_owner_check(&ctx, me.as_ref(), &id).await {
        Ok(None) => {}
        Ok(Some(response)) => return response,
        Err(error) => return error_page(&headers, &error),
    }
    let started = match authorize::start(&ctx, &id).await {
        Ok(started) => started,
        Err(error) => return error_page(&headers, &error),
    };
    let key = match ctx.browser_key().await {
        Ok(key) => key,
        Err(error) => return error_page(&headers, &error),
    };
    let cookie = browser_binding::set_cookie(key, secure_cookies(&ctx), started.state.expose_secret());
    // 302 Found, as an OAuth authorization redirect.
    let mut response = (StatusCode::FOUND, [(header::LOCATION, started.url.to_string())]).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Whether cookies are `Secure` (and `__Host-` prefixed): the public URL is https.
fn secure_cookies(ctx: &UpstreamOAuth) -> bool {
    ctx.public_url().starts_with("https://")
}

/// `Some(response)` when the browser may not use link `id` as it is (yet).
async fn link_owner_check(
    ctx: &UpstreamOAuth,
    me: Option<&AuthenticatedUser>,
    id: &str,
) -> Result<Option<Response>, OAuthError> {
    let store = ctx.store();
    // Unknown, used or expired links fall through to `authorize::start`, which says which.
    let Some(subject) = store.peek_authorization_link(&hash_hex(id), now_ms()).await? else {
        return Ok(None);
    };
    // Only a Gatehouse user is someone who signs in here; a JWT subject of the
    // same text is someone else.
    if subject.identity.source != IdentitySource::Gatehouse {
        return Ok(None);
    }
    let Some(owner) = store.org_user_named(&subject.org_id, &subject.identity.subject).await? else {
        return Ok(None);
    };
    match me {
        Some(me) if me.user_id == owner.id => Ok(None),
        Some(me) => {
            tracing::warn!(user_id = %me.user_id, server_id = %subject.server_id, "authorization link opened by another user");
            let body = "This authorization link was issued to another user. Sign in as that user, or ask your agent for a new link.";
            Ok(Some(
                (StatusCode::FORBIDDEN, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response(),
            ))
        }
        None => {
            let Some(org) = store.sso_org(&subject.org_id).await? else {
                return Ok(None);
            };
            Ok(Some(crate::sso::login_redirect(&org.slug, &format!("{START_PATH}/{id}"))))
        }
    }
}

async fn complete(
    State(ctx): State<UpstreamOAuth>,
    CurrentUser(me): CurrentUser,
    headers: HeaderMap,
    Query(params): Query<CallbackParams>,
) -> Response {
    let secure = secure_cookies(&ctx);
    let state = params.state.clone().unwrap_or_default();
    let browser = CallbackBrowser { headers: &headers, secure, user: me.as_ref() };
    let mut response = match callback::complete(&ctx, params, browser).await {
        Ok(done) => {
            // Name both sides, so the person sees which account went to whom.
            let user = match &me {
                Some(me) if done.subject.identity.subject == me.user_id => {
                    if me.email.is_empty() {
                        me.name.clone()
                    } else {
                        me.email.clone()
                    }
                }
                _ => done.subject.identity.subject.clone(),
            };
            let account = done.account.as_deref().unwrap_or("the account you signed in with");
            let message = format!(
                "Connected {account} at {} for the Gatehouse user {user}. You can close this tab and return to your agent.",
                done.server_name
            );
            page(&headers, StatusCode::OK, "connected", &message)
        }
        Err(error) => return error_page(&headers, &error),
    };
    if !state.is_empty() {
        response.headers_mut().append(header::SET_COOKIE, browser_binding::clear_cookie(secure, &state));
    }
    response
}

async fn client_metadata(State(ctx): State<UpstreamOAuth>) -> Response {
    let document = client_metadata_document(&ctx.client_metadata_url(), &ctx.callback_url());
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(document)).into_response()
}

fn error_page(headers: &HeaderMap, error: &OAuthError) -> Response {
    let (status, code, message) = match error {
        OAuthError::Link(ConsumeError::Unknown) => {
            (StatusCode::NOT_FOUND, "link_unknown", "This authorization link is not valid.".to_owned())
        }
        OAuthError::Link(ConsumeError::Used) => (
            StatusCode::GONE,
            "link_used",
            "This authorization link was already used. Ask your agent for a new one.".to_owned(),
        ),
        OAuthError::Link(ConsumeError::Expired) => (
            StatusCode::GONE,
            "link_expired",
            "This authorization link has expired. Ask your agent for a new one.".to_owned(),
        ),
        OAuthError::State(_) | OAuthError::BadCallback(_) => (
            StatusCode::BAD_REQUEST,
            "invalid_state",
            "This authorization response is not valid, already used or expired. Start again from your agent."
                .to_owned(),
        ),
        OAuthError::WrongBrowser => (
            StatusCode::FORBIDDEN,
            "browser_mismatch",
            "This authorization was started in another browser, so it was not completed here. Open the link from your agent in this browser to connect your own account.".to_owned(),
        ),
        OAuthError::WrongUser => (
            StatusCode::FORBIDDEN,
            "user_mismatch",
            "This authorization was started for another Gatehouse user, so it was not completed. Sign in as that user, or ask your agent for a new link.".to_owned(),
        ),
        OAuthError::IssuerMismatch => (
            StatusCode::BAD_REQUEST,
            "issuer_mismatch",
            "The authorization response came from an unexpected issuer and was refused.".to_owned(),
        ),
        OAuthError::ResourceMismatch { .. } | OAuthError::IssuerMetadataMismatch { .. } => {
            tracing::warn!(%error, "upstream oauth metadata refused");
            (
                StatusCode::BAD_GATEWAY,
                "upstream_metadata_refused",
                format!("This server's OAuth metadata was refused, so it cannot be connected: {error}. Ask your administrator to check the server URL."),
            )
        }
        OAuthError::Denied(e) => {
            (StatusCode::FORBIDDEN, "access_denied", format!("The authorization was not granted ({e})."))
        }
        OAuthError::ServerNotFound | OAuthError::NotOAuth => (
            StatusCode::NOT_FOUND,
            "server_unknown",
            "This server no longer uses OAuth or no longer exists.".into(),
        ),
        OAuthError::Store(_) => {
            tracing::error!(%error, "upstream oauth store failure");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal", "Something went wrong. Try again later.".into())
        }
        other => {
            tracing::warn!(error = %other, "upstream oauth failed");
            (
                StatusCode::BAD_GATEWAY,
                "upstream_oauth_failed",
                format!("Connecting the server failed: {other}."),
            )
        }
    };
    page(headers, status, code, &message)
}

fn page(headers: &HeaderMap, status: StatusCode, code: &str, message: &str) -> Response {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        let body = if status.is_success() {
            serde_json::json!({"status": code, "message": message})
        } else {
            serde_json::json!({"error": {"code": code, "message": message}})
        };
        return (status, Json(body)).into_response();
    }
    // The empty icon keeps browsers from asking for /favicon.ico, which is a 404 here.
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Gatehouse</title>\
         <link rel=\"icon\" href=\"data:,\"></head>\
         <body style=\"font-family:sans-serif;max-width:36em;margin:4em auto\"><h1>Gatehouse</h1><p>{}</p></body></html>",
        escape(message)
    );
    (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
