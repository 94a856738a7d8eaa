//! The browser login: `GET /auth/sso/{org_slug}/login` starts an
//! authorization-code flow with PKCE S256, nonce and a single-use state bound
//! to the browser by a cookie; `GET /auth/sso/callback` checks state and
//! `iss`, exchanges the code, validates the ID token (signature, issuer,
//! audience, expiry, nonce), maps claims to a user, role and workspaces, and
//! starts a server-side session.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::Utc;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse as _,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq as _;
use tracing::instrument;

use super::discovery::Metadata;
use super::session::{cookie, hash_hex, random_token, set_cookie, SessionCookie, LOGIN_STATE_COOKIE};
use super::{SsoContext, SsoError};
use crate::store::{NewSession, PendingLogin, SsoProvider, UserLogin};
use crate::validation::FieldError;

/// Path the login-state cookie is scoped to.
const STATE_COOKIE_PATH: &str = "/auth/sso";
const MAX_RETURN_TO_LEN: usize = 2048;
const MAX_USER_AGENT_LEN: usize = 512;

/// Query of the login route.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    /// Where to go after login: a relative path or a URL on this control plane's origin.
    #[serde(default)]
    pub return_to: Option<String>,
    /// A provider id, when the org has several (default: the oldest enabled one).
    #[serde(default)]
    pub provider: Option<String>,
}

/// Query of the callback route.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

/// What a pending login keeps sealed.
#[derive(Serialize, Deserialize)]
struct LoginSecrets {
    nonce: String,
    pkce_verifier: String,
}

/// `GET /auth/sso/{org_slug}/login`: redirects to the org's identity provider.
#[instrument(skip_all, fields(org_slug = %org_slug))]
pub async fn login(
    State(sso): State<SsoContext>,
    Path(org_slug): Path<String>,
    Query(query): Query<LoginQuery>,
) -> Result<Response, SsoError> {
    let return_to = safe_return_to(&sso.settings.public_url, query.return_to.as_deref())?;
    let org = sso.store.org_by_slug(&org_slug).await?.ok_or(SsoError::NotConfigured)?;
    let providers = sso.store.list_sso_providers(&org.id).await?;
    let provider = providers
        .into_iter()
        .filter(|p| p.enabled)
        .find(|p| query.provider.as_deref().is_none_or(|id| id == p.id))
        .ok_or(SsoError::NotConfigured)?;

    let metadata = sso.discovery.metadata(&provider.issuer).await?;
    let client = client(&sso, metadata, &provider, None)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let scopes = provider.scopes.iter().filter(|s| s.as_str() != "openid").cloned().map(Scope::new);
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            || CsrfToken::new(random_token()),
            || Nonce::new(random_token()),
        )
        .add_scopes(scopes)
        .set_pkce_challenge(challenge)
        .url();

    let secrets = LoginSecrets { nonce: nonce.secret().clone(), pkce_verifier: verifier.secret().clone() };
    let secret = SecretString::from(serde_json::to_string(&secrets).expect("plain strings serialise"));
    let ttl = chrono::Duration::from_std(sso.settings.login_timeout).unwrap_or(chrono::Duration::minutes(10));
    sso.store
        .create_login_state(
            &hash_hex(state.secret()),
            PendingLogin {
                org_id: org.id.clone(),
                provider_id: provider.id.clone(),
                return_to,
                secret,
                expires_at: Utc::now() + ttl,
            },
        )
        .await?;
    tracing::info!(org_id = %org.id, provider_id = %provider.id, "sso login started");

    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::LOCATION,
        HeaderValue::from_str(url.as_str())
            .map_err(|_| SsoError::Discovery("bad authorization endpoint".into()))?,
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.append(
        header::SET_COOKIE,
        set_cookie(
            &sso.settings,
            LOGIN_STATE_COOKIE,
            state.secret(),
            STATE_COOKIE_PATH,
            Some(ttl.num_seconds().max(1) as u64),
        ),
    );
    Ok(response)
}

