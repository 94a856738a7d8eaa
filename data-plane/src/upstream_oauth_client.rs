//! `UpstreamOAuthClient`: the domain form of a server's `UpstreamOAuth` settings,
//! compiled into the config view and used by the credential broker.

use gatehouse_proto::config::v1 as pb;
use secrecy::SecretString;

/// How the gateway authenticates to the upstream token endpoint (RFC 6749 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// Public client: `client_id` in the form only.
    None,
    /// HTTP Basic with the form-urlencoded id and secret.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form.
    ClientSecretPost,
}

/// What an edge needs to obtain and refresh upstream tokens for one server.
#[derive(Debug, Clone)]
pub struct UpstreamOAuthClient {
    /// Authorization server issuer (for logs).
    pub issuer: String,
    /// Token endpoint; `None` while discovery has not produced a valid one.
    pub token_endpoint: Option<url::Url>,
    /// The gateway's client id at that server.
    pub client_id: String,
    /// Client secret, absent for public clients.
    pub client_secret: Option<SecretString>,
    /// Token endpoint client authentication.
    pub auth_method: ClientAuthMethod,
    /// RFC 8707 resource indicator (empty = omitted).
    pub resource: String,
    /// Scopes to request.
    pub scopes: Vec<String>,
    /// Whether discovery and registration are done.
    pub ready: bool,
}

impl UpstreamOAuthClient {
    /// Converts the wire settings; an unknown auth method falls back to the
    /// one the secret implies (basic with a secret, none without).
    pub fn from_wire(o: &pb::UpstreamOAuth) -> Self {
        let client_secret =
            (!o.client_secret.is_empty()).then(|| SecretString::from(o.client_secret.clone()));
        let auth_method = match o.token_endpoint_auth_method.as_str() {
            "none" => ClientAuthMethod::None,
            "client_secret_post" => ClientAuthMethod::ClientSecretPost,
            "client_secret_basic" => ClientAuthMethod::ClientSecretBasic,
            _ if client_secret.is_some() => ClientAuthMethod::ClientSecretBasic,
            _ => ClientAuthMethod::None,
        };
        let token_endpoint =
            url::Url::parse(&o.token_endpoint).ok().filter(|u| matches!(u.scheme(), "http" | "https"));
        Self {
            issuer: o.issuer.clone(),
            token_endpoint,
            client_id: o.client_id.clone(),
            client_secret,
            auth_method,
            resource: o.resource.clone(),
            scopes: o.scopes.clone(),
            ready: o.ready,
        }
    }

    /// Whether the edge can use this client now.
    pub fn is_usable(&self) -> bool {
        self.ready && self.token_endpoint.is_some() && !self.client_id.is_empty()
    }
}
