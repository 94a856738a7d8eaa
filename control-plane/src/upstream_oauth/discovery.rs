//! Discovery of an upstream MCP server's authorization server, in the MCP
//! authorization spec's order: protected resource metadata (RFC 9728) from the
//! 401 `WWW-Authenticate` challenge, else the path-inserted then root
//! well-known URL; authorization server metadata (RFC 8414, then OpenID
//! discovery, with path variants); and, for servers without resource metadata,
//! the 2025-03-26 fallback of an AS at the server's origin with default paths.
//!
//! Two identities are checked before anything is used: the metadata's
//! `resource` must be the server URL or a parent of it (RFC 9728 §3.3; it is
//! then sent verbatim as the RFC 8707 `resource`), and the AS metadata's
//! `issuer` must be identical to the issuer it was discovered from (RFC 8414 §3.3).

use reqwest::{header, Method, StatusCode};
use serde::{Deserialize, Serialize};
use url::Url;

use super::ssrf::GuardedClient;
use super::OAuthError;

/// Largest metadata document accepted.
const MAX_METADATA_BYTES: usize = 256 * 1024;

/// RFC 9728 protected resource metadata (the fields Gatehouse uses).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResourceMetadata {
    /// The resource identifier.
    #[serde(default)]
    pub resource: Option<String>,
    /// Issuer URLs of the authorization servers.
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    /// Scopes the resource understands.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
}

/// RFC 8414 / OpenID authorization server metadata (the fields Gatehouse uses).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthServerMetadata {
    /// Issuer.
    #[serde(default)]
    pub issuer: String,
    /// Authorization endpoint.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// Token endpoint.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// Dynamic client registration endpoint.
    #[serde(default)]
    pub registration_endpoint: Option<String>,
    /// Token revocation endpoint.
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    /// Scopes the AS supports.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// PKCE methods; Gatehouse requires `S256`.
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    /// Client authentication methods at the token endpoint.
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// Whether URL-formatted client ids (metadata documents) are accepted.
    #[serde(default)]
    pub client_id_metadata_document_supported: bool,
    /// RFC 9207: the AS sends `iss` on authorization responses.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

/// The parameters of a `WWW-Authenticate: Bearer …` challenge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenge {
    /// `resource_metadata` URL.
    pub resource_metadata: Option<String>,
    /// `scope`, space-separated.
    pub scope: Option<String>,
    /// `error`, e.g. `insufficient_scope`.
    pub error: Option<String>,
}

/// What discovery found about one upstream server.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// Authorization server metadata.
    pub metadata: AuthServerMetadata,
    /// The resource identifier exactly as the protected resource metadata
    /// published it (`None` for 2025-03-26 servers without that metadata).
    pub resource: Option<String>,
    /// Scopes from the 401 challenge.
    pub challenge_scopes: Vec<String>,
    /// Scopes from the protected resource metadata.
    pub resource_scopes: Vec<String>,
}

/// Parses the first Bearer challenge of a `WWW-Authenticate` value.
pub fn parse_challenge(value: &str) -> Option<Challenge> {
    let trimmed = value.trim_start();
    let rest = trimmed.get(..6).filter(|s| s.eq_ignore_ascii_case("bearer")).map(|_| &trimmed[6..])?;
    let mut challenge = Challenge::default();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let name: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',' && !c.is_whitespace())).collect();
        if name.is_empty() {
            break;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next_if_eq(&'=').is_none() {
            // A new scheme starts: only the first Bearer challenge counts.
            break;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',' && !c.is_whitespace())).collect();
        }
        match name.to_ascii_lowercase().as_str() {
            "resource_metadata" => challenge.resource_metadata = Some(value),
            "scope" => challenge.scope = Some(value),
            "error" => challenge.error = Some(value),
            _ => {}
        }
    }
    Some(challenge)
}

/// The canonical resource URI of an MCP server (RFC 8707): no fragment and no
/// trailing slash on an empty path.
pub fn canonical_resource(server_url: &Url) -> String {
    let mut url = server_url.clone();
    url.set_fragment(None);
    let text = url.to_string();
    if url.path() == "/" && url.query().is_none() {
        text.trim_end_matches('/').to_owned()
    } else {
        text
    }
}

/// Whether protected resource metadata naming `resource` may be used for the
/// MCP server at `server_url`: same scheme, host and port, and a path that is
/// the server's path or a parent of it on a segment boundary. Anything else
/// (another host, a sibling path) is metadata for a different resource, which
/// RFC 9728 §3.3 forbids using.
pub fn resource_allowed(server_url: &Url, resource: &str) -> bool {
    let Ok(resource) = Url::parse(resource) else {
        return false;
    };
    if resource.fragment().is_some()
        || resource.scheme() != server_url.scheme()
        || resource.host() != server_url.host()
        || resource.port_or_known_default() != server_url.port_or_known_default()
    {
        return false;
    }
    let parent = resource.path().trim_end_matches('/');
    let path = server_url.path();
    path == parent || path.strip_prefix(parent).is_some_and(|rest| rest.starts_with('/'))
}

