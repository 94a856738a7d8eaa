//! The `AuditBatch` wire form, written straight from the queued [`RequestOutcome`]s.
//!
//! Building the generated `AuditEvent` structs first would copy every field into a fresh
//! `String` (a dozen allocations per event) only to encode and drop them, and re-sending a
//! batch would deep-clone them all. Instead each event is encoded once into the batch's
//! buffer with prost's own field encoders, and the batch travels as shared bytes: a resend
//! after a lost stream is a reference count. The bytes are exactly what prost would write
//! for the same `AuditBatch` (a test decodes them with the generated type).

use std::net::IpAddr;

use bytes::{BufMut, Bytes, BytesMut};
use prost::encoding::{encode_key, encode_varint, DecodeContext, WireType};

use super::RequestOutcome;

/// An encoded `AuditBatch`: what the `Ship` stream sends.
#[derive(Debug, Clone, Default)]
pub struct EncodedBatch {
    /// The batch's sequence number, which its ack names.
    pub seq: u64,
    /// Events in the batch.
    pub events: usize,
    bytes: Bytes,
}

#[cfg(test)]
impl EncodedBatch {
    /// The encoded message.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}

impl prost::Message for EncodedBatch {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.bytes);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl bytes::Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        // Only ever sent; a decoder (none uses this type) would skip everything.
        prost::encoding::skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.bytes.len()
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

/// Encodes one batch: `events` get their ids (UUIDv7) here, once; a resend sends the same bytes.
pub fn encode(seq: u64, edge: &str, events: &[RequestOutcome], dropped_total: u64) -> EncodedBatch {
    let mut buf = BytesMut::with_capacity(64 + events.len() * 320);
    uint64(1, seq, &mut buf);
    string(2, edge, &mut buf);
    let mut event = Vec::with_capacity(512);
    for outcome in events {
        event.clear();
        encode_event(outcome, &mut event);
        encode_key(3, WireType::LengthDelimited, &mut buf);
        encode_varint(event.len() as u64, &mut buf);
        buf.put_slice(&event);
    }
    uint64(4, dropped_total, &mut buf);
    EncodedBatch { seq, events: events.len(), bytes: buf.freeze() }
}

fn encode_event(e: &RequestOutcome, buf: &mut Vec<u8>) {
    // A UUIDv7 from the event's own time and the thread's random generator (no system call
    // per id); ids only have to be unique, the control plane orders events by its own sequence.
    let millis = u64::try_from(e.at_ms).unwrap_or_default();
    let id = uuid::Builder::from_unix_timestamp_millis(millis, &rand::random()).into_uuid();
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    string(1, id.hyphenated().encode_lower(&mut text), buf);
    string(2, &e.org_id, buf);
    string(3, e.kind.as_str(), buf);
    int64(4, e.at_ms, buf);
    string(5, e.user.as_deref().unwrap_or_default(), buf);
    string(6, e.identity_source.unwrap_or_default(), buf);
    string(7, e.workspace.as_deref().unwrap_or_default(), buf);
    string(8, e.server.as_deref().unwrap_or_default(), buf);
    string(9, e.method.as_deref().unwrap_or_default(), buf);
    string(10, e.tool.as_deref().unwrap_or_default(), buf);
    string(11, if e.allowed { "allow" } else { "deny" }, buf);
    string(12, e.reason.unwrap_or_default(), buf);
    if let Some(code) = e.jsonrpc_code {
        // int32: negative values are sign-extended to ten bytes, as prost writes them.
        present_varint(13, i64::from(code) as u64, buf);
    }
    if let Some(status) = e.upstream_status {
        present_varint(14, u64::from(status), buf);
    }
    uint64(15, e.latency_ms, buf);
    uint64(16, e.request_bytes, buf);
    if let Some(bytes) = e.response_bytes {
        present_varint(17, bytes, buf);
    }
    if let Some(trace_id) = e.trace_id {
        let mut hex = [0u8; 32];
        let hex = hex::encode_to_slice(trace_id.to_bytes(), &mut hex).map(|()| &hex[..]);
        string_bytes(18, hex.unwrap_or_default(), buf);
    }
    string(19, e.session_hash.as_deref().unwrap_or_default(), buf);
    if let Some(client) = e.client {
        let mut text = [0u8; 45];
        let len = write_ip(client, &mut text);
        string_bytes(20, &text[..len], buf);
    }
    if let Some(arguments) = &e.arguments {
        present_bytes(21, arguments.as_bytes(), buf);
    }
    if let Some(result) = &e.result {
        present_bytes(22, result.as_bytes(), buf);
    }
}

/// A proto3 string field: left out when empty, as prost does.
fn string(tag: u32, value: &str, buf: &mut impl BufMut) {
    string_bytes(tag, value.as_bytes(), buf);
}

fn string_bytes(tag: u32, value: &[u8], buf: &mut impl BufMut) {
    if !value.is_empty() {
        present_bytes(tag, value, buf);
    }
}

/// A length-delimited field written even when empty (`optional string`).
fn present_bytes(tag: u32, value: &[u8], buf: &mut impl BufMut) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(value.len() as u64, buf);
    buf.put_slice(value);
}

fn uint64(tag: u32, value: u64, buf: &mut impl BufMut) {
    if value != 0 {
        present_varint(tag, value, buf);
    }
}

fn int64(tag: u32, value: i64, buf: &mut impl BufMut) {
    uint64(tag, value as u64, buf);
}

fn present_varint(tag: u32, value: u64, buf: &mut impl BufMut) {
    encode_key(tag, WireType::Varint, buf);
    encode_varint(value, buf);
}

