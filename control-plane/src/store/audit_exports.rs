//! An org's audit export destinations (a signed webhook, an OTLP logs endpoint):
//! what the admin set, with the webhook secret and the OTLP header values sealed,
//! and what the deliverer keeps per destination: the cursor (the last event `seq`
//! acknowledged), the lease naming the one replica delivering it, and the
//! delivery status shown by the API.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use utoipa::ToSchema;

use super::audit_events::{from_model as event_from_model, redacted};
use super::entities::{audit_event, audit_export, audit_sequence};
use super::{from_json_text, now, to_json_text, AuditEvent, Store, StoreError};
use crate::credentials::SealedRecord;
use crate::validation::FieldError;

/// Where an org's audit events are exported to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExportDestination {
    /// HTTPS POST of signed JSON batches.
    Webhook,
    /// OTLP/HTTP protobuf logs.
    Otlp,
}

impl ExportDestination {
    /// Both destinations.
    pub const ALL: [ExportDestination; 2] = [Self::Webhook, Self::Otlp];

    /// The stored name (and the metrics' `destination` label).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Otlp => "otlp",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == value)
    }
}

/// A destination as the owner sets it.
#[derive(Debug, Clone)]
pub struct ExportSpec {
    /// The webhook URL or the OTLP logs endpoint (validated by the caller).
    pub url: String,
    /// Whether events are delivered.
    pub enabled: bool,
    /// Only these kinds (`None`: every kind).
    pub kinds: Option<Vec<String>>,
    /// The sealed part: the webhook's signing secret or the OTLP headers; `None` keeps the stored one.
    pub credential: Option<ExportCredential>,
}

/// The secret part of a destination.
#[derive(Clone)]
pub enum ExportCredential {
    /// The webhook's HMAC-SHA256 signing secret.
    Secret(SecretString),
    /// Headers sent to the OTLP endpoint (e.g. an API key).
    Headers(BTreeMap<String, SecretString>),
}

impl std::fmt::Debug for ExportCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Secret(_) => f.write_str("Secret([redacted])"),
            Self::Headers(h) => f.debug_tuple("Headers").field(&h.keys().collect::<Vec<_>>()).finish(),
        }
    }
}

/// How delivery to a destination is going.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct ExportStatus {
    /// When a batch was last acknowledged.
    pub last_success_at: Option<DateTime<Utc>>,
    /// The last failure (an HTTP status or a connection error); compare `last_error_at`
    /// with `last_success_at` to see whether delivery recovered since.
    pub last_error: Option<String>,
    /// When it failed.
    pub last_error_at: Option<DateTime<Utc>>,
    /// Failed attempts since the last success.
    pub attempts: u32,
    /// When the next attempt is due after a failure.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Delivery stopped because the destination refused a batch (a 4xx other than 408/429);
    /// saving the settings again resumes it.
    pub paused: bool,
    /// Events waiting to be delivered.
    pub backlog: u64,
}

/// A destination as the API shows it: never its secret or header values.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportView {
    /// Which destination.
    pub destination: ExportDestination,
    /// URL or endpoint.
    pub url: String,
    /// Whether events are delivered.
    pub enabled: bool,
    /// Only these kinds.
    pub kinds: Option<Vec<String>>,
    /// Whether a webhook secret is stored.
    pub secret_set: bool,
    /// The OTLP header names.
    pub header_names: Vec<String>,
    /// Delivery status.
    pub status: ExportStatus,
}

/// A destination due for delivery, with its credential opened.
#[derive(Debug, Clone)]
pub struct ExportJob {
    /// The org.
    pub org_id: String,
    /// Which destination.
    pub destination: ExportDestination,
    /// URL or endpoint.
    pub url: String,
    /// Only these kinds.
    pub kinds: Option<Vec<String>>,
    /// The last `seq` acknowledged.
    pub cursor: i64,
    /// Failed attempts since the last success.
    pub attempts: u32,
    /// The webhook secret or the OTLP headers.
    pub credential: ExportCredential,
    /// When the destination's settings were last saved: a delivery records its outcome
    /// only while they are unchanged, so a batch read before an owner saved a new URL
    /// neither moves the cursor of the new settings nor pauses them.
    pub settings_at: DateTime<Utc>,
}

/// What a failed delivery attempt leaves behind.
#[derive(Debug, Clone)]
pub struct ExportFailure {
    /// What went wrong (no secret: a status and a short reason).
    pub error: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When to try again; `None` pauses the destination.
    pub retry_at: Option<DateTime<Utc>>,
}

