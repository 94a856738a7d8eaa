//! The audit trail's rows: admin mutations (written by [`super::WriteTxn::commit`]
//! inside the mutation's own transaction), MCP requests and authentication
//! failures shipped by the edges (stored once per event id), and the admin
//! API's authentication failures.
//!
//! An admin request's audit context travels as a task-local ([`AdminAudit::scope`]),
//! set by the admin authentication around the handler: every `WriteTxn` committed
//! while it is set writes its audit row before it commits, so no handler can change
//! state without its row, and no row outlives a rolled-back change.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::entities::audit_event;
use super::page::{Page, PageRequest};
use super::{new_id, now, Store, StoreError};

tokio::task_local! {
    static ADMIN_AUDIT: Arc<AdminAudit>;
}

/// Who changed what through the admin API: the context every mutation of one
/// admin request is recorded with.
#[derive(Debug)]
pub struct AdminAudit {
    /// The org the request acts on.
    pub org_id: String,
    /// `platform`, `api_key:<id>` or `user:<id>`.
    pub actor: String,
    /// `METHOD /route/template`.
    pub action: String,
    /// The concrete path (the target's ids).
    pub target: String,
    /// The request id (`X-Request-Id`, or generated).
    pub request_id: String,
    /// The caller's address.
    pub client_address: String,
    rows: AtomicU32,
    unchanged: AtomicU32,
}

impl AdminAudit {
    /// The context of one admin request.
    pub fn new(
        org_id: String,
        actor: String,
        action: String,
        target: String,
        request_id: String,
        client_address: String,
    ) -> Arc<Self> {
        Arc::new(Self {
            org_id,
            actor,
            action,
            target,
            request_id,
            client_address,
            rows: AtomicU32::new(0),
            unchanged: AtomicU32::new(0),
        })
    }

    /// Runs `fut` (the admin handler) with this context: its committed mutations are audited.
    pub async fn scope<F: Future>(self: &Arc<Self>, fut: F) -> F::Output {
        ADMIN_AUDIT.scope(self.clone(), fut).await
    }

    /// How many audit rows the request's transactions have committed so far.
    pub fn rows(&self) -> u32 {
        self.rows.load(Ordering::Relaxed)
    }

    /// Mutations that found nothing to change and committed nothing (no row is written for
    /// those: nothing happened).
    pub fn unchanged(&self) -> u32 {
        self.unchanged.load(Ordering::Relaxed)
    }
}

/// What a mutation changed, for its audit row: secrets already redacted.
#[derive(Debug, Default)]
pub(crate) struct AuditChange {
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// Another org to record the row in (the deletion of the request's own org).
    pub org_id: Option<String>,
}

/// Writes the admin audit row of the current request, if any, inside `conn`'s transaction.
/// Returns a guard that counts the row once the transaction commits.
pub(super) async fn record_admin(
    conn: &impl ConnectionTrait,
    change: AuditChange,
) -> Result<Option<Arc<AdminAudit>>, StoreError> {
    let Ok(ctx) = ADMIN_AUDIT.try_with(Arc::clone) else { return Ok(None) };
    let detail = (change.before.is_some() || change.after.is_some())
        .then(|| serde_json::json!({ "before": change.before, "after": change.after }));
    let event = AuditEvent {
        id: new_id(),
        org_id: change.org_id.unwrap_or_else(|| ctx.org_id.clone()),
        kind: AuditKind::Admin.as_str().to_owned(),
        occurred_at: now(),
        actor: Some(ctx.actor.clone()),
        action: Some(ctx.action.clone()),
        target: Some(ctx.target.clone()),
        request_id: Some(ctx.request_id.clone()),
        client_address: Some(ctx.client_address.clone()),
        decision: Some("allow".into()),
        detail,
        ..AuditEvent::default()
    };
    let event = AuditEvent { seq: Some(reserve_seq(conn, &ctx.org_id, 1).await?), ..event };
    audit_event::Entity::insert(to_active(event)).exec_without_returning(conn).await?;
    Ok(Some(ctx))
}

/// Counts a committed admin row (called after the commit succeeded).
/// Notes, on the running admin request's context, a mutation that found nothing to change.
pub(super) fn nothing_changed() {
    let _ = ADMIN_AUDIT.try_with(|ctx| ctx.unchanged.fetch_add(1, Ordering::Relaxed));
}

