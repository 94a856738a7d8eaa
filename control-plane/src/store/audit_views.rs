//! What an admin audit row's `before`/`after` shows of each kind of record: the
//! fields an admin would recognise, never a secret (token texts, hashes and
//! sealed values are not part of any view). Every view also passes through the
//! shared redaction rule when it is recorded ([`super::WriteTxn::audit_before`]),
//! so a secret pasted into a free-text field is caught too.

use serde_json::{json, Value};

use super::{
    ApiKey, CertificateIdentityRecord, EdgeTokenRecord, Org, OrgAuthSettings, Provision, RateLimitRecord,
    TokenRecord, Workspace,
};

/// A record as its audit rows show it.
pub(crate) trait AuditView {
    /// The view (before redaction).
    fn audit_view(&self) -> Value;
}

impl AuditView for Value {
    fn audit_view(&self) -> Value {
        self.clone()
    }
}

impl AuditView for Org {
    fn audit_view(&self) -> Value {
        json!({"id": self.id, "slug": self.slug, "name": self.name})
    }
}

impl AuditView for Workspace {
    fn audit_view(&self) -> Value {
        json!({"id": self.id, "slug": self.slug, "name": self.name})
    }
}

impl AuditView for Provision {
    fn audit_view(&self) -> Value {
        json!({
            "workspace": self.workspace_slug,
            "server": self.server_slug,
            "tools": {"allow": self.tools.allow, "deny": self.tools.deny},
        })
    }
}

impl AuditView for TokenRecord {
    fn audit_view(&self) -> Value {
        json!({
            "id": self.id,
            "team": self.team,
            "user": self.user,
            "token_hint": self.token_hint,
            "scopes": self.scopes,
            "server_permissions": self.server_permissions,
            "tool_permissions": self.tool_permissions,
            "expires_at": self.expires_at,
            "issued_at": self.issued_at,
            "revoked_at": self.revoked_at,
        })
    }
}

impl AuditView for CertificateIdentityRecord {
    fn audit_view(&self) -> Value {
        json!({
            "id": self.id,
            "team": self.team,
            "kind": self.kind.as_str(),
            "value": self.value,
            "user": self.user,
            "scopes": self.scopes,
            "server_permissions": self.server_permissions,
            "tool_permissions": self.tool_permissions,
            "issuer_ca_sha256": self.issuer.ca_sha256.map(hex),
            "spiffe_trust_domain": self.issuer.spiffe_trust_domain,
            "disabled_at": self.disabled_at,
        })
    }
}

impl AuditView for RateLimitRecord {
    fn audit_view(&self) -> Value {
        let s = &self.spec;
        json!({
            "id": self.id,
            "name": s.name,
            "match": {"workspace": s.workspace, "user": s.user, "server": s.server, "tool": s.tool,
                "per_caller": s.per_caller},
            "kind": s.kind.as_str(),
            "amount": s.amount,
            "per": s.period.as_str(),
            "burst": s.burst,
        })
    }
}

impl AuditView for OrgAuthSettings {
    fn audit_view(&self) -> Value {
        json!({"jwt_validation": self.jwt_validation, "external_auth_config": self.external_auth_config})
    }
}

impl AuditView for EdgeTokenRecord {
    fn audit_view(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "token_hint": self.token_hint,
            "orgs": self.orgs,
            "revoked_at": self.revoked_at,
        })
    }
}

impl AuditView for ApiKey {
    fn audit_view(&self) -> Value {
        json!({"id": self.id, "name": self.name, "role": self.role.as_str(), "hint": self.hint})
    }
}

impl AuditView for super::users::User {
    fn audit_view(&self) -> Value {
        json!({"id": self.id, "email": self.email, "name": self.name, "role": self.role, "issuer": self.issuer,
            "deactivated_at": self.deactivated_at})
    }
}

impl AuditView for super::grants::Grant {
    fn audit_view(&self) -> Value {
        json!({
            "id": self.id,
            "user": self.user,
            "identity_source": self.identity_source.as_str(),
            "issuer": self.issuer,
            "server_id": self.server_id,
            "status": self.status,
            "scopes": self.scopes,
        })
    }
}

impl AuditView for super::sso_providers::SsoProvider {
    fn audit_view(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "kind": self.kind.as_str(),
            "issuer": self.issuer,
            "client_id": self.client_id,
            "has_client_secret": self.has_client_secret,
            "scopes": self.scopes,
            "claim_mappings": serde_json::to_value(&self.claim_mappings).unwrap_or_default(),
            "enabled": self.enabled,
        })
    }
}

impl AuditView for super::AsClient {
    fn audit_view(&self) -> Value {
        json!({
            "client_id": self.client_id,
            "kind": self.kind.as_str(),
            "name": self.name,
            "grant_types": self.grant_types,
            "scopes": self.scopes,
            "workspace_id": self.workspace_id,
        })
    }
}

fn hex(bytes: [u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
