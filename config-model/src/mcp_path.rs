//! The MCP URLs of servers, which the edges serve and Gatehouse's authorization server issues
//! tokens for (their RFC 8707 resources): `{edge public base}/mcp/{org}/{server}`, and for the
//! default org also the older `{edge public base}/mcp/{server}`.
//!
//! Server slugs are unique per org only, so the org is part of every server's address; the
//! legacy form names a server of the default org and never one of another org.

/// Slug of the org the control plane creates at first start, the one `/mcp/{server}` reaches.
pub const DEFAULT_ORG_SLUG: &str = "default";

/// The path of an MCP server as a client wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpPath {
    /// The org's slug; `None` for the legacy `/mcp/{server}` of the default org.
    pub org: Option<String>,
    /// The server's slug within the org.
    pub slug: String,
}

impl McpPath {
    /// `/mcp/{org}/{slug}`.
    pub fn qualified(org: &str, slug: &str) -> Self {
        Self { org: Some(org.to_owned()), slug: slug.to_owned() }
    }

    /// The default org's `/mcp/{slug}`.
    pub fn legacy(slug: &str) -> Self {
        Self { org: None, slug: slug.to_owned() }
    }

    /// Parses `/mcp/{org}/{slug}` or `/mcp/{slug}` (no query, fragment or empty segment).
    pub fn parse(path: &str) -> Option<Self> {
        let rest = path.strip_prefix("/mcp/")?;
        if rest.contains(['?', '#']) {
            return None;
        }
        let mut segments = rest.split('/');
        let (first, second) = (segments.next()?, segments.next());
        if segments.next().is_some() || first.is_empty() || second.is_some_and(str::is_empty) {
            return None;
        }
        Some(match second {
            Some(slug) => Self::qualified(first, slug),
            None => Self::legacy(first),
        })
    }

    /// The slug of the org this path reaches (the default org's for the legacy form).
    pub fn org_slug(&self) -> &str {
        self.org.as_deref().unwrap_or(DEFAULT_ORG_SLUG)
    }

    /// Whether this is the legacy `/mcp/{slug}`.
    pub fn is_legacy(&self) -> bool {
        self.org.is_none()
    }

    /// The path as the client wrote it.
    pub fn path(&self) -> String {
        match &self.org {
            Some(org) => format!("/mcp/{org}/{}", self.slug),
            None => format!("/mcp/{}", self.slug),
        }
    }

    /// The canonical path of the server: always org-qualified.
    pub fn canonical_path(&self) -> String {
        format!("/mcp/{}/{}", self.org_slug(), self.slug)
    }

    /// The paths a Gatehouse access token for this server may name as its audience: the
    /// canonical one, and for the default org also the legacy one (tokens for either form
    /// are good at both URLs of a default-org server, and only there).
    pub fn audience_paths(&self) -> Vec<String> {
        let mut paths = vec![self.canonical_path()];
        if self.org_slug() == DEFAULT_ORG_SLUG {
            paths.push(format!("/mcp/{}", self.slug));
        }
        paths
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms_and_nothing_else() {
        assert_eq!(McpPath::parse("/mcp/acme/files"), Some(McpPath::qualified("acme", "files")));
        assert_eq!(McpPath::parse("/mcp/files"), Some(McpPath::legacy("files")));
        for bad in ["/mcp/", "/mcp//files", "/mcp/acme/", "/mcp/a/b/c", "/mcp/x?y", "/mcp/x#y", "/x/mcp/a"] {
            assert_eq!(McpPath::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_legacy_form_is_the_default_orgs_only() {
        let legacy = McpPath::legacy("files");
        assert_eq!((legacy.org_slug(), legacy.path()), ("default", "/mcp/files".to_owned()));
        assert_eq!(legacy.canonical_path(), "/mcp/default/files");
        assert_eq!(legacy.audience_paths(), ["/mcp/default/files", "/mcp/files"]);
        assert_eq!(McpPath::qualified("default", "files").audience_paths(), legacy.audience_paths());
        let acme = McpPath::qualified("acme", "files");
        assert_eq!(acme.audience_paths(), ["/mcp/acme/files"]);
        assert_eq!(acme.path(), acme.canonical_path());
    }
}
