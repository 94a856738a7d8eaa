//! The edge's in-memory view of the config pushed by the control plane.
//!
//! This module is the boundary between wire types (`gatehouse_proto`) and the
//! domain types the request path uses. A [`ConfigView`] is immutable: applying
//! a delta builds a new view, which the edge swaps in atomically, so a request
//! always sees one consistent version and never waits on a lock.

use std::sync::Arc;

use gatehouse_config::identity::allowed_origins::AllowedOrigins;
use gatehouse_config::identity::cert_names::{self, CertNameKind};
use gatehouse_config::identity::external_auth::ExternalAuthConfig;
use gatehouse_config::identity::wire::jwt_validation_from_wire;
use gatehouse_config::state::{ConfigState, Observer};
use gatehouse_config::token_hash::TokenHash;
use gatehouse_proto::config::v1 as pb;
use http::{HeaderName, HeaderValue};

use crate::config_map::Map;
use crate::identity::caller::TokenGrant;
use crate::identity::cert_binding::IssuerBinding;

/// How the edge authenticates to an upstream server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamAuth {
    /// No upstream credential.
    None,
    /// Static headers from the credential store.
    Headers,
    /// Per-user OAuth tokens from the credential broker.
    OAuth2,
    /// A shared client-credentials token from the credential broker.
    ClientCredentials,
    /// An auth type this edge does not know yet (newer control plane).
    Unsupported(String),
}

/// A registered upstream MCP server.
pub struct UpstreamServer {
    pub id: String,
    pub org_id: String,
    pub slug: String,
    /// The slug as a metrics label value, shared so recording a metric never allocates.
    pub metric_label: Arc<str>,
    pub name: String,
    /// Upstream MCP endpoint.
    pub url: url::Url,
    /// The same endpoint as the upstream client takes it, parsed once per config version.
    pub uri: http::Uri,
    /// The `Host` header of requests to it, made once per config version.
    pub host: HeaderValue,
    pub auth: UpstreamAuth,
    /// Static headers to inject, already validated as HTTP headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Identity settings compiled from `advanced_config` (jwt_validation, forwarding).
    pub identity: Arc<crate::identity::server_identity::ServerIdentity>,
    /// Upstream OAuth client settings (auth types `oauth2` and `client_credentials`).
    pub oauth: Option<crate::upstream_oauth_client::UpstreamOAuthClient>,
    /// `advanced_config.allowed_origins`: browser origins admitted besides the edge's own.
    pub allowed_origins: AllowedOrigins,
    /// `advanced_config.audit`: `None` (the default) = no arguments or results recorded.
    pub audit: Option<gatehouse_config::audit::capture::AuditCapture>,
}

/// A workspace (team).
#[derive(Debug)]
pub struct Workspace {
    pub id: String,
    pub org_id: String,
    pub slug: String,
    pub name: String,
}

/// An organisation (tenant) and its edge-wide settings.
#[derive(Debug)]
pub struct Org {
    pub id: String,
    /// The id again, shared by every audit record of the org without a copy.
    pub audit_id: Arc<str>,
    pub slug: String,
    /// The slug as a metrics label value, shared so recording a metric never allocates.
    pub metric_label: Arc<str>,
    /// The org's own authorization server for protected resource metadata (`None`: Gatehouse's).
    pub external_auth_config: Option<ExternalAuthConfig>,
    /// Org-wide `jwt_validation`, compiled: `Err` = configured but invalid (every JWT refused).
    pub jwt: Option<Result<Arc<crate::identity::byo_jwt::JwtValidator>, String>>,
}

// Header values are credentials: Debug names the headers and never shows a value.
impl std::fmt::Debug for UpstreamServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> =
            self.headers.iter().map(|(n, _)| (n.as_str(), "<redacted>")).collect();
        f.debug_struct("UpstreamServer")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("slug", &self.slug)
            .field("auth", &self.auth)
            .field("headers", &headers)
            .finish_non_exhaustive()
    }
}

/// Tool rules of one server provisioned to one workspace.
#[derive(Debug, Default)]
pub struct ToolRules {
    /// Globs; empty means every tool is allowed (subject to `deny`).
    pub allow: Vec<String>,
    /// Globs; a match here always wins.
    pub deny: Vec<String>,
}

/// Why a delta could not be applied; the edge resubscribes for a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("delta starts at version {from} but the edge serves version {have}")]
    VersionGap { from: u64, have: u64 },
    #[error("delta to version {to} does not move past version {have}")]
    NotNewer { to: u64, have: u64 },
}

