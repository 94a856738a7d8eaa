//! What every admin route needs of its caller: one table, read by the admin
//! authentication in front of every subsystem's admin routes, by the org-prefix
//! rewrite (`/v1/orgs/{org}/...`), and by the OpenAPI document (each
//! operation's `x-gatehouse-access`). A route missing from the table is
//! refused to everyone, and a test checks the table and the document name the
//! same routes, so no route escapes the role checks.

use axum::http::Method;

use crate::accounts::Access;

/// One admin route and what it needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RouteAccess {
    /// The HTTP method.
    pub method: &'static str,
    /// The route template as the router matches it.
    pub path: &'static str,
    /// What the caller needs.
    pub access: Access,
}

const fn route(method: &'static str, path: &'static str, access: Access) -> RouteAccess {
    RouteAccess { method, path, access }
}

use Access::*;

/// Every admin route. Routes with [`Access::Platform`] exist only unprefixed;
/// every other route also exists under `/v1/orgs/{org}`.
pub(crate) const ROUTES: &[RouteAccess] = &[
    // Orgs and the edge fleet: the platform operator.
    route("POST", "/v1/orgs", Platform),
    route("GET", "/v1/orgs", Platform),
    route("GET", "/v1/orgs/{org}", Platform),
    route("PATCH", "/v1/orgs/{org}", Platform),
    route("DELETE", "/v1/orgs/{org}", Platform),
    route("GET", "/v1/edges", Platform),
    route("POST", "/v1/edges/tokens", Platform),
    route("GET", "/v1/edges/tokens", Platform),
    route("DELETE", "/v1/edges/tokens/{id}", Platform),
    route("POST", "/v1/oauth/signing-keys/rotate", Platform),
    route("POST", "/v1/identity/signing-keys/rotate", Platform),
    // The org itself.
    route("GET", "/v1/org", Read),
    route("PATCH", "/v1/org", Owner),
    route("DELETE", "/v1/org", Owner),
    route("POST", "/v1/api-keys", Admin),
    route("GET", "/v1/api-keys", Read),
    route("GET", "/v1/api-keys/{id}", Read),
    route("DELETE", "/v1/api-keys/{id}", Admin),
    route("POST", "/v1/sso/providers", Owner),
    route("GET", "/v1/sso/providers", Read),
    route("GET", "/v1/sso/providers/{id}", Read),
    route("PATCH", "/v1/sso/providers/{id}", Owner),
    route("DELETE", "/v1/sso/providers/{id}", Owner),
    // The registry.
    route("POST", "/v1/workspaces", Admin),
    route("GET", "/v1/workspaces", OwnRead),
    route("GET", "/v1/workspaces/{ws}", OwnRead),
    route("DELETE", "/v1/workspaces/{ws}", Admin),
    route("GET", "/v1/workspaces/{ws}/servers", OwnRead),
    route("PUT", "/v1/workspaces/{ws}/servers/{slug}", Admin),
    route("DELETE", "/v1/workspaces/{ws}/servers/{slug}", Admin),
    route("POST", "/v1/servers", Admin),
    route("GET", "/v1/servers", OwnRead),
    route("GET", "/v1/servers/{slug}", OwnRead),
    route("PATCH", "/v1/servers/{slug}", Admin),
    route("DELETE", "/v1/servers/{slug}", Admin),
    // A server's live tools: whoever may see the server; trying one or connecting
    // one's own account is using it, which viewers and auditors never do.
    route("GET", "/v1/servers/{slug}/tools", OwnRead),
    route("POST", "/v1/servers/{slug}/tools/{tool}/call", OwnWrite),
    // Credentials of callers.
    route("POST", "/v1/auth/tokens", OwnWrite),
    route("GET", "/v1/auth/tokens", OwnRead),
    route("DELETE", "/v1/auth/tokens/{id}", OwnWrite),
    route("POST", "/v1/auth/tokens/{id}/rotate", OwnWrite),
    route("POST", "/v1/auth/certificate-identities", Admin),
    route("GET", "/v1/auth/certificate-identities", Read),
    route("GET", "/v1/auth/certificate-identities/{id}", Read),
    route("DELETE", "/v1/auth/certificate-identities/{id}", Admin),
    route("POST", "/v1/rate-limits", Admin),
    route("GET", "/v1/rate-limits", Read),
    route("GET", "/v1/rate-limits/{id}", Read),
    route("PATCH", "/v1/rate-limits/{id}", Admin),
    route("DELETE", "/v1/rate-limits/{id}", Admin),
    route("GET", "/v1/rate-limits/{id}/usage", Read),
    route("POST", "/v1/oauth/clients", Admin),
    route("GET", "/v1/oauth/clients", Read),
    route("DELETE", "/v1/oauth/clients/{id}", Admin),
    // People and their upstream connections.
    route("GET", "/v1/users", Read),
    route("POST", "/v1/users/{id}/deactivate", Admin),
    route("POST", "/v1/users/{id}/reactivate", Admin),
    route("GET", "/v1/connections", OwnRead),
    route("POST", "/v1/connections", OwnWrite),
    route("DELETE", "/v1/connections/{id}", OwnWrite),
    // The audit trail.
    route("GET", "/v1/audit-events", Audit),
    route("GET", "/v1/audit-events/export", Audit),
    route("GET", "/v1/usage", Audit),
    route("GET", "/v1/audit-settings", Audit),
    route("PUT", "/v1/audit-settings", Owner),
    route("GET", "/v1/audit-exports", Audit),
    route("PUT", "/v1/audit-exports", Owner),
];

/// What `method` on the route template `path` needs; `None` for a route not in the table.
pub(crate) fn lookup(method: &Method, path: &str) -> Option<Access> {
    ROUTES.iter().find(|r| r.method == method.as_str() && r.path == path).map(|r| r.access)
}

/// Whether a concrete path (`/v1/servers/github`) is an org route under some
/// method, i.e. may be reached as `/v1/orgs/{org}` + the path's tail.
pub(crate) fn is_org_route(path: &str) -> bool {
    ROUTES.iter().any(|r| r.access != Platform && template_matches(r.path, path))
}

/// Whether `path` fills in `template` (`{name}` matches one non-empty segment).
fn template_matches(template: &str, path: &str) -> bool {
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(ts), Some(ps)) if ts.starts_with('{') && !ps.is_empty() => {}
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_whole_segments() {
        assert!(template_matches("/v1/servers/{slug}", "/v1/servers/github"));
        assert!(!template_matches("/v1/servers/{slug}", "/v1/servers/"));
        assert!(!template_matches("/v1/servers/{slug}", "/v1/servers/a/b"));
        assert!(is_org_route("/v1/workspaces/eng/servers/github"));
        assert!(!is_org_route("/v1/orgs"), "platform routes are never org-prefixed");
        assert!(!is_org_route("/v1/edges"));
        assert!(!is_org_route("/v1/openapi.json"));
    }

    #[test]
    fn every_route_is_listed_once() {
        for (i, a) in ROUTES.iter().enumerate() {
            assert!(
                !ROUTES[..i].iter().any(|b| a.method == b.method && a.path == b.path),
                "{} {} listed twice",
                a.method,
                a.path
            );
        }
    }
}
