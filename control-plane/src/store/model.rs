//! Domain types the store takes and returns (entities never leave the store).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use gatehouse_config::identity::cert_names::CertNameKind;
use secrecy::{SecretBox, SecretString};

use crate::tokens::Lifetime;

/// An organisation (tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    /// Stable id.
    pub id: String,
    /// Unique slug (`default` for the org created at start).
    pub slug: String,
    /// Display name.
    pub name: String,
}

/// A workspace (team) inside an org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// Stable id.
    pub id: String,
    /// Owning org.
    pub org_id: String,
    /// Slug, unique within the org.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Input to create a workspace (already validated).
#[derive(Debug, Clone)]
pub struct NewWorkspace {
    /// Slug, unique within the org.
    pub slug: String,
    /// Display name.
    pub name: String,
}

/// A registered upstream server, as shown to admins (header names only).
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    /// Stable id.
    pub id: String,
    /// Owning org.
    pub org_id: String,
    /// Slug, unique within the org, immutable.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Upstream MCP endpoint.
    pub url: String,
    /// `none` | `headers` (later more).
    pub auth_type: String,
    /// Names of the static headers; the values are sealed and write-only.
    pub header_names: Vec<String>,
    /// Free-form JSON object kept for later capabilities.
    pub advanced_config: serde_json::Value,
    /// Whether new workspaces get this server provisioned automatically.
    pub auto_provision: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Input to register a server (already validated).
#[derive(Debug, Clone)]
pub struct NewServer {
    /// Slug, unique within the org.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Upstream MCP endpoint.
    pub url: String,
    /// `none` | `headers`.
    pub auth_type: String,
    /// Static headers (lower-case names); values are sealed before storage.
    pub headers: BTreeMap<String, SecretString>,
    /// JSON object.
    pub advanced_config: serde_json::Value,
    /// Provision to every new workspace.
    pub auto_provision: bool,
}

/// A partial update of a server; `None` leaves the field unchanged.
#[derive(Debug, Clone, Default)]
pub struct ServerPatch {
    /// New display name.
    pub name: Option<String>,
    /// New upstream URL.
    pub url: Option<String>,
    /// New auth type.
    pub auth_type: Option<String>,
    /// Replaces the whole header set.
    pub headers: Option<BTreeMap<String, SecretString>>,
    /// Replaces the advanced config.
    pub advanced_config: Option<serde_json::Value>,
    /// New auto-provision flag.
    pub auto_provision: Option<bool>,
}

/// Tool globs of one provision; empty `allow` allows every tool not denied.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ToolRules {
    /// Globs a tool must match (empty = all).
    pub allow: Vec<String>,
    /// Globs that always deny.
    pub deny: Vec<String>,
}

/// A server provisioned to a workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provision {
    /// Workspace id.
    pub workspace_id: String,
    /// Workspace slug.
    pub workspace_slug: String,
    /// Server id.
    pub server_id: String,
    /// Server slug.
    pub server_slug: String,
    /// Tool globs.
    pub tools: ToolRules,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Input to mint a gateway token (already validated, except references).
#[derive(Clone)]
pub struct NewToken {
    /// Workspace slug (`team` in the API); must exist.
    pub team: String,
    /// Who the token is for.
    pub user: String,
    /// Free-form scopes.
    pub scopes: Vec<String>,
    /// Server slugs the token may reach (empty = all provisioned); each must exist.
    pub server_permissions: Vec<String>,
    /// Tool globs the token may call (empty = all).
    pub tool_permissions: Vec<String>,
    /// How long the token lives.
    pub lifetime: Lifetime,
    /// SHA-256 of the token text.
    pub hash: [u8; 32],
    /// Non-secret hint.
    pub hint: String,
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewToken")
            .field("team", &self.team)
            .field("user", &self.user)
            .field("hint", &self.hint)
            .finish_non_exhaustive()
    }
}