/// One consistent version of the config, indexed for the request path.
///
/// The collections and every index are persistent maps: a new version shares
/// all it did not change with the previous one, and applying a delta touches
/// only the entries it names (an unchanged server keeps its compiled JWT
/// validator, JWKS and introspection caches).
#[derive(Default, Clone)]
pub struct ConfigView {
    version: u64,
    // Wire-form source of truth, keyed by id: deltas apply here and snapshots
    // are re-encoded from here for the local cache.
    state: ConfigState,
    // Derived indexes used by requests, kept in step by `Indexes`' change hooks.
    index: Indexes,
}

// The state holds static upstream headers, signing keys and the session key in
// plaintext: Debug shows only the version and how much there is.
impl std::fmt::Debug for ConfigView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (servers, workspaces, provisions, tokens) = self.counts();
        f.debug_struct("ConfigView")
            .field("version", &self.version)
            .field("servers", &servers)
            .field("workspaces", &workspaces)
            .field("provisions", &provisions)
            .field("tokens", &tokens)
            .finish_non_exhaustive()
    }
}

/// A `BuildHasher` for token hashes: they are SHA-256 outputs already, so
/// their first eight bytes are as good a hash as any and cost nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokenHashState;

/// The hasher of [`TokenHashState`].
#[derive(Debug, Default)]
pub struct TokenHasher(u64);

impl std::hash::Hasher for TokenHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Arrays hash their length first (`write_usize`), then their bytes.
        for (i, b) in bytes.iter().take(8).enumerate() {
            self.0 ^= u64::from(*b) << (8 * i);
        }
    }

    fn write_usize(&mut self, _: usize) {}
}

impl std::hash::BuildHasher for TokenHashState {
    type Hasher = TokenHasher;
    fn build_hasher(&self) -> TokenHasher {
        TokenHasher::default()
    }
}

#[derive(Default, Clone)]
struct Indexes {
    org_index: Map<String, Arc<Org>>,
    // org slug → org: how a request's URL names its org.
    org_slug_index: Map<String, Arc<Org>>,
    token_index:
        imbl::GenericHashMap<TokenHash, Arc<TokenGrant>, TokenHashState, imbl::shared_ptr::DefaultSharedPtr>,
    // Per name kind (`CertNameKind::index`): normalised name → what the holder may do.
    certificate_index: [Map<String, Arc<CertIdentity>>; 4],
    // org id → slug → server; nested so lookups borrow `&str` and never allocate.
    server_index: Map<String, Map<String, Arc<UpstreamServer>>>,
    workspace_index: Map<String, Arc<Workspace>>,
    // workspace id → server id → rules.
    rules_index: Map<String, Map<String, Arc<ToolRules>>>,
    // server id → workspace id → rules: where a caller naming no workspace acts.
    server_provisions: Map<String, Map<String, Arc<ToolRules>>>,
    session_key: Option<[u8; 32]>,
    // Identity material parsed once per settings change.
    gatehouse_keys: Option<Arc<crate::identity::gatehouse_jwt::GatehouseKeys>>,
    identity_signer: Option<Arc<crate::identity::identity_jwt::IdentitySigner>>,
    rate_limits: crate::limit_rules::LimitIndex,
}

impl ConfigView {
    /// Builds a view from a full snapshot.
    pub fn from_snapshot(snapshot: pb::Snapshot) -> Self {
        let state = ConfigState::from_wire(snapshot.state.unwrap_or_default());
        let mut index = Indexes::default();
        // Indexing a snapshot is applying every entry to an empty view.
        state.replay(&mut index);
        ConfigView { version: snapshot.version, state, index }
    }

    /// Returns a new view with `delta` applied, or why it can't be. The new
    /// view shares every entry and index the delta does not name with `self`.
    pub fn apply(&self, delta: pb::Delta) -> Result<ConfigView, ApplyError> {
        if delta.from_version != self.version {
            return Err(ApplyError::VersionGap { from: delta.from_version, have: self.version });
        }
        if delta.version <= self.version {
            return Err(ApplyError::NotNewer { to: delta.version, have: self.version });
        }
        let mut next = self.clone();
        next.version = delta.version;
        next.state.apply(delta.changes, &mut next.index);
        Ok(next)
    }

    /// The delta that turns `earlier` into this view. Entries both share (all
    /// but those changed in between, when this view was applied on top of
    /// `earlier`) are skipped without being compared.
    pub fn delta_since(&self, earlier: &ConfigView) -> pb::Delta {
        pb::Delta {
            from_version: earlier.version,
            version: self.version,
            changes: earlier.state.diff(&self.state),
        }
    }