pub(super) fn committed(ctx: Option<Arc<AdminAudit>>) {
    if let Some(ctx) = ctx {
        ctx.rows.fetch_add(1, Ordering::Relaxed);
    }
}

/// The kinds of audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    /// An admin mutation.
    Admin,
    /// A `tools/call` decided at an edge.
    ToolCall,
    /// Any other MCP request decided at an edge.
    McpRequest,
    /// A credential refused at an edge or the admin API.
    AuthFailure,
    /// A burst of authentication failures from one address.
    AuthFailureBurst,
}

impl AuditKind {
    /// Every kind.
    pub const ALL: [AuditKind; 5] =
        [Self::Admin, Self::ToolCall, Self::McpRequest, Self::AuthFailure, Self::AuthFailureBurst];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::ToolCall => "tool_call",
            Self::McpRequest => "mcp_request",
            Self::AuthFailure => "auth_failure",
            Self::AuthFailureBurst => "auth_failure_burst",
        }
    }

    /// Parses a stored name.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == value)
    }
}

/// One audit event as stored and listed. Fields that do not apply to a kind are omitted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct AuditEvent {
    /// Unique id (time-ordered; edge events get theirs at the edge).
    pub id: String,
    /// The org.
    #[serde(skip)]
    pub org_id: String,
    /// Per-org storage order (assigned when stored; what export cursors follow).
    #[serde(skip)]
    pub seq: Option<i64>,
    /// `admin`, `tool_call`, `mcp_request`, `auth_failure` or `auth_failure_burst`.
    pub kind: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Admin events: who (`platform`, `api_key:<id>`, `user:<id>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Edge events: the caller's user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Edge events: `gatehouse` or `jwt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_source: Option<String>,
    /// Edge events: the workspace id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// Edge events: the server slug.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Edge events: the JSON-RPC method (or the HTTP method of a GET/DELETE).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// `tools/call` events: the tool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// `allow` or `deny`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// Why it was denied (the edge's error reason, e.g. `tool_denied`, `invalid_token`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The JSON-RPC error code the edge answered with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jsonrpc_code: Option<i32>,
    /// The upstream's HTTP status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_status: Option<i32>,
    /// Milliseconds to the response head.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<i64>,
    /// Request body bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_bytes: Option<i64>,
    /// Response body bytes, when the upstream declared them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_bytes: Option<i64>,
    /// W3C trace id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// SHA-256 (hex, shortened) of the client's `Mcp-Session-Id`; never the id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_hash: Option<String>,
    /// The caller's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_address: Option<String>,
    /// Admin events: the request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Admin events: `METHOD /route/template`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Admin events: the path acted on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Edge events: the edge's node id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge: Option<String>,
    /// Kind-specific: an admin change's `before`/`after` (secrets redacted).
    // A tool call of a server that opted in (`advanced_config.audit`) carries
    // `arguments`/`result` here; the schema text stays as the console's client has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub detail: Option<Value>,
}

/// Which events `GET /v1/audit-events` lists.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this kind.
    pub kind: Option<AuditKind>,
    /// Only this admin actor.
    pub actor: Option<String>,
    /// Only this edge user.
    pub user: Option<String>,
    /// Only this server slug.
    pub server: Option<String>,
    /// Only this tool.
    pub tool: Option<String>,
    /// Only this admin action (`METHOD /route/template`) or MCP method (`tools/call`).
    pub action: Option<String>,
    /// Only `allow` or `deny`.
    pub decision: Option<String>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
}

fn to_active(e: AuditEvent) -> audit_event::ActiveModel {
    use sea_orm::ActiveValue::Set;
    audit_event::ActiveModel {
        id: Set(e.id),
        org_id: Set(e.org_id),
        kind: Set(e.kind),
        occurred_at: Set(e.occurred_at),
        actor: Set(e.actor),
        user_name: Set(e.user),
        identity_source: Set(e.identity_source),
        workspace: Set(e.workspace),
        server: Set(e.server),
        method: Set(e.method),
        tool: Set(e.tool),
        decision: Set(e.decision),
        reason: Set(e.reason),
        jsonrpc_code: Set(e.jsonrpc_code),
        upstream_status: Set(e.upstream_status),
        latency_ms: Set(e.latency_ms),
        request_bytes: Set(e.request_bytes),
        response_bytes: Set(e.response_bytes),
        trace_id: Set(e.trace_id),
        session_hash: Set(e.session_hash),
        client_address: Set(e.client_address),
        request_id: Set(e.request_id),
        action: Set(e.action),
        target: Set(e.target),
        edge: Set(e.edge),
        detail: Set(e.detail.map(|d| d.to_string())),
        seq: Set(e.seq),
    }
}

