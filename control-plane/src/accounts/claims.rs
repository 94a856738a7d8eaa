//! Claim mappings: which ID-token claims name the user, and which claim
//! values grant a role (`owner`, `admin`, `auditor`, `viewer`; `member` when
//! none matches) or membership of a workspace.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::validation::FieldError;

use super::Role;

const MAX_MAPPINGS: usize = 256;
const MAX_CLAIM_LEN: usize = 256;

/// How a provider's claims map onto Gatehouse users, roles and workspaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimMappings {
    /// Claim holding the stable user id (default `sub`).
    pub user_claim: String,
    /// Claim holding the email address (default `email`).
    pub email_claim: String,
    /// Claim that must be `true` (or `"true"`) for the email to be recorded: an address
    /// decides which gateway tokens, connections and links are the user's, so only one
    /// the provider vouches for counts (default `email_verified`; `xms_edov` for Entra).
    #[serde(default = "default_email_verified_claim")]
    pub email_verified_claim: String,
    /// Record the email without the verification claim, for providers that never send
    /// one and only issue addresses they own (default `false`).
    #[serde(default)]
    pub trust_unverified_email: bool,
    /// Claim holding the display name (default `name`).
    pub name_claim: String,
    /// Claim holding group names (default per provider kind, e.g. `groups`).
    pub groups_claim: Option<String>,
    /// A user whose `claim` equals (or, for arrays, contains) `value` gets `role`.
    pub role_mappings: Vec<RoleMapping>,
    /// A user whose `claim` equals (or contains) `value` is a member of `workspace` (slug).
    pub workspace_mappings: Vec<WorkspaceMapping>,
}

/// Claim value → role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleMapping {
    /// Claim name, e.g. `groups`.
    pub claim: String,
    /// Value to match exactly.
    pub value: String,
    /// `admin` or `member`.
    pub role: String,
}

/// Claim value → workspace membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceMapping {
    /// Claim name, e.g. `groups`.
    pub claim: String,
    /// Value to match exactly.
    pub value: String,
    /// Workspace slug.
    pub workspace: String,
}

/// The user as the claims describe them, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedIdentity {
    /// Stable subject (value of `user_claim`).
    pub subject: String,
    /// Email (may be empty when the provider sends none).
    pub email: String,
    /// Display name (falls back to the email, then the subject).
    pub name: String,
    /// `admin` or `member`.
    pub role: String,
    /// Slugs of the workspaces the claims grant.
    pub workspace_slugs: Vec<String>,
}

/// Why claims could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the id token has no usable {0:?} claim")]
pub struct MissingClaim(pub String);

impl ClaimMappings {
    /// The default mappings for a provider kind (everything else comes from discovery).
    pub fn preset(kind: super::ProviderKind) -> Self {
        use super::ProviderKind;
        let groups = match kind {
            ProviderKind::Okta | ProviderKind::Entra | ProviderKind::Oidc => Some("groups"),
            // Auth0 has no standard groups claim; Google Workspace sends `hd` for the domain.
            ProviderKind::Auth0 | ProviderKind::Google => None,
        };
        Self {
            user_claim: "sub".into(),
            email_claim: if kind == ProviderKind::Entra {
                "preferred_username".into()
            } else {
                "email".into()
            },
            email_verified_claim: if kind == ProviderKind::Entra {
                // Entra's optional claim: the email's domain is verified by the tenant.
                "xms_edov".into()
            } else {
                default_email_verified_claim()
            },
            trust_unverified_email: false,
            name_claim: "name".into(),
            groups_claim: groups.map(str::to_owned),
            role_mappings: Vec::new(),
            workspace_mappings: Vec::new(),
        }
    }

