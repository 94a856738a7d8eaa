//! Calls to an upstream token endpoint (RFC 6749 §3.2) and revocation endpoint
//! (RFC 7009), with `none`, `client_secret_basic` or `client_secret_post`
//! client authentication.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::{header, Method};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::ssrf::GuardedClient;
use super::OAuthError;

/// How Gatehouse authenticates as a client at one authorization server.
#[derive(Clone)]
pub struct ClientAuth {
    /// Client id.
    pub client_id: String,
    /// Client secret (confidential clients).
    pub client_secret: Option<SecretString>,
    /// `none` | `client_secret_basic` | `client_secret_post`.
    pub method: String,
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAuth")
            .field("client_id", &self.client_id)
            .field("method", &self.method)
            .finish()
    }
}

/// A successful token response.
pub struct TokenResponse {
    /// Access token.
    pub access_token: SecretString,
    /// Refresh token, if issued.
    pub refresh_token: Option<SecretString>,
    /// Lifetime in seconds, if given.
    pub expires_in: Option<i64>,
    /// Granted scopes, if given.
    pub scope: Option<String>,
    /// The upstream account, as far as the response names it (an OpenID `id_token`'s
    /// e-mail, username, name or subject, read unverified): only ever shown to the
    /// person who just signed in there.
    pub account: Option<String>,
}

#[derive(Deserialize)]
struct RawToken {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
}

/// The account an `id_token` names, read without verification (for display only).
fn id_token_account(id_token: &str) -> Option<String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = id_token.split('.').nth(1)?;
    let claims: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?).ok()?;
    ["email", "preferred_username", "name", "sub"]
        .iter()
        .find_map(|claim| claims.get(*claim)?.as_str().filter(|v| !v.is_empty()))
        .map(|v| v.chars().take(256).collect())
}

#[derive(Deserialize)]
struct RawError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// Form-encodes pairs (application/x-www-form-urlencoded).
fn form(pairs: &[(&str, &str)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

/// Adds client authentication to a form request.
fn authenticate(
    request: reqwest::RequestBuilder,
    params: &mut Vec<(&'static str, String)>,
    auth: &ClientAuth,
) -> reqwest::RequestBuilder {
    let secret = auth.client_secret.as_ref().map(|s| s.expose_secret().to_owned());
    match (auth.method.as_str(), secret) {
        ("client_secret_basic", Some(secret)) => {
            // RFC 6749 §2.3.1: both parts are form-encoded before base64.
            let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let credentials = STANDARD.encode(format!("{}:{}", enc(&auth.client_id), enc(&secret)));
            request.header(header::AUTHORIZATION, format!("Basic {credentials}"))
        }
        ("client_secret_post", Some(secret)) => {
            params.push(("client_id", auth.client_id.clone()));
            params.push(("client_secret", secret));
            request
        }
        _ => {
            params.push(("client_id", auth.client_id.clone()));
            request
        }
    }
}

/// Posts a token request (`grant_type` and its parameters) and parses the answer.
pub async fn token_request(
    http: &GuardedClient,
    endpoint: &Url,
    auth: &ClientAuth,
    mut params: Vec<(&'static str, String)>,
) -> Result<TokenResponse, OAuthError> {
    let request = authenticate(http.request(Method::POST, endpoint)?, &mut params, auth);
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = request
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .body(form(&pairs))
        .send()
        .await
        .map_err(OAuthError::transport)?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(OAuthError::transport)?;
    if !status.is_success() {
        return Err(match serde_json::from_slice::<RawError>(&bytes) {
            Ok(e) => OAuthError::TokenEndpoint { error: e.error, description: e.error_description },
            Err(_) => {
                OAuthError::TokenEndpoint { error: format!("http_{}", status.as_u16()), description: None }
            }
        });
    }
    let raw: RawToken = serde_json::from_slice(&bytes).map_err(|_| OAuthError::TokenEndpoint {
        error: "malformed_token_response".into(),
        description: None,
    })?;
    let expires_in = match raw.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    Ok(TokenResponse {
        access_token: SecretString::from(raw.access_token),
        refresh_token: raw.refresh_token.map(SecretString::from),
        expires_in,
        scope: raw.scope,
        account: raw.id_token.as_deref().and_then(id_token_account),
    })
}

/// Revokes a token (RFC 7009); failures are the caller's to log.
pub async fn revoke(
    http: &GuardedClient,
    endpoint: &Url,
    auth: &ClientAuth,
    token: &SecretString,
    hint: &'static str,
) -> Result<(), OAuthError> {
    let mut params = vec![("token", token.expose_secret().to_owned()), ("token_type_hint", hint.to_owned())];
    let request = authenticate(http.request(Method::POST, endpoint)?, &mut params, auth);
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = request
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&pairs))
        .send()
        .await
        .map_err(OAuthError::transport)?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(OAuthError::TokenEndpoint {
            error: format!("http_{}", response.status().as_u16()),
            description: None,
        })
    }
}
