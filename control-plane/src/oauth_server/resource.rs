//! RFC 8707 resources: `{edge public base}/mcp/{slug}` of a server the subject may reach,
//! and the servers a user may pick when a client names no resource.

use super::{AuthServer, OAuthError};
use crate::store::{AsResourceServer, AsSubject};

/// The canonical form of a requested resource (no trailing slash).
pub(crate) fn canonical(resource: &str) -> &str {
    resource.trim_end_matches('/')
}

impl AuthServer {
    /// The server slug a resource names, if it is one of the edge's MCP URLs.
    pub(crate) fn resource_slug<'a>(&self, resource: &'a str) -> Option<&'a str> {
        let rest = canonical(resource).strip_prefix(self.settings.edge_public_url.as_str())?;
        let slug = rest.strip_prefix("/mcp/")?;
        (!slug.is_empty() && !slug.contains(['/', '?', '#'])).then_some(slug)
    }

    /// The resource URL of server `slug`.
    pub(crate) fn resource_url(&self, slug: &str) -> String {
        format!("{}/mcp/{slug}", self.settings.edge_public_url)
    }

    /// What `subject` may pick from when the client named no resource:
    /// `(resource, server name)` of every server provisioned to one of its workspaces.
    pub(crate) async fn resource_choices(
        &self,
        subject: &AsSubject,
    ) -> Result<Vec<(String, String)>, OAuthError> {
        let servers = self.store.as_servers_provisioned_to(&subject.org, &subject.ws).await?;
        if servers.is_empty() {
            return Err(OAuthError::new(
                "access_denied",
                "none of your workspaces has an MCP server provisioned",
            ));
        }
        Ok(servers.into_iter().map(|s| (self.resource_url(&s.slug), s.name)).collect())
    }

    /// The slug of `org_id`, where a user signs in when the request names no resource.
    pub(crate) async fn org_slug(&self, org_id: &str) -> Result<String, OAuthError> {
        let org = self.store.sso_org(org_id).await?;
        org.map(|o| o.slug).ok_or_else(|| OAuthError::server_error(&"the default organisation is missing"))
    }

    /// The servers a resource may name (one per org with that slug); `invalid_target` if none.
    pub(crate) async fn resource_servers(&self, resource: &str) -> Result<Vec<AsResourceServer>, OAuthError> {
        let slug = self.resource_slug(resource).ok_or_else(invalid_target)?;
        let servers = self.store.as_servers_by_slug(slug).await?;
        if servers.is_empty() {
            return Err(invalid_target());
        }
        Ok(servers)
    }

    /// Checks `subject` may get a token for `resource`: the server is in the
    /// subject's org and provisioned to one of its workspaces (`access_denied` otherwise).
    pub(crate) async fn authorize_resource(
        &self,
        resource: &str,
        subject: &AsSubject,
    ) -> Result<AsResourceServer, OAuthError> {
        let servers = self.resource_servers(resource).await?;
        let Some(server) = servers.into_iter().find(|s| s.org_id == subject.org) else {
            return Err(OAuthError::new(
                "access_denied",
                "the resource is not a server of your organisation",
            ));
        };
        if !self.store.as_server_provisioned_to(&server.server_id, &subject.ws).await? {
            return Err(OAuthError::new(
                "access_denied",
                "none of your workspaces has this server provisioned",
            ));
        }
        Ok(server)
    }
}

fn invalid_target() -> OAuthError {
    OAuthError::new("invalid_target", "resource must be the URL of an MCP server behind this gateway")
}
