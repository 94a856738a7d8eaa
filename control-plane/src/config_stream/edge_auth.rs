//! Who an edge is: the edge token it presents (`authorization: Bearer …`) on
//! the config stream and the credential broker. Tokens are records of the
//! store (`POST /v1/edges/tokens`); the `GATEHOUSE_NODE_TOKEN` values from the
//! environment are accepted too, as unscoped tokens named `bootstrap`.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;
use secrecy::SecretString;
use subtle::ConstantTimeEq;
use tonic::Status;

use crate::store::{Store, StoreError};
use crate::tokens::hash_secret;

/// Id and name of the first bootstrap token from the environment.
pub const BOOTSTRAP_TOKEN_NAME: &str = "bootstrap";

/// The edge token a request was authenticated with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeCredential {
    /// The token's id (`bootstrap`, `bootstrap-2`, … for the environment's).
    pub token_id: String,
    /// The token's name.
    pub token_name: String,
    /// Slugs of the orgs the edge may see; `None` = every org.
    pub orgs: Option<Arc<BTreeSet<String>>>,
    bootstrap: bool,
}

impl EdgeCredential {
    /// Whether the edge may see the org with `slug`.
    pub fn allows(&self, slug: &str) -> bool {
        self.orgs.as_ref().is_none_or(|orgs| orgs.contains(slug))
    }
}

/// Authenticates edges by token.
#[derive(Clone)]
pub struct EdgeAuth {
    store: Store,
    bootstrap: Arc<[([u8; 32], EdgeCredential)]>,
}

impl std::fmt::Debug for EdgeAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeAuth").finish_non_exhaustive()
    }
}

impl EdgeAuth {
    /// Accepts the tokens in the store and `bootstrap_tokens` (named
    /// `bootstrap`, `bootstrap-2`, … in order).
    pub fn new(store: Store, bootstrap_tokens: &[SecretString]) -> Self {
        let bootstrap = bootstrap_tokens
            .iter()
            .enumerate()
            .map(|(i, token)| {
                let name = match i {
                    0 => BOOTSTRAP_TOKEN_NAME.to_owned(),
                    _ => format!("{BOOTSTRAP_TOKEN_NAME}-{}", i + 1),
                };
                let credential =
                    EdgeCredential { token_id: name.clone(), token_name: name, orgs: None, bootstrap: true };
                (hash_secret(token), credential)
            })
            .collect();
        Self { store, bootstrap }
    }

    /// The credential of the `authorization: Bearer <edge token>` metadata.
    pub async fn authenticate(
        &self,
        metadata: &tonic::metadata::MetadataMap,
    ) -> Result<EdgeCredential, Status> {
        let presented = metadata
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(|| Status::unauthenticated("missing node token"))?;
        let hash = gatehouse_config::token_hash::hash_token(presented);
        // Compare with every bootstrap token so timing does not reveal which one matched.
        let mut matched = None;
        for (known, credential) in self.bootstrap.iter() {
            if bool::from(known.ct_eq(&hash)) {
                matched = Some(credential);
            }
        }
        if let Some(credential) = matched {
            return Ok(credential.clone());
        }
        let record = self.store.active_edge_token(&hash).await.map_err(store_unavailable)?;
        let record = record.ok_or_else(|| Status::unauthenticated("invalid node token"))?;
        Ok(EdgeCredential {
            token_id: record.id,
            token_name: record.name,
            orgs: record.orgs.map(|o| Arc::new(o.into_iter().collect())),
            bootstrap: false,
        })
    }

    /// Whether `credential` still works (a stored token may have been revoked since).
    pub async fn still_valid(&self, credential: &EdgeCredential) -> Result<bool, StoreError> {
        if credential.bootstrap {
            return Ok(true);
        }
        let record = self.store.edge_token(&credential.token_id).await?;
        Ok(record.is_some_and(|r| r.revoked_at.is_none()))
    }

    /// Records that an edge opened a stream with `credential`.
    pub async fn used(&self, credential: &EdgeCredential) {
        if credential.bootstrap {
            return;
        }
        if let Err(error) = self.store.touch_edge_token(&credential.token_id, Utc::now()).await {
            tracing::warn!(%error, token_id = %credential.token_id, "recording edge token use failed");
        }
    }

    /// Refuses (`PERMISSION_DENIED`) a request of `credential` about the org `org_id`
    /// when the credential is scoped to other orgs.
    pub async fn check_org(&self, credential: &EdgeCredential, org_id: &str) -> Result<(), Status> {
        if credential.orgs.is_none() {
            return Ok(());
        }
        let org = self.store.org_by_id(org_id).await.map_err(store_unavailable)?;
        match org {
            Some(org) if credential.allows(&org.slug) => Ok(()),
            _ => Err(Status::permission_denied("this edge token is not scoped to that org")),
        }
    }
}

fn store_unavailable(error: StoreError) -> Status {
    tracing::error!(%error, "reading edge tokens failed");
    Status::unavailable("edge token check failed")
}
