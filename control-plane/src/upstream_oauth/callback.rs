//! The authorization-code callback: validates `state` (single use, unexpired)
//! and RFC 9207 `iss`, exchanges the code with the PKCE verifier and the
//! `resource`, and stores the grant sealed, bound to (org, user, server).

use secrecy::ExposeSecret;
use serde::Deserialize;
use url::Url;

use axum::http::HeaderMap;
use gatehouse_config::grant_identity::IdentitySource;

use super::browser_binding;
use super::discovery::split_scopes;
use super::pkce::hash_hex;
use super::token_client::token_request;
use super::{now_ms, resolve, OAuthError, UpstreamOAuth};
use crate::accounts::AuthenticatedUser;
use crate::store::authorization_links::AuthorizationSubject;
use crate::store::grants::{Grant, GrantTokens, NewTokens};

/// Query parameters of `GET /oauth/upstream/callback`.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackParams {
    /// Authorization code.
    pub code: Option<String>,
    /// The state Gatehouse sent.
    pub state: Option<String>,
    /// RFC 9207 issuer.
    pub iss: Option<String>,
    /// Error code from the AS.
    pub error: Option<String>,
    /// Error description from the AS.
    pub error_description: Option<String>,
}

/// The browser a callback arrived in.
pub struct CallbackBrowser<'a> {
    /// The request's headers (for the browser-binding cookie).
    pub headers: &'a HeaderMap,
    /// Whether cookies are `Secure` (https public URL).
    pub secure: bool,
    /// The browser's SSO user, if signed in.
    pub user: Option<&'a AuthenticatedUser>,
}

/// A completed authorization.
pub struct Completed {
    /// The stored grant.
    pub grant: Grant,
    /// Who it was connected for.
    pub subject: AuthorizationSubject,
    /// The upstream account, as far as the token response names it.
    pub account: Option<String>,
    /// The server's display name.
    pub server_name: String,
}

/// Completes an authorization and returns the stored grant.
///
/// The callback must arrive in the browser that started the flow (its binding
/// cookie), and for a user SSO knows, in that user's session: otherwise whoever
/// completes someone else's authorization URL would hand them their upstream account.
pub async fn complete(
    ctx: &UpstreamOAuth,
    params: CallbackParams,
    browser: CallbackBrowser<'_>,
) -> Result<Completed, OAuthError> {
    let state = params.state.as_deref().ok_or(OAuthError::BadCallback("missing state"))?;
    // Consumed first: a response that reached the wrong browser burns its flow.
    let (subject, secrets) = ctx
        .store()
        .consume_pending_authorization(&hash_hex(state), now_ms())
        .await?
        .map_err(OAuthError::State)?;
    let key = ctx.browser_key().await?;
    if !browser_binding::verify(browser.headers, key, browser.secure, state) {
        tracing::warn!(server_id = %subject.server_id, "upstream oauth callback without the binding cookie of the browser that started it");
        return Err(OAuthError::WrongBrowser);
    }
    // Only a Gatehouse user is someone who signs in here; a JWT subject of the same text is someone else.
    if subject.identity.source == IdentitySource::Gatehouse {
        if let Some(owner) = ctx.store().org_user_named(&subject.org_id, &subject.identity.subject).await? {
            if browser.user.is_none_or(|me| me.user_id != owner.id) {
                tracing::warn!(server_id = %subject.server_id, "upstream oauth callback outside the session of the link's user");
                return Err(OAuthError::WrongUser);
            }
        }
    }
    if let Some(error) = params.error {
        tracing::info!(server_id = %subject.server_id, source = subject.identity.source.as_str(), user = %subject.identity.subject, %error, "upstream authorization denied");
        return Err(OAuthError::Denied(error));
    }
    let code = params.code.as_deref().ok_or(OAuthError::BadCallback("missing code"))?;
    let server = ctx.server(&subject.org_id, &subject.server_id).await?;
    let resolved = resolve::resolve(ctx, &server).await?;
    // RFC 9207 §2.4: a simple string comparison, no URL normalisation; a present
    // `iss` is checked even when the AS did not advertise it.
    match params.iss.as_deref() {
        Some(iss) if iss != resolved.issuer => return Err(OAuthError::IssuerMismatch),
        None if resolved.endpoints.iss_supported => return Err(OAuthError::IssuerMismatch),
        _ => {}
    }
    let endpoint = Url::parse(&resolved.endpoints.token_endpoint)
        .map_err(|_| OAuthError::Discovery("token_endpoint is not a URL".into()))?;
    let token = token_request(
        ctx.http(),
        &endpoint,
        &resolved.client,
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", secrets.redirect_uri.clone()),
            ("code_verifier", secrets.code_verifier.expose_secret().to_owned()),
            ("resource", resolved.endpoints.resource.clone()),
        ],
    )
    .await?;
    let scopes = match token.scope.as_deref() {
        Some(s) => split_scopes(Some(s)),
        None => {
            let mut requested = resolved.endpoints.scopes.clone();
            requested
                .extend(subject.scopes.iter().filter(|s| !resolved.endpoints.scopes.contains(s)).cloned());
            requested
        }
    };
    let access_expires_at = token.expires_in.map_or(0, |s| chrono::Utc::now().timestamp() + s);
    let account = token.account.clone();
    let completion = subject.completion();
    let grant = ctx
        .store()
        .store_grant(
            &subject.org_id,
            &subject.identity,
            &subject.server_id,
            NewTokens {
                tokens: GrantTokens { access_token: token.access_token, refresh_token: token.refresh_token },
                access_expires_at,
                scopes,
            },
            completion.as_ref(),
        )
        .await?;
    tracing::info!(server_id = %subject.server_id, source = subject.identity.source.as_str(), user = %subject.identity.subject, grant_id = %grant.id, version = grant.version, "upstream grant stored");
    Ok(Completed { grant, subject, account, server_name: server.name.clone() })
}
