//! `CredentialBroker`: the upstream credential for one request.
//!
//! * `oauth2` (per user): cache → `GetGrant` → refresh under the control
//!   plane's lease (one refresh per grant across all edges; the rotated
//!   refresh token is committed before the new access token is used).
//! * `client_credentials` (shared): cache → token endpoint under a short
//!   Redis lock (one fetch per server across edges).
//!
//! Every call works on the request's [`ConfigView`] (the token sealing key and
//! the revoked grants it names), so one request never mixes two config versions.
//!
//! Inside one edge, concurrent misses for the same key share one fetch
//! ([`SingleFlight`]). Tokens within the skew of their expiry are not used;
//! tokens within twice the skew are refreshed in the background while still
//! being used.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use gatehouse_config::address_filter::AddressPolicy;
use gatehouse_config::grant_identity::GrantIdentity;
use gatehouse_config::limits::MAX_CACHED_TOKEN_TTL;
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

use super::cache::{CacheStatus, EdgeTokenCache};
use super::control_plane::{ControlPlaneClient, Grant, Lease, Refreshed};
use super::error::BrokerError;
use super::sealing::{CachedToken, TokenSealer};
use super::single_flight::SingleFlight;
use super::throttle::Throttle;
use super::token_endpoint::{self, IssuedTokens, TokenEndpointError};
use crate::config_view::{ConfigView, UpstreamAuth, UpstreamServer};
use crate::egress::Egress;
use crate::metrics::{EdgeMetrics, RedisStatus};
use crate::upstream_oauth_client::UpstreamOAuthClient;

/// Longest a request waits for another edge's refresh or fetch.
const WAIT_FOR_OTHERS: Duration = Duration::from_secs(15);
const POLL_MIN: Duration = Duration::from_millis(25);
const POLL_MAX: Duration = Duration::from_millis(400);
/// Lifetime of the cross-edge client-credentials fetch lock.
const FETCH_LOCK_TTL: Duration = Duration::from_secs(15);
/// Cache lifetime of a token whose expiry the AS did not say.
const UNKNOWN_EXPIRY_TTL: Duration = Duration::from_secs(300);
/// One step-up prompt per (user, server, scopes) in this window.
const STEP_UP_WINDOW: Duration = Duration::from_secs(600);
/// One background refresh attempt per token in this window.
const PROACTIVE_WINDOW: Duration = Duration::from_secs(5);

/// The credential to send upstream as `Authorization: Bearer`.
#[derive(Debug, Clone)]
pub struct Credential {
    token: SecretString,
}

impl Credential {
    /// The bearer token.
    pub fn token(&self) -> &SecretString {
        &self.token
    }