pub(super) fn from_model(m: audit_event::Model) -> AuditEvent {
    AuditEvent {
        id: m.id,
        org_id: m.org_id,
        seq: m.seq,
        kind: m.kind,
        occurred_at: m.occurred_at,
        actor: m.actor,
        user: m.user_name,
        identity_source: m.identity_source,
        workspace: m.workspace,
        server: m.server,
        method: m.method,
        tool: m.tool,
        decision: m.decision,
        reason: m.reason,
        jsonrpc_code: m.jsonrpc_code,
        upstream_status: m.upstream_status,
        latency_ms: m.latency_ms,
        request_bytes: m.request_bytes,
        response_bytes: m.response_bytes,
        trace_id: m.trace_id,
        session_hash: m.session_hash,
        client_address: m.client_address,
        request_id: m.request_id,
        action: m.action,
        target: m.target,
        edge: m.edge,
        // A detail that no longer parses is shown as the text it is rather than failing the list.
        detail: m.detail.map(|d| serde_json::from_str(&d).unwrap_or(Value::String(d))),
    }
}

/// Reserves `n` numbers of the org's audit sequence inside `conn`'s transaction and
/// returns the first. The counter row stays locked until the transaction ends, so an
/// org's numbers commit in the order they were drawn (see the audit export migration).
async fn reserve_seq(conn: &impl ConnectionTrait, org_id: &str, n: i64) -> Result<i64, StoreError> {
    let backend = conn.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => {
            "INSERT INTO audit_sequences (org_id, last_seq) VALUES ($1, $2) ON CONFLICT (org_id) \
             DO UPDATE SET last_seq = audit_sequences.last_seq + EXCLUDED.last_seq RETURNING last_seq"
        }
        _ => {
            "INSERT INTO audit_sequences (org_id, last_seq) VALUES (?, ?) ON CONFLICT (org_id) \
             DO UPDATE SET last_seq = audit_sequences.last_seq + excluded.last_seq RETURNING last_seq"
        }
    };
    let statement = sea_orm::Statement::from_sql_and_values(backend, sql, [org_id.into(), n.into()]);
    let row = conn
        .query_one(statement)
        .await?
        .ok_or_else(|| StoreError::Corrupt("the audit sequence returned no row".into()))?;
    let last: i64 = row.try_get("", "last_seq")?;
    Ok(last - n + 1)
}

/// Inserts `events` (inside `conn`'s transaction, which must be one), numbering them
/// per org, skipping ids already stored; returns how many were new.
async fn insert_ignoring_duplicates(
    conn: &impl ConnectionTrait,
    mut events: Vec<AuditEvent>,
) -> Result<u64, StoreError> {
    if events.is_empty() {
        return Ok(0);
    }
    let mut per_org: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    for e in &events {
        *per_org.entry(e.org_id.clone()).or_default() += 1;
    }
    // Orgs in one order in every transaction, so two writers never wait on each other in a circle.
    for (org_id, next) in per_org.iter_mut() {
        *next = reserve_seq(conn, org_id, *next).await?;
    }
    for e in &mut events {
        if let Some(next) = per_org.get_mut(&e.org_id) {
            e.seq = Some(*next);
            *next += 1;
        }
    }
    if conn.get_database_backend() == sea_orm::DbBackend::Sqlite {
        return insert_rows_in_chunks(conn, events).await;
    }
    let inserted = audit_event::Entity::insert_many(events.into_iter().map(to_active))
        .on_conflict(OnConflict::column(audit_event::Column::Id).do_nothing().to_owned())
        .do_nothing()
        .exec_without_returning(conn)
        .await?;
    Ok(match inserted {
        sea_orm::TryInsertResult::Inserted(n) => n,
        sea_orm::TryInsertResult::Empty | sea_orm::TryInsertResult::Conflicted => 0,
    })
}

/// Columns of `audit_events`.
const COLUMNS: usize = 27;

