//! `POST /oauth/token`: `authorization_code` (single use, PKCE S256,
//! redirect URI, client and resource binding), `refresh_token` (rotation with
//! reuse detection) and `client_credentials` (machine identities).
//! Errors are RFC 6749 §5.2 JSON; every response is `Cache-Control: no-store`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::ExposeSecret;
use serde::Serialize;

use super::authorize::{normalize_scope, single_params, subject_of};
use super::clients::{presented_credentials, Client};
use super::jwt::{self, AccessClaims};
use super::resource::canonical;
use super::{secrets, AuthServer, AuthServerState, OAuthError};
use crate::accounts::AuthenticatedUser;
use crate::store::{AsClientKind, AsRefreshGrant, AsSubject, KeyPurpose, RefreshOutcome};

type Params = std::collections::BTreeMap<String, String>;

/// A non-empty form parameter.
fn param<'a>(form: &'a Params, name: &str) -> Option<&'a str> {
    form.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    scope: String,
}

/// `POST /oauth/token`.
pub(crate) async fn token(
    State(state): State<AuthServerState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let server = state.server.clone();
    let form = single_params(
        std::str::from_utf8(&body).map_err(|_| OAuthError::invalid_request("body is not UTF-8"))?,
    )
    .map_err(OAuthError::invalid_request)?;
    let get = |k: &str| param(&form, k);
    let presented = presented_credentials(&headers, get("client_id"), get("client_secret"))?;
    let client = server.authenticate_client(presented).await?;
    let grant_type =
        get("grant_type").ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    if !client.allows_grant(grant_type) {
        return Err(match grant_type {
            "authorization_code" | "refresh_token" | "client_credentials" => {
                OAuthError::new("unauthorized_client", format!("the client may not use {grant_type}"))
            }
            _ => OAuthError::new("unsupported_grant_type", "grant_type is not supported"),
        });
    }
    let response = match grant_type {
        "authorization_code" => server.exchange_code(&client, &form).await?,
        "refresh_token" => server.refresh(&client, &form).await?,
        "client_credentials" => server.client_credentials(&client, &form).await?,
        _ => return Err(OAuthError::new("unsupported_grant_type", "grant_type is not supported")),
    };
    let mut response = Json(response).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

impl AuthServer {
    async fn exchange_code(&self, client: &Client, form: &Params) -> Result<TokenResponse, OAuthError> {
        let get = |k: &str| param(form, k);
        let code = get("code").ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        let verifier =
            get("code_verifier").ok_or_else(|| OAuthError::invalid_request("code_verifier is required"))?;
        let grant = match self.store.spend_as_code(&secrets::digest(code)).await? {
            Ok(Some(grant)) => grant,
            Ok(None) => return Err(OAuthError::invalid_grant("unknown authorization code")),
            Err(family) => {
                // RFC 6749 §4.1.2: a replayed code revokes what it was exchanged for.
                let revoked = self.store.revoke_as_family(&family).await?;
                tracing::warn!(client_id = %client.id, revoked, "authorization code replayed; grant revoked");
                return Err(OAuthError::invalid_grant("authorization code already used"));
            }
        };
        if grant.client_id != client.id {
            return Err(OAuthError::invalid_grant("authorization code was issued to another client"));
        }
        if grant.expires_at <= chrono::Utc::now() {
            return Err(OAuthError::invalid_grant("authorization code expired"));
        }
        if get("redirect_uri") != Some(grant.redirect_uri.as_str()) {
            return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request"));
        }
        if !secrets::is_valid_verifier(verifier) || secrets::pkce_s256(verifier) != grant.code_challenge {
            return Err(OAuthError::invalid_grant("PKCE verification failed"));
        }
        if get("resource").is_some_and(|r| canonical(r) != grant.resource) {
            return Err(OAuthError::new(
                "invalid_target",
                "resource does not match the authorization request",
            ));
        }
        // The user may have been deactivated since the code was issued.
        self.require_active_user(&grant.subject).await?;
        let refresh = AsRefreshGrant {
            family_id: grant.family_id,
            client_id: client.id.clone(),
            resource: grant.resource,
            scope: grant.scope,
            subject: grant.subject,
            expires_at: self.refresh_expiry(),
            family_expires_at: chrono::Utc::now()
                + chrono::Duration::from_std(self.settings.refresh_family_lifetime).unwrap_or_default(),
        };
        let refresh_token = secrets::generate("ghr_");
        self.store.insert_as_refresh(&secrets::digest(refresh_token.expose_secret()), &refresh).await?;
        let mut response =
            self.access_token(&refresh.resource, &refresh.subject, &refresh.scope, &client.id).await?;
        response.refresh_token = Some(refresh_token.expose_secret().to_owned());
        tracing::info!(client_id = %client.id, user_id = %refresh.subject.sub, "exchanged authorization code");
        Ok(response)
    }

    async fn refresh(&self, client: &Client, form: &Params) -> Result<TokenResponse, OAuthError> {
        let get = |k: &str| param(form, k);
        let presented =
            get("refresh_token").ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        let next = secrets::generate("ghr_");
        let outcome = self
            .store
            .rotate_as_refresh(
                &secrets::digest(presented),
                &client.id,
                &secrets::digest(next.expose_secret()),
                self.refresh_expiry(),
            )
            .await?;
        let grant = match outcome {
            RefreshOutcome::Rotated(grant) => *grant,
            RefreshOutcome::Invalid => {
                return Err(OAuthError::invalid_grant("refresh token is invalid, expired or revoked"))
            }
            RefreshOutcome::Reused => {
                tracing::warn!(client_id = %client.id, "refresh token reused; token family revoked");
                return Err(OAuthError::invalid_grant(
                    "refresh token was already used; the grant is revoked",
                ));
            }
        };
        if get("resource").is_some_and(|r| canonical(r) != grant.resource) {
            return Err(OAuthError::new("invalid_target", "resource does not match the grant"));
        }
        // The user as they are now, not as they were at the first login: deactivation
        // revokes the family (a rotation racing it may have slipped through), and a
        // changed role or workspace membership is what the new access token carries.
        let subject = match self.require_active_user(&grant.subject).await {
            Ok(user) if user.org_id == grant.subject.org => subject_of(&user),
            Ok(_) => {
                self.store.revoke_as_family(&grant.family_id).await?;
                return Err(OAuthError::invalid_grant("the user no longer belongs to this organisation"));
            }
            Err(error) => {
                self.store.revoke_as_family(&grant.family_id).await?;
                return Err(error);
            }
        };
        // A narrower scope may be requested (RFC 6749 §6); never a wider one.
        let granted: Vec<&str> = grant.scope.split(' ').collect();
        let scope = normalize_scope(get("scope").or(Some(grant.scope.as_str())), &granted)?;
        // The server may have been unprovisioned since the grant, or the user removed
        // from every workspace it is provisioned to: the grant is over.
        if let Err(error) = self.authorize_resource(&grant.resource, &subject).await {
            tracing::info!(user_id = %subject.sub, reason = error.code, "refresh refused: resource no longer granted");
            self.store.revoke_as_family(&grant.family_id).await?;
            return Err(OAuthError::invalid_grant("the user may no longer reach this resource"));
        }
        let mut response = self.access_token(&grant.resource, &subject, &scope, &client.id).await?;
        response.refresh_token = Some(next.expose_secret().to_owned());
        Ok(response)
    }

    async fn client_credentials(&self, client: &Client, form: &Params) -> Result<TokenResponse, OAuthError> {
        let get = |k: &str| param(form, k);
        let registered =
            client.registered.as_ref().filter(|r| r.kind == AsClientKind::Machine).ok_or_else(|| {
                OAuthError::new("unauthorized_client", "only machine clients may use client_credentials")
            })?;
        let (Some(org), Some(workspace)) = (&registered.org_id, &registered.workspace_id) else {
            return Err(OAuthError::new("unauthorized_client", "the machine client has no workspace"));
        };
        let allowed: Vec<&str> = registered.scopes.iter().map(String::as_str).collect();
        let scope = match get("scope") {
            Some(requested) => normalize_scope(Some(requested), &allowed)?,
            None => registered.scopes.join(" "),
        };
        let resource = canonical(
            get("resource")
                .ok_or_else(|| OAuthError::new("invalid_target", "resource (RFC 8707) is required"))?,
        )
        .to_owned();
        let subject = AsSubject {
            sub: registered.client_id.clone(),
            org: org.clone(),
            ws: vec![workspace.clone()],
            email: String::new(),
            name: registered.name.clone(),
            roles: Vec::new(),
        };
        self.authorize_resource(&resource, &subject).await?;
        tracing::info!(client_id = %client.id, resource = %resource, "issued client credentials token");
        self.access_token(&resource, &subject, &scope, &client.id).await
    }

    async fn access_token(
        &self,
        resource: &str,
        subject: &AsSubject,
        scope: &str,
        client_id: &str,
    ) -> Result<TokenResponse, OAuthError> {
        let key = self
            .store
            .active_as_signing_key(KeyPurpose::AccessToken)
            .await?
            .ok_or_else(|| OAuthError::server_error(&"no active access-token signing key"))?;
        let ttl = self.settings.access_token_ttl.as_secs();
        let claims =
            AccessClaims::new(&self.settings.issuer, resource, subject, scope, client_id, ttl as i64);
        let access_token = jwt::sign(&key, &claims).map_err(|e| OAuthError::server_error(&e))?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: ttl,
            refresh_token: None,
            scope: scope.to_owned(),
        })
    }

    /// The grant's user as they are now; `invalid_grant` unless they still exist and are active.
    async fn require_active_user(&self, subject: &AsSubject) -> Result<AuthenticatedUser, OAuthError> {
        match self.store.authenticated_user(&subject.sub).await? {
            Some(user) => Ok(user),
            None => {
                tracing::info!(user_id = %subject.sub, "grant of a deactivated or removed user refused");
                Err(OAuthError::invalid_grant("the user is deactivated or no longer exists"))
            }
        }
    }

    fn refresh_expiry(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + chrono::Duration::from_std(self.settings.refresh_token_ttl).unwrap_or_default()
    }
}