    /// Re-encodes the view as a snapshot (for the edge's local cache).
    pub fn to_snapshot(&self) -> pb::Snapshot {
        pb::Snapshot { version: self.version, state: Some(self.state.to_wire()) }
    }

    /// The config version this view holds (0 = nothing loaded).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Looks up a gateway token of `org_id` by the SHA-256 of its text: another org's token
    /// is not found, exactly like a token that does not exist.
    pub fn token(&self, org_id: &str, hash: &TokenHash) -> Option<&Arc<TokenGrant>> {
        self.index.token_index.get(hash).filter(|grant| grant.org_id == org_id)
    }

    /// The identity `org_id` registered for a client certificate name (normalised, see
    /// [`gatehouse_config::identity::cert_names::normalize`]), if any; another org's is not found.
    pub fn certificate_identity(
        &self,
        org_id: &str,
        kind: CertNameKind,
        name: &str,
    ) -> Option<&Arc<CertIdentity>> {
        self.index.certificate_index[kind.index()]
            .get(name)
            .filter(|identity| identity.grant.org_id == org_id)
    }

    /// Looks up a server by organisation and slug.
    pub fn server(&self, org_id: &str, slug: &str) -> Option<&Arc<UpstreamServer>> {
        self.index.server_index.get(org_id)?.get(slug)
    }

    /// Whether the upstream grant `id` was disconnected recently: a token
    /// cached for it must not be used.
    pub fn is_grant_revoked(&self, id: &str) -> bool {
        self.state.revoked_grants.contains_key(id)
    }

    /// Completed URL elicitations in this view that `previous` did not hold.
    pub fn elicitations_completed_since<'a>(
        &'a self,
        previous: &'a ConfigView,
    ) -> impl Iterator<Item = &'a pb::ElicitationCompletion> + 'a {
        self.state
            .completed_elicitations
            .iter()
            .filter(|(id, _)| !previous.state.completed_elicitations.contains_key(*id))
            .map(|(_, c)| c)
    }

    /// Looks up an organisation by id.
    pub fn org(&self, id: &str) -> Option<&Arc<Org>> {
        self.index.org_index.get(id)
    }

    /// Looks up an organisation by slug (the `{org}` of `/mcp/{org}/{server}`).
    pub fn org_by_slug(&self, slug: &str) -> Option<&Arc<Org>> {
        self.index.org_slug_index.get(slug)
    }

    /// The edge-wide settings pushed by the control plane.
    pub fn settings(&self) -> &pb::EdgeSettings {
        &self.state.settings
    }

    /// The id of the workspace `slug` in `org_id`.
    pub fn workspace_id_by_slug(&self, org_id: &str, slug: &str) -> Option<&str> {
        self.state.workspaces.values().find(|w| w.org_id == org_id && w.slug == slug).map(|w| w.id.as_str())
    }

    /// Verification keys of Gatehouse-issued access tokens, when the AS is configured.
    pub fn gatehouse_keys(&self) -> Option<&Arc<crate::identity::gatehouse_jwt::GatehouseKeys>> {
        self.index.gatehouse_keys.as_ref()
    }

    /// The key `X-User-JWT` assertions are signed with, when configured.
    pub fn identity_signer(&self) -> Option<&Arc<crate::identity::identity_jwt::IdentitySigner>> {
        self.index.identity_signer.as_ref()
    }

    /// Looks up a workspace by id.
    pub fn workspace(&self, id: &str) -> Option<&Arc<Workspace>> {
        self.index.workspace_index.get(id)
    }

    /// Rate limits and budgets, by org and server.
    pub fn rate_limits(&self) -> &crate::limit_rules::LimitIndex {
        &self.index.rate_limits
    }

    /// Tool rules if `server_id` is provisioned to `workspace_id`, else `None`.
    pub fn provision(&self, workspace_id: &str, server_id: &str) -> Option<&Arc<ToolRules>> {
        self.index.rules_index.get(workspace_id)?.get(server_id)
    }

    /// The workspaces `server_id` is provisioned to, with their tool rules.
    pub fn provisions_of_server(&self, server_id: &str) -> impl Iterator<Item = (&String, &Arc<ToolRules>)> {
        self.index.server_provisions.get(server_id).into_iter().flat_map(|m| m.iter())
    }

    /// Key binding MCP session ids to callers, once the control plane sent one.
    pub fn session_key(&self) -> Option<&[u8; 32]> {
        self.index.session_key.as_ref()
    }

    /// Counts of each kind of entry, for logs and readiness output.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let s = &self.state;
        (s.servers.len(), s.workspaces.len(), s.provisions.len(), s.tokens.len())
    }
}

