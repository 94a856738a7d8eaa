//! Which headers cross the gateway, in each direction.
//!
//! Towards the upstream only an allowlist of protocol headers is forwarded;
//! the caller's credentials (`Authorization`, `X-API-Key`, cookies), `Host`,
//! `Forwarded`/`X-Forwarded-*`, `Accept-Encoding` (bodies stay identity-coded
//! so they can stream and be filtered) and hop-by-hop headers never are.
//! [`upstream_request_headers`] is the one place the priority of everything
//! sent upstream is applied, lowest to highest: forwarded client headers
//! (the allowlist, then `forward_headers`) < static headers < upstream
//! credential < identity headers. Protected headers ([`is_protected`]) are
//! never forwarded from the client nor renamed onto.
//!
//! Towards the client everything passes except hop-by-hop headers.

use gatehouse_config::identity::forward_headers::{is_protected, ForwardHeaders};
use gatehouse_config::identity::jwt_validation::TokenHeader;
use http::header::{self, HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};

use super::trace;
use crate::auth::Route;
use crate::config_view::{ConfigView, UpstreamServer};
use crate::credentials::Credential;
use crate::identity::{forwarding, Caller, IdentityRuntime};

/// The MCP session header; rewritten in both directions, never copied.
pub const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");

/// Whether a client request header is forwarded to the upstream as is.
pub fn is_forwarded_request_header(name: &HeaderName) -> bool {
    name == header::CONTENT_TYPE
        || name == header::ACCEPT
        || name == header::USER_AGENT
        || name == "last-event-id"
        // mcp-protocol-version, mcp-method, mcp-name, mcp-param-*, future mcp-* headers.
        || (name.as_str().starts_with("mcp-") && name != MCP_SESSION_ID)
}

