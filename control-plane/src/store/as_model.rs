//! Domain types of Gatehouse's own OAuth authorization server (entities never leave the store).

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// What a signing key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    /// Access tokens issued to MCP clients (verified by the edges).
    AccessToken,
    /// `X-User-JWT` identity assertions signed by the edges.
    Identity,
}

impl KeyPurpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyPurpose::AccessToken => "access_token",
            KeyPurpose::Identity => "identity",
        }
    }
}

/// A signing key's public part and lifecycle.
#[derive(Debug, Clone, PartialEq)]
pub struct AsSigningKey {
    /// Key id (`kid`).
    pub kid: String,
    /// `access_token` | `identity`.
    pub purpose: String,
    /// Public JWK.
    pub public_jwk: serde_json::Value,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When a newer key took over; `None` = active.
    pub retired_at: Option<DateTime<Utc>>,
}

/// A new signing key to store; the private JWK is sealed before it touches the database.
pub struct NewSigningKey {
    /// Key id.
    pub kid: String,
    /// What it signs.
    pub purpose: KeyPurpose,
    /// Public JWK.
    pub public_jwk: serde_json::Value,
    /// Private JWK (JSON text).
    pub private_jwk: SecretString,
}

/// An active signing key with its opened private JWK.
pub struct ActiveSigningKey {
    /// Key id.
    pub kid: String,
    /// Private JWK (JSON text).
    pub private_jwk: SecretString,
}

/// What the edges need from the authorization server.
#[derive(Default)]
pub struct AsEdgeSettings {
    /// Issuer (`iss`) of access tokens; empty until the server starts.
    pub issuer: String,
    /// Public base URL of the edges.
    pub edge_public_base_url: String,
    /// Public base URL of the control plane.
    pub control_plane_public_url: String,
    /// Public JWKS (JSON) of every published key.
    pub jwks_json: String,
    /// Private JWK (JSON) the edges sign identity assertions with.
    pub identity_signing_jwk: Option<SecretString>,
    /// Users deactivated within [`gatehouse_config::limits::DEACTIVATED_LIST_WINDOW`]: edges refuse their access tokens.
    pub deactivated_users: Vec<String>,
}

/// `dynamic` (RFC 7591) or `machine` (admin-created, client credentials).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsClientKind {
    /// Registered by a client through DCR.
    Dynamic,
    /// Created by an admin for a machine identity.
    Machine,
}

impl AsClientKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AsClientKind::Dynamic => "dynamic",
            AsClientKind::Machine => "machine",
        }
    }
}

/// A registered OAuth client (never the secret, only its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsClient {
    /// `client_id`.
    pub client_id: String,
    /// How it was registered.
    pub kind: AsClientKind,
    /// Display name.
    pub name: String,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Allowed grant types.
    pub grant_types: Vec<String>,
    /// `none` | `client_secret_basic` | `client_secret_post`.
    pub auth_method: String,
    /// SHA-256 hex of the secret (confidential clients).
    pub secret_hash: Option<String>,
    /// Logo shown on the consent screen.
    pub logo_uri: Option<String>,
    /// Scopes the client may get (machine clients).
    pub scopes: Vec<String>,
    /// Owning org (machine clients).
    pub org_id: Option<String>,
    /// Workspace of the machine identity.
    pub workspace_id: Option<String>,
    /// Registration time.
    pub created_at: DateTime<Utc>,
}

/// The person (or machine) a grant is for, snapshotted into codes and refresh tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsSubject {
    /// User id (or machine client id).
    pub sub: String,
    /// Org id.
    pub org: String,
    /// Workspace ids.
    pub ws: Vec<String>,
    /// Email (may be empty).
    pub email: String,
    /// Display name.
    pub name: String,
    /// Org roles.
    pub roles: Vec<String>,
}

/// A validated authorization request waiting for the user's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsPendingRequest {
    /// Client.
    pub client_id: String,
    /// Exact redirect URI.
    pub redirect_uri: String,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// Client state, echoed back.
    pub state: Option<String>,
    /// Granted scope (space-separated).
    pub scope: String,
    /// Audience (RFC 8707 resource); `None` when the client named none and
    /// the user picks the server on the consent screen.
    pub resource: Option<String>,
    /// Who is signing in.
    pub subject: AsSubject,
}

/// An authorization code's grant (the code itself is only hashed).
#[derive(Debug, Clone)]
pub struct AsCodeGrant {
    /// Refresh-token family this code starts.
    pub family_id: String,
    /// Client.
    pub client_id: String,
    /// Redirect URI the code was issued to.
    pub redirect_uri: String,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// Audience.
    pub resource: String,
    /// Granted scope.
    pub scope: String,
    /// Subject.
    pub subject: AsSubject,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// A refresh token's grant (the token itself is only hashed).
#[derive(Debug, Clone)]
pub struct AsRefreshGrant {
    /// Family (one per authorization).
    pub family_id: String,
    /// Client.
    pub client_id: String,
    /// Audience.
    pub resource: String,
    /// Granted scope.
    pub scope: String,
    /// Subject.
    pub subject: AsSubject,
    /// Expiry of this token (never after `family_expires_at`).
    pub expires_at: DateTime<Utc>,
    /// When the family ends, however often it is refreshed.
    pub family_expires_at: DateTime<Utc>,
}

/// The outcome of presenting a refresh token for rotation.
#[derive(Debug, Clone)]
pub enum RefreshOutcome {
    /// Rotated: the old token is spent, the grant continues.
    Rotated(Box<AsRefreshGrant>),
    /// Unknown, expired or revoked.
    Invalid,
    /// Already rotated: replay detected and the whole family revoked.
    Reused,
}

impl super::audit_views::AuditView for AsClient {
    fn audit_view(&self) -> serde_json::Value {
        serde_json::json!({
            "client_id": self.client_id,
            "kind": self.kind.as_str(),
            "name": self.name,
            "grant_types": self.grant_types,
            "scopes": self.scopes,
            "workspace_id": self.workspace_id,
        })
    }
}