/// Removes `key` from the inner map of `outer[group]`, dropping the inner map when it empties.
fn remove_nested<V: Clone>(outer: &mut Map<String, Map<String, V>>, group: &str, key: &str) {
    if let Some(inner) = outer.get_mut(group) {
        inner.remove(key);
        if inner.is_empty() {
            outer.remove(group);
        }
    }
}

fn grant_of_token(t: &pb::GatewayToken) -> TokenGrant {
    TokenGrant {
        id: t.id.clone(),
        org_id: t.org_id.clone(),
        user: t.user.clone(),
        workspace_id: t.workspace_id.clone(),
        scopes: t.scopes.clone(),
        server_permissions: t.server_permissions.clone(),
        tool_permissions: t.tool_permissions.clone(),
        expires_at: (t.expires_at != 0).then_some(t.expires_at),
    }
}

/// A certificate identity as requests use it: who the holder is, and which CA must have
/// issued the certificate.
#[derive(Debug)]
pub struct CertIdentity {
    /// What the holder may do.
    pub grant: Arc<TokenGrant>,
    /// What must have issued a matching certificate.
    pub issuer: IssuerBinding,
}

fn identity_of_certificate(c: &pb::CertificateIdentity) -> CertIdentity {
    CertIdentity {
        grant: Arc::new(grant_of_certificate(c)),
        issuer: IssuerBinding::from_wire(&c.issuer_ca_sha256, &c.spiffe_trust_domain),
    }
}

fn grant_of_certificate(c: &pb::CertificateIdentity) -> TokenGrant {
    TokenGrant {
        id: c.id.clone(),
        org_id: c.org_id.clone(),
        user: c.user.clone(),
        workspace_id: c.workspace_id.clone(),
        scopes: c.scopes.clone(),
        server_permissions: c.server_permissions.clone(),
        tool_permissions: c.tool_permissions.clone(),
        expires_at: None,
    }
}

// Each hook removes what the old entry put in the indexes and adds what the
// new one puts there, so an index always equals the one a snapshot would build.
impl Observer for Indexes {
    fn orgs(&mut self, old: Option<&pb::Org>, new: Option<&pb::Org>) {
        if let Some(o) = old {
            self.org_index.remove(&o.id);
            if self.org_slug_index.get(&o.slug).is_some_and(|org| org.id == o.id) {
                self.org_slug_index.remove(&o.slug);
            }
        }
        if let Some(o) = new {
            let org = Org {
                id: o.id.clone(),
                audit_id: Arc::from(o.id.as_str()),
                slug: o.slug.clone(),
                metric_label: Arc::from(o.slug.as_str()),
                external_auth_config: o.external_auth_config.as_ref().and_then(|c| {
                    ExternalAuthConfig::from_wire(c)
                        .map_err(|e| tracing::warn!(org = %o.slug, reason = %e, "ignoring invalid external_auth_config"))
                        .ok()
                }),
                jwt: org_jwt_validation(o),
            };
            let org = Arc::new(org);
            self.org_slug_index.insert(o.slug.clone(), Arc::clone(&org));
            self.org_index.insert(o.id.clone(), org);
        }
    }

    fn workspaces(&mut self, old: Option<&pb::Workspace>, new: Option<&pb::Workspace>) {
        if let Some(w) = old {
            self.workspace_index.remove(&w.id);
        }
        if let Some(w) = new {
            let ws = Workspace {
                id: w.id.clone(),
                org_id: w.org_id.clone(),
                slug: w.slug.clone(),
                name: w.name.clone(),
            };
            self.workspace_index.insert(w.id.clone(), Arc::new(ws));
        }
    }

    fn servers(&mut self, old: Option<&pb::Server>, new: Option<&pb::Server>) {
        if let Some(s) = old {
            remove_nested(&mut self.server_index, &s.org_id, &s.slug);
        }
        if let Some(s) = new {
            match server_from_wire(s) {
                Ok(server) => {
                    let mut by_slug = self.server_index.get(&s.org_id).cloned().unwrap_or_default();
                    by_slug.insert(s.slug.clone(), Arc::new(server));
                    self.server_index.insert(s.org_id.clone(), by_slug);
                }
                Err(reason) => {
                    tracing::warn!(server = %s.slug, %reason, "skipping invalid server from control plane");
                }
            }
        }
    }