/// The client headers the upstream may see (session id excluded; see `session`).
pub fn forwarded_request_headers(client: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(8);
    for (name, value) in client {
        if is_forwarded_request_header(name) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// What the headers of one upstream request are built from.
pub struct UpstreamHeaderSources<'a> {
    /// The client's request headers.
    pub client: &'a HeaderMap,
    /// The upstream's own `Mcp-Session-Id`, unwrapped from the client's.
    pub upstream_session: Option<HeaderValue>,
    /// The request span's trace context, which the upstream continues.
    pub trace: Option<&'a opentelemetry::trace::SpanContext>,
    /// The request's config.
    pub view: &'a ConfigView,
    /// Where the request goes and in which workspace.
    pub route: &'a Route,
    /// Who is calling.
    pub caller: &'a Caller,
    /// The upstream credential from the broker, for `oauth2` and `client_credentials` servers.
    pub credential: Option<&'a Credential>,
    /// Identity state shared across config versions (the `X-User-JWT` cache).
    pub identity: &'a IdentityRuntime,
    /// Now, unix seconds.
    pub now_unix: i64,
}

/// The headers sent upstream. Each step below overrides the ones before it:
/// forwarded client headers < static headers < upstream credential < identity headers.
pub fn upstream_request_headers(sources: &UpstreamHeaderSources<'_>) -> HeaderMap {
    let server: &UpstreamServer = &sources.route.server;
    let mut headers = forwarded_request_headers(sources.client);
    // Admin-chosen client headers: the lowest priority of everything injected below.
    if let Some(forward) = &server.identity.forward_headers {
        apply_forward_headers(forward, sources.client, &mut headers, token_header(sources.view, server));
    }
    if let Some(session) = sources.upstream_session.clone() {
        headers.insert(MCP_SESSION_ID, session);
    }
    if let Some(span_context) = sources.trace {
        trace::inject(span_context, &mut headers);
    }
    inject_static_headers(&mut headers, &server.headers);
    inject_credential(&mut headers, sources.credential);
    // Identity headers go last and win (docs/edge.md, "Header priority").
    inject_identity_headers(&mut headers, sources, server);
    headers
}

/// Puts `credential` in `headers` as `Authorization: Bearer …`, replacing what is there.
pub fn inject_credential(headers: &mut HeaderMap, credential: Option<&Credential>) {
    if let Some(value) = credential.and_then(Credential::authorization) {
        headers.insert(AUTHORIZATION, value);
    }
}

/// Sets the identity headers `user_identity_forwarding` asks for (highest priority).
fn inject_identity_headers(
    headers: &mut HeaderMap,
    sources: &UpstreamHeaderSources<'_>,
    server: &UpstreamServer,
) {
    let Some(config) = &server.identity.forwarding else { return };
    let view = sources.view;
    let workspace_slug = view.workspace(&sources.route.workspace_id).map_or("", |w| w.slug.as_str());
    let ctx = forwarding::IdentityContext {
        workspace_slug,
        workspace_id: &sources.route.workspace_id,
        upstream_url: server.url.as_str(),
        issuer: &view.settings().issuer,
        signer: view.identity_signer().map(|s| s.as_ref()),
        jwt_cache: &sources.identity.jwt_cache,
        now_unix: sources.now_unix,
    };
    forwarding::inject_identity(headers, config, sources.caller, &ctx);
}

/// The custom header a server's (or its org's) `jwt_validation` reads the token from.
fn token_header<'v>(view: &'v ConfigView, server: &'v UpstreamServer) -> Option<&'v HeaderName> {
    let configured = server.identity.jwt.as_ref().or_else(|| view.org(&server.org_id)?.jwt.as_ref());
    match configured?.as_ref().ok()?.header() {
        TokenHeader::Named(name) => Some(name),
        TokenHeader::Authorization => None,
    }
}

/// Copies the selected client headers into `out` (before static headers are injected).
/// `token_header` (a custom token header) is never forwarded.
pub fn apply_forward_headers(
    config: &ForwardHeaders,
    client: &HeaderMap,
    out: &mut HeaderMap,
    token_header: Option<&HeaderName>,
) {
    let blocked = |name: &HeaderName| {
        is_protected(name) || token_header == Some(name) || is_forwarded_request_header(name)
    };
    if config.all_except {
        for (name, value) in client {
            if !blocked(name) && !config.names.contains(name) {
                out.append(name.clone(), value.clone());
            }
        }
    } else {
        for name in &config.names {
            if blocked(name) {
                continue;
            }
            for value in client.get_all(name) {
                out.append(name.clone(), value.clone());
            }
        }
    }
    for (from, to) in &config.renames {
        if is_protected(from) || is_protected(to) || token_header == Some(from) {
            continue;
        }
        let values: Vec<HeaderValue> = client.get_all(from).iter().cloned().collect();
        if !values.is_empty() {
            out.remove(to);
            for v in values {
                out.append(to.clone(), v);
            }
        }
    }
}

/// Injects the server's static headers; they replace anything already there.
pub fn inject_static_headers(headers: &mut HeaderMap, statics: &[(HeaderName, HeaderValue)]) {
    // Remove first so a static header given twice keeps both values.
    for (name, _) in statics {
        headers.remove(name);
    }
    for (name, value) in statics {
        headers.append(name.clone(), value.clone());
    }
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TE
        || name == header::TRAILER
        || name == header::TRANSFER_ENCODING
        || name == header::UPGRADE
        || name == "keep-alive"
        || name.as_str().starts_with("proxy-")
}

/// The upstream response headers the client may see.
///
/// Drops hop-by-hop headers (including any the upstream's `Connection` names),
/// `Mcp-Session-Id` (the caller gets a wrapped one) and, when the body is
/// rewritten, `Content-Length`.
pub fn client_response_headers(upstream: &HeaderMap, body_rewritten: bool) -> HeaderMap {
    let mut out = upstream.clone();
    strip_client_response_headers(&mut out, body_rewritten);
    out
}

/// [`client_response_headers`] in place, on headers the edge owns: nothing is copied,
/// and nothing is allocated unless the upstream sent a header to drop.
pub fn strip_client_response_headers(headers: &mut HeaderMap, body_rewritten: bool) {
    let dropped = |name: &HeaderName, connection_named: &[String]| {
        is_hop_by_hop(name)
            || name == MCP_SESSION_ID
            || (body_rewritten && name == header::CONTENT_LENGTH)
            || connection_named.iter().any(|c| name.as_str().eq_ignore_ascii_case(c))
    };
    // Names the upstream's `Connection` lists besides `keep-alive`, which most upstreams send
    // and which is dropped as hop-by-hop anyway: usually none, so nothing is allocated.
    let connection_named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|name| !name.eq_ignore_ascii_case("keep-alive"))
        .map(str::to_owned)
        .collect();
    if !headers.keys().any(|name| dropped(name, &connection_named)) {
        return;
    }
    let names: Vec<HeaderName> =
        headers.keys().filter(|name| dropped(name, &connection_named)).cloned().collect();
    for name in names {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap()))
            .collect()
    }

    #[test]
    fn caller_credentials_and_host_never_forwarded() {
        let client = map(&[
            ("authorization", "Bearer gth_secret"),
            ("x-api-key", "gth_secret"),
            ("cookie", "sid=1"),
            ("host", "gateway.example"),
            ("forwarded", "for=1.2.3.4"),
            ("x-forwarded-for", "1.2.3.4"),
            ("connection", "keep-alive"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("proxy-authorization", "Basic x"),
            ("accept-encoding", "gzip"),
            ("origin", "https://evil.example"),
            ("mcp-session-id", "wrapped"),
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", "2025-06-18"),
            ("mcp-method", "tools/call"),
            ("mcp-param-region", "us"),
            ("last-event-id", "7"),
            ("user-agent", "client/1"),
        ]);
        let out = forwarded_request_headers(&client);
        let mut names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "accept",
                "content-type",
                "last-event-id",
                "mcp-method",
                "mcp-param-region",
                "mcp-protocol-version",
                "user-agent"
            ]
        );
    }

    #[test]
    fn static_headers_win() {
        let mut headers = map(&[("mcp-tenant", "from-client"), ("accept", "x")]);
        let statics = vec![
            (HeaderName::from_static("mcp-tenant"), HeaderValue::from_static("from-server")),
            (HeaderName::from_static("authorization"), HeaderValue::from_static("Bearer upstream")),
        ];
        inject_static_headers(&mut headers, &statics);
        assert_eq!(headers.get_all("mcp-tenant").iter().collect::<Vec<_>>(), ["from-server"]);
        assert_eq!(headers["authorization"], "Bearer upstream");
        assert_eq!(headers["accept"], "x");
    }

    #[test]
    fn response_drops_hop_by_hop_and_session() {
        let upstream = map(&[
            ("connection", "x-private, close"),
            ("x-private", "1"),
            ("transfer-encoding", "chunked"),
            ("keep-alive", "timeout=5"),
            ("content-type", "text/event-stream"),
            ("content-length", "10"),
            ("set-cookie", "affinity=a"),
            ("mcp-session-id", "raw"),
        ]);
        let out = client_response_headers(&upstream, false);
        let mut names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        names.sort();
        assert_eq!(names, ["content-length", "content-type", "set-cookie"]);
        assert!(client_response_headers(&upstream, true).get("content-length").is_none());
    }

    /// Nothing to drop: the upstream's headers stay as they are (no copy is made);
    /// a header the upstream's `Connection` names is still dropped in place.
    #[test]
    fn response_headers_are_trimmed_in_place() {
        let upstream =
            map(&[("content-type", "application/json"), ("content-length", "80"), ("x-trace", "1")]);
        let mut kept = upstream.clone();
        strip_client_response_headers(&mut kept, false);
        assert_eq!(kept, upstream);

        let mut named =
            map(&[("connection", "X-Private"), ("x-private", "1"), ("content-type", "text/event-stream")]);
        strip_client_response_headers(&mut named, true);
        assert_eq!(named.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["content-type"]);
    }

    #[test]
    fn allowlist_all_except_and_renames() {
        let client = map(&[
            ("x-tenant", "t1"),
            ("x-debug", "1"),
            ("x-old", "o"),
            ("authorization", "Bearer secret"),
            ("x-user-email", "spoof@evil"),
            ("accept-encoding", "gzip"),
            ("x-id-token", "tok"),
        ]);
        let mut out = HeaderMap::new();
        let fh = ForwardHeaders::from_value(&json!(["x-tenant", {"from":"x-old","to":"x-new"}])).unwrap();
        apply_forward_headers(&fh, &client, &mut out, None);
        let mut names: Vec<_> = out.keys().map(|k| k.as_str()).collect();
        names.sort();
        assert_eq!(names, ["x-new", "x-tenant"]);

        let mut out = HeaderMap::new();
        let fh = ForwardHeaders::from_value(&json!({"mode":"all-except","headers":["x-debug"]})).unwrap();
        apply_forward_headers(&fh, &client, &mut out, Some(&HeaderName::from_static("x-id-token")));
        let mut names: Vec<_> = out.keys().map(|k| k.as_str()).collect();
        names.sort();
        assert_eq!(names, ["x-old", "x-tenant"]);
    }

    proptest::proptest! {
        /// Whatever the client sends, all-except mode never lets a protected header through.
        #[test]
        fn protected_headers_never_pass(names in proptest::collection::vec(
            proptest::prop_oneof![
                "x-user-[a-z]{1,8}",
                "(authorization|cookie|x-api-key|proxy-[a-z]{1,5}|x-forwarded-[a-z]{1,5}|x-organization-id)",
                "x-[a-z]{1,8}",
            ],
            1..12,
        )) {
            let client: HeaderMap = names
                .iter()
                .map(|n| (HeaderName::from_bytes(n.as_bytes()).unwrap(), HeaderValue::from_static("v")))
                .collect();
            let fh = ForwardHeaders::from_value(&json!({"mode":"all-except","headers":[]})).unwrap();
            let mut out = HeaderMap::new();
            apply_forward_headers(&fh, &client, &mut out, None);
            proptest::prop_assert!(out.keys().all(|k| !is_protected(k)));
            for name in client.keys().filter(|k| !is_protected(k)) {
                proptest::prop_assert!(out.contains_key(name));
            }
        }
    }
}
