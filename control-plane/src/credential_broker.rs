//! The tonic `CredentialBroker` service: edges read grants, take a refresh
//! lease (SQL compare-and-swap, so it holds across control-plane replicas),
//! commit refreshed tokens (rotated refresh token stored before the edge uses
//! the new access token), mark grants dead, and ask for authorization links.
//! Authenticated with the edge token like `ConfigDistribution`; an edge whose
//! token is scoped to some orgs is refused (`PERMISSION_DENIED`) anything about
//! another org's grants.
//!
//! A gRPC face over [`upstream_oauth`](crate::upstream_oauth), beside the
//! config stream rather than inside either: the config stream already carries
//! each server's OAuth client (so it sits above `upstream_oauth`), and this
//! service shares the config stream's edge-token check.

use std::time::Duration;

use gatehouse_config::grant_identity::{GrantIdentity, IdentitySource};
use gatehouse_proto::config::v1 as pb;
use gatehouse_proto::config::v1::credential_broker_server::CredentialBroker;
use secrecy::{ExposeSecret, SecretString};
use tonic::{Request, Response, Status};

use crate::config_stream::{EdgeAuth, EdgeCredential};
use crate::store::authorization_links::AuthorizationSubject;
use crate::store::grants::{Grant, GrantTokens, NewTokens};
use crate::store::StoreError;
use crate::upstream_oauth::{authorize, now_ms, OAuthError, UpstreamOAuth};

/// How long a refresh lease lasts.
pub const LEASE_DURATION: Duration = Duration::from_secs(10);
const MAX_FIELD_LEN: usize = 1024;
const MAX_TOKEN_LEN: usize = 64 * 1024;

/// Serves `CredentialBroker` to authenticated edges.
#[derive(Clone)]
pub struct BrokerService {
    ctx: UpstreamOAuth,
    auth: EdgeAuth,
}

impl std::fmt::Debug for BrokerService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerService").finish_non_exhaustive()
    }
}

impl BrokerService {
    /// A service accepting the edge tokens `auth` accepts.
    pub fn new(ctx: UpstreamOAuth, auth: EdgeAuth) -> Self {
        Self { ctx, auth }
    }

    async fn check<T>(&self, request: &Request<T>) -> Result<EdgeCredential, Status> {
        self.auth.authenticate(request.metadata()).await
    }

    /// Refuses a scoped edge a grant of another org (or a grant that is gone).
    async fn check_grant(&self, credential: &EdgeCredential, grant_id: &str) -> Result<(), Status> {
        if credential.orgs.is_none() {
            return Ok(());
        }
        let grant = self.ctx.store().grant(grant_id).await.map_err(store_status)?;
        let grant = grant.ok_or_else(|| Status::not_found("grant not found"))?;
        self.auth.check_org(credential, &grant.org_id).await
    }
}

fn field(name: &str, value: &str) -> Result<(), Status> {
    if value.is_empty() || value.len() > MAX_FIELD_LEN {
        return Err(Status::invalid_argument(format!("{name} must be 1-{MAX_FIELD_LEN} bytes")));
    }
    Ok(())
}

/// The identity a request names: `identity_source` (empty = `gatehouse`), `issuer`, `user`.
fn identity(source: &str, issuer: String, user: String) -> Result<GrantIdentity, Status> {
    let source = IdentitySource::parse(source)
        .ok_or_else(|| Status::invalid_argument("identity_source must be gatehouse or jwt"))?;
    match source {
        IdentitySource::Gatehouse if !issuer.is_empty() => {
            return Err(Status::invalid_argument("issuer must be empty for gatehouse identities"))
        }
        IdentitySource::Jwt if issuer.len() > MAX_FIELD_LEN => {
            return Err(Status::invalid_argument(format!("issuer must be at most {MAX_FIELD_LEN} bytes")))
        }
        _ => {}
    }
    Ok(GrantIdentity { source, issuer, subject: user })
}

fn store_status(error: StoreError) -> Status {
    match error {
        StoreError::NotFound(what) => Status::not_found(format!("{what} not found")),
        StoreError::Conflict { message, .. } => Status::aborted(message),
        StoreError::Invalid(e) => Status::invalid_argument(e.to_string()),
        other => {
            tracing::error!(error = %other, "credential broker store failure");
            Status::internal("internal error")
        }
    }
}

fn oauth_status(error: OAuthError) -> Status {
    match error {
        OAuthError::Store(e) => store_status(e),
        OAuthError::ServerNotFound => Status::not_found("server not found"),
        OAuthError::NotOAuth => Status::failed_precondition("the server does not use auth_type oauth2"),
        other => {
            tracing::warn!(error = %other, "credential broker request failed");
            Status::unavailable(other.to_string())
        }
    }
}

/// The wire form of a grant (tokens decrypted for the authenticated edge).
fn to_wire(grant: Grant) -> pb::Grant {
    pb::Grant {
        id: grant.id,
        version: grant.version,
        access_token: grant.tokens.access_token.expose_secret().to_owned(),
        access_expires_at: grant.access_expires_at,
        refresh_token: grant.tokens.refresh_token.map(|t| t.expose_secret().to_owned()).unwrap_or_default(),
        scopes: grant.scopes,
        status: grant.status,
    }
}

