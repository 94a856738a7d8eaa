//! Requests to an upstream authorization server's token endpoint
//! (`refresh_token` and `client_credentials` grants, RFC 6749 §6 and §4.4).
//!
//! Tokens and secrets never appear in errors or logs; the AS's `error` code does.

use std::time::Duration;

use base64::Engine as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use gatehouse_config::address_filter::AddressPolicy;

use crate::egress::Egress;
use crate::upstream_oauth_client::{ClientAuthMethod, UpstreamOAuthClient};

/// Whole-request timeout for token endpoint calls.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest token response read.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Tokens the authorization server issued.
#[derive(Debug)]
pub struct IssuedTokens {
    /// The new access token.
    pub access_token: SecretString,
    /// Lifetime in seconds, when the AS said.
    pub expires_in: Option<u64>,
    /// A rotated refresh token, when the AS sent one.
    pub refresh_token: Option<SecretString>,
    /// Granted scopes, when the AS said.
    pub scope: Option<String>,
}

/// Why the token endpoint gave no token.
#[derive(Debug, thiserror::Error)]
pub enum TokenEndpointError {
    /// `invalid_grant`: the refresh token is revoked, expired or already used.
    #[error("the authorization server answered invalid_grant")]
    InvalidGrant,
    /// Another OAuth error (e.g. `invalid_client`, `unauthorized_client`).
    #[error("the authorization server answered {0}")]
    Refused(String),
    /// A non-OAuth failure status (5xx, unexpected 4xx).
    #[error("the token endpoint answered http {0}")]
    Status(u16),
    /// Connect, TLS or read failure, or a timeout.
    #[error("cannot reach the token endpoint")]
    Transport,
    /// A 200 without a usable token.
    #[error("the token endpoint sent an invalid response")]
    InvalidResponse,
    /// The server has no usable token endpoint.
    #[error("no token endpoint configured")]
    NotConfigured,
}

#[derive(Deserialize)]
struct Success {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

#[derive(Deserialize)]
struct Failure {
    error: String,
}

/// An HTTP client for token endpoints: no redirects, bounded time, only the addresses
/// `policy` allows.
pub fn http_client(policy: AddressPolicy) -> Result<Egress, reqwest::Error> {
    Egress::new(policy, |b| b.redirect(reqwest::redirect::Policy::none()).timeout(TOKEN_TIMEOUT))
}

/// Exchanges a refresh token (with `resource`, RFC 8707).
pub async fn refresh(
    http: &Egress,
    client: &UpstreamOAuthClient,
    refresh_token: &SecretString,
) -> Result<IssuedTokens, TokenEndpointError> {
    let params = [("grant_type", "refresh_token"), ("refresh_token", refresh_token.expose_secret())];
    request(http, client, &params).await
}

/// Obtains a shared token with the client credentials grant.
pub async fn client_credentials(
    http: &Egress,
    client: &UpstreamOAuthClient,
) -> Result<IssuedTokens, TokenEndpointError> {
    let scope = client.scopes.join(" ");
    let mut params = vec![("grant_type", "client_credentials")];
    if !scope.is_empty() {
        params.push(("scope", scope.as_str()));
    }
    request(http, client, &params).await
}

async fn request(
    http: &Egress,
    client: &UpstreamOAuthClient,
    params: &[(&str, &str)],
) -> Result<IssuedTokens, TokenEndpointError> {
    let endpoint = client.token_endpoint.clone().ok_or(TokenEndpointError::NotConfigured)?;
    let mut request = http
        .request(reqwest::Method::POST, endpoint)
        .map_err(|blocked| {
            tracing::warn!(issuer = %client.issuer, %blocked, "token endpoint address is not allowed");
            TokenEndpointError::Transport
        })?
        .header(http::header::ACCEPT, "application/json");
    // Built in its own scope: the serializer is not `Send` and must not live across an await.
    let body = {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.extend_pairs(params);
        if !client.resource.is_empty() {
            form.append_pair("resource", &client.resource);
        }
        match (client.auth_method, &client.client_secret) {
            (ClientAuthMethod::ClientSecretBasic, Some(secret)) => {
                request = request
                    .header(http::header::AUTHORIZATION, basic_authorization(&client.client_id, secret));
            }
            (ClientAuthMethod::ClientSecretPost, Some(secret)) => {
                form.append_pair("client_id", &client.client_id);
                form.append_pair("client_secret", secret.expose_secret());
            }
            _ => {
                form.append_pair("client_id", &client.client_id);
            }
        }
        zeroize::Zeroizing::new(form.finish())
    };
    let response = request
        .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.as_bytes().to_vec())
        .send()
        .await
        .map_err(|e| {
            tracing::warn!(error = ?e.without_url(), issuer = %client.issuer, "token endpoint request failed");
            TokenEndpointError::Transport
        })?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|_| TokenEndpointError::Transport)?;
    if bytes.len() > MAX_RESPONSE_BYTES {
        return Err(TokenEndpointError::InvalidResponse);
    }
    if status.is_success() {
        let success: Success =
            serde_json::from_slice(&bytes).map_err(|_| TokenEndpointError::InvalidResponse)?;
        if success.access_token.is_empty()
            || success.token_type.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
        {
            return Err(TokenEndpointError::InvalidResponse);
        }
        return Ok(IssuedTokens {
            access_token: SecretString::from(success.access_token),
            expires_in: success.expires_in.as_ref().and_then(expires_in_secs),
            refresh_token: success.refresh_token.filter(|t| !t.is_empty()).map(SecretString::from),
            scope: success.scope,
        });
    }
    match serde_json::from_slice::<Failure>(&bytes) {
        Ok(failure) if failure.error == "invalid_grant" => Err(TokenEndpointError::InvalidGrant),
        // Only well-formed OAuth error codes are echoed (RFC 6749 §5.2: printable ASCII).
        Ok(failure) if status.is_client_error() && is_error_code(&failure.error) => {
            Err(TokenEndpointError::Refused(failure.error))
        }
        _ => Err(TokenEndpointError::Status(status.as_u16())),
    }
}

/// `expires_in` as a number or, from some servers, a numeric string.
fn expires_in_secs(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn is_error_code(code: &str) -> bool {
    !code.is_empty() && code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// RFC 6749 §2.3.1: id and secret are form-urlencoded before base64.
fn basic_authorization(client_id: &str, secret: &SecretString) -> http::HeaderValue {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = zeroize::Zeroizing::new(format!("{}:{}", encode(client_id), encode(secret.expose_secret())));
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair.as_bytes());
    let mut value = http::HeaderValue::from_str(&format!("Basic {encoded}"))
        .unwrap_or_else(|_| http::HeaderValue::from_static("Basic"));
    value.set_sensitive(true);
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_urlencodes_before_base64() {
        let value = basic_authorization("id:1", &SecretString::from("s p+&".to_owned()));
        let encoded = value.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
        assert_eq!(decoded, b"id%3A1:s+p%2B%26");
        assert!(value.is_sensitive());
    }

    #[test]
    fn expires_in_accepts_numbers_and_numeric_strings() {
        assert_eq!(expires_in_secs(&serde_json::json!(3600)), Some(3600));
        assert_eq!(expires_in_secs(&serde_json::json!("60")), Some(60));
        assert_eq!(expires_in_secs(&serde_json::json!(-1)), None);
    }
}
