//! The admin API's side of the audit trail: the audit context every mutating
//! admin request runs with (so each transaction it commits writes its audit row
//! inside that transaction), and the record of refused admin credentials.

use crate::audit::BurstSource;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::accounts::{OrgScope, Principal, DEFAULT_ORG_SLUG};
use crate::store::{AdminAudit, AuditEvent, AuditKind, Store};

/// The request id header: taken from the caller when sane, else generated; always answered.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const MAX_REQUEST_ID_LEN: usize = 128;

/// The request's id: the caller's `X-Request-Id` if it is short printable ASCII, else a new one.
pub(crate) fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= MAX_REQUEST_ID_LEN && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), ToOwned::to_owned)
}

/// The caller's address (the trusted proxy's view when behind proxies); empty when unknown.
pub(crate) fn client_address(request: &Request, trusted_hops: usize) -> String {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| crate::client_ip::client_ip(c.0.ip(), request.headers(), trusted_hops).to_string())
        .unwrap_or_default()
}

/// Who an audit row names as the actor: never a credential, only its id.
pub(crate) fn actor(principal: &Principal) -> String {
    match principal {
        Principal::Platform => "platform".to_owned(),
        Principal::ApiKey { id, .. } => format!("api_key:{id}"),
        Principal::Session(user) => format!("user:{}", user.user_id),
    }
}

/// Runs a mutating admin request with its audit context; every store
/// transaction it commits writes one audit row inside that transaction.
pub(crate) async fn run_audited(
    trusted_hops: usize,
    metrics: &crate::metrics::ControlPlaneMetrics,
    scope: &OrgScope,
    template: &str,
    request: Request,
    next: Next,
) -> Response {
    let request_id = request_id(request.headers());
    let ctx = AdminAudit::new(
        scope.org_id.clone(),
        actor(&scope.principal),
        format!("{} {template}", request.method()),
        request.uri().path().to_owned(),
        request_id.clone(),
        client_address(&request, trusted_hops),
    );
    let mut response = ctx.scope(next.run(request)).await;
    metrics.admin_audit_rows_written(u64::from(ctx.rows()));
    if response.status().is_success() && ctx.rows() == 0 && ctx.unchanged() == 0 {
        // Every mutation is a `WriteTxn`, which writes the row when it commits and says so
        // when it found nothing to change; a success with neither is a bug.
        tracing::error!(action = %ctx.action, "admin mutation succeeded without an audit row");
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// A refused admin credential, as recorded: the reason and the caller's address, never the credential.
pub(crate) struct AdminAuthFailure {
    reason: &'static str,
    action: String,
    client_address: String,
    request_id: String,
}

impl AdminAuthFailure {
    /// What to record of `request`, refused on the route `path`.
    pub(crate) fn of(request: &Request, path: &str, trusted_hops: usize) -> Self {
        let reason = if request.headers().contains_key(header::AUTHORIZATION) {
            "invalid_token"
        } else {
            "no_credentials"
        };
        Self {
            reason,
            action: format!("{} {path}", request.method()),
            client_address: client_address(request, trusted_hops),
            request_id: request_id(request.headers()),
        }
    }

    /// Stores it under the org the path names (else the default org).
    pub(crate) async fn record(
        self,
        store: &Store,
        metrics: &crate::metrics::ControlPlaneMetrics,
        prefixed: Option<&str>,
    ) {
        let org = store.org_by_slug(prefixed.unwrap_or(DEFAULT_ORG_SLUG)).await;
        let Ok(Some(org)) = org else { return };
        let event = AuditEvent {
            id: uuid::Uuid::now_v7().to_string(),
            org_id: org.id,
            kind: AuditKind::AuthFailure.as_str().to_owned(),
            occurred_at: chrono::Utc::now(),
            decision: Some("deny".into()),
            reason: Some(self.reason.into()),
            action: Some(self.action),
            client_address: Some(self.client_address),
            request_id: Some(self.request_id),
            ..AuditEvent::default()
        };
        crate::audit::record_auth_failures(store, metrics, BurstSource::Admin, vec![event]).await;
    }
}