    /// `Bearer <token>`, marked sensitive; `None` if the token is not header-safe.
    pub fn authorization(&self) -> Option<http::HeaderValue> {
        let mut value =
            http::HeaderValue::from_str(&format!("Bearer {}", self.token.expose_secret())).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

/// Which token a fetch may settle for.
#[derive(Clone)]
enum Want {
    /// Any token not within the skew of its expiry.
    Usable,
    /// A token not within the proactive-refresh window (background refresh).
    Fresh,
    /// A usable token other than this one (the upstream rejected it).
    NotThis(SecretString),
}

impl Want {
    fn accepts(&self, token: &str, expires_at: i64, now: i64, skew: i64) -> bool {
        if token.is_empty() || !usable(expires_at, now, skew) {
            return false;
        }
        match self {
            Want::Usable => true,
            Want::Fresh => !refresh_due(expires_at, now, skew),
            Want::NotThis(rejected) => rejected.expose_secret() != token,
        }
    }

    fn flight_suffix(&self) -> &'static str {
        match self {
            Want::Usable => "",
            Want::Fresh | Want::NotThis(_) => "#refresh",
        }
    }
}

/// Whether a token expiring at `expires_at` may be used at `now` (0 = unknown expiry).
fn usable(expires_at: i64, now: i64, skew: i64) -> bool {
    expires_at == 0 || expires_at - skew > now
}

/// Whether a token should be replaced in the background.
fn refresh_due(expires_at: i64, now: i64, skew: i64) -> bool {
    expires_at != 0 && expires_at - 2 * skew <= now
}

/// How long a token may stay cached: until `skew` before its expiry, and never
/// longer than [`MAX_CACHED_TOKEN_TTL`].
fn cache_ttl(expires_at: i64, now: i64, skew: i64) -> Duration {
    if expires_at == 0 {
        return UNKNOWN_EXPIRY_TTL;
    }
    Duration::from_secs(u64::try_from(expires_at - skew - now).unwrap_or(0)).min(MAX_CACHED_TOKEN_TTL)
}

fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn now_unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Short, stable, non-reversible id of arbitrary parts (length-prefixed so parts can't collide).
fn digest(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&hash.finalize()[..18])
}

/// The cache key of an identity's token for a server: org, identity source,
/// issuer and subject, digested (no user names in Redis keys).
fn user_key(org: &str, who: impl Into<GrantIdentity>, server_id: &str) -> String {
    let who = who.into();
    format!("tok:u:{server_id}:{}", digest(&[org, who.source.as_str(), &who.issuer, &who.subject]))
}

fn shared_key(server_id: &str, client: &UpstreamOAuthClient) -> String {
    let endpoint = client.token_endpoint.as_ref().map_or("", url::Url::as_str);
    let scopes = client.scopes.join(" ");
    format!("tok:cc:{server_id}:{}", digest(&[endpoint, &client.client_id, &scopes, &client.resource]))
}

/// Produces upstream credentials for `oauth2` and `client_credentials` servers.
#[derive(Debug)]
pub struct CredentialBroker {
    cache: EdgeTokenCache,
    control_plane: ControlPlaneClient,
    http: Egress,
    skew: i64,
    flights: SingleFlight<Credential>,
    step_ups: Throttle,
    proactive: Throttle,
    /// Seals tokens while the control plane has not sent a `token_cache_key`.
    fallback_sealer: TokenSealer,
    /// Cache hits and misses, refreshes.
    metrics: Arc<EdgeMetrics>,
}

impl CredentialBroker {
    /// A broker caching in `cache`, asking `control_plane` for grants and leases.
    pub fn new(
        cache: EdgeTokenCache,
        control_plane: ControlPlaneClient,
        refresh_skew: Duration,
        addresses: AddressPolicy,
    ) -> Result<Arc<Self>, reqwest::Error> {
        Ok(Arc::new(Self {
            cache,
            control_plane,
            http: token_endpoint::http_client(addresses)?,
            skew: refresh_skew.as_secs() as i64,
            flights: SingleFlight::default(),
            step_ups: Throttle::new(STEP_UP_WINDOW),
            proactive: Throttle::new(PROACTIVE_WINDOW),
            fallback_sealer: TokenSealer::ephemeral(),
            metrics: Arc::new(EdgeMetrics::new()),
        }))
    }

    /// Records into `metrics` (call right after [`CredentialBroker::new`]; until then, and
    /// if called later, into a handle no scrape reads).
    pub fn with_metrics(mut self: Arc<Self>, metrics: Arc<EdgeMetrics>) -> Arc<Self> {
        match Arc::get_mut(&mut self) {
            Some(broker) => broker.metrics = metrics,
            None => tracing::error!("metrics set on a shared credential broker; ignored"),
        }
        self
    }

    /// Whether the token cache's Redis is in use, for the metrics (`None`: no Redis configured).
    pub fn redis_status(&self) -> Option<RedisStatus> {
        let status = self.cache.status();
        match status.backend {
            "memory" => None,
            backend => Some(RedisStatus { up: backend == "redis", fallbacks: status.redis_failures }),
        }
    }

    /// Token cache backend and failure counters (for `/readyz`).
    pub fn cache_status(&self) -> CacheStatus {
        self.cache.status()
    }

    /// The credential for `user` of `org` calling `server`, as of `view` (the
    /// request's config); `None` for servers that don't use OAuth. `session` (the
    /// caller's `Mcp-Session-Id`, as the client sent it) is where an
    /// authorization link's completion is reported.
    pub async fn upstream_credential(
        self: &Arc<Self>,
        view: &Arc<ConfigView>,
        org: &str,
        who: &GrantIdentity,
        session: Option<&[u8]>,
        server: &Arc<UpstreamServer>,
    ) -> Result<Option<Credential>, BrokerError> {
        self.credential(view, org, who, session, server, Want::Usable).await
    }