/// Appends `e`'s values in the order of `audit_event::Column::iter()` (the statement's
/// column list), moving each field: building an `ActiveModel` and reading it back cloned
/// every text field once more per row, which made most of the control plane's cost per
/// stored edge event the allocator's.
fn push_row(values: &mut Vec<sea_orm::Value>, mut e: AuditEvent) {
    use audit_event::Column as C;
    use sea_orm::Iterable as _;
    use sea_orm::Value;
    let mut detail = e.detail.take().map(|d| d.to_string());
    for column in C::iter() {
        // Exhaustive: a new column does not compile until it is written here.
        values.push(match column {
            C::Id => Value::from(std::mem::take(&mut e.id)),
            C::OrgId => Value::from(std::mem::take(&mut e.org_id)),
            C::Kind => Value::from(std::mem::take(&mut e.kind)),
            C::OccurredAt => Value::from(e.occurred_at),
            C::Actor => Value::from(e.actor.take()),
            C::UserName => Value::from(e.user.take()),
            C::IdentitySource => Value::from(e.identity_source.take()),
            C::Workspace => Value::from(e.workspace.take()),
            C::Server => Value::from(e.server.take()),
            C::Method => Value::from(e.method.take()),
            C::Tool => Value::from(e.tool.take()),
            C::Decision => Value::from(e.decision.take()),
            C::Reason => Value::from(e.reason.take()),
            C::JsonrpcCode => Value::from(e.jsonrpc_code),
            C::UpstreamStatus => Value::from(e.upstream_status),
            C::LatencyMs => Value::from(e.latency_ms),
            C::RequestBytes => Value::from(e.request_bytes),
            C::ResponseBytes => Value::from(e.response_bytes),
            C::TraceId => Value::from(e.trace_id.take()),
            C::SessionHash => Value::from(e.session_hash.take()),
            C::ClientAddress => Value::from(e.client_address.take()),
            C::RequestId => Value::from(e.request_id.take()),
            C::Action => Value::from(e.action.take()),
            C::Target => Value::from(e.target.take()),
            C::Edge => Value::from(e.edge.take()),
            C::Detail => Value::from(detail.take()),
            C::Seq => Value::from(e.seq),
        });
    }
}

/// Rows per `INSERT` on SQLite: every full chunk uses the same statement text.
const SQLITE_CHUNK: usize = 32;

/// SQLite: batches are written in chunks of [`SQLITE_CHUNK`] rows with one statement text
/// made once, so SQLite parses it once per connection (sqlx keeps it prepared) and no query
/// builder runs per batch; the rest of a batch goes row by row with a second such statement.
/// One `INSERT` of a whole batch was instead built and parsed anew each time, which was most
/// of the control plane's cost per edge event.
async fn insert_rows_in_chunks(
    conn: &impl ConnectionTrait,
    events: Vec<AuditEvent>,
) -> Result<u64, StoreError> {
    use sea_orm::{IdenStatic as _, Iterable as _};
    static SQL: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    let (chunk_sql, row_sql) = SQL.get_or_init(|| {
        let columns: Vec<String> =
            audit_event::Column::iter().map(|c| format!("\"{}\"", c.as_str())).collect();
        let row = format!("({})", vec!["?"; columns.len()].join(", "));
        let insert = |rows: usize| {
            format!(
                "INSERT INTO \"audit_events\" ({}) VALUES {} ON CONFLICT (\"id\") DO NOTHING",
                columns.join(", "),
                vec![row.as_str(); rows].join(", ")
            )
        };
        (insert(SQLITE_CHUNK), insert(1))
    });
    let mut stored = 0;
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        let chunk: Vec<AuditEvent> = events.by_ref().take(SQLITE_CHUNK).collect();
        let full = chunk.len() == SQLITE_CHUNK;
        // A full chunk is one statement; the rest of a batch one statement per row.
        let statements: Vec<(&str, Vec<sea_orm::Value>)> = if full {
            let mut values = Vec::with_capacity(SQLITE_CHUNK * COLUMNS);
            for event in chunk {
                push_row(&mut values, event);
            }
            vec![(chunk_sql.as_str(), values)]
        } else {
            let row = |event| {
                let mut values = Vec::with_capacity(COLUMNS);
                push_row(&mut values, event);
                (row_sql.as_str(), values)
            };
            chunk.into_iter().map(row).collect()
        };
        for (sql, values) in statements {
            let statement = sea_orm::Statement::from_sql_and_values(sea_orm::DbBackend::Sqlite, sql, values);
            stored += conn.execute(statement).await?.rows_affected();
        }
    }
    Ok(stored)
}