/// Writes `ip` as text into `out` (45 bytes hold any address); returns the length.
fn write_ip(ip: IpAddr, out: &mut [u8; 45]) -> usize {
    match ip {
        IpAddr::V4(v4) => {
            let mut len = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out[len] = b'.';
                    len += 1;
                }
                if octet >= 100 {
                    out[len] = b'0' + octet / 100;
                    len += 1;
                }
                if octet >= 10 {
                    out[len] = b'0' + octet / 10 % 10;
                    len += 1;
                }
                out[len] = b'0' + octet % 10;
                len += 1;
            }
            len
        }
        IpAddr::V6(_) => {
            use std::io::Write as _;
            let mut cursor = std::io::Cursor::new(&mut out[..]);
            // 45 bytes hold the longest form (an IPv4-mapped address written out in full).
            let _ = write!(cursor, "{ip}");
            cursor.position() as usize
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::Arc;

    use gatehouse_proto::audit::v1 as pb;
    use opentelemetry::trace::TraceId;
    use prost::Message as _;

    use super::*;
    use crate::audit::OutcomeKind;

    /// What the generated types would carry for `e` (the id aside).
    fn reference(e: &RequestOutcome) -> pb::AuditEvent {
        pb::AuditEvent {
            id: String::new(),
            org_id: e.org_id.to_string(),
            kind: e.kind.as_str().to_owned(),
            occurred_at_ms: e.at_ms,
            user: e.user.clone().unwrap_or_default(),
            identity_source: e.identity_source.unwrap_or_default().to_owned(),
            workspace: e.workspace.clone().unwrap_or_default(),
            server: e.server.as_deref().unwrap_or_default().to_owned(),
            method: e.method.as_deref().unwrap_or_default().to_owned(),
            tool: e.tool.clone().unwrap_or_default(),
            decision: if e.allowed { "allow" } else { "deny" }.to_owned(),
            reason: e.reason.unwrap_or_default().to_owned(),
            jsonrpc_code: e.jsonrpc_code,
            upstream_status: e.upstream_status.map(u32::from),
            latency_ms: e.latency_ms,
            request_bytes: e.request_bytes,
            response_bytes: e.response_bytes,
            trace_id: e.trace_id.map(|t| t.to_string()).unwrap_or_default(),
            session_hash: e.session_hash.clone().unwrap_or_default(),
            client_address: e.client.map(|ip| ip.to_string()).unwrap_or_default(),
            arguments: e.arguments.clone(),
            result: e.result.clone(),
        }
    }

    fn full() -> RequestOutcome {
        RequestOutcome {
            at_ms: 1_796_622_000_123,
            org_id: Arc::from("org-1"),
            user: Some("ann@example.com".into()),
            identity_source: Some("jwt"),
            workspace: Some("ws-ü".into()),
            server: Some(Arc::from("github")),
            method: Some(Cow::Borrowed("tools/call")),
            tool: Some("search".into()),
            allowed: false,
            reason: Some("rate_limited"),
            jsonrpc_code: Some(-32000),
            upstream_status: Some(502),
            latency_ms: 17,
            request_bytes: 123,
            response_bytes: Some(0),
            trace_id: Some(TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap()),
            session_hash: Some("abcd".into()),
            client: Some("10.200.3.45".parse().unwrap()),
            arguments: Some(String::new()),
            result: Some("{\"a\":1}".into()),
            ..RequestOutcome::for_tests(OutcomeKind::ToolCall)
        }
    }

    #[test]
    fn the_bytes_decode_as_the_batch_prost_would_write() {
        let mut sparse = RequestOutcome::for_tests(OutcomeKind::McpRequest);
        sparse.client = Some("::ffff:192.0.2.1".parse().unwrap());
        let mut v4 = RequestOutcome::for_tests(OutcomeKind::AuthFailure);
        v4.client = Some("0.10.100.255".parse().unwrap());
        let events = [full(), sparse, v4];
        let batch = encode(7, "edge-1", &events, 3);
        assert_eq!((batch.seq, batch.events), (7, 3));
        let decoded = pb::AuditBatch::decode(batch.bytes().clone()).unwrap();
        assert_eq!((decoded.seq, decoded.edge.as_str(), decoded.dropped_total), (7, "edge-1", 3));
        assert_eq!(decoded.events.len(), 3);
        for (wire, event) in decoded.events.iter().zip(&events) {
            assert!(uuid::Uuid::parse_str(&wire.id).is_ok_and(|id| id.get_version_num() == 7), "{}", wire.id);
            let expected = reference(event);
            assert_eq!(pb::AuditEvent { id: String::new(), ..wire.clone() }, expected);
            // Byte for byte what prost writes for the same message.
            let mut ours = Vec::new();
            encode_event(event, &mut ours);
            let id = pb::AuditEvent::decode(&ours[..]).unwrap().id;
            assert_eq!(ours, pb::AuditEvent { id, ..expected }.encode_to_vec());
        }
        assert_eq!(decoded.events[1].client_address, "::ffff:192.0.2.1");
        assert_eq!(decoded.events[2].client_address, "0.10.100.255");
        // Ids are made once per batch: a resend carries the same ones.
        assert_eq!(pb::AuditBatch::decode(batch.bytes().clone()).unwrap(), decoded);
    }

    #[test]
    fn every_address_fits_and_reads_as_std_writes_it() {
        for ip in ["255.255.255.255", "1.2.3.4", "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", "::1"] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut out = [0u8; 45];
            let len = write_ip(ip, &mut out);
            assert_eq!(std::str::from_utf8(&out[..len]).unwrap(), ip.to_string());
        }
    }
}
