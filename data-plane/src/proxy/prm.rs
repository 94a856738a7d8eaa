//! RFC 9728 Protected Resource Metadata for every MCP URL (`/mcp/{org}/{slug}`,
//! and the default org's `/mcp/{slug}`) at the path-inserted well-known URL, and
//! the `WWW-Authenticate` challenge that points MCP clients at it.
//!
//! Each document describes the URL the client used (its `resource`) and names the
//! authorization server of that URL's org, never another org's.
//!
//! When Gatehouse's own authorization server is advertised, both name the
//! scope its tokens need here ([`MCP_SCOPE`]): `scopes_supported` in the
//! metadata and `scope` in the challenge (MCP scope selection strategy). An
//! org's own authorization server advertises its configured `scopes_supported`
//! and no challenge scope (Gatehouse does not know what it requires). A server's
//! own `external_auth_config` takes precedence over its org's.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gatehouse_config::mcp_path::McpPath;
use http::header::{CACHE_CONTROL, HOST, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use serde::Serialize;

use super::state::ProxyState;
use crate::config_view::{ConfigView, Org, UpstreamServer};
use crate::error::EdgeError;
use crate::identity::gatehouse_jwt::MCP_SCOPE;
use crate::tls::TlsSession;

/// Path prefix of the metadata documents.
pub const WELL_KNOWN_PREFIX: &str = "/.well-known/oauth-protected-resource";

/// Where a request was sent, as far as the edge itself can tell: whether the
/// connection is TLS, and the `Host` header (or the HTTP/2 `:authority`).
#[derive(Debug, Clone, Default)]
pub struct RequestOrigin {
    https: bool,
    host: Option<HeaderValue>,
}

impl RequestOrigin {
    /// The origin of `request`.
    pub fn of<B>(request: &http::Request<B>) -> Self {
        let host = request
            .headers()
            .get(HOST)
            .cloned()
            .or_else(|| request.uri().authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok()));
        Self { https: request.extensions().get::<TlsSession>().is_some(), host }
    }
}

/// The externally visible base URL (no trailing slash): the edge's configured
/// public URL, else the control plane's `edge_public_base_url`, else the
/// request's Host with the connection's scheme.
pub fn public_base(configured: Option<&url::Url>, view: &ConfigView, origin: &RequestOrigin) -> String {
    if let Some(url) = configured {
        return url.as_str().trim_end_matches('/').to_owned();
    }
    let pushed = view.settings().edge_public_base_url.trim();
    if !pushed.is_empty() {
        return pushed.trim_end_matches('/').to_owned();
    }
    // Only characters a host[:port] can hold, so the value is safe inside a quoted header.
    let host = origin
        .host
        .as_ref()
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)))
        .unwrap_or("localhost");
    let scheme = if origin.https { "https" } else { "http" };
    format!("{scheme}://{host}")
}

/// The resource URL of the MCP URL `path` as the client wrote it.
pub fn resource_url(base: &str, path: &McpPath) -> String {
    format!("{base}{}", path.path())
}

/// The resource URLs a Gatehouse access token may be bound to at `path`: the server's
/// org-qualified URL, and for a default-org server also its legacy `/mcp/{slug}`.
pub fn audiences(base: &str, path: &McpPath) -> Vec<String> {
    path.audience_paths().into_iter().map(|p| format!("{base}{p}")).collect()
}

/// The metadata URL of the MCP URL `path` as the client wrote it.
pub fn metadata_url(base: &str, path: &McpPath) -> String {
    format!("{base}{WELL_KNOWN_PREFIX}{}", path.path())
}

/// What an MCP URL advertises to clients about getting a token.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Advertised {
    /// `authorization_servers` (empty when none is configured).
    pub authorization_servers: Vec<String>,
    /// `scopes_supported` (omitted from the metadata when empty).
    pub scopes_supported: Vec<String>,
    /// The scope a token must carry, sent as the challenge's `scope`.
    pub required_scope: Option<&'static str>,
}

impl Advertised {
    /// What the server at `path` advertises: its org's own authorization server when
    /// configured, else Gatehouse's (`None` when the URL names no server).
    pub fn for_path(view: &ConfigView, path: &McpPath) -> Option<Self> {
        let org = view.org_by_slug(path.org_slug())?;
        let server = view.server(&org.id, &path.slug)?;
        Some(Self::for_server(view, org, server))
    }

    /// What `server` of `org` advertises: its own authorization server, else its org's.
    pub fn for_server(view: &ConfigView, org: &Org, server: &UpstreamServer) -> Self {
        if let Some(ext) = &server.identity.external_auth {
            return Self {
                authorization_servers: vec![ext.issuer.clone()],
                scopes_supported: ext.scopes_supported.clone(),
                required_scope: None,
            };
        }
        Self::for_org(view, org)
    }

    /// What the servers of `org` advertise.
    pub fn for_org(view: &ConfigView, org: &Org) -> Self {
        if let Some(ext) = &org.external_auth_config {
            return Self {
                authorization_servers: vec![ext.issuer.clone()],
                scopes_supported: ext.scopes_supported.clone(),
                required_scope: None,
            };
        }
        let issuer = view.settings().issuer.trim();
        if issuer.is_empty() {
            return Self::default();
        }
        Self {
            authorization_servers: vec![issuer.to_owned()],
            scopes_supported: vec![MCP_SCOPE.to_owned()],
            required_scope: Some(MCP_SCOPE),
        }
    }
}

