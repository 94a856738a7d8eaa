//! The OTLP logs destination: one `ExportLogsServiceRequest` (protobuf over HTTP,
//! the official `opentelemetry-proto` types) per batch, POSTed to the endpoint with
//! the org's headers. The org is a resource attribute (`gatehouse.org_id`); each
//! event is a log record at its time, with its fields as attributes (the names of
//! the JSON export), its kind as the body and the event name `gatehouse.audit.<kind>`;
//! severity INFO, WARN for authentication failures and bursts.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as OtlpValue;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use secrecy::ExposeSecret;
use serde_json::Value;

use super::SendError;
use crate::store::{AuditEvent, AuditKind, ExportCredential, ExportJob};

/// The instrumentation scope of the records.
pub const SCOPE: &str = "gatehouse.audit";

fn string(value: impl Into<String>) -> Option<AnyValue> {
    Some(AnyValue { value: Some(OtlpValue::StringValue(value.into())) })
}

fn attribute(key: &str, value: &Value) -> Option<KeyValue> {
    let value = match value {
        Value::Null => return None,
        Value::String(s) => OtlpValue::StringValue(s.clone()),
        Value::Bool(b) => OtlpValue::BoolValue(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => OtlpValue::IntValue(i),
            None => OtlpValue::DoubleValue(n.as_f64().unwrap_or_default()),
        },
        // Nested detail (an admin change's before/after) as its JSON text.
        other => OtlpValue::StringValue(other.to_string()),
    };
    Some(KeyValue { key: key.to_owned(), value: Some(AnyValue { value: Some(value) }) })
}

fn record(event: &AuditEvent, observed: u64) -> LogRecord {
    let warn = [AuditKind::AuthFailure.as_str(), AuditKind::AuthFailureBurst.as_str()]
        .contains(&event.kind.as_str());
    let (severity, text) = if warn { (SeverityNumber::Warn, "WARN") } else { (SeverityNumber::Info, "INFO") };
    let fields = serde_json::to_value(event).unwrap_or(Value::Null);
    let attributes = match &fields {
        Value::Object(map) => map.iter().filter_map(|(k, v)| attribute(k, v)).collect(),
        _ => Vec::new(),
    };
    LogRecord {
        time_unix_nano: event
            .occurred_at
            .timestamp_nanos_opt()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0),
        observed_time_unix_nano: observed,
        severity_number: severity as i32,
        severity_text: text.to_owned(),
        body: string(event.kind.clone()),
        event_name: format!("gatehouse.audit.{}", event.kind),
        attributes,
        ..LogRecord::default()
    }
}

/// The OTLP request of one batch.
pub fn logs_request(org_id: &str, events: &[AuditEvent]) -> ExportLogsServiceRequest {
    let observed = chrono::Utc::now().timestamp_nanos_opt().and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
    let resource = Resource {
        attributes: vec![
            KeyValue { key: "service.name".into(), value: string("gatehouse") },
            KeyValue { key: "gatehouse.org_id".into(), value: string(org_id) },
        ],
        ..Resource::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: SCOPE.into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..InstrumentationScope::default()
                }),
                log_records: events.iter().map(|e| record(e, observed)).collect(),
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    }
}

/// `post` with one batch as protobuf and the org's headers.
pub(super) fn request(
    post: reqwest::RequestBuilder,
    job: &ExportJob,
    events: &[AuditEvent],
) -> Result<reqwest::RequestBuilder, SendError> {
    let body = logs_request(&job.org_id, events).encode_to_vec();
    let mut request = post.header(reqwest::header::CONTENT_TYPE, "application/x-protobuf");
    if let ExportCredential::Headers(headers) = &job.credential {
        for (name, value) in headers {
            let mut value = reqwest::header::HeaderValue::from_str(value.expose_secret())
                .map_err(|_| SendError::Refused(format!("header {name} has an invalid value")))?;
            value.set_sensitive(true);
            request = request.header(name.as_str(), value);
        }
    }
    Ok(request.body(body))
}
