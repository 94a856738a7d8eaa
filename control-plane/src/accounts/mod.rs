//! People as every part of the control plane sees them, whatever signed them
//! in and wherever they are stored: the signed-in [`AuthenticatedUser`] and the
//! org roles, identity-provider kinds, and the claim mappings that turn a
//! provider's ID token into a user, a role and workspace memberships.
//!
//! Pure types and rules, no HTTP and no database, so the store (which persists
//! them) and SSO (which logs people in) can both depend on them.

pub mod claims;
pub mod roles;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use claims::{ClaimMappings, RoleMapping, WorkspaceMapping};
pub use roles::{names_user, Access, OrgScope, Principal, Role};

/// Slug of the org created at first start: the org of single-org installs, the
/// one plain `/v1/...` routes act on for the platform admin, and the one
/// `/mcp/{server_slug}` reaches (the edge reads the same constant).
pub use gatehouse_config::mcp_path::DEFAULT_ORG_SLUG;

/// A signed-in person, as every other module sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AuthenticatedUser {
    /// Stable user id.
    pub user_id: String,
    /// The org the user belongs to.
    pub org_id: String,
    /// Email from the provider (may be empty).
    pub email: String,
    /// Display name.
    pub name: String,
    /// Org-level roles (`owner`, `admin`, `auditor`, `viewer` or `member`).
    pub roles: Vec<String>,
    /// Ids of the workspaces the user is a member of.
    pub workspace_ids: Vec<String>,
}

impl AuthenticatedUser {
    /// The user's role in their org: the highest of their roles (unknown names count as `member`).
    pub fn role(&self) -> Role {
        self.roles.iter().filter_map(|r| Role::parse(r)).max().unwrap_or(Role::Member)
    }
}

/// The provider presets; they only change default claim names and scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Okta (groups in `groups`).
    Okta,
    /// Auth0.
    Auth0,
    /// Microsoft Entra ID (Azure AD).
    Entra,
    /// Google Workspace.
    Google,
    /// Any other OpenID Connect issuer.
    Oidc,
}

impl ProviderKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Okta => "okta",
            ProviderKind::Auth0 => "auth0",
            ProviderKind::Entra => "entra",
            ProviderKind::Google => "google",
            ProviderKind::Oidc => "oidc",
        }
    }

    /// Parses a stored name.
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "okta" => ProviderKind::Okta,
            "auth0" => ProviderKind::Auth0,
            "entra" => ProviderKind::Entra,
            "google" => ProviderKind::Google,
            "oidc" => ProviderKind::Oidc,
            _ => return None,
        })
    }

    /// Default scopes requested at login.
    pub fn default_scopes(self) -> Vec<String> {
        let mut scopes = vec!["openid".to_owned(), "email".to_owned(), "profile".to_owned()];
        if matches!(self, ProviderKind::Okta) {
            scopes.push("groups".to_owned());
        }
        scopes
    }
}
