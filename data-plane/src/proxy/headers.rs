//! Which headers cross the gateway, in each direction.
//!
//! Towards the upstream only an allowlist of protocol headers is forwarded;
//! the caller's credentials (`Authorization`, `X-API-Key`, cookies), `Host`,
//! `Forwarded`/`X-Forwarded-*`, `Accept-Encoding` (bodies stay identity-coded
//! so they can stream and be filtered) and hop-by-hop headers never are. The
//! server's static headers are injected last and win.
//!
//! Towards the client everything passes except hop-by-hop headers.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

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
    let connection_named: Vec<&str> = upstream
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut out = HeaderMap::with_capacity(upstream.keys_len());
    for (name, value) in upstream {
        let dropped = is_hop_by_hop(name)
            || name == MCP_SESSION_ID
            || (body_rewritten && name == header::CONTENT_LENGTH)
            || connection_named.iter().any(|c| name.as_str().eq_ignore_ascii_case(c));
        if !dropped {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
