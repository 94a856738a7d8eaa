//! Client registration at an upstream authorization server, in the MCP spec's
//! order: a pre-registered client from `oauth_metadata`; a Client ID Metadata
//! Document (Gatehouse's URL is its client id) when the AS supports it; else
//! Dynamic Client Registration (RFC 7591). Registrations are cached per AS.

use reqwest::{header, Method};
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::discovery::AuthServerMetadata;
use super::overrides::OAuthOverrides;
use super::token_client::ClientAuth;
use super::{OAuthError, UpstreamOAuth};
use crate::store::oauth_clients::{preset_key, registration_key, OAuthClientRecord};

/// Display name Gatehouse registers under.
pub const CLIENT_NAME: &str = "Gatehouse";

#[derive(Deserialize)]
struct RegistrationResponse {
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
}

/// Gatehouse's client metadata document, served at its client-id URL.
pub fn client_metadata_document(client_id: &str, redirect_uri: &str) -> serde_json::Value {
    serde_json::json!({
        "client_id": client_id,
        "client_name": CLIENT_NAME,
        "application_type": "web",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
}

/// The client Gatehouse uses at `metadata.issuer` for a server with `overrides`
/// and flow `auth_type` (`oauth2` | `client_credentials`).
pub async fn client_for(
    ctx: &UpstreamOAuth,
    server_id: &str,
    auth_type: &str,
    metadata: &AuthServerMetadata,
    overrides: &OAuthOverrides,
) -> Result<ClientAuth, OAuthError> {
    if let Some(client_id) = &overrides.client_id {
        let preset = ctx.store().oauth_client(&preset_key(server_id)).await?;
        let client_secret = preset.and_then(|p| p.client_secret);
        let method = overrides.token_endpoint_auth_method.clone().unwrap_or_else(|| {
            if client_secret.is_some() { "client_secret_basic" } else { "none" }.to_owned()
        });
        return Ok(ClientAuth { client_id: client_id.clone(), client_secret, method });
    }
    if auth_type == "oauth2" && metadata.client_id_metadata_document_supported {
        return Ok(ClientAuth {
            client_id: ctx.client_metadata_url(),
            client_secret: None,
            method: "none".into(),
        });
    }
    let key = registration_key(&metadata.issuer, auth_type);
    if let Some(cached) = ctx.store().oauth_client(&key).await? {
        return Ok(ClientAuth {
            client_id: cached.client_id,
            client_secret: cached.client_secret,
            method: cached.auth_method,
        });
    }
    let endpoint =
        overrides.registration_endpoint.as_deref().or(metadata.registration_endpoint.as_deref()).ok_or_else(
            || {
                OAuthError::Registration(
            "the authorization server supports neither client metadata documents nor dynamic registration; \
                 set advanced_config.oauth_metadata.client_id"
                .into(),
        )
            },
        )?;
    let endpoint =
        Url::parse(endpoint).map_err(|_| OAuthError::Registration("bad registration_endpoint".into()))?;
    let auth = register(ctx, &endpoint, auth_type, metadata).await?;
    ctx.store()
        .put_oauth_client(&OAuthClientRecord {
            key,
            issuer: metadata.issuer.clone(),
            client_id: auth.client_id.clone(),
            auth_method: auth.method.clone(),
            metadata: serde_json::json!({}),
            client_secret: auth.client_secret.clone(),
        })
        .await?;
    tracing::info!(issuer = %metadata.issuer, flow = auth_type, "registered upstream oauth client");
    Ok(auth)
}

/// Dynamic Client Registration (RFC 7591).
async fn register(
    ctx: &UpstreamOAuth,
    endpoint: &Url,
    auth_type: &str,
    metadata: &AuthServerMetadata,
) -> Result<ClientAuth, OAuthError> {
    let supported = metadata
        .token_endpoint_auth_methods_supported
        .clone()
        .unwrap_or_else(|| vec!["client_secret_basic".into()]);
    let method = ["client_secret_basic", "client_secret_post", "none"]
        .into_iter()
        .find(|m| supported.iter().any(|s| s == m) && (auth_type == "oauth2" || *m != "none"))
        .ok_or_else(|| OAuthError::Registration("no supported token_endpoint_auth_method".into()))?;
    let body = if auth_type == "client_credentials" {
        serde_json::json!({
            "client_name": CLIENT_NAME,
            "application_type": "web",
            "grant_types": ["client_credentials"],
            "response_types": [],
            "redirect_uris": [],
            "token_endpoint_auth_method": method,
        })
    } else {
        serde_json::json!({
            "client_name": CLIENT_NAME,
            // SEP-837: Gatehouse is a server-side web application.
            "application_type": "web",
            "redirect_uris": [ctx.callback_url()],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": method,
        })
    };
    let response = ctx
        .http()
        .request(Method::POST, endpoint)?
        .header(header::ACCEPT, "application/json")
        .json(&body)
        .send()
        .await
        .map_err(OAuthError::transport)?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(OAuthError::transport)?;
    if !status.is_success() {
        let detail = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| format!("http {}", status.as_u16()));
        return Err(OAuthError::Registration(format!("dynamic client registration failed: {detail}")));
    }
    let registered: RegistrationResponse = serde_json::from_slice(&bytes)
        .map_err(|_| OAuthError::Registration("malformed registration response".into()))?;
    let method = registered.token_endpoint_auth_method.unwrap_or_else(|| method.to_owned());
    Ok(ClientAuth {
        client_id: registered.client_id,
        client_secret: registered.client_secret.map(SecretString::from),
        method,
    })
}
