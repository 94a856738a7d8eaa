//! The edge's in-memory view of the config pushed by the control plane.
//!
//! This module is the boundary between wire types (`gatehouse_proto`) and the
//! domain types the request path uses. A [`ConfigView`] is immutable: applying
//! a delta builds a new view, which the edge swaps in atomically, so a request
//! always sees one consistent version and never waits on a lock.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use gatehouse_config::identity::cert_names::{self, CertNameKind};
use gatehouse_config::token_hash::TokenHash;
use gatehouse_proto::config::v1 as pb;
use http::{HeaderName, HeaderValue};

/// How the edge authenticates to an upstream server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamAuth {
    /// No upstream credential.
    None,
    /// Static headers from the credential store.
    Headers,
    /// Per-user OAuth tokens from the credential broker (issue 3).
    OAuth2,
    /// A shared client-credentials token from the credential broker (issue 3).
    ClientCredentials,
    /// An auth type this edge does not know yet (newer control plane).
    Unsupported(String),
}

/// A registered upstream MCP server.
#[derive(Debug)]
pub struct UpstreamServer {
    pub id: String,
    pub org_id: String,
    pub slug: String,
    pub name: String,
    /// Upstream MCP endpoint.
    pub url: url::Url,
    pub auth: UpstreamAuth,
    /// Static headers to inject, already validated as HTTP headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Free-form JSON kept for later capabilities (raw text, parsed on demand).
    pub advanced_config_json: String,
    /// Identity settings compiled from `advanced_config` (jwt_validation, forwarding).
    pub identity: Arc<crate::identity::server_identity::ServerIdentity>,
    /// Upstream OAuth client settings (auth types `oauth2` and `client_credentials`).
    pub oauth: Option<crate::credentials::UpstreamOAuthClient>,
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
    pub slug: String,
    /// Org-wide bring-your-own-JWT validation (raw JSON object; empty = none).
    pub jwt_validation_json: String,
    /// The org's own IdP endpoints for protected resource metadata (raw JSON; empty = none).
    pub external_auth_config_json: String,
    /// Org-wide `jwt_validation`, compiled: `Err` = configured but invalid (every JWT refused).
    pub jwt: Option<Result<Arc<crate::identity::byo_jwt::JwtValidator>, String>>,
}

/// Tool rules of one server provisioned to one workspace.
#[derive(Debug, Default)]
pub struct ToolRules {
    /// Globs; empty means every tool is allowed (subject to `deny`).
    pub allow: Vec<String>,
    /// Globs; a match here always wins.
    pub deny: Vec<String>,
}

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

/// Why a delta could not be applied; the edge resubscribes for a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("delta starts at version {from} but the edge serves version {have}")]
    VersionGap { from: u64, have: u64 },
    #[error("delta to version {to} does not move past version {have}")]
    NotNewer { to: u64, have: u64 },
}

/// One consistent version of the config, indexed for the request path.
#[derive(Debug, Default)]
pub struct ConfigView {
    version: u64,
    // Wire-form source of truth, keyed by id: deltas apply here and snapshots
    // are re-encoded from here for the local cache.
    orgs: HashMap<String, pb::Org>,
    servers: HashMap<String, pb::Server>,
    workspaces: HashMap<String, pb::Workspace>,
    provisions: HashMap<(String, String), pb::Provision>,
    tokens: HashMap<String, pb::GatewayToken>,
    certificate_identities: HashMap<String, pb::CertificateIdentity>,
    settings: pb::EdgeSettings,
    // Ids of recently disconnected upstream grants (used as-is, no index).
    revoked_grants: HashSet<String>,
    // Recently completed URL elicitations, by elicitation id.
    completed_elicitations: HashMap<String, pb::ElicitationCompletion>,
    // Derived indexes used by requests.
    org_index: HashMap<String, Arc<Org>>,
    token_index: HashMap<TokenHash, Arc<TokenGrant>>,
    // Per name kind (`CertNameKind::index`): normalised name → what the holder may do.
    certificate_index: [HashMap<String, Arc<TokenGrant>>; 4],
    // org id → slug → server; nested so lookups borrow `&str` and never allocate.
    server_index: HashMap<String, HashMap<String, Arc<UpstreamServer>>>,
    workspace_index: HashMap<String, Arc<Workspace>>,
    // workspace id → server id → rules.
    rules_index: HashMap<String, HashMap<String, Arc<ToolRules>>>,
    session_key: Option<[u8; 32]>,
    // Identity material parsed once per version from `settings`.
    gatehouse_keys: Option<Arc<crate::identity::gatehouse_jwt::GatehouseKeys>>,
    identity_signer: Option<Arc<crate::identity::identity_jwt::IdentitySigner>>,
}