/// The associated data of a destination's sealed credential, binding it to its row.
pub(super) fn export_aad(org_id: &str, destination: &str) -> Vec<u8> {
    format!("audit_export:{org_id}:{destination}:credential").into_bytes()
}

fn status_of(m: &audit_export::Model, backlog: u64) -> ExportStatus {
    ExportStatus {
        last_success_at: m.last_success_at,
        last_error: m.last_error.clone(),
        last_error_at: m.last_error_at,
        attempts: u32::try_from(m.attempts).unwrap_or(0),
        next_attempt_at: m.next_attempt_at,
        paused: m.paused,
        backlog,
    }
}

fn view_of(m: &audit_export::Model, backlog: u64) -> Result<Option<ExportView>, StoreError> {
    let Some(destination) = ExportDestination::parse(&m.destination) else { return Ok(None) };
    Ok(Some(ExportView {
        destination,
        url: m.url.clone(),
        enabled: m.enabled,
        kinds: m.kinds.as_deref().map(|k| from_json_text("audit_exports.kinds", k)).transpose()?,
        secret_set: destination == ExportDestination::Webhook && m.ciphertext.is_some(),
        header_names: m
            .header_names
            .as_deref()
            .map(|h| from_json_text("audit_exports.header_names", h))
            .transpose()?
            .unwrap_or_default(),
        status: status_of(m, backlog),
    }))
}

/// The audit row's before/after of an org's destinations: what the API shows, no secret.
fn audit_snapshot(views: &[ExportView]) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for v in views {
        let detail = match v.destination {
            ExportDestination::Webhook => serde_json::json!({
                "url": v.url, "enabled": v.enabled, "kinds": v.kinds,
                "secret": if v.secret_set { "set" } else { "unset" },
            }),
            ExportDestination::Otlp => serde_json::json!({
                "endpoint": v.url, "enabled": v.enabled,
                "headers": v.header_names.iter().map(|n| (n.clone(), "set")).collect::<BTreeMap<_, _>>(),
            }),
        };
        out.insert(v.destination.as_str().to_owned(), detail);
    }
    redacted(serde_json::Value::Object(out))
}

impl Store {
    /// The org's destinations with their status (backlog counted now).
    pub async fn audit_exports(&self, org_id: &str) -> Result<Vec<ExportView>, StoreError> {
        let rows = audit_export::Entity::find()
            .filter(audit_export::Column::OrgId.eq(org_id))
            .order_by_asc(audit_export::Column::Destination)
            .all(&self.db)
            .await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in &rows {
            let kinds = row.kinds.as_deref().map(|k| from_json_text("audit_exports.kinds", k)).transpose()?;
            let backlog = self.export_backlog(org_id, row.cursor, kinds.as_ref()).await?;
            views.extend(view_of(row, backlog)?);
        }
        Ok(views)
    }