/// A gateway token as listed (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Stable id (kept across rotation).
    pub id: String,
    /// Owning org.
    pub org_id: String,
    /// Workspace id.
    pub workspace_id: String,
    /// Workspace slug.
    pub team: String,
    /// Who the token is for.
    pub user: String,
    /// Non-secret hint of the current secret.
    pub token_hint: String,
    /// Free-form scopes.
    pub scopes: Vec<String>,
    /// Server slugs (empty = all provisioned).
    pub server_permissions: Vec<String>,
    /// Tool globs (empty = all).
    pub tool_permissions: Vec<String>,
    /// Expiry; `None` never expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When the current secret was issued.
    pub issued_at: DateTime<Utc>,
    /// Revocation time, kept for audit.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Filters for listing tokens.
#[derive(Debug, Clone, Default)]
pub struct TokenFilter {
    /// Workspace slug.
    pub team: Option<String>,
    /// Exact user.
    pub user: Option<String>,
    /// Only tokens naming this person: (user id, e-mail); the e-mail in any case.
    pub owned_by: Option<(String, String)>,
    /// Only tokens in this state now.
    pub status: Option<TokenStatus>,
}

/// A gateway token's state at a moment: revocation wins over expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenStatus {
    /// Neither revoked nor past its expiry.
    Active,
    /// Past its expiry, not revoked.
    Expired,
    /// Revoked.
    Revoked,
}

impl TokenStatus {
    /// The state of a token with these times at `now`.
    pub fn at(
        revoked_at: Option<DateTime<Utc>>,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        if revoked_at.is_some() {
            TokenStatus::Revoked
        } else if expires_at.is_some_and(|e| e <= now) {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        }
    }

    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Expired => "expired",
            TokenStatus::Revoked => "revoked",
        }
    }
}

/// Input to register a certificate identity (already validated, except references).
#[derive(Debug, Clone)]
pub struct NewCertificateIdentity {
    /// Workspace slug (`team` in the API); must exist.
    pub team: String,
    /// Which certificate name is matched.
    pub kind: CertNameKind,
    /// The name, normalised.
    pub value: String,
    /// Who the certificate holder is.
    pub user: String,
    /// Free-form scopes.
    pub scopes: Vec<String>,
    /// Server slugs the holder may reach (empty = all provisioned); each must exist.
    pub server_permissions: Vec<String>,
    /// Tool globs the holder may call (empty = all).
    pub tool_permissions: Vec<String>,
    /// What must have issued a matching certificate.
    pub issuer: CertificateIssuer,
}

/// The CA a certificate identity is bound to: a matching certificate must be signed by
/// the CA whose certificate has this SHA-256 and, when a trust domain is given, carry a
/// SPIFFE ID in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateIssuer {
    /// SHA-256 of the issuing CA's certificate; `None` only on identities registered
    /// before bindings existed.
    pub ca_sha256: Option<[u8; 32]>,
    /// SPIFFE trust domain (`acme.example`); `None` = any.
    pub spiffe_trust_domain: Option<String>,
}

/// A certificate identity: a client certificate name bound to a user and workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateIdentityRecord {
    /// Stable id.
    pub id: String,
    /// Owning org.
    pub org_id: String,
    /// Workspace id.
    pub workspace_id: String,
    /// Workspace slug.
    pub team: String,
    /// Which certificate name is matched.
    pub kind: CertNameKind,
    /// The name, normalised.
    pub value: String,
    /// Who the certificate holder is.
    pub user: String,
    /// Free-form scopes.
    pub scopes: Vec<String>,
    /// Server slugs (empty = all provisioned).
    pub server_permissions: Vec<String>,
    /// Tool globs (empty = all).
    pub tool_permissions: Vec<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When it was disabled by the deactivation of the user it names (it no longer authenticates).
    pub disabled_at: Option<DateTime<Utc>>,
    /// What must have issued a matching certificate.
    pub issuer: CertificateIssuer,
}

