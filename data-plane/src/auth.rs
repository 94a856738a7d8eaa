//! Caller authentication and server authorisation for `/mcp/{slug}`.
//!
//! Gateway tokens are a SHA-256 and a hash-map lookup in one [`ConfigView`].
//! Other credentials (Gatehouse access tokens, bring-your-own JWTs, opaque
//! tokens for introspection) are verified by [`crate::identity`]; every one of
//! them ends up as a [`Caller`], which is what authorisation works on.

use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::HeaderMap;
use secrecy::SecretString;

use crate::config_view::{hash_token, ConfigView, TokenGrant, ToolRules, UpstreamServer};
use crate::error::EdgeError;
use crate::identity::gatehouse_jwt::looks_like_jwt;
use crate::identity::{Caller, IdentityError, IdentityRuntime};

/// Header carrying a gateway token for clients that can't set `Authorization`.
pub const X_API_KEY: &str = "x-api-key";

/// The `Authorization: Bearer` credential (scheme case-insensitive), if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
}

/// The gateway token presented with a request, if any.
///
/// `Authorization: Bearer <token>` (scheme case-insensitive) wins over
/// `X-API-Key: <token>`. An `Authorization` header with another scheme is not
/// a gateway token and is ignored.
pub fn presented_token(headers: &HeaderMap) -> Option<&str> {
    bearer(headers)
        .or_else(|| headers.get(X_API_KEY).and_then(|v| v.to_str().ok()).map(str::trim))
        .filter(|t| !t.is_empty())
}