    /// Replaces the org's destinations: `None` removes one. A new webhook needs its
    /// secret; an existing one keeps its secret (and OTLP its headers) unless given.
    /// A new destination starts after the events stored so far; saving resumes a
    /// paused one and retries a failing one at once. Audited (no secret in the row).
    pub async fn set_audit_exports(
        &self,
        org_id: &str,
        specs: BTreeMap<ExportDestination, Option<ExportSpec>>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_change().await?;
        let rows =
            audit_export::Entity::find().filter(audit_export::Column::OrgId.eq(org_id)).all(&txn).await?;
        let before: Vec<ExportView> = rows.iter().filter_map(|r| view_of(r, 0).ok().flatten()).collect();
        let head = audit_sequence::Entity::find_by_id(org_id).one(&txn).await?.map_or(0, |s| s.last_seq);
        for (destination, spec) in specs {
            let name = destination.as_str();
            let existing = rows.iter().find(|r| r.destination == name);
            let Some(spec) = spec else {
                audit_export::Entity::delete_many()
                    .filter(audit_export::Column::OrgId.eq(org_id))
                    .filter(audit_export::Column::Destination.eq(name))
                    .exec(&txn)
                    .await?;
                continue;
            };
            let stamp = now();
            let mut row: audit_export::ActiveModel = match existing {
                Some(row) => row.clone().into(),
                None => audit_export::ActiveModel {
                    org_id: Set(org_id.to_owned()),
                    destination: Set(name.to_owned()),
                    cursor: Set(head),
                    lease_owner: Set(None),
                    lease_until: Set(None),
                    last_success_at: Set(None),
                    last_error: Set(None),
                    last_error_at: Set(None),
                    key_id: Set(None),
                    wrapped_key: Set(None),
                    ciphertext: Set(None),
                    header_names: Set(None),
                    ..Default::default()
                },
            };
            row.url = Set(spec.url);
            row.enabled = Set(spec.enabled);
            row.kinds = Set(spec.kinds.as_ref().map(to_json_text));
            row.attempts = Set(0);
            row.next_attempt_at = Set(None);
            row.paused = Set(false);
            row.updated_at = Set(stamp);
            match spec.credential {
                Some(credential) => {
                    let (plain, names) = match &credential {
                        ExportCredential::Secret(s) => (s.expose_secret().to_owned(), None),
                        ExportCredential::Headers(h) => {
                            let values: BTreeMap<&String, &str> =
                                h.iter().map(|(k, v)| (k, v.expose_secret())).collect();
                            (to_json_text(&values), Some(to_json_text(&h.keys().collect::<Vec<_>>())))
                        }
                    };
                    let plain = zeroize::Zeroizing::new(plain);
                    let sealed = self.keyring.seal(plain.as_bytes(), &export_aad(org_id, name))?;
                    row.key_id = Set(Some(sealed.key_id));
                    row.wrapped_key = Set(Some(sealed.wrapped_key));
                    row.ciphertext = Set(Some(sealed.ciphertext));
                    row.header_names = Set(names);
                }
                None if existing.is_some_and(|r| r.ciphertext.is_some()) => {}
                None if destination == ExportDestination::Otlp => {
                    let sealed = self.keyring.seal(b"{}", &export_aad(org_id, name))?;
                    row.key_id = Set(Some(sealed.key_id));
                    row.wrapped_key = Set(Some(sealed.wrapped_key));
                    row.ciphertext = Set(Some(sealed.ciphertext));
                    row.header_names = Set(Some("[]".to_owned()));
                }
                None => {
                    return Err(FieldError::new(
                        "webhook.secret",
                        "is required for a new webhook: the receiver checks each batch's signature with it",
                    )
                    .into())
                }
            }
            if existing.is_some() {
                audit_export::Entity::update(row).exec(&txn).await?;
            } else {
                audit_export::Entity::insert(row).exec_without_returning(&txn).await?;
            }
        }
        let after_rows =
            audit_export::Entity::find().filter(audit_export::Column::OrgId.eq(org_id)).all(&txn).await?;
        let after: Vec<ExportView> = after_rows.iter().filter_map(|r| view_of(r, 0).ok().flatten()).collect();
        txn.set_audit_change(Some(audit_snapshot(&before)), Some(audit_snapshot(&after)));
        txn.commit().await?;
        Ok(())
    }