/// `{origin}/.well-known/{name}{path}` (path insertion), or the root variant when `path` is empty.
fn well_known(base: &Url, name: &str, path: &str) -> Option<Url> {
    let path = path.trim_end_matches('/');
    base.join(&format!("/.well-known/{name}{path}")).ok()
}

/// Runs discovery for the MCP server at `server_url`.
pub async fn discover(http: &GuardedClient, server_url: &Url) -> Result<Discovered, OAuthError> {
    let challenge = challenge(http, server_url).await?;
    let challenge_scopes = split_scopes(challenge.as_ref().and_then(|c| c.scope.as_deref()));

    let mut resource = None;
    if let Some(url) = challenge.as_ref().and_then(|c| c.resource_metadata.as_deref()) {
        let url =
            Url::parse(url).map_err(|_| OAuthError::Discovery("resource_metadata is not a URL".into()))?;
        resource = fetch_json::<ResourceMetadata>(http, &url).await?;
    }
    if resource.is_none() {
        let candidates = [
            well_known(server_url, "oauth-protected-resource", server_url.path()),
            well_known(server_url, "oauth-protected-resource", ""),
        ];
        for url in candidates.into_iter().flatten() {
            if let Some(found) = fetch_json::<ResourceMetadata>(http, &url).await? {
                resource = Some(found);
                break;
            }
        }
    }

    let (metadata, resource, resource_scopes) = match resource {
        Some(prm) => {
            let published = prm
                .resource
                .ok_or_else(|| OAuthError::Discovery("protected resource metadata has no resource".into()))?;
            if !resource_allowed(server_url, &published) {
                return Err(OAuthError::ResourceMismatch { published, server_url: server_url.to_string() });
            }
            let issuer = prm.authorization_servers.first().ok_or_else(|| {
                OAuthError::Discovery("protected resource metadata lists no authorization_servers".into())
            })?;
            let metadata = auth_server_metadata(http, issuer).await?.ok_or_else(|| {
                OAuthError::Discovery(format!("no authorization server metadata found for {issuer}"))
            })?;
            (metadata, Some(published), prm.scopes_supported)
        }
        None => (legacy_metadata(http, server_url).await?, None, Vec::new()),
    };
    Ok(Discovered { metadata, resource, challenge_scopes, resource_scopes })
}

/// The server's Bearer challenge: from an unauthenticated `initialize`, else
/// (servers may let `initialize` through and challenge only what follows, as
/// the MCP SDKs see it) from an unauthenticated `tools/list`.
async fn challenge(http: &GuardedClient, server_url: &Url) -> Result<Option<Challenge>, OAuthError> {
    if let Some(found) = probe(http, server_url, initialize_request()).await? {
        return Ok(Some(found));
    }
    let tools_list = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}});
    probe(http, server_url, tools_list).await
}

fn initialize_request() -> serde_json::Value {
    serde_json::json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "gatehouse-discovery", "version": env!("CARGO_PKG_VERSION")}}
    })
}

/// Sends an unauthenticated MCP request and returns the Bearer challenge of a 401.
async fn probe(
    http: &GuardedClient,
    server_url: &Url,
    body: serde_json::Value,
) -> Result<Option<Challenge>, OAuthError> {
    let response = http
        .request(Method::POST, server_url)?
        .header(header::ACCEPT, "application/json, text/event-stream")
        .json(&body)
        .send()
        .await
        .map_err(OAuthError::transport)?;
    if response.status() != StatusCode::UNAUTHORIZED {
        return Ok(None);
    }
    Ok(response
        .headers()
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(parse_challenge))
}