    fn provisions(&mut self, old: Option<&pb::Provision>, new: Option<&pb::Provision>) {
        if let Some(p) = old {
            remove_nested(&mut self.rules_index, &p.workspace_id, &p.server_id);
            remove_nested(&mut self.server_provisions, &p.server_id, &p.workspace_id);
        }
        if let Some(p) = new {
            let rules = Arc::new(ToolRules { allow: p.tool_allow.clone(), deny: p.tool_deny.clone() });
            let mut by_server = self.rules_index.get(&p.workspace_id).cloned().unwrap_or_default();
            by_server.insert(p.server_id.clone(), Arc::clone(&rules));
            self.rules_index.insert(p.workspace_id.clone(), by_server);
            let mut by_workspace = self.server_provisions.get(&p.server_id).cloned().unwrap_or_default();
            by_workspace.insert(p.workspace_id.clone(), rules);
            self.server_provisions.insert(p.server_id.clone(), by_workspace);
        }
    }

    fn tokens(&mut self, old: Option<&pb::GatewayToken>, new: Option<&pb::GatewayToken>) {
        if let Some(hash) = old.and_then(|t| TokenHash::try_from(t.token_hash.as_slice()).ok()) {
            self.token_index.remove(&hash);
        }
        if let Some(t) = new {
            if let Ok(hash) = TokenHash::try_from(t.token_hash.as_slice()) {
                self.token_index.insert(hash, Arc::new(grant_of_token(t)));
            }
        }
    }

    fn rate_limits(&mut self, old: Option<&pb::RateLimit>, new: Option<&pb::RateLimit>) {
        self.rate_limits.change(old, new);
    }

    fn certificate_identities(
        &mut self,
        old: Option<&pb::CertificateIdentity>,
        new: Option<&pb::CertificateIdentity>,
    ) {
        if let Some(c) = old {
            if let Some(kind) = CertNameKind::parse(&c.kind) {
                let name = cert_names::normalize(kind, &c.value);
                let index = &mut self.certificate_index[kind.index()];
                if index.get(&name).is_some_and(|identity| identity.grant.id == c.id) {
                    index.remove(&name);
                }
            }
        }
        if let Some(c) = new {
            let Some(kind) = CertNameKind::parse(&c.kind) else {
                tracing::warn!(identity = %c.id, kind = %c.kind, "skipping certificate identity of unknown kind");
                return;
            };
            let name = cert_names::normalize(kind, &c.value);
            self.certificate_index[kind.index()].insert(name, Arc::new(identity_of_certificate(c)));
        }
    }

    fn settings(&mut self, _old: &pb::EdgeSettings, settings: &pb::EdgeSettings) {
        self.session_key = settings.session_binding_key.as_slice().try_into().ok();
        self.gatehouse_keys = crate::identity::gatehouse_jwt::GatehouseKeys::from_settings(
            &settings.issuer,
            &settings.jwks_json,
            &settings.deactivated_users,
        )
        .map(Arc::new);
        self.identity_signer = match settings.identity_signing_jwk.trim() {
            "" => None,
            jwk => match crate::identity::identity_jwt::IdentitySigner::from_jwk(jwk) {
                Ok(signer) => Some(Arc::new(signer)),
                Err(reason) => {
                    tracing::warn!(%reason, "ignoring the identity signing key from the control plane");
                    None
                }
            },
        };
    }
}

/// Compiles an org's `jwt_validation` (unset = none).
fn org_jwt_validation(o: &pb::Org) -> Option<Result<Arc<crate::identity::byo_jwt::JwtValidator>, String>> {
    let wire = o.jwt_validation.as_ref()?;
    let compiled = jwt_validation_from_wire(wire)
        .map(|c| Arc::new(crate::identity::byo_jwt::JwtValidator::new(c, None)))
        .map_err(|e| e.message);
    if let Err(reason) = &compiled {
        tracing::warn!(org = %o.slug, %reason, "invalid org jwt_validation; refusing jwts for this org");
    }
    Some(compiled)
}

