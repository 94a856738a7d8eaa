//! `GET /oauth/authorize` and `POST /oauth/authorize/decision`: authorization
//! code + PKCE S256, login through the org's SSO, a consent screen per client
//! (remembered per user, client, resource and scope) and the redirect back
//! with `code`, `state` and `iss` (RFC 9207).
//!
//! A request naming a resource (`{edge}/mcp/{org}/{slug}`, or the default org's
//! `{edge}/mcp/{slug}`) logs in at that server's org (also when the browser is
//! signed in to another org), and the consent screen names the org and the
//! server. A request without `resource` (RFC 8707 §2 lets the server choose)
//! logs in at the default org and the user picks one of their MCP servers on the
//! consent screen; the code is bound to that pick.
//!
//! Errors follow RFC 6749 §4.1.2.1: once the client and redirect URI are
//! trusted they are redirected back, otherwise an HTML page is shown.

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::clients::Client;
use super::resource::canonical;
use super::{
    pages, secrets, AuthServer, AuthServerState, OAuthError, CODE_TTL, CONSENT_TTL, DEFAULT_SCOPE,
    SCOPES_SUPPORTED,
};
use crate::accounts::AuthenticatedUser;
use crate::sso::{login_redirect, CurrentUser};
use crate::store::{AsCodeGrant, AsPendingRequest, AsSubject};

/// A rejection at the authorization endpoint.
enum Reject {
    /// Shown to the user: the client or redirect URI is not trusted.
    Page(StatusCode, String),
    /// Sent back to the client's redirect URI.
    Redirect { redirect_uri: String, state: Option<String>, error: OAuthError },
}

impl AuthServer {
    fn reject_response(&self, reject: Reject) -> Response {
        match reject {
            Reject::Page(status, message) => pages::error(status, &message),
            Reject::Redirect { redirect_uri, state, error } => {
                tracing::info!(error = error.code, description = %error.description, "authorization request refused");
                let mut params =
                    vec![("error", error.code.to_owned()), ("error_description", error.description)];
                if let Some(state) = state {
                    params.push(("state", state));
                }
                self.redirect(&redirect_uri, params)
            }
        }
    }

    /// A 302 to `redirect_uri` with `params` (and `iss`) added to its query.
    fn redirect(&self, redirect_uri: &str, mut params: Vec<(&str, String)>) -> Response {
        params.push(("iss", self.settings.issuer.clone()));
        let Ok(mut url) = url::Url::parse(redirect_uri) else {
            return pages::error(StatusCode::BAD_REQUEST, "invalid redirect_uri");
        };
        url.query_pairs_mut().extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
        let mut response = StatusCode::FOUND.into_response();
        match HeaderValue::from_str(url.as_str()) {
            Ok(location) => {
                response.headers_mut().insert(header::LOCATION, location);
            }
            Err(_) => return pages::error(StatusCode::BAD_REQUEST, "invalid redirect_uri"),
        }
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    /// Issues a code for an approved request (audience `resource`) and redirects back with it.
    async fn issue_code(&self, request: &AsPendingRequest, resource: &str) -> Result<Response, OAuthError> {
        let code = secrets::generate("ghac_");
        let grant = AsCodeGrant {
            family_id: uuid::Uuid::new_v4().to_string(),
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.clone(),
            resource: resource.to_owned(),
            scope: request.scope.clone(),
            subject: request.subject.clone(),
            expires_at: chrono::Utc::now() + chrono::Duration::from_std(CODE_TTL).unwrap_or_default(),
        };
        self.store.insert_as_code(&secrets::digest(code.expose_secret()), &grant).await?;
        tracing::info!(client_id = %request.client_id, user_id = %request.subject.sub, resource, "issued authorization code");
        let mut params = vec![("code", code.expose_secret().to_owned())];
        if let Some(state) = &request.state {
            params.push(("state", state.clone()));
        }
        Ok(self.redirect(&request.redirect_uri, params))
    }
}

/// The subject a signed-in user becomes.
pub(super) fn subject_of(user: &AuthenticatedUser) -> AsSubject {
    AsSubject {
        sub: user.user_id.clone(),
        org: user.org_id.clone(),
        ws: user.workspace_ids.clone(),
        email: user.email.clone(),
        name: user.name.clone(),
        roles: user.roles.clone(),
    }
}

/// Validates a requested scope; an omitted scope is [`DEFAULT_SCOPE`].
pub(crate) fn normalize_scope(requested: Option<&str>, allowed: &[&str]) -> Result<String, OAuthError> {
    let mut scopes: Vec<&str> =
        requested.unwrap_or(DEFAULT_SCOPE).split(' ').filter(|s| !s.is_empty()).collect();
    if scopes.is_empty() {
        scopes.push(DEFAULT_SCOPE);
    }
    if let Some(unknown) = scopes.iter().find(|s| !allowed.contains(s)) {
        return Err(OAuthError::new("invalid_scope", format!("scope {unknown:?} is not supported")));
    }
    scopes.sort_unstable();
    scopes.dedup();
    Ok(scopes.join(" "))
}

/// Parses a query or form, refusing repeated parameters (RFC 6749 §3.1).
pub(crate) fn single_params(raw: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        if out.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(format!("parameter {k} is repeated"));
        }
    }
    Ok(out)
}