    /// A replacement for `rejected`, which the upstream answered 401 to.
    pub async fn replace_rejected(
        self: &Arc<Self>,
        view: &Arc<ConfigView>,
        org: &str,
        who: &GrantIdentity,
        session: Option<&[u8]>,
        server: &Arc<UpstreamServer>,
        rejected: &Credential,
    ) -> Result<Option<Credential>, BrokerError> {
        self.credential(view, org, who, session, server, Want::NotThis(rejected.token.clone())).await
    }

    /// After a 403 `insufficient_scope`: the link asking for `scopes`, unless
    /// this (user, server, scopes) was already prompted recently (loop guard).
    pub async fn step_up(
        self: &Arc<Self>,
        org: &str,
        who: &GrantIdentity,
        session: Option<&[u8]>,
        server: &Arc<UpstreamServer>,
        mut scopes: Vec<String>,
    ) -> Option<BrokerError> {
        if server.auth != UpstreamAuth::OAuth2 {
            return None;
        }
        scopes.sort();
        scopes.dedup();
        // The cached token lacks the scope: once the user re-authorizes, the new grant must be fetched.
        self.cache.delete(&user_key(org, who, &server.id)).await;
        let throttle_key = format!(
            "{}:{}",
            server.id,
            digest(&[org, who.source.as_str(), &who.issuer, &who.subject, &scopes.join(" ")])
        );
        if !self.step_ups.allow(&throttle_key) {
            tracing::info!(server = %server.slug, "step-up already requested recently, not prompting again");
            return None;
        }
        tracing::info!(server = %server.slug, scopes = %scopes.join(" "), "upstream asks for more scopes, requesting step-up");
        Some(self.authorization_link(org, who, session, server, scopes).await)
    }

    async fn credential(
        self: &Arc<Self>,
        view: &Arc<ConfigView>,
        org: &str,
        who: &GrantIdentity,
        session: Option<&[u8]>,
        server: &Arc<UpstreamServer>,
        want: Want,
    ) -> Result<Option<Credential>, BrokerError> {
        // A per-user grant can be used (or authorized) before the edge has the
        // client settings; they are only needed to refresh.
        let client = server.oauth.as_ref().filter(|c| c.is_usable()).cloned();
        let key = match (&server.auth, &client) {
            (UpstreamAuth::OAuth2, _) => user_key(org, who, &server.id),
            (UpstreamAuth::ClientCredentials, Some(client)) => shared_key(&server.id, client),
            (UpstreamAuth::ClientCredentials, None) => return Err(BrokerError::NotConfigured),
            _ => return Ok(None),
        };
        if let Want::Usable = want {
            if let Some(cached) = self.cached(view, &key).await {
                let now = now_unix();
                let token = cached.access_token.expose_secret();
                if want.accepts(token, cached.expires_at, now, self.skew) {
                    if refresh_due(cached.expires_at, now, self.skew) && self.proactive.allow(&key) {
                        self.spawn_proactive_refresh(view, org, who, server);
                    }
                    self.metrics.token_cache_hit();
                    return Ok(Some(Credential { token: cached.access_token }));
                }
            }
            self.metrics.token_cache_miss();
        }
        let flight_key = format!("{key}{}", want.flight_suffix());
        let this = self.clone();
        let (owned_org, owned_who, owned_server) = (org.to_owned(), who.clone(), server.clone());
        let view = Arc::clone(view);
        let work = async move {
            let (org, who, server) = (owned_org, owned_who, owned_server);
            match server.auth {
                UpstreamAuth::OAuth2 => {
                    this.fetch_user(&view, &org, &who, &server, client.as_ref(), &key, want).await
                }
                _ => match &client {
                    Some(client) => this.fetch_shared(&view, client, &key, want).await,
                    None => Err(BrokerError::NotConfigured),
                },
            }
        };
        match self.flights.run(flight_key, work).await {
            Ok(credential) => Ok(Some(credential)),
            // Each waiter gets a link of its own: links are single-use, and each
            // one reports its completion to the waiter's own MCP session.
            Err(BrokerError::NoUsableGrant) => {
                Err(self.authorization_link(org, who, session, server, Vec::new()).await)
            }
            Err(err) => Err(err),
        }
    }

