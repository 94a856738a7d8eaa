//! The caller of a console key session, for admin authentication: an org API
//! key session acts as that key, a platform admin token session as the
//! platform admin, both only while their credential is still valid.

use axum::http::HeaderMap;
use chrono::Utc;
use subtle::ConstantTimeEq as _;

use crate::accounts::Principal;
use crate::rest::ApiError;
use crate::sso::SsoContext;
use crate::store::{KeySession, Store};

/// A key session presented with a request, with the CSRF token it must echo.
#[derive(Debug)]
pub(crate) struct KeySessionCaller {
    /// Who the session acts as.
    pub principal: Principal,
    /// The org the session was opened in.
    pub org_id: String,
    /// Hex SHA-256 of the cookie value.
    pub id_hash: String,
    /// The CSRF token mutating requests must send.
    pub csrf_token: String,
}

/// The key session the request's session cookie names, if any and still valid.
pub(crate) async fn key_session_principal(
    store: &Store,
    sso: &SsoContext,
    admin_token_hashes: &[[u8; 32]],
    headers: &HeaderMap,
) -> Result<Option<KeySessionCaller>, ApiError> {
    let Some(value) = sso.session_cookie(headers) else { return Ok(None) };
    let id_hash = crate::sso::session_id_hash(value);
    let idle =
        chrono::Duration::from_std(sso.settings().session_idle_timeout).unwrap_or(chrono::Duration::MAX);
    let Some(session) = store.key_session(&id_hash, Utc::now(), idle).await? else { return Ok(None) };
    let (principal, org_id) = match session {
        KeySession::ApiKey { id, org_id, role } => {
            (Principal::ApiKey { id, org_id: org_id.clone(), role }, org_id)
        }
        KeySession::Platform { org_id, admin_token_hash } => {
            let valid = admin_token_hashes
                .iter()
                .fold(subtle::Choice::from(0), |acc, known| acc | known.ct_eq(&admin_token_hash));
            if !bool::from(valid) {
                // The token was rotated away: the session ends with it.
                store.delete_key_session(&id_hash).await?;
                return Ok(None);
            }
            (Principal::Platform, org_id)
        }
    };
    Ok(Some(KeySessionCaller { principal, org_id, id_hash, csrf_token: crate::sso::csrf_token_for(value) }))
}
