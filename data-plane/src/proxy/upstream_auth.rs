//! Upstream credentials on the request path (issue 3): obtains the caller's
//! token for `oauth2` / `client_credentials` servers, and handles what the
//! upstream says about it — 401 → replace the token once and retry,
//! 403 `insufficient_scope` → step-up authorization (-32042).

use std::sync::Arc;

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{HeaderMap, Method, StatusCode};

use super::Inner;
use crate::config_view::{UpstreamAuth, UpstreamServer};
use crate::credentials::{step_up, Credential};
use crate::error::EdgeError;

/// Who is calling, for per-user credentials.
pub(super) struct CallerRef<'a> {
    pub org: &'a str,
    pub user: &'a str,
    /// The client's `Mcp-Session-Id`, as it sent it.
    pub session: Option<&'a [u8]>,
}

/// The upstream credential for this call, if the server uses the broker.
pub(super) async fn credential(
    inner: &Inner,
    caller: &CallerRef<'_>,
    server: &Arc<UpstreamServer>,
) -> Result<Option<Credential>, EdgeError> {
    if !matches!(server.auth, UpstreamAuth::OAuth2 | UpstreamAuth::ClientCredentials) {
        return Ok(None);
    }
    let Some(broker) = &inner.broker else {
        tracing::warn!("oauth server on an edge without a credential broker");
        return Err(EdgeError::UpstreamAuthUnsupported);
    };
    broker
        .upstream_credential(caller.org, caller.user, caller.session, server)
        .await
        .map_err(|e| e.into_edge_error(&server.name))
}

/// Puts `credential` in `headers` as `Authorization: Bearer …`.
pub(super) fn inject(headers: &mut HeaderMap, credential: Option<&Credential>) {
    if let Some(value) = credential.and_then(Credential::authorization) {
        headers.insert(AUTHORIZATION, value);
    }
}

/// Sends the request; with a brokered credential, retries once with a new
/// token after a 401 and turns a 403 `insufficient_scope` into a step-up.
pub(super) async fn send(
    inner: &Inner,
    caller: &CallerRef<'_>,
    server: &Arc<UpstreamServer>,
    method: Method,
    headers: HeaderMap,
    body: Option<Bytes>,
    credential: Option<Credential>,
) -> Result<reqwest::Response, EdgeError> {
    let (Some(credential), Some(broker)) = (credential, inner.broker.as_ref()) else {
        return super::forward::send(inner, server, method, headers, body).await;
    };
    let retry = (method.clone(), headers.clone(), body.clone());
    let response = super::forward::send(inner, server, method, headers, body).await?;
    match response.status() {
        StatusCode::UNAUTHORIZED => {
            tracing::info!(server = %server.slug, "upstream rejected the access token, replacing it and retrying once");
            let replacement = broker
                .replace_rejected(caller.org, caller.user, caller.session, server, &credential)
                .await
                .map_err(|e| e.into_edge_error(&server.name))?;
            let (method, mut headers, body) = retry;
            inject(&mut headers, replacement.as_ref());
            let response = super::forward::send(inner, server, method, headers, body).await?;
            if response.status() == StatusCode::UNAUTHORIZED {
                tracing::warn!(server = %server.slug, "upstream rejected a fresh access token too");
                return Err(EdgeError::UpstreamRejectedCredentials);
            }
            Ok(response)
        }
        StatusCode::FORBIDDEN => match step_up::insufficient_scope(response.headers()) {
            Some(scopes) => {
                match broker.step_up(caller.org, caller.user, caller.session, server, scopes).await {
                    Some(err) => Err(err.into_edge_error(&server.name)),
                    None => Ok(response),
                }
            }
            None => Ok(response),
        },
        _ => Ok(response),
    }
}
