//! Client ID Metadata Documents: a `client_id` that is an https URL names a
//! JSON document describing the client. Fetched SSRF-guarded (public
//! addresses only, no redirects), size- and time-limited, and cached per
//! its `Cache-Control: max-age`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use futures::StreamExt;
use gatehouse_config::address_filter::AddressPolicy;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::clients::{is_loopback_host, validate_redirect_uri};

const MAX_BYTES: usize = 64 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MIN_TTL: Duration = Duration::from_secs(60);
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_TTL: Duration = Duration::from_secs(300);
const MAX_ENTRIES: usize = 1024;

/// The parts of a client metadata document Gatehouse uses.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct MetadataDocument {
    pub client_id: String,
    #[serde(default)]
    pub client_name: Option<String>,
    #[serde(default)]
    pub logo_uri: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
}

/// Why a metadata document was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CimdError {
    #[error("client_id is not an allowed metadata URL")]
    NotAllowed,
    #[error("host resolves to a non-public address")]
    Forbidden,
    #[error("fetch failed: {0}")]
    Fetch(String),
    #[error("document is larger than {MAX_BYTES} bytes")]
    TooLarge,
    #[error("invalid document: {0}")]
    Invalid(String),
}

/// Fetched documents by URL.
pub(crate) struct MetadataCache {
    allow_loopback: bool,
    entries: Mutex<HashMap<String, (MetadataDocument, Instant)>>,
}

impl MetadataCache {
    /// A cache; `allow_loopback` admits `http://127.0.0.1` documents (dev and tests).
    pub fn new(allow_loopback: bool) -> Self {
        Self { allow_loopback, entries: Mutex::new(HashMap::new()) }
    }

    /// Whether `client_id` has the shape of a metadata URL (https with a path, no fragment or credentials).
    pub fn is_metadata_url(&self, client_id: &str) -> bool {
        let Ok(url) = url::Url::parse(client_id) else { return false };
        let scheme_ok = match url.scheme() {
            "https" => true,
            "http" => self.allow_loopback && is_loopback_host(url.host_str()),
            _ => false,
        };
        scheme_ok
            && url.host_str().is_some()
            && url.path() != "/"
            && url.fragment().is_none()
            && url.username().is_empty()
            && url.password().is_none()
    }

    /// The document at `url`, from the cache or fetched.
    pub async fn fetch(&self, url: &str) -> Result<MetadataDocument, CimdError> {
        if !self.is_metadata_url(url) {
            return Err(CimdError::NotAllowed);
        }
        if let Some((doc, until)) = self.entries.lock().await.get(url) {
            if *until > Instant::now() {
                return Ok(doc.clone());
            }
        }
        let (doc, ttl) = self.fetch_uncached(url).await?;
        let mut entries = self.entries.lock().await;
        if entries.len() >= MAX_ENTRIES {
            let now = Instant::now();
            entries.retain(|_, (_, until)| *until > now);
        }
        if entries.len() < MAX_ENTRIES {
            entries.insert(url.to_owned(), (doc.clone(), Instant::now() + ttl));
        }
        Ok(doc)
    }