/// `GET /auth/sso/callback`: finishes the login and sets the session cookie.
#[instrument(skip_all)]
pub async fn callback(
    State(sso): State<SsoContext>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, SsoError> {
    let state = query.state.as_deref().filter(|s| !s.is_empty()).ok_or(SsoError::InvalidState)?;
    // The state must come back to the browser that started the login (no login CSRF).
    let bound = cookie(&headers, LOGIN_STATE_COOKIE).unwrap_or_default();
    if !bool::from(bound.as_bytes().ct_eq(state.as_bytes())) {
        tracing::warn!("sso callback state does not match this browser's login");
        return Err(SsoError::InvalidState);
    }
    let pending = sso.store.take_login_state(&hash_hex(state)).await?.ok_or(SsoError::InvalidState)?;
    if pending.expires_at <= Utc::now() {
        return Err(SsoError::InvalidState);
    }
    if let Some(error) = &query.error {
        tracing::info!(org_id = %pending.org_id, error = %error, "identity provider refused the login");
        return Err(SsoError::ProviderRefused);
    }
    let code = query.code.as_deref().filter(|c| !c.is_empty()).ok_or(SsoError::ProviderRefused)?;

    let provider = sso.store.get_sso_provider(&pending.org_id, &pending.provider_id).await?;
    if !provider.enabled {
        return Err(SsoError::NotConfigured);
    }
    let metadata = sso.discovery.metadata(&provider.issuer).await?;
    check_iss(&metadata, query.iss.as_deref())?;
    let secrets: LoginSecrets =
        serde_json::from_str(pending.secret.expose_secret()).map_err(|_| SsoError::InvalidState)?;
    let client_secret = sso.store.sso_provider_secret(&provider.org_id, &provider.id).await?;
    let client = client(&sso, metadata, &provider, client_secret.clone())?;

    let claims = exchange_and_verify(&sso, &client, &provider, client_secret, code, secrets).await?;
    let mapped = provider.claim_mappings.map(&claims).map_err(|e| SsoError::MissingClaim(e.to_string()))?;
    let issuer = claims.get("iss").and_then(Value::as_str).unwrap_or(&provider.issuer).to_owned();
    let user = sso
        .store
        .record_login(UserLogin {
            org_id: pending.org_id.clone(),
            issuer,
            subject: mapped.subject,
            email: mapped.email,
            name: mapped.name,
            role: mapped.role,
            workspace_slugs: mapped.workspace_slugs,
        })
        .await?;
    if user.deactivated_at.is_some() {
        tracing::info!(org_id = %user.org_id, user_id = %user.id, "sso login of a deactivated user refused");
        return Err(SsoError::UserDeactivated);
    }

    // A fresh session id on every login; any session the browser had is ended (no fixation).
    if let Some(old) = cookie(&headers, sso.settings.session_cookie_name()) {
        sso.store.delete_session(&hash_hex(old)).await?;
    }
    let session = SessionCookie::generate();
    let ttl = chrono::Duration::from_std(sso.settings.session_ttl).unwrap_or(chrono::Duration::hours(12));
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(MAX_USER_AGENT_LEN).collect())
        .unwrap_or_default();
    sso.store
        .create_session(NewSession {
            id_hash: session.id_hash.clone(),
            user_id: user.id.clone(),
            user_agent,
            expires_at: Utc::now() + ttl,
        })
        .await?;
    tracing::info!(org_id = %user.org_id, user_id = %user.id, role = %user.role, "sso login succeeded");

    let mut response = StatusCode::FOUND.into_response();
    let out = response.headers_mut();
    out.insert(
        header::LOCATION,
        HeaderValue::from_str(&pending.return_to).unwrap_or_else(|_| HeaderValue::from_static("/")),
    );
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    out.append(
        header::SET_COOKIE,
        set_cookie(
            &sso.settings,
            sso.settings.session_cookie_name(),
            session.value.expose_secret(),
            "/",
            Some(ttl.num_seconds().max(1) as u64),
        ),
    );
    out.append(
        header::SET_COOKIE,
        set_cookie(&sso.settings, LOGIN_STATE_COOKIE, "", STATE_COOKIE_PATH, None),
    );
    Ok(response)
}

type Client = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

fn client(
    sso: &SsoContext,
    metadata: Metadata,
    provider: &SsoProvider,
    secret: Option<SecretString>,
) -> Result<Client, SsoError> {
    let redirect = RedirectUrl::new(sso.settings.redirect_uri())
        .map_err(|_| SsoError::Discovery("invalid redirect uri".into()))?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(provider.client_id.clone()),
        secret.map(|s| ClientSecret::new(s.expose_secret().to_owned())),
    )
    .set_redirect_uri(redirect))
}

/// RFC 9207: an `iss` parameter must name the provider's issuer, and a
/// provider that promises to send it must have sent it.
fn check_iss(metadata: &Metadata, iss: Option<&str>) -> Result<(), SsoError> {
    match iss {
        Some(iss) if iss == metadata.issuer().as_str() => Ok(()),
        Some(_) => Err(SsoError::IssuerMismatch),
        None if metadata.additional_metadata().authorization_response_iss_parameter_supported
            == Some(true) =>
        {
            Err(SsoError::IssuerMismatch)
        }
        None => Ok(()),
    }
}