/// Resolves a gateway token: missing → `MissingToken`, unknown → `InvalidToken`,
/// expired at `now_unix` → `ExpiredToken`.
pub fn authenticate_gateway_token(
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

fn identity_error(e: IdentityError) -> EdgeError {
    tracing::info!(reason = %e, "credential refused");
    match e {
        IdentityError::Invalid(_) => EdgeError::InvalidToken,
        IdentityError::Expired => EdgeError::ExpiredToken,
        IdentityError::Unavailable => EdgeError::IdentityProviderUnavailable,
    }
}

/// Authenticates the caller of `/mcp/{slug}` whose exact resource URL is `resource`.
///
/// Order: a known gateway token; a JWT whose issuer is Gatehouse's (verified
/// offline, audience = `resource`); the `jwt_validation` of the servers named
/// `slug` (the server's own, else its org's). Anything presented but not
/// accepted is 401 and never reaches an upstream.
pub async fn authenticate(
    view: &ConfigView,
    runtime: &IdentityRuntime,
    headers: &HeaderMap,
    slug: &str,
    resource: &str,
    now_unix: i64,
) -> Result<Caller, EdgeError> {
    let token = presented_token(headers);
    if let Some(grant) = token.and_then(|t| view.token(&hash_token(t))) {
        if grant.is_expired(now_unix) {
            return Err(EdgeError::ExpiredToken);
        }
        return Ok(Caller::from_grant(Arc::clone(grant)));
    }
    if let (Some(jwt), Some(keys)) = (bearer(headers), view.gatehouse_keys()) {
        if looks_like_jwt(jwt) && keys.claims_issuer(jwt) {
            let mut caller = keys.verify(jwt, resource).map_err(identity_error)?;
            caller.presented = Some(SecretString::from(jwt.to_owned()));
            return Ok(caller);
        }
    }
    let mut failure = None;
    for server in view.servers_with_slug(slug) {
        let configured = server.identity.jwt.as_ref().or_else(|| view.org(&server.org_id)?.jwt.as_ref());
        let validator = match configured {
            None => continue,
            Some(Err(_)) => {
                failure.get_or_insert(IdentityError::Invalid("jwt_validation is misconfigured"));
                continue;
            }
            Some(Ok(validator)) => validator,
        };
        let Some(raw) = validator.extract(headers) else { continue };
        match validator.verify(runtime, raw, now_unix).await {
            Ok((claims, source)) => {
                let org_id = server.org_id.as_str();
                let mut caller = validator
                    .caller(org_id, claims, source, |ws| {
                        view.workspace_id_by_slug(org_id, ws).map(str::to_owned)
                    })
                    .map_err(identity_error)?;
                caller.presented = Some(SecretString::from(raw.to_owned()));
                return Ok(caller);
            }
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    match (failure, token) {
        (Some(e), _) => Err(identity_error(e)),
        (None, Some(_)) => Err(EdgeError::InvalidToken),
        (None, None) => Err(EdgeError::MissingToken),
    }
}

/// What an authorised request may reach: the server and its tool rules in the caller's workspace.
#[derive(Debug, Clone)]
pub struct Route {
    /// The upstream server.
    pub server: Arc<UpstreamServer>,
    /// The provision's tool rules.
    pub rules: Arc<ToolRules>,
    /// The caller's workspace the server is provisioned to.
    pub workspace_id: String,
    /// The caller's permissions as the tool policy evaluates them.
    pub grant: Arc<TokenGrant>,
}

/// Finds `slug` in the caller's org (404) and checks the caller may reach it (403):
/// the first of the caller's workspaces with the server provisioned supplies the tool rules.
pub fn authorize(view: &ConfigView, caller: &Caller, slug: &str) -> Result<Route, EdgeError> {
    let server = view.server(&caller.org_id, slug).ok_or(EdgeError::ServerNotFound)?;
    let (workspace_id, rules) = caller
        .workspace_ids
        .iter()
        .find_map(|ws| view.provision(ws, &server.id).map(|rules| (ws.clone(), Arc::clone(rules))))
        .ok_or(EdgeError::ServerNotProvisioned)?;
    if !caller.allows_server(slug) {
        return Err(EdgeError::ServerNotPermitted);
    }
    let grant = caller.policy_grant(&workspace_id);
    Ok(Route { server: Arc::clone(server), rules, workspace_id, grant })
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
        let auth = |h: &[(&'static str, &str)]| authenticate_gateway_token(&v, &headers(h), 1_000);
        assert!(matches!(auth(&[]), Err(EdgeError::MissingToken)));
        assert!(matches!(auth(&[("authorization", "Bearer nope")]), Err(EdgeError::InvalidToken)));
        assert!(matches!(auth(&[("authorization", "Bearer old")]), Err(EdgeError::ExpiredToken)));
        assert_eq!(auth(&[("x-api-key", "good")]).unwrap().id, "t1");
    }

    #[test]
    fn authorization_outcomes() {
        let v = view();
        let grant = |secret: &str| Caller::from_grant(v.token(&hash_token(secret)).unwrap().clone());
        assert!(matches!(authorize(&v, &grant("good"), "nope"), Err(EdgeError::ServerNotFound)));
        assert!(matches!(authorize(&v, &grant("good"), "jira"), Err(EdgeError::ServerNotProvisioned)));
        assert!(matches!(authorize(&v, &grant("narrow"), "github"), Err(EdgeError::ServerNotPermitted)));
        assert_eq!(authorize(&v, &grant("good"), "github").unwrap().server.id, "s1");
    }

    #[test]
    fn any_of_the_callers_workspaces_may_have_the_server() {
        let v = view();
        let mut caller = Caller::from_grant(v.token(&hash_token("good")).unwrap().clone());
        caller.grant = None;
        caller.workspace_ids = vec!["elsewhere".into()];
        assert!(matches!(authorize(&v, &caller, "github"), Err(EdgeError::ServerNotProvisioned)));
        caller.workspace_ids = vec!["elsewhere".into(), "ws".into()];
        let route = authorize(&v, &caller, "github").unwrap();
        assert_eq!(route.workspace_id, "ws");
        assert_eq!(route.grant.workspace_id, "ws");
        caller.workspace_ids.clear();
        assert!(matches!(authorize(&v, &caller, "github"), Err(EdgeError::ServerNotProvisioned)));
    }
}
