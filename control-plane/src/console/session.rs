//! The console's sessions: sign in with an org API key or the platform admin
//! token (`POST /v1/console/session`), exchanged server-side for the same
//! cookie session SSO gives, so the credential is used once and never kept by
//! the browser; who is signed in (`GET`, either kind of session); sign out
//! (`DELETE`); and the SSO buttons of an org's sign-in page.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;
use utoipa::{IntoParams, ToSchema};

use super::key_auth::key_session_principal;
use super::ConsoleState;
use crate::accounts::{Principal, Role, DEFAULT_ORG_SLUG};
use crate::rest::json::{ApiJson, ApiQuery};
use crate::rest::{forbidden, ApiError, ErrorBody, ErrorDetail};
use crate::sso::{csrf_token_for, session_id_hash, SessionCookie};
use crate::store::{KeySessionCredential, NewKeySession};

/// Body of `POST /v1/console/session`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// An org API key (`gak_…`) or the platform admin token; used once, never stored.
    #[schema(value_type = String, min_length = 1, max_length = 512)]
    pub api_key: SecretString,
}

/// Query of `GET /v1/console/sign-in-options`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SignInQuery {
    /// Org slug (default: the default org).
    #[param(max_length = 63, pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    pub org: Option<String>,
}

/// What an org's sign-in page offers.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignInOptions {
    /// The org slug asked about.
    pub org: String,
    /// One button per enabled SSO provider (empty for an org without SSO, or no such org).
    pub sso: Vec<SsoButton>,
}

/// An SSO provider's sign-in button.
#[derive(Debug, Serialize, ToSchema)]
pub struct SsoButton {
    /// Provider id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Where the button goes: the SSO login route, coming back to the console.
    pub login_url: String,
}

/// How the console's caller signed in.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleCallerKind {
    /// SSO: a person.
    User,
    /// An org API key.
    ApiKey,
    /// The platform admin token.
    Platform,
}

/// The signed-in console caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsoleCaller {
    /// How they signed in.
    pub kind: ConsoleCallerKind,
    /// The org the console acts in.
    pub org: ConsoleOrg,
    /// The caller's role in it (`owner` for the platform admin).
    pub role: Role,
    /// The person, for SSO sessions.
    pub user: Option<ConsoleUser>,
    /// Whether the caller is the platform admin (may manage orgs and edges).
    pub platform_admin: bool,
    /// The edges' public base URL: MCP clients reach a server at `{edge_url}/mcp/{org}/{slug}`.
    pub edge_url: String,
    /// Send as `X-CSRF-Token` on every mutating request made with this session.
    pub csrf_token: String,
}

/// The org the console acts in.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsoleOrg {
    /// Org id.
    pub id: String,
    /// Slug.
    pub slug: String,
    /// Name.
    pub name: String,
}

/// The signed-in person (SSO sessions only).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsoleUser {
    /// User id.
    pub id: String,
    /// Email (may be empty).
    pub email: String,
    /// Display name.
    pub name: String,
}

/// Signs in with an org API key or the platform admin token: sets the session
/// cookie (the same as SSO's) and returns the caller with its CSRF token.
#[utoipa::path(post, path = "/v1/console/session", tag = "console", request_body = SignIn, security(()),
    responses((status = 200, body = ConsoleCaller,
            headers(("set-cookie" = String, description = "The session cookie (HttpOnly, SameSite=Lax; `__Host-` and Secure over https)"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn sign_in(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SignIn>,
) -> Result<Response, ApiError> {
    let presented = body.api_key.expose_secret().trim();
    let hash = gatehouse_config::token_hash::hash_token(presented);
    let platform =
        state.admin_token_hashes.iter().fold(subtle::Choice::from(0), |acc, known| acc | known.ct_eq(&hash));
    let (credential, org_id) = if bool::from(platform) {
        let org = state.store.org_by_slug(DEFAULT_ORG_SLUG).await?.ok_or(ApiError::NotFound("org"))?;
        (KeySessionCredential::Platform(hash), org.id)
    } else if crate::tokens::is_api_key(presented) {
        match state.store.api_key_by_hash(&hash).await? {
            Some(key) => (KeySessionCredential::ApiKey(key.id), key.org_id),
            None => return Ok(rejected()),
        }
    } else {
        return Ok(rejected());
    };

    // A fresh session on every sign-in; whatever session the browser had ends (no fixation).
    if let Some(old) = state.sso.session_cookie(&headers) {
        let old = session_id_hash(old);
        state.store.delete_session(&old).await?;
        state.store.delete_key_session(&old).await?;
    }
    let cookie = SessionCookie::generate();
    let ttl = state.sso.settings().session_ttl;
    let expires_at = Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(12));
    state
        .store
        .create_key_session(NewKeySession {
            id_hash: cookie.id_hash.clone(),
            org_id: org_id.clone(),
            credential: credential.clone(),
            expires_at,
        })
        .await?;
    let principal = match credential {
        KeySessionCredential::Platform(_) => Principal::Platform,
        KeySessionCredential::ApiKey(id) => {
            let key = state.store.get_api_key(&org_id, &id).await?;
            Principal::ApiKey { id: key.id, org_id: key.org_id, role: key.role }
        }
    };
    tracing::info!(org_id = %org_id, platform = matches!(principal, Principal::Platform), "console key sign-in");
    let caller = caller(&state, principal, &org_id, csrf_token_for(cookie.value.expose_secret())).await?;
    let mut response = Json(caller).into_response();
    let out = response.headers_mut();
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    out.append(
        header::SET_COOKIE,
        state.sso.session_set_cookie(Some(cookie.value.expose_secret()), ttl.as_secs().max(1)),
    );
    Ok(response)
}

/// The 401 of a credential that is neither a valid org API key nor the admin token.
fn rejected() -> Response {
    let detail = ErrorDetail {
        code: "unauthorized",
        message:
            "this is not a valid org API key (gak_…) or platform admin token: check it and paste it again"
                .to_owned(),
        field: Some("api_key".to_owned()),
    };
    (StatusCode::UNAUTHORIZED, Json(ErrorBody { error: detail })).into_response()
}

/// The console's session: who is signed in, if anyone.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsoleSession {
    /// The signed-in caller; `null` without a valid session.
    pub caller: Option<ConsoleCaller>,
}

/// The signed-in caller of the session cookie, SSO or key session. Signed out
/// is an answer, not an error: the console asks this on every load.
#[utoipa::path(get, path = "/v1/console/session", tag = "console", security((), ("session" = [])),
    responses((status = 200, body = ConsoleSession)))]