    /// Enabled, unpaused destinations whose retry time has come and that no other
    /// replica holds (`owner` may hold them), with their credentials opened.
    pub async fn due_audit_exports(&self, owner: &str) -> Result<Vec<ExportJob>, StoreError> {
        use audit_export::Column as C;
        let at = now();
        let rows = audit_export::Entity::find()
            .filter(C::Enabled.eq(true))
            .filter(C::Paused.eq(false))
            .filter(Condition::any().add(C::NextAttemptAt.is_null()).add(C::NextAttemptAt.lte(at)))
            .filter(
                Condition::any()
                    .add(C::LeaseOwner.is_null())
                    .add(C::LeaseOwner.eq(owner))
                    .add(C::LeaseUntil.lt(at)),
            )
            .all(&self.db)
            .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(destination) = ExportDestination::parse(&row.destination) else { continue };
            let (Some(key_id), Some(wrapped_key), Some(ciphertext)) =
                (row.key_id.clone(), row.wrapped_key.clone(), row.ciphertext.clone())
            else {
                continue;
            };
            let sealed = SealedRecord { key_id, wrapped_key, ciphertext };
            let plain = self.keyring.unseal_string(&sealed, &export_aad(&row.org_id, &row.destination))?;
            let credential = match destination {
                ExportDestination::Webhook => ExportCredential::Secret(plain),
                ExportDestination::Otlp => {
                    let values: BTreeMap<String, String> =
                        from_json_text("audit_exports.credential", plain.expose_secret())?;
                    ExportCredential::Headers(
                        values.into_iter().map(|(k, v)| (k, SecretString::from(v))).collect(),
                    )
                }
            };
            jobs.push(ExportJob {
                org_id: row.org_id,
                destination,
                kinds: row.kinds.as_deref().map(|k| from_json_text("audit_exports.kinds", k)).transpose()?,
                url: row.url,
                cursor: row.cursor,
                attempts: u32::try_from(row.attempts).unwrap_or(0),
                credential,
                settings_at: row.updated_at,
            });
        }
        Ok(jobs)
    }

    /// Takes or renews the lease on a destination for `owner` until `until`; false
    /// when another replica holds it.
    pub async fn lease_audit_export(
        &self,
        org_id: &str,
        destination: ExportDestination,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        use audit_export::Column as C;
        let updated = audit_export::Entity::update_many()
            .col_expr(C::LeaseOwner, Expr::value(owner))
            .col_expr(C::LeaseUntil, Expr::value(until))
            .filter(C::OrgId.eq(org_id))
            .filter(C::Destination.eq(destination.as_str()))
            .filter(
                Condition::any()
                    .add(C::LeaseOwner.is_null())
                    .add(C::LeaseOwner.eq(owner))
                    .add(C::LeaseUntil.lt(now())),
            )
            .exec(&self.db)
            .await?;
        Ok(updated.rows_affected == 1)
    }

    /// Gives back every lease `owner` holds (a replica shutting down).
    pub async fn release_audit_export_leases(&self, owner: &str) -> Result<(), StoreError> {
        use audit_export::Column as C;
        audit_export::Entity::update_many()
            .col_expr(C::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(C::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(C::LeaseOwner.eq(owner))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Up to `limit` of the org's events after `cursor` in storage order (only `kinds`, when given).
    pub async fn audit_events_after(
        &self,
        org_id: &str,
        cursor: i64,
        kinds: Option<&Vec<String>>,
        limit: u64,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        use audit_event::Column as C;
        let mut query = audit_event::Entity::find().filter(C::OrgId.eq(org_id)).filter(C::Seq.gt(cursor));
        if let Some(kinds) = kinds {
            query = query.filter(C::Kind.is_in(kinds.iter().map(String::as_str)));
        }
        let rows = query.order_by_asc(C::Seq).limit(limit).all(&self.db).await?;
        Ok(rows.into_iter().map(event_from_model).collect())
    }

    /// How many of the org's events after `cursor` (of `kinds`) wait for delivery.
    pub async fn export_backlog(
        &self,
        org_id: &str,
        cursor: i64,
        kinds: Option<&Vec<String>>,
    ) -> Result<u64, StoreError> {
        use audit_event::Column as C;
        let mut query = audit_event::Entity::find().filter(C::OrgId.eq(org_id)).filter(C::Seq.gt(cursor));
        if let Some(kinds) = kinds {
            query = query.filter(C::Kind.is_in(kinds.iter().map(String::as_str)));
        }
        Ok(query.count(&self.db).await?)
    }

    /// Records a batch acknowledged up to `cursor`, if `owner` still holds the lease
    /// (a replica that lost it records nothing: the holder delivers again). Returns whether recorded.
    pub async fn audit_export_acknowledged(
        &self,
        org_id: &str,
        destination: ExportDestination,
        owner: &str,
        settings_at: DateTime<Utc>,
        cursor: i64,
    ) -> Result<bool, StoreError> {
        use audit_export::Column as C;
        let updated = audit_export::Entity::update_many()
            .col_expr(C::Cursor, Expr::value(cursor))
            .col_expr(C::LastSuccessAt, Expr::value(Some(now())))
            .col_expr(C::Attempts, Expr::value(0))
            .col_expr(C::NextAttemptAt, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(C::OrgId.eq(org_id))
            .filter(C::Destination.eq(destination.as_str()))
            .filter(C::LeaseOwner.eq(owner))
            .filter(C::UpdatedAt.eq(settings_at))
            .filter(C::Cursor.lt(cursor))
            .exec(&self.db)
            .await?;
        Ok(updated.rows_affected == 1)
    }

    /// Records a failed attempt: the error, and when to retry (or a pause); false when
    /// the lease or the settings the attempt used are no longer current.
    pub async fn audit_export_failed(
        &self,
        org_id: &str,
        destination: ExportDestination,
        owner: &str,
        settings_at: DateTime<Utc>,
        failure: &ExportFailure,
    ) -> Result<bool, StoreError> {
        use audit_export::Column as C;
        let updated = audit_export::Entity::update_many()
            .col_expr(C::LastError, Expr::value(Some(failure.error.clone())))
            .col_expr(C::LastErrorAt, Expr::value(Some(now())))
            .col_expr(C::Attempts, Expr::value(i32::try_from(failure.attempts).unwrap_or(i32::MAX)))
            .col_expr(C::NextAttemptAt, Expr::value(failure.retry_at))
            .col_expr(C::Paused, Expr::value(failure.retry_at.is_none()))
            .filter(C::OrgId.eq(org_id))
            .filter(C::Destination.eq(destination.as_str()))
            .filter(C::LeaseOwner.eq(owner))
            .filter(C::UpdatedAt.eq(settings_at))
            .exec(&self.db)
            .await?;
        Ok(updated.rows_affected == 1)
    }
}
