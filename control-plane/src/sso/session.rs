//! Server-side sessions: the cookie value is 32 random bytes (base64url); the
//! database keeps only its SHA-256. The CSRF token is derived from the cookie
//! value, so it needs no storage and changes with every session.

use axum::http::{header, HeaderMap, HeaderValue};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::Utc;
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

use super::{SsoContext, SsoSettings, CSRF_HEADER};
use crate::accounts::AuthenticatedUser;
use crate::rest::ApiError;

/// Cookie binding a pending login to the browser that started it.
pub(super) const LOGIN_STATE_COOKIE: &str = "gatehouse_sso_state";

/// A new session cookie value (shown only to the browser).
#[derive(Debug)]
pub struct SessionCookie {
    /// The cookie value.
    pub value: SecretString,
    /// Hex SHA-256 of the value, the session's key in the database.
    pub id_hash: String,
}

impl SessionCookie {
    /// A fresh random session id.
    pub fn generate() -> Self {
        let value = SecretString::from(random_token());
        let id_hash = hash_hex(value.expose_secret());
        Self { value, id_hash }
    }
}

/// A valid session presented with a request.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The signed-in user.
    pub user: AuthenticatedUser,
    /// Hex SHA-256 of the cookie value.
    pub id_hash: String,
    /// The CSRF token mutating requests must echo in `X-CSRF-Token`.
    pub csrf_token: String,
}

/// The CSRF token for a session cookie value.
pub fn csrf_token_for(cookie_value: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"gatehouse csrf v1\0");
    h.update(cookie_value.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// 32 random bytes, base64url.
pub(super) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Hex SHA-256.
pub(crate) fn hash_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// The value of cookie `name` from the request's `Cookie` headers.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value; `max_age` of `None` deletes the cookie.
pub(super) fn set_cookie(
    settings: &SsoSettings,
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<u64>,
) -> HeaderValue {
    let mut text = match max_age {
        Some(age) => format!("{name}={value}; Path={path}; Max-Age={age}; HttpOnly; SameSite=Lax"),
        None => format!("{name}=; Path={path}; Max-Age=0; HttpOnly; SameSite=Lax"),
    };
    if settings.secure_cookies() {
        text.push_str("; Secure");
    }
    HeaderValue::from_str(&text).expect("cookie names and base64url values are valid header text")
}

impl SsoContext {
    /// The value of the session cookie sent with a request (an SSO or a console key session).
    pub(crate) fn session_cookie<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        cookie(headers, self.settings.session_cookie_name())
    }

    /// The `Set-Cookie` of a new session cookie value (`None`: delete the cookie).
    pub(crate) fn session_set_cookie(&self, value: Option<&str>, max_age: u64) -> HeaderValue {
        let name = self.settings.session_cookie_name();
        match value {
            Some(value) => set_cookie(&self.settings, name, value, "/", Some(max_age)),
            None => set_cookie(&self.settings, name, "", "/", None),
        }
    }

    /// The session the request's cookie names, if it exists and has not expired.
    pub(crate) async fn session_from_headers(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<Session>, ApiError> {
        let Some(value) = cookie(headers, self.settings.session_cookie_name()) else {
            return Ok(None);
        };
        let id_hash = hash_hex(value);
        let idle =
            chrono::Duration::from_std(self.settings.session_idle_timeout).unwrap_or(chrono::Duration::MAX);
        let user = self.store.session_user(&id_hash, Utc::now(), idle).await?;
        Ok(user.map(|user| Session { user, id_hash, csrf_token: csrf_token_for(value) }))
    }

    /// Checks a session-authenticated mutating request: `X-CSRF-Token` must
    /// match the session's token and `Origin`, when sent, must be our own.
    pub(crate) fn check_csrf(&self, headers: &HeaderMap, session: &Session) -> Result<(), &'static str> {
        self.check_csrf_token(headers, &session.csrf_token)
    }

    /// [`Self::check_csrf`] for any session kind with CSRF token `expected`
    /// (console key sessions use the same cookie and token).
    pub(crate) fn check_csrf_token(&self, headers: &HeaderMap, expected: &str) -> Result<(), &'static str> {
        if let Some(origin) = headers.get(header::ORIGIN) {
            if origin.as_bytes() != self.settings.public_origin().as_bytes() {
                return Err("the request's Origin is not this control plane");
            }
        }
        let presented = headers.get(CSRF_HEADER).map(HeaderValue::as_bytes).unwrap_or_default();
        if bool::from(presented.ct_eq(expected.as_bytes())) {
            Ok(())
        } else {
            Err("a valid X-CSRF-Token header is required (see GET /v1/me)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cookies_among_many() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; gatehouse_session=abc ; b=2"));
        assert_eq!(cookie(&h, "gatehouse_session"), Some("abc"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "missing"), None);
    }

    #[test]
    fn csrf_differs_per_session_and_hides_the_cookie() {
        let a = SessionCookie::generate();
        let b = SessionCookie::generate();
        let ta = csrf_token_for(a.value.expose_secret());
        assert_ne!(ta, csrf_token_for(b.value.expose_secret()));
        assert!(!ta.contains(a.value.expose_secret()));
        assert_ne!(a.id_hash, hash_hex(&ta));
    }
}
