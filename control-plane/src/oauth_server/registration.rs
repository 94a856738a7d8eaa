//! `POST /oauth/register`: Dynamic Client Registration (RFC 7591).
//!
//! Public clients (`none`) and confidential ones (`client_secret_basic` /
//! `client_secret_post`; the secret is returned once and stored as a
//! SHA-256 digest). Registrations carry no privilege but are rows in the
//! database, so each client address gets a token bucket
//! ([`super::registration_limit`]): 429 `temporarily_unavailable` with
//! `Retry-After` once it is empty, before the body is even read.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use super::clients::validate_redirect_uri;
use super::{secrets, AuthServerState, OAuthError};
use crate::client_ip::{client_ip, limit_key};
use crate::store::{AsClient, AsClientKind};

const MAX_REDIRECT_URIS: usize = 20;
const MAX_NAME: usize = 200;

#[derive(Debug, Deserialize)]
struct Registration {
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    logo_uri: Option<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    response_types: Option<Vec<String>>,
}

fn invalid_metadata(description: impl Into<String>) -> OAuthError {
    OAuthError::new("invalid_client_metadata", description)
}

/// Registers a client.
pub(crate) async fn register(
    State(state): State<AuthServerState>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let server = &state.server;
    // Without connection info (a router served without it) every caller shares one bucket.
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(addr)| addr.ip());
    let client = client_ip(peer, &headers, server.settings.trusted_proxy_hops);
    if let Err(wait) = server.registration_limit.check(limit_key(client), std::time::Instant::now()) {
        tracing::warn!(client_ip = %client, retry_after_secs = wait.as_secs(), "client registration rate limited");
        return Err(OAuthError::rate_limited(
            wait,
            "too many client registrations from this address; retry later",
        ));
    }
    let reg: Registration = serde_json::from_slice(&body)
        .map_err(|e| invalid_metadata(format!("body is not valid client metadata: {e}")))?;
    if reg.redirect_uris.is_empty() {
        return Err(OAuthError::new("invalid_redirect_uri", "redirect_uris is required"));
    }
    if reg.redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(OAuthError::new(
            "invalid_redirect_uri",
            format!("at most {MAX_REDIRECT_URIS} redirect_uris"),
        ));
    }
    for uri in &reg.redirect_uris {
        validate_redirect_uri(uri).map_err(|m| OAuthError::new("invalid_redirect_uri", m))?;
    }
    let method = reg.token_endpoint_auth_method.as_deref().unwrap_or("client_secret_basic");
    if !matches!(method, "none" | "client_secret_basic" | "client_secret_post") {
        return Err(invalid_metadata(format!("token_endpoint_auth_method {method:?} is not supported")));
    }
    let grant_types = reg.grant_types.unwrap_or_else(|| vec!["authorization_code".to_owned()]);
    if grant_types.is_empty()
        || grant_types.iter().any(|g| !matches!(g.as_str(), "authorization_code" | "refresh_token"))
    {
        return Err(invalid_metadata("grant_types may contain only authorization_code and refresh_token"));
    }
    if !grant_types.iter().any(|g| g == "authorization_code") {
        return Err(invalid_metadata("grant_types must include authorization_code"));
    }
    if reg.response_types.as_ref().is_some_and(|r| r.iter().any(|t| t != "code")) {
        return Err(invalid_metadata("response_types may contain only code"));
    }
    if let Some(logo) = &reg.logo_uri {
        let ok = url::Url::parse(logo).is_ok_and(|u| u.scheme() == "https");
        if !ok {
            return Err(invalid_metadata("logo_uri must be an https URL"));
        }
    }
    let name = reg.client_name.unwrap_or_default().trim().chars().take(MAX_NAME).collect::<String>();
    let mut grants = grant_types.clone();
    // Gatehouse always issues refresh tokens with authorization codes.
    if !grants.iter().any(|g| g == "refresh_token") {
        grants.push("refresh_token".to_owned());
    }

    let secret = (method != "none").then(|| secrets::generate("ghcs_"));
    let client = AsClient {
        client_id: format!("ghc_{}", uuid::Uuid::new_v4().simple()),
        kind: AsClientKind::Dynamic,
        name: if name.is_empty() { "Unnamed client".to_owned() } else { name },
        redirect_uris: reg.redirect_uris,
        grant_types: grants,
        auth_method: method.to_owned(),
        secret_hash: secret.as_ref().map(|s| secrets::digest(s.expose_secret())),
        logo_uri: reg.logo_uri,
        scopes: Vec::new(),
        org_id: None,
        workspace_id: None,
        created_at: chrono::Utc::now(),
    };
    state.server.store.insert_as_client(&client).await?;
    tracing::info!(client_id = %client.client_id, auth_method = method, "registered oauth client");

    let mut body = json!({
        "client_id": client.client_id,
        "client_id_issued_at": client.created_at.timestamp(),
        "client_name": client.name,
        "redirect_uris": client.redirect_uris,
        "grant_types": client.grant_types,
        "response_types": ["code"],
        "token_endpoint_auth_method": method,
    });
    if let Some(logo) = &client.logo_uri {
        body["logo_uri"] = json!(logo);
    }
    if let Some(secret) = &secret {
        body["client_secret"] = json!(secret.expose_secret());
        body["client_secret_expires_at"] = json!(0);
    }
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
