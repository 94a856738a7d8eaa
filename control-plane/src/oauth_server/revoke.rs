//! `POST /oauth/revoke` (RFC 7009): revokes a refresh token and its whole
//! family. Access tokens are short-lived JWTs and are not revocable; unknown
//! tokens are answered 200 like known ones.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::authorize::single_params;
use super::clients::presented_credentials;
use super::{secrets, AuthServerState, OAuthError};

/// `POST /oauth/revoke`.
pub(crate) async fn revoke(
    State(state): State<AuthServerState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let server = state.server.clone();
    let form = single_params(
        std::str::from_utf8(&body).map_err(|_| OAuthError::invalid_request("body is not UTF-8"))?,
    )
    .map_err(OAuthError::invalid_request)?;
    let get = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let presented = presented_credentials(&headers, get("client_id"), get("client_secret"))?;
    let client = server.authenticate_client(presented).await?;
    let token = get("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    if get("token_type_hint").is_some_and(|h| !matches!(h, "refresh_token" | "access_token")) {
        return Err(OAuthError::new("unsupported_token_type", "token_type_hint is not supported"));
    }
    if server.store.revoke_as_refresh(&secrets::digest(token), &client.id).await? {
        tracing::info!(client_id = %client.id, "refresh token revoked");
    }
    let mut response = StatusCode::OK.into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