/// `GET /oauth/authorize`.
pub(crate) async fn authorize(
    State(state): State<AuthServerState>,
    CurrentUser(user): CurrentUser,
    RawQuery(query): RawQuery,
) -> Response {
    let server = state.server.clone();
    let raw = query.unwrap_or_default();
    match authorize_inner(&server, &state.org_id, user, &raw).await {
        Ok(response) => response,
        Err(reject) => server.reject_response(reject),
    }
}

async fn authorize_inner(
    server: &AuthServer,
    default_org_id: &str,
    user: Option<AuthenticatedUser>,
    raw: &str,
) -> Result<Response, Reject> {
    let params = single_params(raw).map_err(|m| Reject::Page(StatusCode::BAD_REQUEST, m))?;
    let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let client_id = get("client_id")
        .ok_or_else(|| Reject::Page(StatusCode::BAD_REQUEST, "client_id is required".into()))?;
    let client: Client = server
        .resolve_client(client_id)
        .await
        .map_err(|e| Reject::Page(StatusCode::INTERNAL_SERVER_ERROR, e.description))?
        .ok_or_else(|| Reject::Page(StatusCode::BAD_REQUEST, "unknown client_id".into()))?;
    let redirect_uri = get("redirect_uri")
        .ok_or_else(|| Reject::Page(StatusCode::BAD_REQUEST, "redirect_uri is required".into()))?;
    if !client.redirect_uri_allowed(redirect_uri) {
        return Err(Reject::Page(
            StatusCode::BAD_REQUEST,
            "redirect_uri is not registered for this client".into(),
        ));
    }
    let client_state = get("state").map(str::to_owned);
    let back = |error: OAuthError| Reject::Redirect {
        redirect_uri: redirect_uri.to_owned(),
        state: client_state.clone(),
        error,
    };

    if get("response_type") != Some("code") {
        return Err(back(OAuthError::new("unsupported_response_type", "response_type must be code")));
    }
    if !client.allows_grant("authorization_code") {
        return Err(back(OAuthError::new(
            "unauthorized_client",
            "the client may not use authorization codes",
        )));
    }
    let challenge = get("code_challenge")
        .ok_or_else(|| back(OAuthError::invalid_request("PKCE code_challenge is required")))?;
    if get("code_challenge_method") != Some("S256") {
        return Err(back(OAuthError::invalid_request("code_challenge_method must be S256")));
    }
    if challenge.len() != 43
        || !challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(back(OAuthError::invalid_request("code_challenge must be a base64url SHA-256 digest")));
    }
    let scope = normalize_scope(get("scope"), SCOPES_SUPPORTED).map_err(back)?;
    // RFC 8707 §2: without a resource the user picks one of their servers on the consent screen.
    let resource = get("resource").map(|r| canonical(r).to_owned());
    let target = match &resource {
        Some(resource) => Some(server.resource_server(resource).await.map_err(back)?),
        None => None,
    };

    // Someone signed in to another org than the resource's signs in at the resource's org.
    let user = user.filter(|u| target.as_ref().is_none_or(|t| t.org_id == u.org_id));
    let Some(user) = user else {
        let org_slug = match &target {
            Some(target) => target.org_slug.clone(),
            None => server.org_slug(default_org_id).await.map_err(back)?,
        };
        return Ok(login_redirect(&org_slug, &format!("/oauth/authorize?{raw}")));
    };
    let subject = subject_of(&user);
    let choice = match &resource {
        Some(resource) => {
            let target = server.authorize_resource(resource, &subject).await.map_err(back)?;
            pages::ResourceChoice::Fixed {
                resource: resource.clone(),
                server_name: target.name,
                org_name: target.org_name,
            }
        }
        None => {
            let choices = server.resource_choices(&subject).await.map_err(back)?;
            pages::ResourceChoice::Pick { org_name: choices.org_name, servers: choices.servers }
        }
    };

    let request = AsPendingRequest {
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        code_challenge: challenge.to_owned(),
        state: client_state.clone(),
        scope,
        resource,
        subject,
    };
    let store = &server.store;
    if let Some(resource) = &request.resource {
        let remembered = store
            .has_as_consent(&user.user_id, &client.id, resource, &request.scope)
            .await
            .map_err(|e| back(OAuthError::from(e)))?;
        if remembered {
            return server.issue_code(&request, resource).await.map_err(back);
        }
    }

    let request_id = secrets::generate("");
    let expires_at = chrono::Utc::now() + chrono::Duration::from_std(CONSENT_TTL).unwrap_or_default();
    store
        .insert_as_pending(&secrets::digest(request_id.expose_secret()), &request, expires_at)
        .await
        .map_err(|e| back(OAuthError::from(e)))?;
    let redirect_host = url::Url::parse(redirect_uri).ok().and_then(|u| u.host_str().map(str::to_owned));
    let shown_user = if user.email.is_empty() { &user.name } else { &user.email };
    Ok(pages::consent(&pages::Consent {
        client_name: &client.name,
        client_id: &client.id,
        logo_uri: client.logo_uri.as_deref(),
        redirect_host: redirect_host.as_deref().unwrap_or(redirect_uri),
        resource: &choice,
        scope: &request.scope,
        user: shown_user,
        request_id: request_id.expose_secret(),
    }))
}

