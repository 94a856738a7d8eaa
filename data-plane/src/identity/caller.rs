//! [`Caller`]: who is making a request, however they proved it, and the
//! [`TokenGrant`] a gateway token or certificate identity carries.

use std::sync::Arc;

use gatehouse_config::grant_identity::GrantIdentity;
use secrecy::SecretString;
use serde_json::{Map, Value};

/// What a valid gateway token grants.
#[derive(Debug)]
pub struct TokenGrant {
    pub id: String,
    pub org_id: String,
    pub user: String,
    pub workspace_id: String,
    pub scopes: Vec<String>,
    /// Server slugs; empty means every server provisioned to the workspace.
    pub server_permissions: Vec<String>,
    /// Tool-name globs; empty means every tool.
    pub tool_permissions: Vec<String>,
    /// Unix seconds; `None` never expires.
    pub expires_at: Option<i64>,
}

impl TokenGrant {
    /// Whether the token has expired at `now_unix` (seconds).
    pub fn is_expired(&self, now_unix: i64) -> bool {
        self.expires_at.is_some_and(|exp| now_unix >= exp)
    }

    /// Whether the token's server permissions include `slug`.
    pub fn allows_server(&self, slug: &str) -> bool {
        self.server_permissions.is_empty() || self.server_permissions.iter().any(|s| s == slug)
    }
}

/// How the caller proved its identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthSource {
    /// A Gatehouse gateway token (`gth_…`).
    GatewayToken,
    /// An access token issued by Gatehouse's own authorization server.
    GatehouseJwt,
    /// A JWT from the org's own IdP, verified against a JWKS (`jwt_validation`).
    ExternalJwt,
    /// An opaque token accepted by an RFC 7662 introspection endpoint.
    Introspection,
    /// A verified mTLS client certificate registered as a certificate identity.
    ClientCertificate,
}

impl AuthSource {
    /// Stable name for logs and the `X-User-Claims` `auth` field.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthSource::GatewayToken => "gateway_token",
            AuthSource::GatehouseJwt => "gatehouse_jwt",
            AuthSource::ExternalJwt => "external_jwt",
            AuthSource::Introspection => "introspection",
            AuthSource::ClientCertificate => "client_certificate",
        }
    }
}

/// An authenticated caller, independent of how it authenticated.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The organisation the caller belongs to.
    pub org_id: String,
    /// Stable user id (gateway token `user`, JWT `sub` or the configured user claim).
    pub user: String,
    /// E-mail address, when known.
    pub email: Option<String>,
    /// Display name, when known.
    pub name: Option<String>,
    /// Workspaces the caller acts in (exactly one for gateway tokens).
    pub workspace_ids: Vec<String>,
    /// The credential names no workspace (`jwt_validation` without `workspace` or
    /// `workspaceClaim`): the caller acts in the server's workspace, if it has exactly one.
    pub workspace_from_server: bool,
    /// Roles from the identity provider.
    pub roles: Vec<String>,
    /// OAuth scopes or token scopes.
    pub scopes: Vec<String>,
    /// Tool-name globs the caller may call; empty = every tool.
    pub tool_permissions: Vec<String>,
    /// Server slugs the caller may reach; empty = every provisioned server.
    pub server_permissions: Vec<String>,
    /// Verified claims of a JWT or introspection answer (empty for gateway tokens).
    pub claims: Map<String, Value>,
    /// How the caller authenticated.
    pub source: AuthSource,
    /// Unix seconds at which the credential stops being valid, when known.
    pub expires_at: Option<i64>,
    /// The credential as presented, kept only for explicit `bearer` passthrough.
    pub presented: Option<SecretString>,
    /// The gateway token grant, for gateway-token callers.
    pub grant: Option<Arc<TokenGrant>>,
}

impl Caller {
    /// A caller authenticated by a gateway token.
    pub fn from_grant(grant: Arc<TokenGrant>) -> Self {
        Self {
            org_id: grant.org_id.clone(),
            user: grant.user.clone(),
            email: None,
            name: None,
            workspace_ids: vec![grant.workspace_id.clone()],
            workspace_from_server: false,
            roles: Vec::new(),
            scopes: grant.scopes.clone(),
            tool_permissions: grant.tool_permissions.clone(),
            server_permissions: grant.server_permissions.clone(),
            claims: Map::new(),
            source: AuthSource::GatewayToken,
            expires_at: grant.expires_at,
            presented: None,
            grant: Some(grant),
        }
    }

    /// A caller authenticated by a client certificate that maps to the identity `grant`;
    /// the credential lives until the certificate expires.
    pub fn from_certificate(grant: Arc<TokenGrant>, not_after: i64) -> Self {
        let mut caller = Self::from_grant(grant);
        caller.source = AuthSource::ClientCertificate;
        caller.expires_at = Some(not_after);
        caller
    }

    /// Whether the caller's server permissions include `slug`.
    pub fn allows_server(&self, slug: &str) -> bool {
        self.server_permissions.is_empty() || self.server_permissions.iter().any(|s| s == slug)
    }

    /// The identity the caller's upstream grants are kept under: a user
    /// Gatehouse knows (gateway token, Gatehouse access token, certificate
    /// identity), or the subject of the org's own IdP under its issuer, so
    /// neither is ever taken for the other.
    pub fn grant_identity(&self) -> GrantIdentity {
        match self.source {
            AuthSource::ExternalJwt | AuthSource::Introspection => {
                let issuer = self.claims.get("iss").and_then(Value::as_str).unwrap_or_default();
                GrantIdentity::jwt(issuer, self.user.clone())
            }
            AuthSource::GatewayToken | AuthSource::GatehouseJwt | AuthSource::ClientCertificate => {
                GrantIdentity::gatehouse(self.user.clone())
            }
        }
    }

    /// The permission record the tool policy evaluates, for `workspace_id`.
    pub fn policy_grant(&self, workspace_id: &str) -> Arc<TokenGrant> {
        if let Some(grant) = &self.grant {
            return Arc::clone(grant);
        }
        Arc::new(TokenGrant {
            id: String::new(),
            org_id: self.org_id.clone(),
            user: self.user.clone(),
            workspace_id: workspace_id.to_owned(),
            scopes: self.scopes.clone(),
            server_permissions: self.server_permissions.clone(),
            tool_permissions: self.tool_permissions.clone(),
            expires_at: self.expires_at,
        })
    }
}

/// Reads a claim as a list of strings: a JSON array of strings or a space-separated string.
pub fn string_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// Reads a claim as a string (numbers are rendered).
pub fn string_claim(claims: &Map<String, Value>, name: &str) -> Option<String> {
    match claims.get(name)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