/// RFC 8414 then OpenID discovery for `issuer`, path-inserted variants first.
/// The metadata's `issuer` must be identical to `issuer` (RFC 8414 §3.3: no
/// normalisation, so a mix-up attacker's metadata can't pass as another AS's).
pub async fn auth_server_metadata(
    http: &GuardedClient,
    issuer_id: &str,
) -> Result<Option<AuthServerMetadata>, OAuthError> {
    let issuer = Url::parse(issuer_id)
        .map_err(|_| OAuthError::Discovery("authorization server is not a URL".into()))?;
    let issuer = &issuer;
    let path = issuer.path().trim_end_matches('/');
    let candidates: Vec<Option<Url>> = if path.is_empty() {
        vec![
            well_known(issuer, "oauth-authorization-server", ""),
            well_known(issuer, "openid-configuration", ""),
        ]
    } else {
        vec![
            well_known(issuer, "oauth-authorization-server", path),
            well_known(issuer, "openid-configuration", path),
            Url::parse(&format!(
                "{}/.well-known/openid-configuration",
                issuer.as_str().trim_end_matches('/')
            ))
            .ok(),
        ]
    };
    for url in candidates.into_iter().flatten() {
        if let Some(found) = fetch_json::<AuthServerMetadata>(http, &url).await? {
            if found.issuer != issuer_id {
                return Err(OAuthError::IssuerMetadataMismatch {
                    metadata_url: url.to_string(),
                    issuer: found.issuer,
                    expected: issuer_id.to_owned(),
                });
            }
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// The 2025-03-26 behaviour: the AS lives at the MCP server's origin; without
/// metadata, its endpoints are `/authorize`, `/token` and `/register`.
async fn legacy_metadata(http: &GuardedClient, server_url: &Url) -> Result<AuthServerMetadata, OAuthError> {
    let origin =
        server_url.join("/").map_err(|_| OAuthError::Discovery("server URL has no origin".into()))?;
    // The issuer identifier of an origin has no trailing slash.
    let issuer = origin.as_str().trim_end_matches('/').to_owned();
    if let Some(found) = auth_server_metadata(http, &issuer).await? {
        return Ok(found);
    }
    let endpoint = |p: &str| origin.join(p).ok().map(|u| u.to_string());
    Ok(AuthServerMetadata {
        issuer,
        authorization_endpoint: endpoint("/authorize"),
        token_endpoint: endpoint("/token"),
        registration_endpoint: endpoint("/register"),
        // 2025-03-26 made PKCE mandatory for these servers.
        code_challenge_methods_supported: vec!["S256".into()],
        ..AuthServerMetadata::default()
    })
}

/// GETs a JSON document; `None` on 404 or other client errors (try the next candidate).
async fn fetch_json<T: serde::de::DeserializeOwned>(
    http: &GuardedClient,
    url: &Url,
) -> Result<Option<T>, OAuthError> {
    let response = http
        .request(Method::GET, url)?
        .header(header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(OAuthError::transport)?;
    if !response.status().is_success() {
        tracing::debug!(%url, status = %response.status(), "metadata candidate not found");
        return Ok(None);
    }
    let bytes = response.bytes().await.map_err(OAuthError::transport)?;
    if bytes.len() > MAX_METADATA_BYTES {
        return Err(OAuthError::Discovery(format!("metadata at {url} is too large")));
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| OAuthError::Discovery(format!("metadata at {url} is not valid JSON: {e}")))
}

/// Splits a space-separated scope string.
pub fn split_scopes(scope: Option<&str>) -> Vec<String> {
    scope.map(|s| s.split_whitespace().map(str::to_owned).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges() {
        let c = parse_challenge(
            r#"Bearer error="insufficient_scope", scope="files:read files:write", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#,
        )
        .unwrap();
        assert_eq!(c.error.as_deref(), Some("insufficient_scope"));
        assert_eq!(c.scope.as_deref(), Some("files:read files:write"));
        assert_eq!(
            c.resource_metadata.as_deref(),
            Some("https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
        );
        let c = parse_challenge(r#"bearer realm=x,scope="a\"b""#).unwrap();
        assert_eq!(c.scope.as_deref(), Some("a\"b"));
        assert_eq!(parse_challenge("Bearer").unwrap(), Challenge::default());
        assert!(parse_challenge("Basic realm=x").is_none());
    }

    #[test]
    fn resource_metadata_must_name_the_server_or_a_parent() {
        let server = Url::parse("https://mcp.example.com/tenant/mcp").unwrap();
        for ok in [
            "https://mcp.example.com/tenant/mcp",
            "https://mcp.example.com/tenant/mcp/",
            "https://mcp.example.com/tenant",
            "https://mcp.example.com/",
            "https://mcp.example.com",
            "HTTPS://MCP.example.com:443/tenant",
        ] {
            assert!(resource_allowed(&server, ok), "{ok} should be allowed");
        }
        for refused in [
            "https://evil.example.com/tenant/mcp",
            "http://mcp.example.com/tenant/mcp",
            "https://mcp.example.com:8443/tenant/mcp",
            "https://mcp.example.com/tenant/mcp-other",
            "https://mcp.example.com/ten",
            "https://mcp.example.com/tenant/mcp/deeper",
            "https://mcp.example.com/tenant/mcp#frag",
            "not a url",
            "",
        ] {
            assert!(!resource_allowed(&server, refused), "{refused} should be refused");
        }
    }

    #[test]
    fn canonical_resources_and_well_known_paths() {
        let url = Url::parse("HTTPS://Mcp.Example.com/").unwrap();
        assert_eq!(canonical_resource(&url), "https://mcp.example.com");
        let url = Url::parse("https://mcp.example.com/v1/mcp#frag").unwrap();
        assert_eq!(canonical_resource(&url), "https://mcp.example.com/v1/mcp");
        assert_eq!(
            well_known(&url, "oauth-protected-resource", url.path()).unwrap().as_str(),
            "https://mcp.example.com/.well-known/oauth-protected-resource/v1/mcp"
        );
        assert_eq!(
            well_known(&url, "oauth-protected-resource", "").unwrap().as_str(),
            "https://mcp.example.com/.well-known/oauth-protected-resource"
        );
    }
}