/// Exchanges the code (with the PKCE verifier) and returns the verified ID token's claims.
async fn exchange_and_verify(
    sso: &SsoContext,
    client: &Client,
    provider: &SsoProvider,
    client_secret: Option<SecretString>,
    code: &str,
    secrets: LoginSecrets,
) -> Result<Map<String, Value>, SsoError> {
    let request = client.exchange_code(AuthorizationCode::new(code.to_owned())).map_err(|e| {
        tracing::warn!(provider_id = %provider.id, error = %e, "provider has no token endpoint");
        SsoError::InvalidIdToken
    })?;
    let response = request
        .set_pkce_verifier(PkceCodeVerifier::new(secrets.pkce_verifier))
        .request_async(sso.discovery.http())
        .await
        .map_err(|e| {
            tracing::warn!(provider_id = %provider.id, error = %e, "sso code exchange failed");
            SsoError::InvalidIdToken
        })?;
    let id_token = response.id_token().ok_or_else(|| {
        tracing::warn!(provider_id = %provider.id, "token response has no id_token");
        SsoError::InvalidIdToken
    })?;
    let nonce = Nonce::new(secrets.nonce);
    let mut verified = id_token.claims(&client.id_token_verifier(), &nonce).map(|_| ());
    if let Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) = &verified {
        // The provider may have rotated its keys since discovery: fetch them once more and retry.
        tracing::info!(provider_id = %provider.id, "id token signature did not verify; refetching provider keys");
        sso.discovery.forget(&provider.issuer).await;
        let fresh =
            self::client(sso, sso.discovery.metadata(&provider.issuer).await?, provider, client_secret)?;
        verified = id_token.claims(&fresh.id_token_verifier(), &nonce).map(|_| ());
    }
    if let Err(e) = verified {
        tracing::warn!(provider_id = %provider.id, error = %e, "id token rejected");
        return Err(SsoError::InvalidIdToken);
    }
    // Verified above; read every claim (groups and custom claims) from the payload.
    raw_claims(&id_token.to_string()).ok_or(SsoError::InvalidIdToken)
}

/// The JSON payload of a compact JWS.
fn raw_claims(jwt: &str) -> Option<Map<String, Value>> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// `return_to` as a same-origin relative reference, or a 400 naming the field.
///
/// Accepts `/path?query` (not `//host` or `/\host`, which browsers treat as
/// another origin) or an absolute URL on the public origin (reduced to its path).
pub fn safe_return_to(public_url: &url::Url, value: Option<&str>) -> Result<String, SsoError> {
    let invalid = || {
        SsoError::InvalidRequest(FieldError::new(
            "return_to",
            "must be a relative path or a URL on this control plane's origin",
        ))
    };
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok("/".to_owned());
    };
    if value.len() > MAX_RETURN_TO_LEN || value.chars().any(|c| c.is_control() || c == '\\') {
        return Err(invalid());
    }
    if value.starts_with('/') {
        if value.starts_with("//") {
            return Err(invalid());
        }
        // Resolve against our origin and insist it stays there.
        let resolved = public_url.join(value).map_err(|_| invalid())?;
        if resolved.origin() != public_url.origin() {
            return Err(invalid());
        }
        return Ok(path_and_query(&resolved));
    }
    let url = url::Url::parse(value).map_err(|_| invalid())?;
    if url.origin() != public_url.origin() || !url.username().is_empty() || url.password().is_some() {
        return Err(invalid());
    }
    Ok(path_and_query(&url))
}

fn path_and_query(url: &url::Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_stays_on_our_origin() {
        let base = url::Url::parse("https://gh.example.com").unwrap();
        let ok = |v: &str| safe_return_to(&base, Some(v)).unwrap();
        let bad = |v: &str| assert!(safe_return_to(&base, Some(v)).is_err(), "{v} accepted");
        assert_eq!(safe_return_to(&base, None).unwrap(), "/");
        assert_eq!(ok("/console?x=1"), "/console?x=1");
        assert_eq!(ok("https://gh.example.com/oauth/authorize?a=b"), "/oauth/authorize?a=b");
        bad("//evil.example.com/x");
        bad("/\\evil.example.com");
        bad("https://evil.example.com/");
        bad("http://gh.example.com/");
        bad("https://gh.example.com.evil.com/");
        bad("javascript:alert(1)");
        bad("evil.example.com");
        bad("/x\r\nSet-Cookie: a=b");
    }

    #[test]
    fn raw_claims_reads_the_payload() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"u","groups":["a"]}"#);
        let claims = raw_claims(&format!("e30.{payload}.sig")).unwrap();
        assert_eq!(claims["sub"], "u");
        assert!(raw_claims("nope").is_none());
    }
}
