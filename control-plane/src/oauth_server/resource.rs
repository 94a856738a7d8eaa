//! RFC 8707 resources: `{edge public base}/mcp/{org}/{slug}` of a server the subject may reach
//! (and the default org's `{edge public base}/mcp/{slug}`), and the servers a user may pick
//! when a client names no resource.
//!
//! A resource names exactly one server of exactly one org: the legacy form only ever names a
//! server of the default org, so a token for one org's server is never good at another's.

use gatehouse_config::mcp_path::{McpPath, DEFAULT_ORG_SLUG};

use super::{AuthServer, OAuthError};
use crate::store::{AsResourceServer, AsSubject};

/// The canonical form of a requested resource (no trailing slash).
pub(crate) fn canonical(resource: &str) -> &str {
    resource.trim_end_matches('/')
}

/// The servers a user may pick from, all of one org.
pub(crate) struct ResourceChoices {
    /// The org's display name.
    pub org_name: String,
    /// `(resource, server name)` of each server.
    pub servers: Vec<(String, String)>,
}

impl AuthServer {
    /// The server path a resource names, if it is one of the edge's MCP URLs.
    pub(crate) fn resource_path(&self, resource: &str) -> Option<McpPath> {
        let rest = canonical(resource).strip_prefix(self.settings.edge_public_url.as_str())?;
        McpPath::parse(rest)
    }

    /// The resource URL of `path`.
    pub(crate) fn resource_url(&self, path: &McpPath) -> String {
        format!("{}{}", self.settings.edge_public_url, path.path())
    }

    /// What `subject` may pick from when the client named no resource: every server of its
    /// org provisioned to one of its workspaces, offered at the URL its org's clients use
    /// (`/mcp/{org}/{slug}`; the default org's keep their `/mcp/{slug}`, good at both).
    pub(crate) async fn resource_choices(&self, subject: &AsSubject) -> Result<ResourceChoices, OAuthError> {
        let servers = self.store.as_servers_provisioned_to(&subject.org, &subject.ws).await?;
        let Some(first) = servers.first() else {
            return Err(OAuthError::new(
                "access_denied",
                "none of your workspaces has an MCP server provisioned",
            ));
        };
        let org_name = first.org_name.clone();
        let servers = servers
            .into_iter()
            .map(|s| {
                let path = if s.org_slug == DEFAULT_ORG_SLUG {
                    McpPath::legacy(&s.slug)
                } else {
                    McpPath::qualified(&s.org_slug, &s.slug)
                };
                (self.resource_url(&path), s.name)
            })
            .collect();
        Ok(ResourceChoices { org_name, servers })
    }

    /// The slug of `org_id`, where a user signs in when the request names no resource.
    pub(crate) async fn org_slug(&self, org_id: &str) -> Result<String, OAuthError> {
        let org = self.store.sso_org(org_id).await?;
        org.map(|o| o.slug).ok_or_else(|| OAuthError::server_error(&"the default organisation is missing"))
    }

    /// The one server a resource names; `invalid_target` if none.
    pub(crate) async fn resource_server(&self, resource: &str) -> Result<AsResourceServer, OAuthError> {
        let path = self.resource_path(resource).ok_or_else(invalid_target)?;
        self.store.as_resource_server(path.org_slug(), &path.slug).await?.ok_or_else(invalid_target)
    }

    /// Checks `subject` may get a token for `resource`: the server is in the
    /// subject's org and provisioned to one of its workspaces (`access_denied` otherwise).
    pub(crate) async fn authorize_resource(
        &self,
        resource: &str,
        subject: &AsSubject,
    ) -> Result<AsResourceServer, OAuthError> {
        let server = self.resource_server(resource).await?;
        if server.org_id != subject.org {
            return Err(OAuthError::new(
                "access_denied",
                "the resource is not a server of your organisation",
            ));
        }
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