    fn spawn_proactive_refresh(
        self: &Arc<Self>,
        view: &Arc<ConfigView>,
        org: &str,
        who: &GrantIdentity,
        server: &Arc<UpstreamServer>,
    ) {
        let this = self.clone();
        let view = Arc::clone(view);
        let (org, who, server) = (org.to_owned(), who.clone(), server.clone());
        tokio::spawn(async move {
            if let Err(err) = this.credential(&view, &org, &who, None, &server, Want::Fresh).await {
                tracing::info!(server = %server.slug, %err, "background token refresh failed");
            }
        });
    }

    fn sealer(view: &ConfigView) -> Option<TokenSealer> {
        TokenSealer::new(&view.settings().token_cache_key)
    }

    async fn cached(&self, view: &ConfigView, key: &str) -> Option<CachedToken> {
        let sealed = self.cache.get(key).await?;
        let token = match Self::sealer(view) {
            Some(sealer) => sealer.open(key, &sealed),
            None => self.fallback_sealer.open(key, &sealed),
        }?;
        if !token.grant_id.is_empty() && view.is_grant_revoked(&token.grant_id) {
            // The user (or an admin) disconnected this grant: the token must not be used again.
            tracing::info!(grant_id = %token.grant_id, "dropping a cached token of a disconnected grant");
            self.cache.delete(key).await;
            return None;
        }
        Some(token)
    }

    async fn store(&self, view: &ConfigView, key: &str, token: &CachedToken) {
        let ttl = cache_ttl(token.expires_at, now_unix(), self.skew);
        let sealed = match Self::sealer(view) {
            Some(sealer) => sealer.seal(key, token),
            None => self.fallback_sealer.seal(key, token),
        };
        self.cache.set(key, sealed, ttl).await;
    }

    /// The error asking the user to authorize `server` (asking for `scopes` on top).
    async fn authorization_link(
        &self,
        org: &str,
        who: &GrantIdentity,
        session: Option<&[u8]>,
        server: &UpstreamServer,
        scopes: Vec<String>,
    ) -> BrokerError {
        let session_hash = session.map(crate::elicitation_streams::session_hash);
        let link =
            self.control_plane.authorization_link(org, who, &server.id, scopes, session_hash.as_deref());
        match link.await {
            Ok(link) => BrokerError::AuthorizationRequired(link),
            Err(err) => err,
        }
    }

    async fn use_grant(&self, view: &ConfigView, key: &str, grant: &Grant) -> Credential {
        let token = CachedToken {
            access_token: grant.access_token.clone(),
            expires_at: grant.access_expires_at,
            grant_id: grant.id.clone(),
            grant_version: grant.version,
        };
        self.store(view, key, &token).await;
        Credential { token: grant.access_token.clone() }
    }

