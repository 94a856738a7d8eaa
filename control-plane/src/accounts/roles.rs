//! Org roles, who is calling the admin API, and what each route needs.
//!
//! Roles are ordered by what they may do, `owner` > `admin` > `auditor` >
//! `viewer` > `member`, so a claim mapping granting several roles gives the
//! highest; but what a role may do is decided by [`Role::allows`], not by
//! the order (a member may change their own tokens, a viewer nothing).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An org-level role of an SSO user or an org API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Their own gateway tokens and upstream connections, and the read-only
    /// registry of the servers provisioned to their workspaces.
    Member,
    /// Read-only everything except secrets.
    Viewer,
    /// Read-only everything, plus the audit trail.
    Auditor,
    /// Registry, workspaces, provisioning, gateway tokens, users, API keys up to `admin`.
    Admin,
    /// Everything in the org: settings, SSO providers, every API key, deleting the org's data.
    Owner,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 5] = [Role::Member, Role::Viewer, Role::Auditor, Role::Admin, Role::Owner];

    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Viewer => "viewer",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// Parses a stored name.
    pub fn parse(value: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == value)
    }

    /// Whether this role may use a route that needs `access`.
    pub fn allows(self, access: Access) -> bool {
        match access {
            Access::Platform => false,
            Access::Owner => self == Role::Owner,
            Access::Admin => matches!(self, Role::Owner | Role::Admin),
            Access::Audit => matches!(self, Role::Owner | Role::Admin | Role::Auditor),
            Access::Read => matches!(self, Role::Owner | Role::Admin | Role::Auditor | Role::Viewer),
            Access::OwnRead => true,
            Access::OwnWrite => matches!(self, Role::Owner | Role::Admin | Role::Member),
        }
    }

    /// Whether the role acts on every record of the org, not only the caller's own.
    pub fn manages_everyone(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }

    /// Whether the role reads every record of the org (members read only their own).
    pub fn reads_everything(self) -> bool {
        self != Role::Member
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a route needs of its caller. Every admin route has exactly one
/// (`api::access` holds the table); the OpenAPI document shows it as
/// `x-gatehouse-access`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// The platform operator only (orgs, the edge fleet, signing keys).
    Platform,
    /// The org's owners.
    Owner,
    /// Owners and admins.
    Admin,
    /// Owners, admins and auditors (the audit trail).
    Audit,
    /// Everyone but members: owners, admins, auditors, viewers.
    Read,
    /// Every role; members see only their own records (and the servers of their workspaces).
    OwnRead,
    /// Owners and admins on anything, members on their own records; viewers and auditors never.
    OwnWrite,
}

impl Access {
    /// The roles allowed, for error messages and the OpenAPI document.
    pub fn describe(self) -> &'static str {
        match self {
            Access::Platform => "the platform admin token",
            Access::Owner => "the owner role",
            Access::Admin => "the admin or owner role",
            Access::Audit => "the auditor, admin or owner role",
            Access::Read => "the viewer, auditor, admin or owner role",
            Access::OwnRead => "any role (members see only their own records)",
            Access::OwnWrite => "the member, admin or owner role (members act only on their own records)",
        }
    }
}

/// Who is calling an admin route.
#[derive(Debug, Clone)]
pub enum Principal {
    /// The platform operator's bootstrap admin token: every org, as owner, plus the platform routes.
    Platform,
    /// An org API key.
    ApiKey {
        /// The key's id.
        id: String,
        /// Its org.
        org_id: String,
        /// Its role.
        role: Role,
    },
    /// A signed-in person.
    Session(super::AuthenticatedUser),
}

/// The org an admin request acts on, and who acts: what every org-scoped handler works from.
#[derive(Debug, Clone)]
pub struct OrgScope {
    /// The org's id.
    pub org_id: String,
    /// The org's slug.
    pub org_slug: String,
    /// The caller.
    pub principal: Principal,
    /// The caller's role in this org (the platform admin is an owner everywhere).
    pub role: Role,
}

impl OrgScope {
    /// Whether `user` (a Gatehouse user name as grants and gateway tokens carry
    /// it) is the caller: their user id, or their email (case-insensitive),
    /// since gateway tokens usually name people by email. Owners and admins own
    /// everything; API keys of other roles own nothing, being nobody.
    pub fn owns(&self, user: &str) -> bool {
        if self.role.manages_everyone() {
            return true;
        }
        match &self.principal {
            Principal::Session(me) => names_user(user, &me.user_id, &me.email),
            Principal::Platform | Principal::ApiKey { .. } => false,
        }
    }

    /// The signed-in person, if the caller is one.
    pub fn user(&self) -> Option<&super::AuthenticatedUser> {
        match &self.principal {
            Principal::Session(user) => Some(user),
            _ => None,
        }
    }

    /// The workspaces a member's view is limited to (`None`: the role sees every workspace).
    pub fn member_workspaces(&self) -> Option<&[String]> {
        if self.role.reads_everything() {
            return None;
        }
        Some(self.user().map(|u| u.workspace_ids.as_slice()).unwrap_or(&[]))
    }
}

/// Whether a user name (as grants and tokens carry it) denotes the user with `user_id` and `email`.
pub fn names_user(name: &str, user_id: &str, email: &str) -> bool {
    name == user_id || (!email.is_empty() && name.eq_ignore_ascii_case(email))
}

#[cfg(test)]
mod tests {
    use super::{Access, Role};

    #[test]
    fn roles_round_trip_and_order() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
        assert!(Role::Owner > Role::Admin && Role::Admin > Role::Auditor);
        assert!(Role::Auditor > Role::Viewer && Role::Viewer > Role::Member);
    }

    #[test]
    fn the_roles_table() {
        use Access::*;
        let table: &[(Role, &[Access])] = &[
            (Role::Owner, &[Owner, Admin, Audit, Read, OwnRead, OwnWrite]),
            (Role::Admin, &[Admin, Audit, Read, OwnRead, OwnWrite]),
            (Role::Auditor, &[Audit, Read, OwnRead]),
            (Role::Viewer, &[Read, OwnRead]),
            (Role::Member, &[OwnRead, OwnWrite]),
        ];
        let every = [Platform, Owner, Admin, Audit, Read, OwnRead, OwnWrite];
        for (role, allowed) in table {
            for access in every {
                assert_eq!(role.allows(access), allowed.contains(&access), "{role} {access:?}");
            }
        }
    }
}
