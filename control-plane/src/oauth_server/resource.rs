//! RFC 8707 resources: `{edge public base}/mcp/{slug}` of a server the subject may reach.

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
