//! The edge's client of the control plane's `CredentialBroker` gRPC service,
//! on the channel the config stream uses too ([`ControlPlaneChannel`]).
//! Converts wire types to domain types and `tonic::Status` to [`BrokerError`].

use std::time::Duration;

use gatehouse_config::grant_identity::GrantIdentity;
use gatehouse_proto::config::v1 as pb;
use gatehouse_proto::config::v1::credential_broker_client::CredentialBrokerClient;
use secrecy::{ExposeSecret as _, SecretString};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use super::error::BrokerError;
use crate::control_plane::ControlPlaneChannel;
use crate::elicitation::AuthorizationLink;
/// Every broker call gets this long; a refresh must not hang a request.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A user's upstream grant as the control plane holds it.
#[derive(Clone)]
pub struct Grant {
    /// Grant id.
    pub id: String,
    /// Compare-and-swap version, bumped on every change.
    pub version: u64,
    /// Current access token (may be expired).
    pub access_token: SecretString,
    /// Unix seconds; 0 = unknown.
    pub access_expires_at: i64,
    /// Refresh token (empty = none).
    pub refresh_token: SecretString,
    /// Scopes the grant covers.
    pub scopes: Vec<String>,
    /// The AS rejected the grant; the user must authorize again.
    pub dead: bool,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("access_expires_at", &self.access_expires_at)
            .field("dead", &self.dead)
            .finish_non_exhaustive()
    }
}

impl From<pb::Grant> for Grant {
    fn from(g: pb::Grant) -> Self {
        Self {
            id: g.id,
            version: g.version,
            access_token: SecretString::from(g.access_token),
            access_expires_at: g.access_expires_at,
            refresh_token: SecretString::from(g.refresh_token),
            scopes: g.scopes,
            dead: g.status == "dead",
        }
    }
}

/// The answer to a refresh lease request.
#[derive(Debug)]
pub enum Lease {
    /// This edge refreshes; `fencing_token` accompanies the commit.
    Granted {
        /// Proof of holding the lease.
        fencing_token: u64,
    },
    /// Someone else refreshes until `expires_at_ms` (Unix ms).
    Held {
        /// When the other holder's lease lapses.
        expires_at_ms: i64,
        /// The grant as it is now.
        current: Option<Grant>,
    },
}

/// Refreshed tokens to store, rotated refresh token included.
#[derive(Debug)]
pub struct Refreshed<'a> {
    /// The new access token.
    pub access_token: &'a SecretString,
    /// Unix seconds; 0 = unknown.
    pub access_expires_at: i64,
    /// The rotated refresh token, if the AS rotated it.
    pub refresh_token: Option<&'a SecretString>,
    /// Granted scopes (empty = unchanged).
    pub scopes: Vec<String>,
}

#[derive(Clone)]
struct NodeAuth(MetadataValue<Ascii>);

impl tonic::service::Interceptor for NodeAuth {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        request.set_timeout(CALL_TIMEOUT);
        Ok(request)
    }
}

/// `CredentialBroker` client on the edge's shared channel to the control plane.
#[derive(Clone)]
pub struct ControlPlaneClient {
    client: CredentialBrokerClient<InterceptedService<Channel, NodeAuth>>,
    node_id: String,
}

impl std::fmt::Debug for ControlPlaneClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlaneClient").field("node_id", &self.node_id).finish_non_exhaustive()
    }
}

impl ControlPlaneClient {
    /// A client on the edge's channel to the control plane (connects on first use).
    pub fn new(control_plane: &ControlPlaneChannel) -> Self {
        let auth = NodeAuth(control_plane.authorization().clone());
        let client = CredentialBrokerClient::with_interceptor(control_plane.channel(), auth);
        Self { client, node_id: control_plane.node_id().to_owned() }
    }

    /// The grant of (org, identity, server), if any.
    pub async fn get_grant(
        &self,
        org: &str,
        who: &GrantIdentity,
        server_id: &str,
    ) -> Result<Option<Grant>, BrokerError> {
        let request = pb::GrantRequest {
            org_id: org.to_owned(),
            user: who.subject.clone(),
            server_id: server_id.to_owned(),
            identity_source: who.source.as_str().to_owned(),
            issuer: who.issuer.clone(),
        };
        let response = self.client.clone().get_grant(request).await.map_err(status_error)?;
        Ok(response.into_inner().grant.map(Grant::from))
    }

    /// Asks for the right to refresh `grant_id` at `version`.
    pub async fn acquire_refresh_lease(&self, grant_id: &str, version: u64) -> Result<Lease, BrokerError> {
        let request =
            pb::LeaseRequest { grant_id: grant_id.to_owned(), version, node_id: self.node_id.clone() };
        let lease =
            self.client.clone().acquire_refresh_lease(request).await.map_err(status_error)?.into_inner();
        Ok(if lease.granted {
            Lease::Granted { fencing_token: lease.fencing_token }
        } else {
            Lease::Held { expires_at_ms: lease.lease_expires_at_ms, current: lease.current.map(Grant::from) }
        })
    }

    /// Stores refreshed tokens under the lease; returns the grant as stored.
    pub async fn commit_refresh(
        &self,
        grant: &Grant,
        fencing_token: u64,
        refreshed: Refreshed<'_>,
    ) -> Result<Option<Grant>, BrokerError> {
        let request = pb::CommitRefreshRequest {
            grant_id: grant.id.clone(),
            expected_version: grant.version,
            fencing_token,
            access_token: refreshed.access_token.expose_secret().to_owned(),
            access_expires_at: refreshed.access_expires_at,
            refresh_token: refreshed.refresh_token.map(|t| t.expose_secret().to_owned()).unwrap_or_default(),
            scopes: refreshed.scopes,
        };
        let response = self.client.clone().commit_refresh(request).await.map_err(status_error)?;
        Ok(response.into_inner().grant.map(Grant::from))
    }

    /// Marks a grant dead after the AS answered `invalid_grant`.
    pub async fn mark_grant_dead(&self, grant: &Grant, reason: &str) -> Result<(), BrokerError> {
        let request = pb::MarkGrantDeadRequest {
            grant_id: grant.id.clone(),
            expected_version: grant.version,
            reason: reason.to_owned(),
        };
        self.client.clone().mark_grant_dead(request).await.map_err(status_error)?;
        Ok(())
    }

    /// A link for the user to (re)authorize the server, asking for `scopes` on
    /// top; its completion is reported to `session` (SHA-256 hex), if any.
    pub async fn authorization_link(
        &self,
        org: &str,
        who: &GrantIdentity,
        server_id: &str,
        scopes: Vec<String>,
        session: Option<&str>,
    ) -> Result<AuthorizationLink, BrokerError> {
        let request = pb::AuthorizationLinkRequest {
            org_id: org.to_owned(),
            user: who.subject.clone(),
            server_id: server_id.to_owned(),
            scopes,
            session_hash: session.unwrap_or_default().to_owned(),
            identity_source: who.source.as_str().to_owned(),
            issuer: who.issuer.clone(),
        };
        let link =
            self.client.clone().create_authorization_link(request).await.map_err(status_error)?.into_inner();
        Ok(AuthorizationLink {
            url: link.url,
            elicitation_id: link.elicitation_id,
            expires_at: link.expires_at,
        })
    }
}

fn status_error(status: tonic::Status) -> BrokerError {
    tracing::warn!(code = ?status.code(), message = %status.message(), "control plane credential broker call failed");
    BrokerError::ControlPlane(format!("{:?}", status.code()))
}