/// The page cursor of an event: its time, then its id (both sort the same way).
fn cursor_key(e: &AuditEvent) -> String {
    format!("{}|{}", e.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true), e.id)
}

impl Store {
    /// Stores events recorded elsewhere (edges, the admin API's authentication);
    /// an event whose id is already stored is skipped, so a batch sent twice is
    /// stored once. Returns how many were new.
    pub async fn insert_audit_events(&self, events: Vec<AuditEvent>) -> Result<u64, StoreError> {
        use sea_orm::TransactionTrait;
        let txn = self.db.begin().await?;
        let stored = insert_ignoring_duplicates(&txn, events).await?;
        txn.commit().await?;
        Ok(stored)
    }

    /// Stores events shipped by an edge, skipping those of orgs that do not exist
    /// (and each event already stored). The orgs' rows are held while the events are
    /// written, so an org deleted meanwhile keeps none of them. Returns how many were new.
    pub async fn insert_edge_audit_events(&self, events: Vec<AuditEvent>) -> Result<u64, StoreError> {
        use sea_orm::TransactionTrait;
        if events.is_empty() {
            return Ok(0);
        }
        let ids: std::collections::BTreeSet<String> = events.iter().map(|e| e.org_id.clone()).collect();
        let txn = self.db.begin().await?;
        let mut query = super::entities::org::Entity::find()
            .select_only()
            .column(super::entities::org::Column::Id)
            .filter(super::entities::org::Column::Id.is_in(ids));
        if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
            // SQLite has one writer: a deletion committed since this read fails the write instead.
            query = query.lock(sea_orm::sea_query::LockType::Share);
        }
        let existing: std::collections::BTreeSet<String> =
            query.into_tuple().all(&txn).await?.into_iter().collect();
        let events: Vec<AuditEvent> = events.into_iter().filter(|e| existing.contains(&e.org_id)).collect();
        let stored = insert_ignoring_duplicates(&txn, events).await?;
        txn.commit().await?;
        Ok(stored)
    }

    /// The org's events matching `filter`, newest first.
    pub async fn list_audit_events(
        &self,
        org_id: &str,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, StoreError> {
        use audit_event::Column as C;
        let mut query = audit_event::Entity::find().filter(C::OrgId.eq(org_id));
        let eq = |q: sea_orm::Select<audit_event::Entity>, col: C, v: &Option<String>| match v {
            Some(v) => q.filter(col.eq(v.as_str())),
            None => q,
        };
        query = eq(query, C::Kind, &filter.kind.map(|k| k.as_str().to_owned()));
        query = eq(query, C::Actor, &filter.actor);
        query = eq(query, C::UserName, &filter.user);
        query = eq(query, C::Server, &filter.server);
        query = eq(query, C::Tool, &filter.tool);
        query = eq(query, C::Decision, &filter.decision);
        if let Some(action) = &filter.action {
            // One filter for "what was done": an admin event's route or an edge event's method.
            query = query.filter(
                sea_orm::Condition::any()
                    .add(C::Action.eq(action.as_str()))
                    .add(C::Method.eq(action.as_str())),
            );
        }
        if let Some(since) = filter.since {
            query = query.filter(C::OccurredAt.gte(since));
        }
        if let Some(until) = filter.until {
            query = query.filter(C::OccurredAt.lt(until));
        }
        if let Some(after) = &page.after {
            let (time, id) = after.split_once('|').ok_or_else(bad_cursor)?;
            let time = DateTime::parse_from_rfc3339(time).map_err(|_| bad_cursor())?.with_timezone(&Utc);
            query = query.filter(
                sea_orm::Condition::any()
                    .add(C::OccurredAt.lt(time))
                    .add(sea_orm::Condition::all().add(C::OccurredAt.eq(time)).add(C::Id.lt(id))),
            );
        }
        let rows =
            query.order_by_desc(C::OccurredAt).order_by_desc(C::Id).limit(page.fetch()).all(&self.db).await?;
        Ok(page.finish(rows.into_iter().map(from_model).collect(), cursor_key))
    }

    /// Deletes the org's events older than `cutoff`; returns how many.
    pub async fn delete_audit_events_before(
        &self,
        org_id: &str,
        cutoff: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let deleted = audit_event::Entity::delete_many()
            .filter(audit_event::Column::OrgId.eq(org_id))
            .filter(audit_event::Column::OccurredAt.lt(cutoff))
            .exec(&self.db)
            .await?;
        Ok(deleted.rows_affected)
    }

    /// Deletes events older than `cutoff` of every org without its own settings; returns how many.
    pub async fn delete_default_retention_audit_events(
        &self,
        cutoff: DateTime<Utc>,
        orgs_with_settings: Vec<String>,
    ) -> Result<u64, StoreError> {
        let mut delete =
            audit_event::Entity::delete_many().filter(audit_event::Column::OccurredAt.lt(cutoff));
        if !orgs_with_settings.is_empty() {
            delete = delete.filter(audit_event::Column::OrgId.is_not_in(orgs_with_settings));
        }
        Ok(delete.exec(&self.db).await?.rows_affected)
    }

    /// The org's request events (`tool_call`, `mcp_request`) in `[since, until)`,
    /// at most `cap` of them, newest first: what usage is aggregated from.
    pub async fn audit_request_events(
        &self,
        org_id: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        cap: u64,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        use audit_event::Column as C;
        let rows = audit_event::Entity::find()
            .filter(C::OrgId.eq(org_id))
            .filter(C::Kind.is_in([AuditKind::ToolCall.as_str(), AuditKind::McpRequest.as_str()]))
            .filter(C::OccurredAt.gte(since))
            .filter(C::OccurredAt.lt(until))
            .order_by_desc(C::OccurredAt)
            .limit(cap)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(from_model).collect())
    }

    /// How many `auth_failure` events of the org came from `client_address` since `since`.
    pub async fn count_auth_failures_since(
        &self,
        org_id: &str,
        client_address: &str,
        since: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        use audit_event::Column as C;
        use sea_orm::PaginatorTrait;
        Ok(audit_event::Entity::find()
            .filter(C::OrgId.eq(org_id))
            .filter(C::Kind.eq(AuditKind::AuthFailure.as_str()))
            .filter(C::ClientAddress.eq(client_address))
            .filter(C::OccurredAt.gte(since))
            .count(&self.db)
            .await?)
    }

    /// Whether a burst event for `client_address` was recorded since `since`.
    pub async fn burst_recorded_since(
        &self,
        org_id: &str,
        client_address: &str,
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        use audit_event::Column as C;
        let found = audit_event::Entity::find()
            .select_only()
            .column(C::Id)
            .filter(C::OrgId.eq(org_id))
            .filter(C::Kind.eq(AuditKind::AuthFailureBurst.as_str()))
            .filter(C::ClientAddress.eq(client_address))
            .filter(C::OccurredAt.gte(since))
            .into_tuple::<String>()
            .one(&self.db)
            .await?;
        Ok(found.is_some())
    }

    /// Deletes every audit event of `org_id` (org deletion).
    pub(super) async fn delete_org_audit_events(
        conn: &impl ConnectionTrait,
        org_id: &str,
    ) -> Result<(), StoreError> {
        audit_event::Entity::delete_many().filter(audit_event::Column::OrgId.eq(org_id)).exec(conn).await?;
        super::entities::audit_sequence::Entity::delete_by_id(org_id).exec(conn).await?;
        Ok(())
    }
}

fn bad_cursor() -> StoreError {
    StoreError::Invalid(crate::validation::FieldError::new(
        "cursor",
        "is not a cursor this API returned; pass `next_cursor` as is",
    ))
}

/// `value` with every secret-looking value replaced by `"[redacted]"`: the one
/// rule both planes apply (`gatehouse_config::audit::redaction`).
pub(crate) fn redacted(value: Value) -> Value {
    gatehouse_config::audit::redaction::redact_value(value)
}

/// What a redacted value reads as.
pub const REDACTED: &str = gatehouse_config::audit::redaction::REDACTED;

#[cfg(test)]
mod tests {
    use sea_orm::Iterable as _;

    use super::*;

    #[test]
    fn a_row_has_a_value_for_every_column() {
        assert_eq!(audit_event::Column::iter().count(), COLUMNS);
        let mut values = Vec::new();
        push_row(&mut values, AuditEvent::default());
        assert_eq!(values.len(), COLUMNS);
    }
}