pub(crate) async fn current(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
) -> Result<Json<ConsoleSession>, ApiError> {
    let caller = if let Some(session) = state.sso.session_from_headers(&headers).await? {
        let org_id = session.user.org_id.clone();
        let principal = Principal::Session(session.user);
        Some(caller(&state, principal, &org_id, session.csrf_token).await?)
    } else if let Some(key) =
        key_session_principal(&state.store, &state.sso, &state.admin_token_hashes, &headers).await?
    {
        Some(caller(&state, key.principal, &key.org_id, key.csrf_token).await?)
    } else {
        None
    };
    Ok(Json(ConsoleSession { caller }))
}

/// Ends the session (either kind; requires `X-CSRF-Token`) and clears the cookie.
#[utoipa::path(delete, path = "/v1/console/session", tag = "console", security((), ("session" = [])),
    responses((status = 204), (status = 403, body = ErrorBody)))]
pub(crate) async fn sign_out(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let expected = match state.sso.session_from_headers(&headers).await? {
        Some(session) => Some((session.id_hash, session.csrf_token)),
        None => key_session_principal(&state.store, &state.sso, &state.admin_token_hashes, &headers)
            .await?
            .map(|key| (key.id_hash, key.csrf_token)),
    };
    if let Some((id_hash, csrf_token)) = expected {
        if let Err(message) = state.sso.check_csrf_token(&headers, &csrf_token) {
            return Ok(forbidden("csrf_failed", message));
        }
        state.store.delete_session(&id_hash).await?;
        state.store.delete_key_session(&id_hash).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().append(header::SET_COOKIE, state.sso.session_set_cookie(None, 0));
    Ok(response)
}

/// The SSO buttons of an org's sign-in page. An unknown org has none, like an
/// org without SSO, so the page tells nobody which orgs exist.
#[utoipa::path(get, path = "/v1/console/sign-in-options", tag = "console", security(()), params(SignInQuery),
    responses((status = 200, body = SignInOptions), (status = 400, body = ErrorBody)))]
pub(crate) async fn sign_in_options(
    State(state): State<ConsoleState>,
    ApiQuery(query): ApiQuery<SignInQuery>,
) -> Result<Json<SignInOptions>, ApiError> {
    let slug = query.org.unwrap_or_else(|| DEFAULT_ORG_SLUG.to_owned());
    crate::validation::slug("org", &slug).map_err(|e| ApiError::InvalidQuery(e.to_string()))?;
    let mut sso = Vec::new();
    if let Some(org) = state.store.org_by_slug(&slug).await? {
        for provider in state.store.list_sso_providers(&org.id).await?.into_iter().filter(|p| p.enabled) {
            let mut url = url::Url::parse("http://login.invalid/").expect("static url");
            url.path_segments_mut().expect("http urls have segments").extend(["auth", "sso", &slug, "login"]);
            url.query_pairs_mut().append_pair("provider", &provider.id).append_pair("return_to", "/");
            let login_url = format!("{}?{}", url.path(), url.query().unwrap_or_default());
            sso.push(SsoButton { id: provider.id, name: provider.name, login_url });
        }
    }
    Ok(Json(SignInOptions { org: slug, sso }))
}

async fn caller(
    state: &ConsoleState,
    principal: Principal,
    org_id: &str,
    csrf_token: String,
) -> Result<ConsoleCaller, ApiError> {
    let org = state.store.org_by_id(org_id).await?.ok_or(ApiError::Unauthorized)?;
    let (kind, role, user) = match principal {
        Principal::Platform => (ConsoleCallerKind::Platform, Role::Owner, None),
        Principal::ApiKey { role, .. } => (ConsoleCallerKind::ApiKey, role, None),
        Principal::Session(user) => {
            let role = user.role();
            let person = ConsoleUser { id: user.user_id, email: user.email, name: user.name };
            (ConsoleCallerKind::User, role, Some(person))
        }
    };
    Ok(ConsoleCaller {
        platform_admin: matches!(kind, ConsoleCallerKind::Platform),
        kind,
        org: ConsoleOrg { id: org.id, slug: org.slug, name: org.name },
        role,
        user,
        edge_url: state.edge_public_url.to_string(),
        csrf_token,
    })
}