    #[allow(clippy::too_many_arguments)]
    async fn fetch_user(
        &self,
        view: &ConfigView,
        org: &str,
        who: &GrantIdentity,
        server: &UpstreamServer,
        client: Option<&UpstreamOAuthClient>,
        key: &str,
        want: Want,
    ) -> Result<Credential, BrokerError> {
        let grant = self.control_plane.get_grant(org, who, &server.id).await?;
        let Some(mut grant) = grant.filter(|g| !g.dead) else {
            return Err(BrokerError::NoUsableGrant);
        };
        if want.accepts(grant.access_token.expose_secret(), grant.access_expires_at, now_unix(), self.skew) {
            return Ok(self.use_grant(view, key, &grant).await);
        }
        if grant.refresh_token.expose_secret().is_empty() {
            return Err(BrokerError::NoUsableGrant);
        }
        let client = client.ok_or(BrokerError::NotConfigured)?;
        let deadline = tokio::time::Instant::now() + WAIT_FOR_OTHERS;
        loop {
            let (expires_at_ms, current) =
                match self.control_plane.acquire_refresh_lease(&grant.id, grant.version).await? {
                    Lease::Granted { fencing_token } => {
                        return self
                            .refresh_as_leader(view, server, client, key, &grant, fencing_token)
                            .await;
                    }
                    Lease::Held { expires_at_ms, current } => (expires_at_ms, current),
                };
            // Someone else refreshes: wait for their result rather than burning the refresh token.
            let mut pause = POLL_MIN;
            let mut latest = current;
            loop {
                match latest.take() {
                    Some(g) if g.dead => return Err(BrokerError::NoUsableGrant),
                    Some(g) if g.version > grant.version => {
                        if want.accepts(
                            g.access_token.expose_secret(),
                            g.access_expires_at,
                            now_unix(),
                            self.skew,
                        ) {
                            return Ok(self.use_grant(view, key, &g).await);
                        }
                        // Moved on but still not usable: refresh from the new version.
                        grant = g;
                        break;
                    }
                    _ => {}
                }
                if now_unix_ms() >= expires_at_ms {
                    break; // the holder's lease lapsed: ask again
                }
                if tokio::time::Instant::now() >= deadline {
                    tracing::warn!(grant_id = %grant.id, "gave up waiting for another edge's token refresh");
                    return Err(BrokerError::RefreshTimeout);
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(POLL_MAX);
                if let Some(cached) = self.cached(view, key).await {
                    let fresh = cached.grant_id == grant.id && cached.grant_version > grant.version;
                    let token = cached.access_token.expose_secret();
                    if fresh && want.accepts(token, cached.expires_at, now_unix(), self.skew) {
                        return Ok(Credential { token: cached.access_token });
                    }
                }
                match self.control_plane.get_grant(org, who, &server.id).await? {
                    None => return Err(BrokerError::NoUsableGrant),
                    Some(g) => latest = Some(g),
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BrokerError::RefreshTimeout);
            }
        }
    }

    async fn refresh_as_leader(
        &self,
        view: &ConfigView,
        server: &UpstreamServer,
        client: &UpstreamOAuthClient,
        key: &str,
        grant: &Grant,
        fencing_token: u64,
    ) -> Result<Credential, BrokerError> {
        tracing::info!(server = %server.slug, grant_id = %grant.id, version = grant.version, "refreshing upstream access token");
        let refreshed = token_endpoint::refresh(&self.http, client, &grant.refresh_token).await;
        self.metrics.token_refresh(refreshed.is_ok());
        let issued = match refreshed {
            Ok(issued) => issued,
            Err(TokenEndpointError::InvalidGrant) => {
                tracing::info!(server = %server.slug, grant_id = %grant.id, "upstream rejected the refresh token, marking the grant dead");
                self.control_plane.mark_grant_dead(grant, "invalid_grant").await?;
                self.cache.delete(key).await;
                return Err(BrokerError::NoUsableGrant);
            }
            Err(err) => return Err(token_error(err, &server.slug)),
        };
        let expires_at = expires_at(&issued);
        let scopes = issued.scope.as_deref().map(|s| s.split_ascii_whitespace().map(str::to_owned).collect());
        // The rotated refresh token is stored before the new access token is used or cached:
        // if the commit fails, the token is not used.
        let refreshed = Refreshed {
            access_token: &issued.access_token,
            access_expires_at: expires_at,
            refresh_token: issued.refresh_token.as_ref(),
            scopes: scopes.unwrap_or_default(),
        };
        let stored = self.control_plane.commit_refresh(grant, fencing_token, refreshed).await.inspect_err(|_| {
            tracing::error!(grant_id = %grant.id, "cannot commit the refreshed grant; the new token is discarded");
        })?;
        let version = stored.map_or(grant.version + 1, |g| g.version);
        let token = CachedToken {
            access_token: issued.access_token.clone(),
            expires_at,
            grant_id: grant.id.clone(),
            grant_version: version,
        };
        self.store(view, key, &token).await;
        Ok(Credential { token: issued.access_token })
    }

    async fn fetch_shared(
        &self,
        view: &ConfigView,
        client: &UpstreamOAuthClient,
        key: &str,
        want: Want,
    ) -> Result<Credential, BrokerError> {
        let lock = format!("lock:{key}");
        let mut owner = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut owner);
        let owner = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(owner);
        let deadline = tokio::time::Instant::now() + WAIT_FOR_OTHERS;
        let mut pause = POLL_MIN;
        loop {
            if let Some(cached) = self.cached(view, key).await {
                if want.accepts(cached.access_token.expose_secret(), cached.expires_at, now_unix(), self.skew)
                {
                    return Ok(Credential { token: cached.access_token });
                }
            }
            if self.cache.try_lock(&lock, &owner, FETCH_LOCK_TTL).await {
                let result = self.fetch_shared_locked(view, client, key).await;
                self.cache.unlock(&lock, &owner).await;
                return result;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BrokerError::RefreshTimeout);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(POLL_MAX);
        }
    }

