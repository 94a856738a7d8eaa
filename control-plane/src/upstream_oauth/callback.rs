//! The authorization-code callback: validates `state` (single use, unexpired)
//! and RFC 9207 `iss`, exchanges the code with the PKCE verifier and the
//! `resource`, and stores the grant sealed, bound to (org, user, server).

use secrecy::ExposeSecret;
use serde::Deserialize;
use url::Url;

use super::discovery::split_scopes;
use super::pkce::hash_hex;
use super::token_client::token_request;
use super::{now_ms, resolve, OAuthError, UpstreamOAuth};
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

/// Completes an authorization and returns the stored grant.
pub async fn complete(ctx: &UpstreamOAuth, params: CallbackParams) -> Result<Grant, OAuthError> {
    let state = params.state.as_deref().ok_or(OAuthError::BadCallback("missing state"))?;
    let (subject, secrets) = ctx
        .store()
        .consume_pending_authorization(&hash_hex(state), now_ms())
        .await?
        .map_err(OAuthError::State)?;
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
    Ok(grant)
}