#[tonic::async_trait]
impl CredentialBroker for BrokerService {
    async fn get_grant(
        &self,
        request: Request<pb::GrantRequest>,
    ) -> Result<Response<pb::GrantResponse>, Status> {
        let credential = self.check(&request).await?;
        let r = request.into_inner();
        field("org_id", &r.org_id)?;
        field("user", &r.user)?;
        field("server_id", &r.server_id)?;
        self.auth.check_org(&credential, &r.org_id).await?;
        let who = identity(&r.identity_source, r.issuer, r.user)?;
        let grant = self.ctx.store().find_grant(&r.org_id, who, &r.server_id).await.map_err(store_status)?;
        Ok(Response::new(pb::GrantResponse { grant: grant.map(to_wire) }))
    }

    async fn acquire_refresh_lease(
        &self,
        request: Request<pb::LeaseRequest>,
    ) -> Result<Response<pb::LeaseResponse>, Status> {
        let credential = self.check(&request).await?;
        let r = request.into_inner();
        field("grant_id", &r.grant_id)?;
        field("node_id", &r.node_id)?;
        self.check_grant(&credential, &r.grant_id).await?;
        let lease_ms = i64::try_from(LEASE_DURATION.as_millis()).unwrap_or(i64::MAX);
        let lease = self
            .ctx
            .store()
            .acquire_refresh_lease(&r.grant_id, r.version, &r.node_id, now_ms(), lease_ms)
            .await
            .map_err(store_status)?;
        let Some(current) = lease.current else {
            return Err(Status::not_found("grant not found"));
        };
        tracing::debug!(grant_id = %r.grant_id, node_id = %r.node_id, granted = lease.granted, "refresh lease requested");
        Ok(Response::new(pb::LeaseResponse {
            granted: lease.granted,
            fencing_token: lease.fencing_token,
            lease_expires_at_ms: lease.lease_until_ms,
            current: Some(to_wire(current)),
        }))
    }

    async fn commit_refresh(
        &self,
        request: Request<pb::CommitRefreshRequest>,
    ) -> Result<Response<pb::GrantResponse>, Status> {
        let credential = self.check(&request).await?;
        let r = request.into_inner();
        field("grant_id", &r.grant_id)?;
        self.check_grant(&credential, &r.grant_id).await?;
        if r.access_token.is_empty()
            || r.access_token.len() > MAX_TOKEN_LEN
            || r.refresh_token.len() > MAX_TOKEN_LEN
        {
            return Err(Status::invalid_argument("access_token must be 1-65536 bytes"));
        }
        let refresh_token = (!r.refresh_token.is_empty()).then(|| SecretString::from(r.refresh_token));
        let new = NewTokens {
            tokens: GrantTokens { access_token: SecretString::from(r.access_token), refresh_token },
            access_expires_at: r.access_expires_at,
            scopes: r.scopes,
        };
        let grant = self
            .ctx
            .store()
            .commit_refresh(&r.grant_id, r.expected_version, r.fencing_token, new)
            .await
            .map_err(store_status)?;
        tracing::info!(grant_id = %grant.id, version = grant.version, "upstream grant refreshed");
        Ok(Response::new(pb::GrantResponse { grant: Some(to_wire(grant)) }))
    }

    async fn mark_grant_dead(
        &self,
        request: Request<pb::MarkGrantDeadRequest>,
    ) -> Result<Response<pb::GrantResponse>, Status> {
        let credential = self.check(&request).await?;
        let r = request.into_inner();
        field("grant_id", &r.grant_id)?;
        self.check_grant(&credential, &r.grant_id).await?;
        let grant =
            self.ctx.store().mark_grant_dead(&r.grant_id, r.expected_version).await.map_err(store_status)?;
        let Some(grant) = grant else {
            return Err(Status::not_found("grant not found"));
        };
        let reason: String = r.reason.chars().filter(|c| !c.is_control()).take(200).collect();
        tracing::info!(grant_id = %grant.id, status = %grant.status, %reason, "upstream grant marked dead");
        Ok(Response::new(pb::GrantResponse { grant: Some(to_wire(grant)) }))
    }

    async fn create_authorization_link(
        &self,
        request: Request<pb::AuthorizationLinkRequest>,
    ) -> Result<Response<pb::AuthorizationLink>, Status> {
        let credential = self.check(&request).await?;
        let r = request.into_inner();
        field("org_id", &r.org_id)?;
        field("user", &r.user)?;
        field("server_id", &r.server_id)?;
        self.auth.check_org(&credential, &r.org_id).await?;
        if r.scopes.len() > 64 || r.scopes.iter().any(|s| s.is_empty() || s.len() > 256 || s.contains(' ')) {
            return Err(Status::invalid_argument(
                "scopes must be at most 64 non-empty tokens without spaces",
            ));
        }
        let session_hash = match r.session_hash.as_str() {
            "" => None,
            h if h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) => {
                Some(r.session_hash)
            }
            _ => {
                return Err(Status::invalid_argument("session_hash must be empty or 64 lowercase hex digits"))
            }
        };
        let subject = AuthorizationSubject {
            identity: identity(&r.identity_source, r.issuer, r.user)?,
            org_id: r.org_id,
            server_id: r.server_id,
            scopes: r.scopes,
            session_hash,
            elicitation_id: None,
        };
        let link = authorize::create_link(&self.ctx, subject).await.map_err(oauth_status)?;
        Ok(Response::new(pb::AuthorizationLink {
            url: link.url,
            elicitation_id: link.elicitation_id,
            expires_at: link.expires_at,
        }))
    }
}