    async fn fetch_shared_locked(
        &self,
        view: &ConfigView,
        client: &UpstreamOAuthClient,
        key: &str,
    ) -> Result<Credential, BrokerError> {
        tracing::info!(issuer = %client.issuer, "fetching a client credentials token");
        let issued = token_endpoint::client_credentials(&self.http, client)
            .await
            .map_err(|err| token_error(err, &client.issuer))?;
        let token = CachedToken {
            access_token: issued.access_token.clone(),
            expires_at: expires_at(&issued),
            grant_id: String::new(),
            grant_version: 0,
        };
        self.store(view, key, &token).await;
        Ok(Credential { token: issued.access_token })
    }
}

fn expires_at(issued: &IssuedTokens) -> i64 {
    issued.expires_in.map_or(0, |secs| now_unix().saturating_add(i64::try_from(secs).unwrap_or(i64::MAX / 2)))
}

fn token_error(err: TokenEndpointError, target: &str) -> BrokerError {
    tracing::warn!(%err, target, "upstream token endpoint failed");
    match err {
        TokenEndpointError::Refused(code) => BrokerError::TokenRefused(code),
        TokenEndpointError::InvalidGrant => BrokerError::TokenRefused("invalid_grant".to_owned()),
        TokenEndpointError::NotConfigured => BrokerError::NotConfigured,
        other => BrokerError::TokenEndpoint(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usability_and_ttl_follow_the_skew() {
        let (now, skew) = (1_000, 30);
        assert!(usable(now + 31, now, skew));
        assert!(!usable(now + 30, now, skew), "within the skew is treated as expired");
        assert!(usable(0, now, skew), "unknown expiry is used until rejected");
        assert!(!refresh_due(now + 61, now, skew));
        assert!(refresh_due(now + 60, now, skew));
        assert!(!refresh_due(0, now, skew));
        assert_eq!(cache_ttl(now + 100, now, skew), Duration::from_secs(70));
        assert_eq!(cache_ttl(now + 10, now, skew), Duration::ZERO);
        assert_eq!(cache_ttl(0, now, skew), UNKNOWN_EXPIRY_TTL);
        assert_eq!(cache_ttl(now + 86_400, now, skew), MAX_CACHED_TOKEN_TTL);
    }

    #[test]
    fn wants_settle_for_the_right_tokens() {
        let (now, skew) = (1_000, 30);
        assert!(Want::Usable.accepts("a", now + 45, now, skew));
        assert!(!Want::Fresh.accepts("a", now + 45, now, skew), "due for refresh");
        assert!(Want::Fresh.accepts("a", now + 3600, now, skew));
        let rejected = Want::NotThis(SecretString::from("a".to_owned()));
        assert!(!rejected.accepts("a", now + 3600, now, skew));
        assert!(rejected.accepts("b", now + 3600, now, skew));
        assert!(!Want::Usable.accepts("", now + 3600, now, skew));
    }

    #[test]
    fn cache_keys_separate_users_and_client_settings() {
        assert_ne!(user_key("o", "ab", "s"), user_key("o", "a", "s"));
        assert_ne!(user_key("o:a", "b", "s"), user_key("o", "a:b", "s"), "length-prefixed, no collisions");
        assert!(!user_key("o", "alice@example.com", "s").contains("alice"), "no user names in Redis keys");
        let jwt = GrantIdentity::jwt("https://idp.example.com", "alice@example.com");
        assert_ne!(
            user_key("o", &jwt, "s"),
            user_key("o", "alice@example.com", "s"),
            "a JWT subject is not a user"
        );
        let other_issuer = GrantIdentity::jwt("https://other.example.com", "alice@example.com");
        assert_ne!(user_key("o", &jwt, "s"), user_key("o", &other_issuer, "s"));
        assert_ne!(user_key("o", "alice", "s"), user_key("p", "alice", "s"), "orgs are separate");
        let mut client = UpstreamOAuthClient::from_wire(&gatehouse_proto::config::v1::UpstreamOAuth {
            token_endpoint: "https://as/token".into(),
            client_id: "c".into(),
            ready: true,
            ..Default::default()
        });
        let before = shared_key("s", &client);
        client.scopes = vec!["admin".into()];
        assert_ne!(before, shared_key("s", &client));
    }
}