/// The consent form.
#[derive(Deserialize)]
pub(crate) struct Decision {
    request_id: String,
    decision: String,
    /// The server the user picked, when the client named no resource.
    #[serde(default)]
    resource: Option<String>,
}

/// `POST /oauth/authorize/decision`: the user's Approve / Deny.
///
/// The request id is single-use, bound to the signed-in user and only ever
/// rendered into that user's consent page, so it doubles as the CSRF token;
/// a cross-origin `Origin` is refused as well.
pub(crate) async fn decision(
    State(state): State<AuthServerState>,
    CurrentUser(user): CurrentUser,
    headers: HeaderMap,
    Form(form): Form<Decision>,
) -> Response {
    let server = state.server.clone();
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        let own = url::Url::parse(&server.settings.issuer).map(|u| u.origin().ascii_serialization());
        // `null` comes from privacy-preserving contexts; the request id still guards those.
        if origin != "null" && own.as_deref() != Ok(origin) {
            return pages::error(StatusCode::FORBIDDEN, "cross-origin consent decisions are refused");
        }
    }
    let Some(user) = user else {
        return pages::error(
            StatusCode::UNAUTHORIZED,
            "your session has expired; start the authorization again",
        );
    };
    let pending = match server.store.take_as_pending(&secrets::digest(&form.request_id), &user.user_id).await
    {
        Ok(Some(p)) => p,
        Ok(None) => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "this authorization request has expired or was already answered",
            )
        }
        Err(e) => return pages::error(StatusCode::INTERNAL_SERVER_ERROR, &OAuthError::from(e).description),
    };
    let back = |error: OAuthError| Reject::Redirect {
        redirect_uri: pending.redirect_uri.clone(),
        state: pending.state.clone(),
        error,
    };
    if form.decision != "approve" {
        tracing::info!(client_id = %pending.client_id, user_id = %user.user_id, "user denied authorization");
        return server.reject_response(back(OAuthError::new("access_denied", "the user denied the request")));
    }
    let result = async {
        // A resource the client named wins; only a resource-less request takes the user's pick.
        let resource = match (&pending.resource, form.resource.as_deref().filter(|r| !r.is_empty())) {
            (Some(named), _) => named.clone(),
            (None, Some(picked)) => canonical(picked).to_owned(),
            (None, None) => return Err(OAuthError::new("invalid_target", "no MCP server was chosen")),
        };
        server.authorize_resource(&resource, &pending.subject).await?;
        server
            .store
            .remember_as_consent(&user.user_id, &pending.client_id, &resource, &pending.scope)
            .await?;
        server.issue_code(&pending, &resource).await
    }
    .await;
    match result {
        Ok(response) => response,
        Err(error) => server.reject_response(back(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_defaults_sorts_and_refuses_unknown() {
        assert_eq!(normalize_scope(None, SCOPES_SUPPORTED).unwrap(), "mcp");
        assert_eq!(
            normalize_scope(Some("offline_access mcp mcp"), SCOPES_SUPPORTED).unwrap(),
            "mcp offline_access"
        );
        assert_eq!(normalize_scope(Some("admin"), SCOPES_SUPPORTED).unwrap_err().code, "invalid_scope");
    }

    #[test]
    fn repeated_parameters_are_refused() {
        assert!(single_params("a=1&b=2").is_ok());
        assert!(single_params("a=1&a=2").is_err());
    }
}