    /// Checks names, roles and workspace slugs; errors name the field under `claim_mappings`.
    pub fn validate(&self) -> Result<(), FieldError> {
        let f = |name: &str| format!("claim_mappings.{name}");
        for (name, value) in [
            ("user_claim", &self.user_claim),
            ("email_claim", &self.email_claim),
            ("email_verified_claim", &self.email_verified_claim),
            ("name_claim", &self.name_claim),
        ] {
            claim_name(&f(name), value)?;
        }
        if let Some(groups) = &self.groups_claim {
            claim_name(&f("groups_claim"), groups)?;
        }
        if self.role_mappings.len() > MAX_MAPPINGS || self.workspace_mappings.len() > MAX_MAPPINGS {
            return Err(FieldError::new(f("role_mappings"), format!("at most {MAX_MAPPINGS} mappings")));
        }
        for (i, m) in self.role_mappings.iter().enumerate() {
            claim_name(&f(&format!("role_mappings[{i}].claim")), &m.claim)?;
            if m.value.is_empty() || m.value.len() > MAX_CLAIM_LEN {
                return Err(FieldError::new(f(&format!("role_mappings[{i}].value")), "must be 1-256 bytes"));
            }
            if Role::parse(&m.role).is_none() {
                let names: Vec<&str> = Role::ALL.iter().rev().map(|r| r.as_str()).collect();
                return Err(FieldError::new(
                    f(&format!("role_mappings[{i}].role")),
                    format!("must be one of {}", names.join(", ")),
                ));
            }
        }
        for (i, m) in self.workspace_mappings.iter().enumerate() {
            claim_name(&f(&format!("workspace_mappings[{i}].claim")), &m.claim)?;
            if m.value.is_empty() || m.value.len() > MAX_CLAIM_LEN {
                return Err(FieldError::new(
                    f(&format!("workspace_mappings[{i}].value")),
                    "must be 1-256 bytes",
                ));
            }
            crate::validation::slug(&f(&format!("workspace_mappings[{i}].workspace")), &m.workspace)?;
        }
        Ok(())
    }

    /// Maps verified ID-token claims to an identity, role and workspace slugs.
    pub fn map(&self, claims: &Map<String, Value>) -> Result<MappedIdentity, MissingClaim> {
        let subject = string_claim(claims, &self.user_claim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| MissingClaim(self.user_claim.clone()))?;
        let email = string_claim(claims, &self.email_claim)
            .filter(|_| self.trust_unverified_email || is_true(claims.get(&self.email_verified_claim)))
            .unwrap_or_default();
        let name = string_claim(claims, &self.name_claim).filter(|s| !s.is_empty()).unwrap_or_else(|| {
            if email.is_empty() {
                subject.clone()
            } else {
                email.clone()
            }
        });
        // Several mappings may match: the highest role wins.
        let role = self
            .role_mappings
            .iter()
            .filter(|m| matches(claims, &m.claim, &m.value))
            .filter_map(|m| Role::parse(&m.role))
            .max()
            .unwrap_or(Role::Member);
        let mut workspace_slugs: Vec<String> = self
            .workspace_mappings
            .iter()
            .filter(|m| matches(claims, &m.claim, &m.value))
            .map(|m| m.workspace.clone())
            .collect();
        workspace_slugs.sort();
        workspace_slugs.dedup();
        Ok(MappedIdentity { subject, email, name, role: role.as_str().to_owned(), workspace_slugs })
    }
}

fn default_email_verified_claim() -> String {
    "email_verified".into()
}

