//! Resolves everything needed to talk OAuth for one upstream server:
//! discovery, admin overrides and client registration, stored (secret sealed)
//! as the server's record so edges receive it in `Server.oauth`.

use serde::{Deserialize, Serialize};
use url::Url;

use super::discovery::{self, canonical_resource, AuthServerMetadata};
use super::overrides::OAuthOverrides;
use super::registration;
use super::token_client::ClientAuth;
use super::{OAuthError, UpstreamOAuth};
use crate::store::oauth_clients::{server_key, OAuthClientRecord};
use crate::store::Server;

/// The resolved endpoints of a server, kept in its record's metadata.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResolvedEndpoints {
    /// `oauth2` | `client_credentials`.
    pub flow: String,
    /// Authorization endpoint (oauth2).
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// Token endpoint.
    pub token_endpoint: String,
    /// Revocation endpoint, if advertised.
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    /// RFC 8707 resource: exactly as the protected resource metadata published
    /// it, else (no such metadata) the canonical MCP server URL.
    pub resource: String,
    /// Scopes to request (empty = omit `scope`).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Whether the AS sends `iss` on authorization responses (RFC 9207).
    #[serde(default)]
    pub iss_supported: bool,
    /// Extra authorization request parameters.
    #[serde(default)]
    pub authorization_params: std::collections::BTreeMap<String, String>,
    /// The server URL this was resolved for (a changed URL re-resolves).
    pub server_url: String,
}

/// A server's resolved OAuth setup.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Authorization server issuer.
    pub issuer: String,
    /// Endpoints and request parameters.
    pub endpoints: ResolvedEndpoints,
    /// How Gatehouse authenticates at the token endpoint.
    pub client: ClientAuth,
}

impl Resolved {
    fn from_record(record: OAuthClientRecord) -> Option<Self> {
        let endpoints: ResolvedEndpoints = serde_json::from_value(record.metadata).ok()?;
        Some(Self {
            issuer: record.issuer,
            endpoints,
            client: ClientAuth {
                client_id: record.client_id,
                client_secret: record.client_secret,
                method: record.auth_method,
            },
        })
    }
}

/// The stored resolution of `server`, else resolves now and stores it.
pub async fn resolve(ctx: &UpstreamOAuth, server: &Server) -> Result<Resolved, OAuthError> {
    if let Some(resolved) = stored(ctx, server).await? {
        return Ok(resolved);
    }
    let _guard = ctx.resolving().await;
    // Another task may have resolved while this one waited.
    if let Some(resolved) = stored(ctx, server).await? {
        return Ok(resolved);
    }
    let resolved = resolve_fresh(ctx, server).await?;
    ctx.store()
        .put_oauth_client(&OAuthClientRecord {
            key: server_key(&server.id),
            issuer: resolved.issuer.clone(),
            client_id: resolved.client.client_id.clone(),
            auth_method: resolved.client.method.clone(),
            metadata: serde_json::to_value(&resolved.endpoints).expect("plain data serialises"),
            client_secret: resolved.client.client_secret.clone(),
        })
        .await?;
    tracing::info!(server_id = %server.id, issuer = %resolved.issuer, "upstream oauth resolved");
    Ok(resolved)
}

/// Like [`resolve`], for the start of a user's authorization: a stored
/// resolution is checked against fresh discovery first, and when the server
/// now names another authorization server (or resource), Gatehouse forgets the
/// old one, deletes the server's grants (they were issued by the old AS, and
/// a client MUST NOT present one AS's credentials to another), registers with
/// the new AS and publishes the change. Admin-pinned endpoints are not
/// rediscovered; a discovery failure keeps the stored resolution.
pub async fn resolve_current(ctx: &UpstreamOAuth, server: &Server) -> Result<Resolved, OAuthError> {
    let Some(stored) = stored(ctx, server).await? else {
        return resolve(ctx, server).await;
    };
    let overrides = OAuthOverrides::from_config(&server.advanced_config);
    if overrides.issuer.is_some()
        || overrides.authorization_endpoint.is_some()
        || overrides.token_endpoint.is_some()
    {
        return Ok(stored);
    }
    let server_url =
        Url::parse(&server.url).map_err(|_| OAuthError::Discovery("server URL is invalid".into()))?;
    let discovered = match discovery::discover(ctx.http(), &server_url).await {
        Ok(discovered) => discovered,
        Err(error @ (OAuthError::ResourceMismatch { .. } | OAuthError::IssuerMetadataMismatch { .. })) => {
            return Err(error)
        }
        Err(error) => {
            tracing::info!(server_id = %server.id, %error, "rediscovery failed; keeping the resolved oauth setup");
            return Ok(stored);
        }
    };
    let resource = discovered.resource.unwrap_or_else(|| canonical_resource(&server_url));
    if discovered.metadata.issuer == stored.issuer && resource == stored.endpoints.resource {
        return Ok(stored);
    }
    tracing::warn!(
        server_id = %server.id,
        previous_issuer = %stored.issuer,
        issuer = %discovered.metadata.issuer,
        "upstream names another authorization server; re-registering and dropping grants from the previous one"
    );
    ctx.store().delete_oauth_client(&server_key(&server.id)).await?;
    let dropped = ctx.store().delete_server_grants(&server.id).await?;
    tracing::info!(server_id = %server.id, dropped, "grants from the previous authorization server deleted");
    resolve(ctx, server).await
}

