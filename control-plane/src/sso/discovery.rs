//! OpenID provider discovery (metadata + JWKS), cached per issuer with a TTL,
//! and the HTTP client openidconnect uses (reqwest, no redirects, bounded bodies).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType,
    CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AsyncHttpClient, HttpRequest, HttpResponse, IssuerUrl, ProviderMetadata,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::SsoError;

/// Largest discovery, JWKS or token response accepted.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Metadata fields openidconnect's core type leaves out.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct ExtraMetadata {
    /// RFC 9207: the provider sends `iss` with every authorization response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_response_iss_parameter_supported: Option<bool>,
}

impl AdditionalProviderMetadata for ExtraMetadata {}

/// Provider metadata with the RFC 9207 flag.
pub(super) type Metadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// Discovered metadata per issuer.
pub(super) struct DiscoveryCache {
    ttl: Duration,
    http: HttpClient,
    entries: Mutex<HashMap<String, (Instant, Metadata)>>,
}

impl DiscoveryCache {
    pub(super) fn new(ttl: Duration) -> anyhow::Result<Self> {
        Ok(Self { ttl, http: HttpClient::new()?, entries: Mutex::new(HashMap::new()) })
    }

    /// The HTTP client for token requests.
    pub(super) fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The issuer's metadata and keys, from the cache when fresh.
    pub(super) async fn metadata(&self, issuer: &str) -> Result<Metadata, SsoError> {
        if let Some((at, metadata)) = self.entries.lock().await.get(issuer) {
            if at.elapsed() < self.ttl {
                return Ok(metadata.clone());
            }
        }
        let issuer_url = IssuerUrl::new(issuer.to_owned())
            .map_err(|_| SsoError::Discovery("invalid issuer url".into()))?;
        let metadata = Metadata::discover_async(issuer_url, &self.http).await.map_err(|e| {
            tracing::warn!(issuer, error = %e, "oidc discovery failed");
            SsoError::Discovery(e.to_string())
        })?;
        self.entries.lock().await.insert(issuer.to_owned(), (Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    /// Forgets an issuer, e.g. after its keys failed to verify a token (they may have rotated).
    pub(super) async fn forget(&self, issuer: &str) {
        self.entries.lock().await.remove(issuer);
    }
}

/// reqwest behind openidconnect's client trait.
pub(super) struct HttpClient(reqwest::Client);

/// An HTTP failure talking to a provider.
#[derive(Debug, thiserror::Error)]
pub(super) enum HttpError {
    #[error("request failed: {0}")]
    Request(#[from] reqwest::Error),
    #[error("response larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
    #[error("building the response: {0}")]
    Http(#[from] axum::http::Error),
}

impl HttpClient {
    fn new() -> anyhow::Result<Self> {
        // No redirects: a provider endpoint that redirects is misconfigured, and following
        // them would let a hostile issuer steer requests elsewhere.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        Ok(Self(client))
    }

    async fn execute(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let mut response = self.0.execute(request).await?;
        let mut builder = axum::http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(HttpError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(builder.body(body)?)
    }
}

impl<'c> AsyncHttpClient<'c> for HttpClient {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.execute(request))
    }
}