/// A boolean claim that is true (some providers send the string `"true"`).
fn is_true(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn claim_name(field: &str, value: &str) -> Result<(), FieldError> {
    if value.is_empty() || value.len() > MAX_CLAIM_LEN || value.chars().any(char::is_control) {
        return Err(FieldError::new(field, "must be a claim name of 1-256 visible characters"));
    }
    Ok(())
}

/// A string claim; numbers are accepted as their decimal text (some IdPs send numeric ids).
fn string_claim(claims: &Map<String, Value>, name: &str) -> Option<String> {
    match claims.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The claim equals `value`, or is an array with an element equal to it.
fn matches(claims: &Map<String, Value>, claim: &str, value: &str) -> bool {
    let is = |v: &Value| match v {
        Value::String(s) => s == value,
        Value::Bool(b) => b.to_string() == value,
        Value::Number(n) => n.to_string() == value,
        _ => false,
    };
    match claims.get(claim) {
        Some(Value::Array(items)) => items.iter().any(is),
        Some(other) => is(other),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::accounts::ProviderKind;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn maps_roles_and_workspaces_from_arrays_and_strings() {
        let mut m = ClaimMappings::preset(ProviderKind::Oidc);
        m.role_mappings.push(RoleMapping {
            claim: "groups".into(),
            value: "ops".into(),
            role: "admin".into(),
        });
        m.workspace_mappings.push(WorkspaceMapping {
            claim: "dept".into(),
            value: "eng".into(),
            workspace: "platform".into(),
        });
        let admin = m
            .map(&claims(
                json!({"sub": "u1", "email": "a@x", "email_verified": true, "groups": ["dev", "ops"], "dept": "eng"}),
            ))
            .unwrap();
        assert_eq!(admin.role, "admin");
        assert_eq!(admin.workspace_slugs, vec!["platform".to_owned()]);
        assert_eq!(admin.name, "a@x");
        let member = m.map(&claims(json!({"sub": "u2", "groups": "dev"}))).unwrap();
        assert_eq!(member.role, "member");
        assert!(member.workspace_slugs.is_empty());
        assert_eq!(member.name, "u2");
        assert!(m.map(&claims(json!({"email": "a@x"}))).is_err());
    }

    #[test]
    fn only_a_verified_email_is_recorded_unless_the_provider_is_trusted() {
        let m = ClaimMappings::preset(ProviderKind::Oidc);
        let email = |c: Value| m.map(&claims(c)).unwrap().email;
        assert_eq!(email(json!({"sub": "u", "email": "a@x", "email_verified": true})), "a@x");
        assert_eq!(email(json!({"sub": "u", "email": "a@x", "email_verified": "true"})), "a@x");
        for unverified in [json!(false), json!("false"), json!(null), json!(1)] {
            assert_eq!(email(json!({"sub": "u", "email": "a@x", "email_verified": unverified})), "");
        }
        let unverified = m.map(&claims(json!({"sub": "u", "email": "a@x"}))).unwrap();
        assert_eq!((unverified.email.as_str(), unverified.name.as_str()), ("", "u"));
        let entra = ClaimMappings::preset(ProviderKind::Entra);
        assert_eq!(entra.email_verified_claim, "xms_edov");
        let trusting = ClaimMappings { trust_unverified_email: true, ..m.clone() };
        assert_eq!(trusting.map(&claims(json!({"sub": "u", "email": "a@x"}))).unwrap().email, "a@x");
        // Stored mappings from before the setting existed are strict.
        let mut stored = serde_json::to_value(&m).unwrap();
        stored.as_object_mut().unwrap().remove("email_verified_claim");
        stored.as_object_mut().unwrap().remove("trust_unverified_email");
        let old: ClaimMappings = serde_json::from_value(stored).unwrap();
        assert_eq!(
            (old.email_verified_claim.as_str(), old.trust_unverified_email),
            ("email_verified", false)
        );
    }

    #[test]
    fn the_highest_matching_role_wins() {
        let mut m = ClaimMappings::preset(ProviderKind::Okta);
        for (value, role) in [("readers", "viewer"), ("audit", "auditor"), ("ops", "admin")] {
            m.role_mappings.push(RoleMapping {
                claim: "groups".into(),
                value: value.into(),
                role: role.into(),
            });
        }
        let id =
            |groups: serde_json::Value| m.map(&claims(json!({"sub": "u", "groups": groups}))).unwrap().role;
        assert_eq!(id(json!(["readers", "audit"])), "auditor");
        assert_eq!(id(json!(["readers", "ops"])), "admin");
        assert_eq!(id(json!(["readers"])), "viewer");
        assert_eq!(id(json!(["other"])), "member");
    }

    #[test]
    fn validation_names_the_field() {
        let mut m = ClaimMappings::preset(ProviderKind::Okta);
        m.role_mappings.push(RoleMapping { claim: "groups".into(), value: "x".into(), role: "root".into() });
        assert_eq!(m.validate().unwrap_err().field, "claim_mappings.role_mappings[0].role");
        for role in ["owner", "admin", "auditor", "viewer", "member"] {
            let mut m = ClaimMappings::preset(ProviderKind::Okta);
            m.role_mappings.push(RoleMapping {
                claim: "groups".into(),
                value: "x".into(),
                role: role.into(),
            });
            assert!(m.validate().is_ok(), "{role} is a role mappings may grant");
        }
        let mut m = ClaimMappings::preset(ProviderKind::Okta);
        m.workspace_mappings.push(WorkspaceMapping {
            claim: "g".into(),
            value: "x".into(),
            workspace: "Bad Slug".into(),
        });
        assert_eq!(m.validate().unwrap_err().field, "claim_mappings.workspace_mappings[0].workspace");
    }
}
