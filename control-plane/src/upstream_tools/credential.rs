//! The upstream credential the control plane's own MCP calls inject, exactly
//! as an edge would for the same server: its sealed static headers
//! (`headers`), a client-credentials token from the server's resolved OAuth
//! client (`client_credentials`), or the calling person's own grant (`oauth2`),
//! refreshed under the same lease the edges take when it has expired.

use gatehouse_config::grant_identity::GrantIdentity;
use reqwest::header::{HeaderName, AUTHORIZATION};
use secrecy::SecretString;
use url::Url;

use super::mcp_client::{InjectedHeaders, McpError};
use super::ToolsError;
use crate::accounts::AuthenticatedUser;
use crate::store::grants::{Grant, GrantTokens, NewTokens};
use crate::store::Server;
use crate::upstream_oauth::{now_ms, resolve, token_client, OAuthError, UpstreamOAuth};

/// A grant whose access token ends within this many seconds is refreshed first.
const EXPIRY_SKEW_SECS: i64 = 30;
/// How long the control plane holds a grant's refresh lease.
const LEASE_MS: i64 = 10_000;

/// The headers that carry `server`'s upstream credential for `user` (the
/// signed-in person, `None` for an API key or the admin token).
pub async fn upstream_headers(
    ctx: &UpstreamOAuth,
    server: &Server,
    user: Option<&AuthenticatedUser>,
) -> Result<InjectedHeaders, ToolsError> {
    let mut headers = InjectedHeaders::default();
    match server.auth_type.as_str() {
        "headers" => {
            for (name, value) in ctx.store().server_header_values(&server.org_id, &server.id).await? {
                let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                    McpError::Protocol(format!("the static header name {name:?} is not valid"))
                })?;
                headers.insert_secret(name, &value)?;
            }
        }
        "client_credentials" => {
            let token = client_credentials_token(ctx, server).await?;
            headers.insert_secret(AUTHORIZATION, &bearer(&token))?;
        }
        "oauth2" => {
            let user = user.ok_or(ToolsError::NoPerson)?;
            let grant = user_grant(ctx, server, user).await?;
            headers.insert_secret(AUTHORIZATION, &bearer(&grant))?;
        }
        _ => {}
    }
    Ok(headers)
}

fn bearer(token: &SecretString) -> SecretString {
    use secrecy::ExposeSecret as _;
    SecretString::from(format!("Bearer {}", token.expose_secret()))
}

/// A fresh client-credentials access token (RFC 6749 §4.4) with the scopes and
/// RFC 8707 `resource` the edges request.
async fn client_credentials_token(ctx: &UpstreamOAuth, server: &Server) -> Result<SecretString, ToolsError> {
    let resolved = resolve::resolve(ctx, server).await.map_err(ToolsError::OAuth)?;
    let endpoint = Url::parse(&resolved.endpoints.token_endpoint)
        .map_err(|_| ToolsError::OAuth(OAuthError::Discovery("the token endpoint is not a URL".into())))?;
    let mut params = vec![("grant_type", "client_credentials".to_owned())];
    if !resolved.endpoints.scopes.is_empty() {
        params.push(("scope", resolved.endpoints.scopes.join(" ")));
    }
    params.push(("resource", resolved.endpoints.resource.clone()));
    let issued = token_client::token_request(ctx.http(), &endpoint, &resolved.client, params)
        .await
        .map_err(ToolsError::OAuth)?;
    Ok(issued.access_token)
}

/// The access token of `user`'s own grant for `server`, refreshed if it has expired.
async fn user_grant(
    ctx: &UpstreamOAuth,
    server: &Server,
    user: &AuthenticatedUser,
) -> Result<SecretString, ToolsError> {
    let store = ctx.store();
    // Grants name people as gateway tokens do: by user id, or by e-mail.
    let mut grant =
        store.find_grant(&server.org_id, GrantIdentity::gatehouse(user.user_id.clone()), &server.id).await?;
    if grant.is_none() && !user.email.is_empty() {
        grant = store
            .find_grant(&server.org_id, GrantIdentity::gatehouse(user.email.clone()), &server.id)
            .await?;
    }
    let grant = grant.ok_or(ToolsError::NotConnected { expired: false })?;
    if grant.status != "active" {
        return Err(ToolsError::NotConnected { expired: true });
    }
    let now = now_ms() / 1000;
    if grant.access_expires_at == 0 || grant.access_expires_at > now + EXPIRY_SKEW_SECS {
        return Ok(grant.tokens.access_token);
    }
    refresh(ctx, server, grant).await
}

/// Refreshes an expired grant under the refresh lease (the one the edges take,
/// so exactly one refresh runs), committing a rotated refresh token first.
async fn refresh(ctx: &UpstreamOAuth, server: &Server, grant: Grant) -> Result<SecretString, ToolsError> {
    let Some(refresh_token) = grant.tokens.refresh_token.clone() else {
        return Err(ToolsError::NotConnected { expired: true });
    };
    let store = ctx.store();
    let lease =
        store.acquire_refresh_lease(&grant.id, grant.version, "control-plane", now_ms(), LEASE_MS).await?;
    if !lease.granted {
        // Someone else refreshed (or is refreshing): use what is current if it is fresh.
        let current = lease.current.ok_or(ToolsError::NotConnected { expired: false })?;
        if current.access_expires_at > now_ms() / 1000 + EXPIRY_SKEW_SECS {
            return Ok(current.tokens.access_token);
        }
        return Err(ToolsError::Busy);
    }
    let resolved = resolve::resolve(ctx, server).await.map_err(ToolsError::OAuth)?;
    let endpoint = Url::parse(&resolved.endpoints.token_endpoint)
        .map_err(|_| ToolsError::OAuth(OAuthError::Discovery("the token endpoint is not a URL".into())))?;
    let params = vec![
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", secrecy::ExposeSecret::expose_secret(&refresh_token).to_owned()),
        ("resource", resolved.endpoints.resource.clone()),
    ];
    let issued = match token_client::token_request(ctx.http(), &endpoint, &resolved.client, params).await {
        Ok(issued) => issued,
        Err(OAuthError::TokenEndpoint { error, .. }) if error == "invalid_grant" => {
            store.mark_grant_dead(&grant.id, grant.version).await?;
            return Err(ToolsError::NotConnected { expired: true });
        }
        Err(error) => return Err(ToolsError::OAuth(error)),
    };
    let access_expires_at = issued.expires_in.map(|s| now_ms() / 1000 + s).unwrap_or(0);
    let new = NewTokens {
        tokens: GrantTokens {
            access_token: issued.access_token.clone(),
            refresh_token: issued.refresh_token,
        },
        access_expires_at,
        scopes: issued.scope.map(|s| s.split(' ').map(str::to_owned).collect()).unwrap_or(grant.scopes),
    };
    store.commit_refresh(&grant.id, grant.version, lease.fencing_token, new).await?;
    Ok(issued.access_token)
}