/// Points the answer to a request refused for its credential (any 401, or a 403
/// `insufficient_scope`, whose `scope` is then the one it lacks) at the metadata of the URL the client used (`path`), as `view`
/// (the config the request was decided with) describes it; other answers are left as they are.
pub fn challenge(
    response: &mut Response,
    error: &EdgeError,
    view: &ConfigView,
    configured: Option<&url::Url>,
    origin: &RequestOrigin,
    path: &McpPath,
) {
    let challenged = response.status() == StatusCode::UNAUTHORIZED
        || matches!(error, EdgeError::InsufficientScope | EdgeError::ScopeMissing { .. });
    if challenged {
        let base = public_base(configured, view, origin);
        // A method beyond the token's scopes names the scope it needs (MCP step-up).
        let scope = match error {
            EdgeError::ScopeMissing { scope, .. } => Some(*scope),
            _ => Advertised::for_path(view, path).and_then(|a| a.required_scope),
        };
        add_challenge(response, &metadata_url(&base, path), error, scope);
    }
}

/// Replaces the challenge of a 401 (or an `insufficient_scope` 403) with one
/// carrying `resource_metadata` and, when one is required, `scope`.
fn add_challenge(response: &mut Response, metadata: &str, error: &EdgeError, scope: Option<&str>) {
    let mut challenge = format!(r#"Bearer realm="gatehouse", resource_metadata="{metadata}""#);
    match error {
        EdgeError::InvalidToken | EdgeError::ExpiredToken => challenge.push_str(r#", error="invalid_token""#),
        EdgeError::InsufficientScope | EdgeError::ScopeMissing { .. } => {
            challenge.push_str(r#", error="insufficient_scope""#)
        }
        _ => {}
    }
    if let Some(scope) = scope {
        challenge.push_str(&format!(r#", scope="{scope}""#));
    }
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
}

/// RFC 9728 document.
#[derive(Debug, Serialize)]
struct Metadata {
    resource: String,
    authorization_servers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    scopes_supported: Vec<String>,
    bearer_methods_supported: [&'static str; 1],
    resource_name: String,
}

/// `GET /.well-known/oauth-protected-resource/mcp/{org}/{slug}`.
pub(crate) async fn handler(
    State(state): State<ProxyState>,
    Path((org, slug)): Path<(String, String)>,
    request: axum::extract::Request,
) -> Response {
    metadata(&state, &McpPath::qualified(&org, &slug), &request)
}

/// `GET /.well-known/oauth-protected-resource/mcp/{slug}`: the default org's servers only.
pub(crate) async fn legacy_handler(
    State(state): State<ProxyState>,
    Path(slug): Path<String>,
    request: axum::extract::Request,
) -> Response {
    metadata(&state, &McpPath::legacy(&slug), &request)
}

fn metadata(state: &ProxyState, path: &McpPath, request: &axum::extract::Request) -> Response {
    let edge = state.edge_state();
    if !edge.is_loaded() {
        return EdgeError::NotReady.into_response();
    }
    let view = edge.config();
    let Some(org) = view.org_by_slug(path.org_slug()) else {
        return EdgeError::ServerNotFound(path.slug.clone()).into_response();
    };
    let Some(server) = view.server(&org.id, &path.slug) else {
        return EdgeError::ServerNotFound(path.slug.clone()).into_response();
    };
    let base = public_base(state.public_base_url(), &view, &RequestOrigin::of(request));
    let advertised = Advertised::for_server(&view, org, server);
    let body = Metadata {
        resource: resource_url(&base, path),
        authorization_servers: advertised.authorization_servers,
        scopes_supported: advertised.scopes_supported,
        bearer_methods_supported: ["header"],
        resource_name: server.name.clone(),
    };
    let mut response = (StatusCode::OK, Json(body)).into_response();
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_proto::config::v1 as pb;

    fn request(host: Option<&str>, uri: &str, tls: bool) -> http::Request<()> {
        let mut builder = http::Request::get(uri);
        if let Some(host) = host {
            builder = builder.header(HOST, host);
        }
        let mut request = builder.body(()).unwrap();
        if tls {
            request.extensions_mut().insert(TlsSession { client_certificate: None });
        }
        request
    }

    #[test]
    fn the_base_falls_back_to_the_connection_scheme_and_host() {
        let empty = ConfigView::default();
        let base = |r: &http::Request<()>| public_base(None, &empty, &RequestOrigin::of(r));
        assert_eq!(base(&request(Some("edge:8443"), "/mcp/x", true)), "https://edge:8443");
        assert_eq!(base(&request(Some("edge"), "/mcp/x", false)), "http://edge");
        // HTTP/2 carries the host as `:authority`, which hyper puts in the URI.
        assert_eq!(base(&request(None, "https://h2.example:9443/mcp/x", true)), "https://h2.example:9443");
        assert_eq!(base(&request(Some("bad\"host"), "/mcp/x", true)), "https://localhost");

        let configured = url::Url::parse("https://mcp.example.com/").unwrap();
        let origin = RequestOrigin::of(&request(Some("edge"), "/", false));
        assert_eq!(public_base(Some(&configured), &empty, &origin), "https://mcp.example.com");
        let pushed = ConfigView::from_snapshot(pb::Snapshot {
            version: 1,
            state: Some(pb::ConfigState {
                settings: Some(pb::EdgeSettings {
                    edge_public_base_url: "https://pushed.example/".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        });
        assert_eq!(public_base(None, &pushed, &origin), "https://pushed.example");
    }
}