/// A server as the edge needs it: with decrypted header values.
pub struct EdgeServer {
    /// The admin-facing fields.
    pub server: Server,
    /// Decrypted static headers, by lower-case name.
    pub headers: BTreeMap<String, SecretString>,
}

/// A live gateway token as the edge needs it.
#[derive(Debug, Clone)]
pub struct EdgeToken {
    /// The token's fields.
    pub record: TokenRecord,
    /// SHA-256 of the token text.
    pub hash: [u8; 32],
}

/// Everything the edges need, read in one transaction at one version.
pub struct EdgeState {
    /// Config version this state is at.
    pub version: u64,
    /// All organisations.
    pub orgs: Vec<Org>,
    /// All servers.
    pub servers: Vec<EdgeServer>,
    /// All workspaces.
    pub workspaces: Vec<Workspace>,
    /// All provisions.
    pub provisions: Vec<Provision>,
    /// Non-revoked, non-expired tokens.
    pub tokens: Vec<EdgeToken>,
    /// Every certificate identity.
    pub certificate_identities: Vec<CertificateIdentityRecord>,
    /// 32-byte key binding MCP session ids to callers.
    pub session_binding_key: Option<SecretBox<[u8; 32]>>,
    /// Issuer, public URLs, JWKS and identity key of the OAuth authorization server.
    pub oauth_server: super::AsEdgeSettings,
    /// Upstream OAuth: resolved per-server clients and the token-cache key.
    pub upstream_oauth: super::oauth_clients::UpstreamOAuthEdge,
    /// Edge authentication settings by org id.
    pub org_auth: std::collections::BTreeMap<String, super::orgs::OrgAuthSettings>,
    /// Ids of upstream grants deleted within the revocation retention.
    pub revoked_grants: Vec<String>,
    /// The org of each of `revoked_grants`, by grant id (edges scoped to orgs
    /// get only their orgs' tombstones).
    pub revoked_grant_orgs: std::collections::BTreeMap<String, String>,
    /// URL elicitations completed within their retention, oldest first.
    pub completed_elicitations: Vec<super::authorization_links::ElicitationCompletion>,
    /// Every rate limit and budget.
    pub rate_limits: Vec<super::RateLimitRecord>,
}

/// The result of a committed mutation and the config version it produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    /// What the mutation returned.
    pub value: T,
    /// The config version the mutation committed at.
    pub version: u64,
}

// No id: the platform's rows of an org outlive its deletion, which leaves no trace of its id.
impl super::audit_views::AuditView for Org {
    fn audit_view(&self) -> serde_json::Value {
        serde_json::json!({"slug": self.slug, "name": self.name})
    }
}

impl super::audit_views::AuditView for Workspace {
    fn audit_view(&self) -> serde_json::Value {
        serde_json::json!({"id": self.id, "slug": self.slug, "name": self.name})
    }
}

impl super::audit_views::AuditView for Provision {
    fn audit_view(&self) -> serde_json::Value {
        serde_json::json!({
            "workspace": self.workspace_slug,
            "server": self.server_slug,
            "tools": {"allow": self.tools.allow, "deny": self.tools.deny},
        })
    }
}

impl super::audit_views::AuditView for TokenRecord {
    fn audit_view(&self) -> serde_json::Value {
        serde_json::json!({
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

impl super::audit_views::AuditView for CertificateIdentityRecord {
    fn audit_view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "team": self.team,
            "kind": self.kind.as_str(),
            "value": self.value,
            "user": self.user,
            "scopes": self.scopes,
            "server_permissions": self.server_permissions,
            "tool_permissions": self.tool_permissions,
            "issuer_ca_sha256": self.issuer.ca_sha256.map(|f| gatehouse_config::identity::cert_issuer::fingerprint_hex(&f)),
            "spiffe_trust_domain": self.issuer.spiffe_trust_domain,
            "disabled_at": self.disabled_at,
        })
    }
}