impl ConfigView {
    /// Builds a view from a full snapshot.
    pub fn from_snapshot(snapshot: pb::Snapshot) -> Self {
        let state = snapshot.state.unwrap_or_default();
        let mut view = ConfigView {
            version: snapshot.version,
            orgs: state.orgs.into_iter().map(|o| (o.id.clone(), o)).collect(),
            servers: state.servers.into_iter().map(|s| (s.id.clone(), s)).collect(),
            workspaces: state.workspaces.into_iter().map(|w| (w.id.clone(), w)).collect(),
            provisions: state
                .provisions
                .into_iter()
                .map(|p| ((p.workspace_id.clone(), p.server_id.clone()), p))
                .collect(),
            tokens: state.tokens.into_iter().map(|t| (t.id.clone(), t)).collect(),
            certificate_identities: state
                .certificate_identities
                .into_iter()
                .map(|c| (c.id.clone(), c))
                .collect(),
            settings: state.settings.unwrap_or_default(),
            revoked_grants: state.revoked_grants.into_iter().collect(),
            completed_elicitations: state
                .completed_elicitations
                .into_iter()
                .map(|c| (c.elicitation_id.clone(), c))
                .collect(),
            ..Default::default()
        };
        view.reindex();
        view
    }

    /// Returns a new view with `delta` applied, or why it can't be.
    pub fn apply(&self, delta: pb::Delta) -> Result<ConfigView, ApplyError> {
        if delta.from_version != self.version {
            return Err(ApplyError::VersionGap { from: delta.from_version, have: self.version });
        }
        if delta.version <= self.version {
            return Err(ApplyError::NotNewer { to: delta.version, have: self.version });
        }
        let mut next = ConfigView {
            version: delta.version,
            orgs: self.orgs.clone(),
            servers: self.servers.clone(),
            workspaces: self.workspaces.clone(),
            provisions: self.provisions.clone(),
            tokens: self.tokens.clone(),
            certificate_identities: self.certificate_identities.clone(),
            settings: self.settings.clone(),
            revoked_grants: self.revoked_grants.clone(),
            completed_elicitations: self.completed_elicitations.clone(),
            ..Default::default()
        };
        use pb::change::Kind;
        for change in delta.changes {
            match change.kind {
                Some(Kind::UpsertServer(s)) => {
                    next.servers.insert(s.id.clone(), s);
                }
                Some(Kind::DeleteServer(id)) => {
                    next.servers.remove(&id);
                }
                Some(Kind::UpsertWorkspace(w)) => {
                    next.workspaces.insert(w.id.clone(), w);
                }
                Some(Kind::DeleteWorkspace(id)) => {
                    next.workspaces.remove(&id);
                }
                Some(Kind::UpsertProvision(p)) => {
                    next.provisions.insert((p.workspace_id.clone(), p.server_id.clone()), p);
                }
                Some(Kind::DeleteProvision(k)) => {
                    next.provisions.remove(&(k.workspace_id, k.server_id));
                }
                Some(Kind::UpsertToken(t)) => {
                    next.tokens.insert(t.id.clone(), t);
                }
                Some(Kind::DeleteToken(id)) => {
                    next.tokens.remove(&id);
                }
                Some(Kind::Settings(s)) => next.settings = s,
                Some(Kind::UpsertOrg(o)) => {
                    next.orgs.insert(o.id.clone(), o);
                }
                Some(Kind::DeleteOrg(id)) => {
                    next.orgs.remove(&id);
                }
                Some(Kind::RevokeGrant(id)) => {
                    next.revoked_grants.insert(id);
                }
                Some(Kind::ForgetRevokedGrant(id)) => {
                    next.revoked_grants.remove(&id);
                }
                Some(Kind::UpsertCertificateIdentity(c)) => {
                    next.certificate_identities.insert(c.id.clone(), c);
                }
                Some(Kind::DeleteCertificateIdentity(id)) => {
                    next.certificate_identities.remove(&id);
                }
                Some(Kind::CompleteElicitation(c)) => {
                    next.completed_elicitations.insert(c.elicitation_id.clone(), c);
                }
                Some(Kind::ForgetElicitation(id)) => {
                    next.completed_elicitations.remove(&id);
                }
                None => {}
            }
        }
        next.reindex();
        Ok(next)
    }