fn server_from_wire(s: &pb::Server) -> Result<UpstreamServer, String> {
    let url = url::Url::parse(&s.url).map_err(|e| format!("invalid url: {e}"))?;
    let uri = url.as_str().parse::<http::Uri>().map_err(|e| format!("invalid url: {e}"))?;
    let auth = match s.auth_type.as_str() {
        "none" => UpstreamAuth::None,
        "headers" => UpstreamAuth::Headers,
        "oauth2" => UpstreamAuth::OAuth2,
        "client_credentials" => UpstreamAuth::ClientCredentials,
        other => UpstreamAuth::Unsupported(other.to_owned()),
    };
    let mut headers = Vec::with_capacity(s.headers.len());
    let mut introspect_secret = None;
    for (name, value) in &s.headers {
        // Sealed like the other static headers, but for the edge only: never sent upstream.
        if name.eq_ignore_ascii_case(gatehouse_config::identity::jwt_validation::INTROSPECTION_SECRET_HEADER)
        {
            introspect_secret = Some(secrecy::SecretString::from(value.clone()));
            continue;
        }
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name {name:?}"))?;
        // The value is a secret: never echo it in the error.
        let mut value =
            HeaderValue::from_str(value).map_err(|_| format!("invalid value for header {name}"))?;
        value.set_sensitive(true);
        headers.push((name, value));
    }
    Ok(UpstreamServer {
        id: s.id.clone(),
        org_id: s.org_id.clone(),
        slug: s.slug.clone(),
        metric_label: Arc::from(s.slug.as_str()),
        name: s.name.clone(),
        url,
        host: crate::upstream_client::host_header(&uri),
        uri,
        auth,
        headers,
        identity: Arc::new(crate::identity::server_identity::ServerIdentity::from_advanced_config(
            &s.slug,
            s.advanced_config.as_ref(),
            introspect_secret,
        )),
        oauth: s.oauth.as_ref().map(crate::upstream_oauth_client::UpstreamOAuthClient::from_wire),
        allowed_origins: s
            .advanced_config
            .as_ref()
            .map(|c| AllowedOrigins::from_wire(&c.allowed_origins))
            .unwrap_or_default(),
        audit: s
            .advanced_config
            .as_ref()
            .and_then(|c| c.audit.as_ref())
            .and_then(gatehouse_config::audit::capture::AuditCapture::from_wire),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_config::token_hash::hash_token;

    fn token(id: &str, secret: &str) -> pb::GatewayToken {
        pb::GatewayToken {
            id: id.into(),
            org_id: "org".into(),
            token_hash: hash_token(secret).to_vec(),
            user: "alice".into(),
            workspace_id: "ws".into(),
            ..Default::default()
        }
    }

    #[test]
    fn delta_upserts_and_deletes_tokens() {
        let snap = pb::Snapshot {
            version: 3,
            state: Some(pb::ConfigState { tokens: vec![token("t1", "a")], ..Default::default() }),
        };
        let v3 = ConfigView::from_snapshot(snap);
        assert!(v3.token("org", &hash_token("a")).is_some());
        let delta = pb::Delta {
            from_version: 3,
            version: 4,
            changes: vec![
                pb::Change { kind: Some(pb::change::Kind::DeleteToken("t1".into())) },
                pb::Change { kind: Some(pb::change::Kind::UpsertToken(token("t2", "b"))) },
            ],
        };
        let v4 = v3.apply(delta).unwrap();
        assert_eq!(v4.version(), 4);
        assert!(v4.token("org", &hash_token("a")).is_none());
        assert_eq!(v4.token("org", &hash_token("b")).unwrap().id, "t2");
        // The old view is untouched: requests in flight keep a consistent version.
        assert!(v3.token("org", &hash_token("a")).is_some());
    }

    fn cert_identity(id: &str, kind: &str, value: &str) -> pb::CertificateIdentity {
        pb::CertificateIdentity {
            id: id.into(),
            org_id: "org".into(),
            kind: kind.into(),
            value: value.into(),
            user: "ci".into(),
            workspace_id: "ws".into(),
            ..Default::default()
        }
    }

    #[test]
    fn certificate_identities_are_indexed_by_kind_and_follow_deltas() {
        let snap = pb::Snapshot {
            version: 1,
            state: Some(pb::ConfigState {
                certificate_identities: vec![
                    cert_identity("c1", "san_uri", "spiffe://acme/agent/ci"),
                    cert_identity("c2", "san_dns", "Agent.Example.com"),
                    cert_identity("c3", "from_the_future", "x"),
                ],
                ..Default::default()
            }),
        };
        let v1 = ConfigView::from_snapshot(snap);
        let uri =
            &v1.certificate_identity("org", CertNameKind::SanUri, "spiffe://acme/agent/ci").unwrap().grant;
        assert_eq!((uri.id.as_str(), uri.user.as_str(), uri.workspace_id.as_str()), ("c1", "ci", "ws"));
        assert_eq!(
            v1.certificate_identity("org", CertNameKind::SanDns, "agent.example.com").unwrap().grant.id,
            "c2"
        );
        assert!(v1.certificate_identity("org", CertNameKind::SubjectCn, "spiffe://acme/agent/ci").is_none());
        assert!(v1.certificate_identity("org", CertNameKind::SanUri, "spiffe://acme/agent/CI").is_none());

        let v2 = v1
            .apply(pb::Delta {
                from_version: 1,
                version: 2,
                changes: vec![
                    pb::Change { kind: Some(pb::change::Kind::DeleteCertificateIdentity("c1".into())) },
                    pb::Change {
                        kind: Some(pb::change::Kind::UpsertCertificateIdentity(cert_identity(
                            "c4",
                            "subject_cn",
                            "ci-agent",
                        ))),
                    },
                ],
            })
            .unwrap();
        assert!(v2.certificate_identity("org", CertNameKind::SanUri, "spiffe://acme/agent/ci").is_none());
        assert_eq!(
            v2.certificate_identity("org", CertNameKind::SubjectCn, "ci-agent").unwrap().grant.id,
            "c4"
        );
        let again = ConfigView::from_snapshot(v2.to_snapshot());
        assert_eq!(
            again.certificate_identity("org", CertNameKind::SubjectCn, "ci-agent").unwrap().grant.id,
            "c4"
        );
    }

    #[test]
    fn a_delta_naming_one_token_keeps_every_other_entry_the_same_object() {
        let server = pb::Server {
            id: "s".into(),
            org_id: "org".into(),
            slug: "files".into(),
            url: "http://127.0.0.1:1/mcp".into(),
            auth_type: "none".into(),
            advanced_config: Some(gatehouse_config::identity::wire::advanced_config_to_wire(
                &serde_json::json!(
                    {"jwt_validation": {"jwksUri": "https://idp.example/jwks", "workspace": "team"}}
                ),
            )),
            ..Default::default()
        };
        let org = pb::Org { id: "org".into(), slug: "acme".into(), ..Default::default() };
        let v1 = ConfigView::from_snapshot(pb::Snapshot {
            version: 1,
            state: Some(pb::ConfigState {
                orgs: vec![org],
                servers: vec![server],
                tokens: vec![token("t1", "a"), token("t2", "b")],
                ..Default::default()
            }),
        });
        let v2 = v1
            .apply(pb::Delta {
                from_version: 1,
                version: 2,
                changes: vec![pb::Change { kind: Some(pb::change::Kind::UpsertToken(token("t3", "c"))) }],
            })
            .unwrap();
        assert_eq!(v2.token("org", &hash_token("c")).unwrap().id, "t3");
        assert!(Arc::ptr_eq(
            v1.token("org", &hash_token("a")).unwrap(),
            v2.token("org", &hash_token("a")).unwrap()
        ));
        assert!(Arc::ptr_eq(
            v1.token("org", &hash_token("b")).unwrap(),
            v2.token("org", &hash_token("b")).unwrap()
        ));
        // The server, with its compiled JWT validator, is the same object.
        let (s1, s2) = (v1.server("org", "files").unwrap(), v2.server("org", "files").unwrap());
        assert!(Arc::ptr_eq(s1, s2));
        assert!(Arc::ptr_eq(&s1.identity, &s2.identity));
        assert!(Arc::ptr_eq(v1.org("org").unwrap(), v2.org("org").unwrap()));

        // Deleting a token removes exactly its index entry.
        let v3 = v2
            .apply(pb::Delta {
                from_version: 2,
                version: 3,
                changes: vec![pb::Change { kind: Some(pb::change::Kind::DeleteToken("t1".into())) }],
            })
            .unwrap();
        assert!(v3.token("org", &hash_token("a")).is_none());
        assert!(Arc::ptr_eq(
            v2.token("org", &hash_token("c")).unwrap(),
            v3.token("org", &hash_token("c")).unwrap()
        ));
    }

    #[test]
    fn indexes_after_deltas_equal_indexes_of_the_same_snapshot() {
        let v1 = ConfigView::from_snapshot(pb::Snapshot {
            version: 1,
            state: Some(pb::ConfigState {
                tokens: vec![token("t1", "a")],
                provisions: vec![pb::Provision {
                    workspace_id: "ws".into(),
                    server_id: "s".into(),
                    tool_deny: vec!["x".into()],
                    ..Default::default()
                }],
                ..Default::default()
            }),
        });
        let rotated = pb::GatewayToken { token_hash: hash_token("a2").to_vec(), ..token("t1", "a") };
        let v2 = v1
            .apply(pb::Delta {
                from_version: 1,
                version: 2,
                changes: vec![
                    pb::Change { kind: Some(pb::change::Kind::UpsertToken(rotated)) },
                    pb::Change {
                        kind: Some(pb::change::Kind::DeleteProvision(pb::ProvisionKey {
                            workspace_id: "ws".into(),
                            server_id: "s".into(),
                        })),
                    },
                ],
            })
            .unwrap();
        // The rotated token's old secret is gone from the index, the new one works.
        assert!(v2.token("org", &hash_token("a")).is_none());
        assert_eq!(v2.token("org", &hash_token("a2")).unwrap().id, "t1");
        assert!(v2.provision("ws", "s").is_none());
        let rebuilt = ConfigView::from_snapshot(v2.to_snapshot());
        assert_eq!(rebuilt.index.token_index.len(), v2.index.token_index.len());
        assert_eq!(rebuilt.index.rules_index.len(), v2.index.rules_index.len());
        assert_eq!(rebuilt.index.server_provisions.len(), v2.index.server_provisions.len());
        assert_eq!(v2.provisions_of_server("s").count(), 0);
    }

    #[test]
    fn lookups_name_the_org_and_orgs_are_found_by_slug() {
        let org = |id: &str, slug: &str| pb::Org { id: id.into(), slug: slug.into(), ..Default::default() };
        let v1 = ConfigView::from_snapshot(pb::Snapshot {
            version: 1,
            state: Some(pb::ConfigState {
                orgs: vec![org("org", "acme"), org("org2", "globex")],
                tokens: vec![token("t1", "a")],
                certificate_identities: vec![cert_identity("c1", "san_uri", "spiffe://acme/ci")],
                ..Default::default()
            }),
        });
        assert_eq!(v1.org_by_slug("acme").unwrap().id, "org");
        assert!(v1.token("org", &hash_token("a")).is_some());
        assert!(v1.token("org2", &hash_token("a")).is_none(), "another org's token is not found");
        let (kind, name) = (CertNameKind::SanUri, "spiffe://acme/ci");
        assert!(v1.certificate_identity("org", kind, name).is_some());
        assert!(v1.certificate_identity("org2", kind, name).is_none());

        // A renamed org is found by its new slug only; a deleted one not at all.
        let v2 = v1
            .apply(pb::Delta {
                from_version: 1,
                version: 2,
                changes: vec![
                    pb::Change { kind: Some(pb::change::Kind::UpsertOrg(org("org", "acme-corp"))) },
                    pb::Change { kind: Some(pb::change::Kind::DeleteOrg("org2".into())) },
                ],
            })
            .unwrap();
        assert!(v2.org_by_slug("acme").is_none());
        assert_eq!(v2.org_by_slug("acme-corp").unwrap().id, "org");
        assert!(v2.org_by_slug("globex").is_none());
        assert_eq!(ConfigView::from_snapshot(v2.to_snapshot()).index.org_slug_index.len(), 1);
    }

    #[test]
    fn delta_with_gap_is_refused() {
        let v = ConfigView::from_snapshot(pb::Snapshot { version: 5, state: None });
        let err = v.apply(pb::Delta { from_version: 4, version: 6, changes: vec![] }).unwrap_err();
        assert!(matches!(err, ApplyError::VersionGap { from: 4, have: 5 }));
    }

    #[test]
    fn invalid_server_header_value_is_skipped_without_leaking_it() {
        let s = pb::Server {
            id: "s".into(),
            org_id: "o".into(),
            slug: "x".into(),
            url: "http://127.0.0.1:1/mcp".into(),
            auth_type: "headers".into(),
            headers: [("authorization".to_string(), "bad\nvalue-secret".to_string())].into(),
            ..Default::default()
        };
        let err = server_from_wire(&s).unwrap_err();
        assert!(!err.contains("secret"));
    }

    #[test]
    fn snapshot_round_trips() {
        let snap = pb::Snapshot {
            version: 9,
            state: Some(pb::ConfigState { tokens: vec![token("t1", "a")], ..Default::default() }),
        };
        let again = ConfigView::from_snapshot(ConfigView::from_snapshot(snap).to_snapshot());
        assert_eq!(again.version(), 9);
        assert!(again.token("org", &hash_token("a")).is_some());
    }
}
