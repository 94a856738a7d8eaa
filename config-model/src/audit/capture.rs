//! `advanced_config.audit`: `{arguments: bool, results: bool, max_bytes?: int}`.
//! Off unless set: tool-call arguments and results are recorded only for the
//! servers whose admin opted in, at most `max_bytes` of each.

use gatehouse_proto::config::v1 as pb;
use serde_json::Value;

use crate::field_error::FieldError;

/// How much of each argument or result is kept when `max_bytes` is not given.
pub const DEFAULT_MAX_BYTES: u32 = 8 * 1024;
/// The most `max_bytes` may be: events stay small and the edge's capture bounded.
pub const MAX_MAX_BYTES: u32 = 64 * 1024;
/// The least `max_bytes` may be.
pub const MIN_MAX_BYTES: u32 = 64;

/// A server's audit recording settings, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCapture {
    /// Record `tools/call` arguments.
    pub arguments: bool,
    /// Record `tools/call` results.
    pub results: bool,
    /// Most bytes of each recorded argument set or result (redacted JSON text).
    pub max_bytes: u32,
}

impl AuditCapture {
    /// Parses `advanced_config.audit` strictly: an object with only `arguments`,
    /// `results` (booleans) and `max_bytes` (a whole number in range); field paths
    /// are relative (`arguments`, `max_bytes`).
    pub fn from_value(value: &Value) -> Result<Self, FieldError> {
        let map = value.as_object().ok_or_else(|| {
            FieldError::new("", "must be an object like {\"arguments\": true, \"results\": false}")
        })?;
        if let Some(unknown) =
            map.keys().find(|k| !matches!(k.as_str(), "arguments" | "results" | "max_bytes"))
        {
            return Err(FieldError::new(
                unknown.as_str(),
                "is not an audit setting; use arguments, results or max_bytes",
            ));
        }
        let flag = |key: &str| match map.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(FieldError::new(key, "must be true or false")),
        };
        let arguments = flag("arguments")?;
        let results = flag("results")?;
        let max_bytes = match map.get("max_bytes") {
            None | Some(Value::Null) => DEFAULT_MAX_BYTES,
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| (MIN_MAX_BYTES..=MAX_MAX_BYTES).contains(n))
                .ok_or_else(|| {
                    FieldError::new(
                        "max_bytes",
                        format!("must be a whole number of bytes from {MIN_MAX_BYTES} to {MAX_MAX_BYTES}"),
                    )
                })?,
        };
        Ok(Self { arguments, results, max_bytes })
    }

    /// Whether anything is recorded at all.
    pub fn records_anything(&self) -> bool {
        self.arguments || self.results
    }

    /// As the config stream carries it.
    pub fn to_wire(self) -> pb::AuditCapture {
        pb::AuditCapture { arguments: self.arguments, results: self.results, max_bytes: self.max_bytes }
    }

    /// From the config stream; `None` when nothing is recorded. A cap out of range
    /// (a newer or broken control plane) is clamped, never trusted.
    pub fn from_wire(wire: &pb::AuditCapture) -> Option<Self> {
        let max_bytes = if wire.max_bytes == 0 { DEFAULT_MAX_BYTES } else { wire.max_bytes };
        let capture = Self {
            arguments: wire.arguments,
            results: wire.results,
            max_bytes: max_bytes.clamp(MIN_MAX_BYTES, MAX_MAX_BYTES),
        };
        capture.records_anything().then_some(capture)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strict_parsing_names_the_field() {
        let ok = AuditCapture::from_value(&json!({"arguments": true, "results": false})).unwrap();
        assert_eq!(ok, AuditCapture { arguments: true, results: false, max_bytes: DEFAULT_MAX_BYTES });
        let ok = AuditCapture::from_value(&json!({"results": true, "max_bytes": 1024})).unwrap();
        assert_eq!(ok.max_bytes, 1024);
        assert!(ok.results && !ok.arguments);
        assert_eq!(AuditCapture::from_value(&json!({"max_bytes": 1024.0})).unwrap().max_bytes, 1024);
        for (bad, field) in [
            (json!({"arguments": "yes"}), "arguments"),
            (json!({"results": 1}), "results"),
            (json!({"argument": true}), "argument"),
            (json!({"max_bytes": 65537}), "max_bytes"),
            (json!({"max_bytes": 10}), "max_bytes"),
            (json!({"max_bytes": 100.5}), "max_bytes"),
            (json!({"max_bytes": "8k"}), "max_bytes"),
            (json!(true), ""),
        ] {
            assert_eq!(AuditCapture::from_value(&bad).unwrap_err().field, field, "{bad}");
        }
    }

    #[test]
    fn wire_round_trip_and_off_by_default() {
        let c = AuditCapture { arguments: true, results: true, max_bytes: 100 };
        assert_eq!(AuditCapture::from_wire(&c.to_wire()), Some(c));
        assert_eq!(AuditCapture::from_wire(&pb::AuditCapture::default()), None);
        let huge = pb::AuditCapture { arguments: true, results: false, max_bytes: 10_000_000 };
        assert_eq!(AuditCapture::from_wire(&huge).unwrap().max_bytes, MAX_MAX_BYTES);
    }
}
