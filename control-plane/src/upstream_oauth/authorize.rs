//! Authorization links and the start of the authorization-code flow: a link
//! bound to (org, user, server, scopes) is consumed once, then Gatehouse
//! stores a sealed PKCE verifier under a hashed random `state` and redirects
//! the browser to the upstream authorization endpoint (S256, RFC 8707 `resource`).

use std::time::Duration;

use secrecy::ExposeSecret;
use url::Url;

use super::overrides::RESERVED_PARAMS;
use super::pkce::{hash_hex, random_token, Pkce};
use super::{now_ms, resolve, OAuthError, UpstreamOAuth, START_PATH};
use crate::store::authorization_links::{AuthorizationSubject, PendingSecrets};

/// How long an authorization link stays usable.
pub const LINK_TTL: Duration = Duration::from_secs(600);
/// How long the user has at the upstream AS before the callback.
pub const PENDING_TTL: Duration = Duration::from_secs(600);

/// A link handed to the user (through the edge's URL elicitation).
#[derive(Debug, Clone)]
pub struct AuthorizationLink {
    /// `{public_url}/oauth/upstream/start/{opaque id}`.
    pub url: String,
    /// Elicitation id the edge reports to the client.
    pub elicitation_id: String,
    /// Unix seconds.
    pub expires_at: i64,
}

fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

/// Creates a single-use link for `user` to authorize `server_id`.
pub async fn create_link(
    ctx: &UpstreamOAuth,
    subject: AuthorizationSubject,
) -> Result<AuthorizationLink, OAuthError> {
    let server = ctx.server(&subject.org_id, &subject.server_id).await?;
    if server.auth_type != "oauth2" {
        return Err(OAuthError::NotOAuth);
    }
    let id = random_token();
    let elicitation_id = uuid::Uuid::new_v4().to_string();
    let expires_at_ms = now_ms() + ttl_ms(LINK_TTL);
    ctx.store()
        .create_authorization_link(&hash_hex(id.expose_secret()), &subject, &elicitation_id, expires_at_ms)
        .await?;
    tracing::info!(server_id = %subject.server_id, source = subject.identity.source.as_str(), user = %subject.identity.subject, "authorization link created");
    Ok(AuthorizationLink {
        url: format!("{}{}/{}", ctx.public_url(), START_PATH, id.expose_secret()),
        elicitation_id,
        expires_at: expires_at_ms / 1000,
    })
}

/// A started authorization: where to send the browser, and the `state` it carries
/// (which the start route binds to the browser, `browser_binding`).
pub struct Started {
    /// The upstream authorization URL.
    pub url: Url,
    /// The flow's `state`.
    pub state: secrecy::SecretString,
}

/// Consumes link `link_id` and returns the upstream authorization URL to redirect to.
pub async fn start(ctx: &UpstreamOAuth, link_id: &str) -> Result<Started, OAuthError> {
    let subject = ctx
        .store()
        .consume_authorization_link(&hash_hex(link_id), now_ms())
        .await?
        .map_err(OAuthError::Link)?;
    let server = ctx.server(&subject.org_id, &subject.server_id).await?;
    let resolved = resolve::resolve_current(ctx, &server).await?;
    let endpoint = resolved
        .endpoints
        .authorization_endpoint
        .as_deref()
        .ok_or_else(|| OAuthError::Discovery("no authorization_endpoint".into()))?;
    let mut url = Url::parse(endpoint)
        .map_err(|_| OAuthError::Discovery("authorization_endpoint is not a URL".into()))?;
    ctx.http().check(&url)?;

    let pkce = Pkce::generate();
    let state = random_token();
    let redirect_uri = ctx.callback_url();
    ctx.store()
        .create_pending_authorization(
            &hash_hex(state.expose_secret()),
            &subject,
            &PendingSecrets { code_verifier: pkce.verifier, redirect_uri: redirect_uri.clone() },
            now_ms() + ttl_ms(PENDING_TTL),
        )
        .await?;

    let mut scopes = resolved.endpoints.scopes.clone();
    for s in &subject.scopes {
        if !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    {
        let mut query = url.query_pairs_mut();
        // Admin extras first; the reserved ones are refused at validation and skipped here too.
        for (k, v) in &resolved.endpoints.authorization_params {
            if !RESERVED_PARAMS.contains(&k.as_str()) {
                query.append_pair(k, v);
            }
        }
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &resolved.client.client_id)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", state.expose_secret())
            .append_pair("resource", &resolved.endpoints.resource);
        if !scopes.is_empty() {
            query.append_pair("scope", &scopes.join(" "));
        }
    }
    tracing::info!(server_id = %server.id, source = subject.identity.source.as_str(), user = %subject.identity.subject, "redirecting to upstream authorization");
    Ok(Started { url, state })
}