    /// Re-encodes the view as a snapshot (for the edge's local cache).
    pub fn to_snapshot(&self) -> pb::Snapshot {
        pb::Snapshot {
            version: self.version,
            state: Some(pb::ConfigState {
                servers: self.servers.values().cloned().collect(),
                workspaces: self.workspaces.values().cloned().collect(),
                provisions: self.provisions.values().cloned().collect(),
                tokens: self.tokens.values().cloned().collect(),
                settings: Some(self.settings.clone()),
                orgs: self.orgs.values().cloned().collect(),
                revoked_grants: self.revoked_grants.iter().cloned().collect(),
                certificate_identities: self.certificate_identities.values().cloned().collect(),
                completed_elicitations: self.completed_elicitations.values().cloned().collect(),
            }),
        }
    }

    /// The config version this view holds (0 = nothing loaded).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Looks up a gateway token by the SHA-256 of its text.
    pub fn token(&self, hash: &TokenHash) -> Option<&Arc<TokenGrant>> {
        self.token_index.get(hash)
    }

    /// The identity registered for a client certificate name (normalised, see
    /// [`gatehouse_config::identity::cert_names::normalize`]), if any.
    pub fn certificate_identity(&self, kind: CertNameKind, name: &str) -> Option<&Arc<TokenGrant>> {
        self.certificate_index[kind.index()].get(name)
    }

    /// Looks up a server by organisation and slug.
    pub fn server(&self, org_id: &str, slug: &str) -> Option<&Arc<UpstreamServer>> {
        self.server_index.get(org_id)?.get(slug)
    }

    /// Whether the upstream grant `id` was disconnected recently: a token
    /// cached for it must not be used.
    pub fn is_grant_revoked(&self, id: &str) -> bool {
        self.revoked_grants.contains(id)
    }

