//! The call to the upstream, and everything an upstream 401 or 403 leads to.
//!
//! - `oauth2` and `client_credentials` servers get the caller's token from
//!   the credential broker ([`credential`]), as of the request's config.
//! - With a brokered token, a 401 replaces the token once and retries; a 403
//!   `insufficient_scope` asks the user for the missing scopes (step-up, -32042).
//! - Any 401 or 403 the exchange still ends with is answered 502
//!   `upstream_credentials_rejected`: passing it on would tell the client its
//!   own gateway token is bad.
//! - A redirect is answered 502 `upstream_redirect`: its `Location` would send the
//!   client (and whatever credentials it follows with) somewhere the admin never registered.

use std::sync::Arc;

use bytes::Bytes;
use gatehouse_config::grant_identity::GrantIdentity;
use http::{HeaderMap, Method, StatusCode};
use tracing::Span;

use super::headers;
use super::state::Inner;
use crate::config_view::{ConfigView, UpstreamAuth, UpstreamServer};
use crate::credentials::{step_up, Credential};
use crate::error::EdgeError;
use crate::upstream_client::{SendError, UpstreamResponse};

/// Who is calling, for per-user credentials.
pub(super) struct CallerRef<'a> {
    pub org: &'a str,
    /// The identity the caller's upstream grants are kept under.
    pub identity: &'a GrantIdentity,
    /// The client's `Mcp-Session-Id`, as it sent it.
    pub session: Option<&'a [u8]>,
}

/// The request as it goes upstream.
pub(super) struct Outgoing {
    pub method: Method,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
}

/// The upstream credential for this call, if the server uses the broker.
pub(super) async fn credential(
    inner: &Inner,
    view: &Arc<ConfigView>,
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
    // On the heap: requests to servers without brokered credentials need not carry room for
    // the broker's cache, lease and token endpoint calls in their futures.
    Box::pin(broker.upstream_credential(view, caller.org, caller.identity, caller.session, server))
        .await
        .map_err(|e| e.into_edge_error(&server.name))
}

/// Sends `request` (carrying `credential`, if any) and settles what a 401 or 403 means;
/// records the status of the response it ends with on `span`.
pub(super) async fn send(
    inner: &Inner,
    view: &Arc<ConfigView>,
    caller: &CallerRef<'_>,
    server: &Arc<UpstreamServer>,
    request: Outgoing,
    credential: Option<Credential>,
    span: &Span,
) -> Result<UpstreamResponse, EdgeError> {
    let response = match (credential, inner.broker.as_ref()) {
        // On the heap: requests without a brokered credential need not carry room for the
        // broker's calls in their futures.
        (Some(credential), Some(broker)) => {
            Box::pin(send_brokered(inner, view, caller, server, request, credential, broker)).await?
        }
        _ => exchange(inner, server, request).await?,
    };
    let status = response.status();
    span.record("upstream.status", status.as_u16());
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        tracing::warn!(upstream.status = status.as_u16(), "upstream rejected the gateway's credentials");
        return Err(EdgeError::UpstreamRejectedCredentials);
    }
    if status.is_redirection() {
        tracing::warn!(upstream.status = status.as_u16(), "upstream answered with a redirect");
        return Err(EdgeError::UpstreamRedirect);
    }
    Ok(response)
}

/// One HTTP exchange, waiting at most the response timeout for the response head.
async fn exchange(
    inner: &Inner,
    server: &UpstreamServer,
    request: Outgoing,
) -> Result<UpstreamResponse, EdgeError> {
    let Outgoing { method, headers, body } = request;
    // The original bytes, never re-serialised; GET and DELETE send none.
    let mut request = http::Request::new(body.unwrap_or_default());
    *request.method_mut() = method;
    *request.uri_mut() = server.uri.clone();
    *request.headers_mut() = headers;
    if !request.headers().contains_key(http::header::HOST) {
        // Made with the config: the client would otherwise format it for every request.
        request.headers_mut().insert(http::header::HOST, server.host.clone());
    }
    let timeout = inner.settings.upstream_response_timeout;
    match inner.client.send(request, tokio::time::Instant::now() + timeout).await {
        Ok(response) => Ok(response),
        // Errors never carry the URL, which may hold a credential in its query.
        Err(SendError::Blocked) => {
            tracing::warn!(server = %server.slug, "upstream address is not allowed");
            Err(EdgeError::UpstreamAddressBlocked)
        }
        Err(SendError::Connect(error)) => {
            tracing::warn!(error = ?error, "upstream request failed");
            Err(EdgeError::UpstreamUnavailable)
        }
        Err(SendError::Exchange(error)) => {
            tracing::warn!(error = ?error, "upstream request failed");
            Err(EdgeError::UpstreamFailed)
        }
        Err(SendError::TimedOut) => {
            tracing::warn!(timeout_ms = timeout.as_millis() as u64, "upstream response headers timed out");
            Err(EdgeError::UpstreamTimeout)
        }
    }
}

/// Sends `request` with a brokered `credential`; an upstream 401 gets one retry with a
/// replaced token, a 403 asking for more scope starts a step-up.
async fn send_brokered(
    inner: &Inner,
    view: &Arc<ConfigView>,
    caller: &CallerRef<'_>,
    server: &Arc<UpstreamServer>,
    request: Outgoing,
    credential: Credential,
    broker: &Arc<crate::credentials::CredentialBroker>,
) -> Result<UpstreamResponse, EdgeError> {
    let retry = Outgoing {
        method: request.method.clone(),
        headers: request.headers.clone(),
        body: request.body.clone(),
    };
    let response = exchange(inner, server, request).await?;
    let response = match response.status() {
        StatusCode::UNAUTHORIZED => {
            tracing::info!(server = %server.slug, "upstream rejected the access token, replacing it and retrying once");
            let replacement = broker
                .replace_rejected(view, caller.org, caller.identity, caller.session, server, &credential)
                .await
                .map_err(|e| e.into_edge_error(&server.name))?;
            let mut retry = retry;
            headers::inject_credential(&mut retry.headers, replacement.as_ref());
            let response = exchange(inner, server, retry).await?;
            if response.status() == StatusCode::UNAUTHORIZED {
                tracing::warn!(server = %server.slug, "upstream rejected a fresh access token too");
                return Err(EdgeError::UpstreamRejectedCredentials);
            }
            response
        }
        StatusCode::FORBIDDEN => match step_up::insufficient_scope(response.headers()) {
            Some(scopes) => {
                match broker.step_up(caller.org, caller.identity, caller.session, server, scopes).await {
                    Some(err) => return Err(err.into_edge_error(&server.name)),
                    None => response,
                }
            }
            None => response,
        },
        _ => response,
    };
    Ok(response)
}