async fn stored(ctx: &UpstreamOAuth, server: &Server) -> Result<Option<Resolved>, OAuthError> {
    let Some(record) = ctx.store().oauth_client(&server_key(&server.id)).await? else {
        return Ok(None);
    };
    Ok(Resolved::from_record(record)
        .filter(|r| r.endpoints.server_url == server.url && r.endpoints.flow == server.auth_type))
}

async fn resolve_fresh(ctx: &UpstreamOAuth, server: &Server) -> Result<Resolved, OAuthError> {
    if !matches!(server.auth_type.as_str(), "oauth2" | "client_credentials") {
        return Err(OAuthError::NotOAuth);
    }
    let overrides = OAuthOverrides::from_config(&server.advanced_config);
    let server_url =
        Url::parse(&server.url).map_err(|_| OAuthError::Discovery("server URL is invalid".into()))?;
    let oauth2 = server.auth_type == "oauth2";
    let has_endpoints =
        overrides.token_endpoint.is_some() && (!oauth2 || overrides.authorization_endpoint.is_some());

    let (metadata, resource, challenge_scopes, resource_scopes, discovered) = match discovery::discover(
        ctx.http(),
        &server_url,
    )
    .await
    {
        Ok(d) => (d.metadata, d.resource, d.challenge_scopes, d.resource_scopes, true),
        // Metadata for another resource or issuer is an attack or a misconfiguration, never a fallback.
        Err(error @ (OAuthError::ResourceMismatch { .. } | OAuthError::IssuerMetadataMismatch { .. })) => {
            return Err(error)
        }
        Err(error) if has_endpoints => {
            tracing::info!(server_id = %server.id, %error, "discovery failed; using configured endpoints");
            (AuthServerMetadata::default(), None, Vec::new(), Vec::new(), false)
        }
        Err(error) => return Err(error),
    };
    let mut metadata = metadata;
    if let Some(issuer) = &overrides.issuer {
        metadata.issuer = issuer.trim_end_matches('/').to_owned();
    }
    let authorization_endpoint =
        overrides.authorization_endpoint.clone().or(metadata.authorization_endpoint.clone());
    let token_endpoint = overrides
        .token_endpoint
        .clone()
        .or(metadata.token_endpoint.clone())
        .ok_or_else(|| OAuthError::Discovery("no token_endpoint discovered or configured".into()))?;
    if metadata.issuer.is_empty() {
        metadata.issuer = Url::parse(&token_endpoint)
            .ok()
            .and_then(|u| u.join("/").ok())
            .map(|u| u.as_str().trim_end_matches('/').to_owned())
            .unwrap_or_default();
    }
    if oauth2 {
        if authorization_endpoint.is_none() {
            return Err(OAuthError::Discovery("no authorization_endpoint discovered or configured".into()));
        }
        // PKCE S256 is mandatory; refuse an AS that does not advertise it.
        if discovered && !metadata.code_challenge_methods_supported.iter().any(|m| m == "S256") {
            return Err(OAuthError::PkceUnsupported);
        }
    }
    let scopes = overrides
        .scopes()
        .map(<[String]>::to_vec)
        .or_else(|| (!challenge_scopes.is_empty()).then_some(challenge_scopes))
        .unwrap_or(resource_scopes);
    let client = registration::client_for(ctx, &server.id, &server.auth_type, &metadata, &overrides).await?;
    Ok(Resolved {
        issuer: metadata.issuer.clone(),
        endpoints: ResolvedEndpoints {
            flow: server.auth_type.clone(),
            authorization_endpoint,
            token_endpoint,
            revocation_endpoint: overrides
                .revocation_endpoint
                .clone()
                .or(metadata.revocation_endpoint.clone()),
            resource: resource.unwrap_or_else(|| canonical_resource(&server_url)),
            scopes,
            iss_supported: metadata.authorization_response_iss_parameter_supported,
            authorization_params: overrides.authorization_params.clone().unwrap_or_default(),
            server_url: server.url.clone(),
        },
        client,
    })
}