    /// Completed URL elicitations in this view that `previous` did not hold.
    pub fn elicitations_completed_since<'a>(
        &'a self,
        previous: &'a ConfigView,
    ) -> impl Iterator<Item = &'a pb::ElicitationCompletion> + 'a {
        self.completed_elicitations
            .iter()
            .filter(|(id, _)| !previous.completed_elicitations.contains_key(*id))
            .map(|(_, c)| c)
    }

    /// Looks up an organisation by id.
    pub fn org(&self, id: &str) -> Option<&Arc<Org>> {
        self.org_index.get(id)
    }

    /// The edge-wide settings pushed by the control plane.
    pub fn settings(&self) -> &pb::EdgeSettings {
        &self.settings
    }

    /// Servers with `slug` in any org (for credentials that don't name an org), ordered by org id.
    pub fn servers_with_slug(&self, slug: &str) -> Vec<&Arc<UpstreamServer>> {
        let mut found: Vec<&Arc<UpstreamServer>> =
            self.server_index.values().filter_map(|by_slug| by_slug.get(slug)).collect();
        found.sort_by(|a, b| a.org_id.cmp(&b.org_id));
        found
    }

    /// The id of the workspace `slug` in `org_id`.
    pub fn workspace_id_by_slug(&self, org_id: &str, slug: &str) -> Option<&str> {
        self.workspaces.values().find(|w| w.org_id == org_id && w.slug == slug).map(|w| w.id.as_str())
    }

    /// Verification keys of Gatehouse-issued access tokens, when the AS is configured.
    pub fn gatehouse_keys(&self) -> Option<&Arc<crate::identity::gatehouse_jwt::GatehouseKeys>> {
        self.gatehouse_keys.as_ref()
    }

    /// The key `X-User-JWT` assertions are signed with, when configured.
    pub fn identity_signer(&self) -> Option<&Arc<crate::identity::identity_jwt::IdentitySigner>> {
        self.identity_signer.as_ref()
    }

    /// Looks up a workspace by id.
    pub fn workspace(&self, id: &str) -> Option<&Arc<Workspace>> {
        self.workspace_index.get(id)
    }

    /// Tool rules if `server_id` is provisioned to `workspace_id`, else `None`.
    pub fn provision(&self, workspace_id: &str, server_id: &str) -> Option<&Arc<ToolRules>> {
        self.rules_index.get(workspace_id)?.get(server_id)
    }

    /// Key binding MCP session ids to callers, once the control plane sent one.
    pub fn session_key(&self) -> Option<&[u8; 32]> {
        self.session_key.as_ref()
    }

    /// Counts of each kind of entry, for logs and readiness output.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        (self.servers.len(), self.workspaces.len(), self.provisions.len(), self.tokens.len())
    }

    fn reindex(&mut self) {
        self.org_index = self
            .orgs
            .values()
            .map(|o| {
                let org = Org {
                    id: o.id.clone(),
                    slug: o.slug.clone(),
                    jwt_validation_json: o.jwt_validation_json.clone(),
                    external_auth_config_json: o.external_auth_config_json.clone(),
                    jwt: org_jwt_validation(o),
                };
                (o.id.clone(), Arc::new(org))
            })
            .collect();
        self.server_index = HashMap::new();
        for s in self.servers.values() {
            match server_from_wire(s) {
                Ok(server) => {
                    let by_slug = self.server_index.entry(s.org_id.clone()).or_default();
                    by_slug.insert(s.slug.clone(), Arc::new(server));
                }
                Err(reason) => {
                    tracing::warn!(server = %s.slug, %reason, "skipping invalid server from control plane");
                }
            }
        }
        self.workspace_index = self
            .workspaces
            .values()
            .map(|w| {
                let ws = Workspace {
                    id: w.id.clone(),
                    org_id: w.org_id.clone(),
                    slug: w.slug.clone(),
                    name: w.name.clone(),
                };
                (w.id.clone(), Arc::new(ws))
            })
            .collect();
        self.rules_index = HashMap::new();
        for ((workspace_id, server_id), p) in &self.provisions {
            let rules = ToolRules { allow: p.tool_allow.clone(), deny: p.tool_deny.clone() };
            let by_server = self.rules_index.entry(workspace_id.clone()).or_default();
            by_server.insert(server_id.clone(), Arc::new(rules));
        }
        self.token_index = self
            .tokens
            .values()
            .filter_map(|t| {
                let hash: TokenHash = t.token_hash.as_slice().try_into().ok()?;
                let grant = TokenGrant {
                    id: t.id.clone(),
                    org_id: t.org_id.clone(),
                    user: t.user.clone(),
                    workspace_id: t.workspace_id.clone(),
                    scopes: t.scopes.clone(),
                    server_permissions: t.server_permissions.clone(),
                    tool_permissions: t.tool_permissions.clone(),
                    expires_at: (t.expires_at != 0).then_some(t.expires_at),
                };
                Some((hash, Arc::new(grant)))
            })
            .collect();
        self.certificate_index = Default::default();
        for c in self.certificate_identities.values() {
            let Some(kind) = CertNameKind::parse(&c.kind) else {
                tracing::warn!(identity = %c.id, kind = %c.kind, "skipping certificate identity of unknown kind");
                continue;
            };
            let grant = TokenGrant {
                id: c.id.clone(),
                org_id: c.org_id.clone(),
                user: c.user.clone(),
                workspace_id: c.workspace_id.clone(),
                scopes: c.scopes.clone(),
                server_permissions: c.server_permissions.clone(),
                tool_permissions: c.tool_permissions.clone(),
                expires_at: None,
            };
            let name = cert_names::normalize(kind, &c.value);
            self.certificate_index[kind.index()].insert(name, Arc::new(grant));
        }
        self.session_key = self.settings.session_binding_key.as_slice().try_into().ok();
        self.gatehouse_keys = crate::identity::gatehouse_jwt::GatehouseKeys::from_settings(
            &self.settings.issuer,
            &self.settings.jwks_json,
            &self.settings.deactivated_users,
        )
        .map(Arc::new);
        self.identity_signer = match self.settings.identity_signing_jwk.trim() {
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

/// Compiles an org's `jwt_validation_json` (empty = none).
fn org_jwt_validation(o: &pb::Org) -> Option<Result<Arc<crate::identity::byo_jwt::JwtValidator>, String>> {
    let raw = o.jwt_validation_json.trim();
    if raw.is_empty() {
        return None;
    }
    let compiled = serde_json::from_str::<serde_json::Value>(raw)
        .map_err(|e| e.to_string())
        .and_then(|v| crate::identity::byo_jwt::JwtValidator::from_value(&v, None).map_err(|e| e.message));
    if let Err(reason) = &compiled {
        tracing::warn!(org = %o.slug, %reason, "invalid org jwt_validation; refusing jwts for this org");
    }
    Some(compiled.map(Arc::new))
}

fn server_from_wire(s: &pb::Server) -> Result<UpstreamServer, String> {
    let url = url::Url::parse(&s.url).map_err(|e| format!("invalid url: {e}"))?;
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
        name: s.name.clone(),
        url,
        auth,
        headers,
        advanced_config_json: s.advanced_config_json.clone(),
        identity: Arc::new(crate::identity::server_identity::ServerIdentity::from_advanced_config(
            &s.slug,
            &s.advanced_config_json,
            introspect_secret,
        )),
        oauth: s.oauth.as_ref().map(crate::credentials::UpstreamOAuthClient::from_wire),
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
        assert!(v3.token(&hash_token("a")).is_some());
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
        assert!(v4.token(&hash_token("a")).is_none());
        assert_eq!(v4.token(&hash_token("b")).unwrap().id, "t2");
        // The old view is untouched: requests in flight keep a consistent version.
        assert!(v3.token(&hash_token("a")).is_some());
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
        let uri = v1.certificate_identity(CertNameKind::SanUri, "spiffe://acme/agent/ci").unwrap();
        assert_eq!((uri.id.as_str(), uri.user.as_str(), uri.workspace_id.as_str()), ("c1", "ci", "ws"));
        assert_eq!(v1.certificate_identity(CertNameKind::SanDns, "agent.example.com").unwrap().id, "c2");
        assert!(v1.certificate_identity(CertNameKind::SubjectCn, "spiffe://acme/agent/ci").is_none());
        assert!(v1.certificate_identity(CertNameKind::SanUri, "spiffe://acme/agent/CI").is_none());

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
        assert!(v2.certificate_identity(CertNameKind::SanUri, "spiffe://acme/agent/ci").is_none());
        assert_eq!(v2.certificate_identity(CertNameKind::SubjectCn, "ci-agent").unwrap().id, "c4");
        let again = ConfigView::from_snapshot(v2.to_snapshot());
        assert_eq!(again.certificate_identity(CertNameKind::SubjectCn, "ci-agent").unwrap().id, "c4");
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
        assert!(again.token(&hash_token("a")).is_some());
    }
}