    async fn fetch_uncached(&self, url: &str) -> Result<(MetadataDocument, Duration), CimdError> {
        let parsed = url::Url::parse(url).map_err(|_| CimdError::NotAllowed)?;
        let host = parsed.host_str().ok_or(CimdError::NotAllowed)?.to_owned();
        let port = parsed.port_or_known_default().ok_or(CimdError::NotAllowed)?;
        // Resolve once, check every address, then pin the connection to the checked one
        // so a DNS answer cannot change between the check and the connect.
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|e| CimdError::Fetch(e.to_string()))?
            .collect();
        let addr = *addrs.first().ok_or_else(|| CimdError::Fetch("no address".into()))?;
        if addrs.iter().any(|a| !self.address_allowed(a.ip())) {
            return Err(CimdError::Forbidden);
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .resolve(&host, addr)
            .build()
            .map_err(|e| CimdError::Fetch(e.to_string()))?;
        let response = client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| CimdError::Fetch(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(CimdError::Fetch(format!("status {}", response.status())));
        }
        let ttl = cache_ttl(response.headers().get(reqwest::header::CACHE_CONTROL));
        if response.content_length().is_some_and(|n| n > MAX_BYTES as u64) {
            return Err(CimdError::TooLarge);
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| CimdError::Fetch(e.without_url().to_string()))?;
            if body.len() + chunk.len() > MAX_BYTES {
                return Err(CimdError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let doc: MetadataDocument =
            serde_json::from_slice(&body).map_err(|e| CimdError::Invalid(e.to_string()))?;
        validate(&doc, url)?;
        Ok((doc, ttl))
    }

    fn address_allowed(&self, ip: IpAddr) -> bool {
        AddressPolicy::new(self.allow_loopback).check(None, ip).is_ok()
    }
}

fn validate(doc: &MetadataDocument, url: &str) -> Result<(), CimdError> {
    if doc.client_id != url {
        return Err(CimdError::Invalid("client_id in the document differs from its URL".into()));
    }
    if doc.redirect_uris.is_empty() {
        return Err(CimdError::Invalid("redirect_uris is required".into()));
    }
    for uri in &doc.redirect_uris {
        validate_redirect_uri(uri).map_err(CimdError::Invalid)?;
    }
    match doc.token_endpoint_auth_method.as_deref() {
        None | Some("none") => Ok(()),
        Some(other) => {
            Err(CimdError::Invalid(format!("token_endpoint_auth_method {other:?} is not supported")))
        }
    }
}

/// How long to cache a response: its `max-age`, clamped; `no-store`/`no-cache` get the minimum.
fn cache_ttl(value: Option<&reqwest::header::HeaderValue>) -> Duration {
    let Some(text) = value.and_then(|v| v.to_str().ok()) else { return DEFAULT_TTL };
    let mut ttl = DEFAULT_TTL;
    for directive in text.split(',').map(str::trim) {
        if directive.eq_ignore_ascii_case("no-store") || directive.eq_ignore_ascii_case("no-cache") {
            return MIN_TTL;
        }
        if let Some(secs) = directive.strip_prefix("max-age=").and_then(|s| s.parse::<u64>().ok()) {
            ttl = Duration::from_secs(secs);
        }
    }
    ttl.clamp(MIN_TTL, MAX_TTL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_fetches_refuse_exactly_what_upstream_discovery_refuses() {
        use crate::upstream_oauth::ssrf::SsrfPolicy;
        // Addresses the two guards once judged differently, and the usual suspects.
        for ip in [
            "0.1.2.3",
            "192.0.0.8",
            "198.18.0.1",
            "240.0.0.1",
            "64:ff9b::a00:1",
            "::ffff:8.8.8.8",
            "::ffff:10.0.0.1",
            "169.254.169.254",
            "100.100.100.200",
            "fd00:ec2::254",
            "127.0.0.1",
            "8.8.8.8",
            "2606:4700::1111",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            for loopback in [false, true] {
                assert_eq!(
                    MetadataCache::new(loopback).address_allowed(ip),
                    SsrfPolicy { allow_loopback: loopback }.check(ip).is_ok(),
                    "{ip} (loopback allowed: {loopback})"
                );
            }
        }
    }

    #[test]
    fn metadata_url_shape() {
        let strict = MetadataCache::new(false);
        assert!(strict.is_metadata_url("https://app.example.com/oauth/client.json"));
        assert!(!strict.is_metadata_url("https://app.example.com/"));
        assert!(!strict.is_metadata_url("http://127.0.0.1:9/client.json"));
        assert!(!strict.is_metadata_url("https://u:p@app.example.com/c.json"));
        assert!(!strict.is_metadata_url("dcr_abc"));
        assert!(MetadataCache::new(true).is_metadata_url("http://127.0.0.1:9/client.json"));
    }

    #[test]
    fn private_addresses_are_refused() {
        let strict = MetadataCache::new(false);
        for ip in ["127.0.0.1", "10.0.0.1", "192.168.1.1", "169.254.169.254", "::1", "fd00::1", "100.64.0.1"]
        {
            assert!(!strict.address_allowed(ip.parse().unwrap()), "{ip}");
        }
        assert!(strict.address_allowed("93.184.216.34".parse().unwrap()));
    }

    #[test]
    fn ttl_follows_max_age_within_bounds() {
        let h = |s: &'static str| reqwest::header::HeaderValue::from_static(s);
        assert_eq!(cache_ttl(None), DEFAULT_TTL);
        assert_eq!(cache_ttl(Some(&h("public, max-age=600"))), Duration::from_secs(600));
        assert_eq!(cache_ttl(Some(&h("max-age=1"))), MIN_TTL);
        assert_eq!(cache_ttl(Some(&h("max-age=99999999"))), MAX_TTL);
        assert_eq!(cache_ttl(Some(&h("no-store"))), MIN_TTL);
    }
}
