//! Gateway token extraction and in-memory lookup.
//!
//! Everything here is decided from one [`ConfigView`]: a SHA-256 of the
//! presented token and a few hash-map lookups. No database, no network.

use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::HeaderMap;

use crate::config_view::{hash_token, ConfigView, TokenGrant, ToolRules, UpstreamServer};
use crate::error::EdgeError;

/// Header carrying a gateway token for clients that can't set `Authorization`.
pub const X_API_KEY: &str = "x-api-key";

/// The gateway token presented with a request, if any.
///
/// `Authorization: Bearer <token>` (scheme case-insensitive) wins over
/// `X-API-Key: <token>`. An `Authorization` header with another scheme is not
/// a gateway token and is ignored.
pub fn presented_token(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    bearer
        .or_else(|| headers.get(X_API_KEY).and_then(|v| v.to_str().ok()).map(str::trim))
        .filter(|t| !t.is_empty())
}

/// Resolves the caller's token: missing → `MissingToken`, unknown → `InvalidToken`,
/// expired at `now_unix` → `ExpiredToken`.
pub fn authenticate(
    view: &ConfigView,
    headers: &HeaderMap,
    now_unix: i64,
) -> Result<Arc<TokenGrant>, EdgeError> {
    let token = presented_token(headers).ok_or(EdgeError::MissingToken)?;
    let grant = view.token(&hash_token(token)).ok_or(EdgeError::InvalidToken)?;
    if grant.is_expired(now_unix) {
        return Err(EdgeError::ExpiredToken);
    }
    Ok(Arc::clone(grant))
}

/// What an authorised request may reach: the server and its tool rules in the caller's workspace.
#[derive(Debug, Clone)]
pub struct Route {
    /// The upstream server.
    pub server: Arc<UpstreamServer>,
    /// The provision's tool rules.
    pub rules: Arc<ToolRules>,
}

/// Finds `slug` in the token's org (404) and checks the caller may reach it (403).
pub fn authorize(view: &ConfigView, grant: &TokenGrant, slug: &str) -> Result<Route, EdgeError> {
    let server = view.server(&grant.org_id, slug).ok_or(EdgeError::ServerNotFound)?;
    let rules = view.provision(&grant.workspace_id, &server.id).ok_or(EdgeError::ServerNotProvisioned)?;
    if !grant.allows_server(slug) {
        return Err(EdgeError::ServerNotPermitted);
    }
    Ok(Route { server: Arc::clone(server), rules: Arc::clone(rules) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_proto::config::v1 as pb;
    use http::HeaderValue;

    fn view() -> ConfigView {
        let token = |id: &str, secret: &str, servers: &[&str], expires_at: i64| pb::GatewayToken {
            id: id.into(),
            org_id: "org".into(),
            token_hash: hash_token(secret).to_vec(),
            user: "alice".into(),
            workspace_id: "ws".into(),
            server_permissions: servers.iter().map(|s| s.to_string()).collect(),
            expires_at,
            ..Default::default()
        };
        let server = |id: &str, slug: &str| pb::Server {
            id: id.into(),
            org_id: "org".into(),
            slug: slug.into(),
            url: "http://127.0.0.1:1/mcp".into(),
            auth_type: "none".into(),
            ..Default::default()
        };
        ConfigView::from_snapshot(pb::Snapshot {
            version: 1,
            state: Some(pb::ConfigState {
                servers: vec![server("s1", "github"), server("s2", "jira")],
                provisions: vec![pb::Provision {
                    workspace_id: "ws".into(),
                    server_id: "s1".into(),
                    ..Default::default()
                }],
                tokens: vec![
                    token("t1", "good", &[], 0),
                    token("t2", "old", &[], 100),
                    token("t3", "narrow", &["other"], 0),
                ],
                ..Default::default()
            }),
        })
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (http::HeaderName::from_static(k), HeaderValue::from_str(v).unwrap()))
            .collect()
    }

    #[test]
    fn extracts_bearer_and_api_key() {
        assert_eq!(presented_token(&headers(&[("authorization", "Bearer abc")])), Some("abc"));
        assert_eq!(presented_token(&headers(&[("authorization", "bearer  abc ")])), Some("abc"));
        assert_eq!(presented_token(&headers(&[("x-api-key", "k")])), Some("k"));
        assert_eq!(presented_token(&headers(&[("authorization", "Basic Zm9v")])), None);
        assert_eq!(presented_token(&headers(&[("authorization", "Bearer ")])), None);
        assert_eq!(
            presented_token(&headers(&[("authorization", "Bearer a"), ("x-api-key", "b")])),
            Some("a")
        );
        assert_eq!(presented_token(&HeaderMap::new()), None);
    }

    #[test]
    fn authentication_outcomes() {
        let v = view();
        let auth = |h: &[(&'static str, &str)]| authenticate(&v, &headers(h), 1_000);
        assert!(matches!(auth(&[]), Err(EdgeError::MissingToken)));
        assert!(matches!(auth(&[("authorization", "Bearer nope")]), Err(EdgeError::InvalidToken)));
        assert!(matches!(auth(&[("authorization", "Bearer old")]), Err(EdgeError::ExpiredToken)));
        assert_eq!(auth(&[("x-api-key", "good")]).unwrap().id, "t1");
    }

    #[test]
    fn authorization_outcomes() {
        let v = view();
        let grant = |secret: &str| v.token(&hash_token(secret)).unwrap().clone();
        assert!(matches!(authorize(&v, &grant("good"), "nope"), Err(EdgeError::ServerNotFound)));
        assert!(matches!(authorize(&v, &grant("good"), "jira"), Err(EdgeError::ServerNotProvisioned)));
        assert!(matches!(authorize(&v, &grant("narrow"), "github"), Err(EdgeError::ServerNotPermitted)));
        assert_eq!(authorize(&v, &grant("good"), "github").unwrap().server.id, "s1");
    }
}
