//! The minimal JSON-RPC peek (method, id, tool name) and error bodies.
//!
//! The edge never re-serialises a request: it peeks at the few fields the
//! policy needs, borrowing from the body bytes, and forwards the original
//! bytes unchanged. Everything else in the message is skipped, not built.
//!
//! Batches (a JSON array at the top level) are refused with `-32600`:
//! JSON-RPC batching was removed from MCP in revision 2025-06-18, and a batch
//! would need a policy decision per element and a response merge per id.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// JSON-RPC "parse error": the body is not JSON.
pub const PARSE_ERROR: i32 = -32700;
/// JSON-RPC "invalid request": JSON, but not an acceptable request object.
pub const INVALID_REQUEST: i32 = -32600;
/// JSON-RPC "invalid params" (also MCP's answer for an unknown or denied tool).
pub const INVALID_PARAMS: i32 = -32602;
/// Implementation-defined server error, used for gateway and upstream failures.
pub const SERVER_ERROR: i32 = -32000;
/// "Session not found", the code the MCP SDKs use for an unknown session.
pub const SESSION_NOT_FOUND: i32 = -32001;
/// MCP 2026-07-28 `HeaderMismatch`: mirrored headers disagree with the body.
pub const HEADER_MISMATCH: i32 = -32020;

/// `_meta` key carrying the protocol version in MCP 2026-07-28 requests.
const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

/// The fields of one JSON-RPC message the edge needs, borrowed from the body.
#[derive(Debug, Default, Deserialize)]
pub struct Peek<'a> {
    /// The method; `None` for responses.
    #[serde(borrow, default, deserialize_with = "borrowed_str")]
    pub method: Option<Cow<'a, str>>,
    /// The request id as written; `None` for notifications (or `"id": null`).
    #[serde(borrow, default)]
    pub id: Option<&'a RawValue>,
    /// The few params fields the edge looks at.
    #[serde(borrow, default)]
    pub params: Option<PeekParams<'a>>,
}

/// The params fields the edge looks at; anything else (incl. arguments) is skipped.
#[derive(Debug, Default)]
pub struct PeekParams<'a> {
    /// `params.name`: the tool (`tools/call`) or prompt (`prompts/get`) name.
    pub name: Option<Field<'a>>,
    /// `params.uri`: the resource (`resources/read`).
    pub uri: Option<Field<'a>>,
    /// `params._meta["io.modelcontextprotocol/protocolVersion"]` (MCP 2026-07-28).
    pub protocol_version: Option<Field<'a>>,
}

/// A peeked field: a string (borrowed unless it had escapes) or some other JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field<'a> {
    /// A JSON string, unescaped.
    Str(Cow<'a, str>),
    /// Any other JSON value (number, object, null, ...).
    NotString,
}

impl<'a> Field<'a> {
    /// The string value, if the field is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Field::Str(s) => Some(s),
            Field::NotString => None,
        }
    }
}

impl<'a> Peek<'a> {
    /// The method, if the message has one.
    pub fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }

    /// `params.name` when it is a string.
    pub fn name(&self) -> Option<&str> {
        self.params.as_ref()?.name.as_ref()?.as_str()
    }

    /// `params.uri` when it is a string.
    pub fn uri(&self) -> Option<&str> {
        self.params.as_ref()?.uri.as_ref()?.as_str()
    }

    /// The `_meta` protocol version when it is a string.
    pub fn protocol_version(&self) -> Option<&str> {
        self.params.as_ref()?.protocol_version.as_ref()?.as_str()
    }
}

/// Why a request body could not be peeked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PeekError {
    /// Not JSON at all (`-32700`).
    #[error("request body is not valid JSON")]
    Parse,
    /// A JSON array: batches were removed from MCP in 2025-06-18 (`-32600`).
    #[error("batch requests are not supported")]
    Batch,
    /// JSON, but not a request object the edge accepts (`-32600`).
    #[error("request is not a valid JSON-RPC message")]
    Invalid,
}

/// Peeks at a JSON-RPC request body without building the whole message.
///
/// Duplicate `method`, `id` or `params.name` keys are refused: upstream parsers
/// disagree on which one wins, and the policy must judge what the upstream runs.
pub fn peek(body: &[u8]) -> Result<Peek<'_>, PeekError> {
    // serde skips the strings the peek ignores without checking their UTF-8, so
    // a body that is not JSON would otherwise be judged and forwarded as a request.
    if std::str::from_utf8(body).is_err() {
        return Err(PeekError::Parse);
    }
    match body.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
        Some(b'[') => return Err(PeekError::Batch),
        // Only an object is a request; a derived struct would also accept an array.
        Some(b'{') => {}
        Some(_) => {
            return Err(match serde_json::from_slice::<IgnoredAny>(body) {
                Ok(_) => PeekError::Invalid,
                Err(_) => PeekError::Parse,
            })
        }
        None => return Err(PeekError::Parse),
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => PeekError::Invalid,
        _ => PeekError::Parse,
    })
}

/// Visitor methods for every JSON value kind that holds nothing the peek wants
/// (null, booleans, numbers, arrays), each producing `$value`.
macro_rules! ignore_other_values {
    ($value:expr) => {
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }

        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }

        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }

        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }

        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($value)
        }
    };
}

impl<'de: 'a, 'a> Deserialize<'de> for PeekParams<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ParamsVisitor)
    }
}

struct ParamsVisitor;

impl<'de> Visitor<'de> for ParamsVisitor {
    type Value = PeekParams<'de>;

    // Positional params are valid JSON-RPC but never MCP: they carry no name.
    ignore_other_values!(PeekParams::default());

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON-RPC params")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut params = PeekParams::default();
        // Keys go through `Key` so an escaped key (`"na\u006de"`) is still `name`.
        while let Some(Key(key)) = map.next_key()? {
            match key.as_ref() {
                "name" => set_once(&mut params.name, map.next_value()?, "name")?,
                "uri" => set_once(&mut params.uri, map.next_value()?, "uri")?,
                "_meta" => {
                    if let Meta(Some(version)) = map.next_value()? {
                        set_once(&mut params.protocol_version, version, META_PROTOCOL_VERSION)?;
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(params)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(PeekParams::default())
    }
}

fn set_once<'a, E: de::Error>(slot: &mut Option<Field<'a>>, value: Field<'a>, key: &str) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::custom(format_args!("duplicate field `{key}`")));
    }
    *slot = Some(value);
    Ok(())
}

/// A string borrowed from the input unless it had escapes.
///
/// (Serde's derive only borrows a bare `Cow<str>`, not one inside an `Option`.)
fn borrowed_str<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    deserializer.deserialize_str(StrVisitor).map(Some)
}

/// A map key, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(StrVisitor).map(Key)
    }
}

struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;

    ignore_other_values!(Field::NotString);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::NotString)
    }
}

/// `params._meta`: only the protocol version key is kept.
struct Meta<'a>(Option<Field<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for Meta<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MetaVisitor)
    }
}

struct MetaVisitor;

impl<'de> Visitor<'de> for MetaVisitor {
    type Value = Meta<'de>;

    ignore_other_values!(Meta(None));

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a _meta object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut version = None;
        while let Some(Key(key)) = map.next_key()? {
            if key == META_PROTOCOL_VERSION {
                set_once(&mut version, map.next_value()?, META_PROTOCOL_VERSION)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Meta(version))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Meta(None))
    }
}

/// Where an error came from, as told to the client in `error.data.source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorSource {
    /// The request was wrong.
    Client,
    /// The gateway refused or failed.
    Gateway,
    /// The upstream server failed.
    Upstream,
}

/// `error.data` of every error the edge itself produces.
#[derive(Debug, Serialize)]
pub struct ErrorData {
    /// Machine-readable reason, e.g. `tool_denied`.
    pub reason: &'static str,
    /// Who is at fault.
    pub source: ErrorSource,
    /// Whether retrying the same request may succeed.
    pub retryable: bool,
}

#[derive(Serialize)]
struct Envelope<'a> {
    jsonrpc: &'static str,
    id: Option<&'a RawValue>,
    error: ErrorObject<'a>,
}

#[derive(Serialize)]
struct ErrorObject<'a> {
    code: i32,
    message: &'a str,
    data: &'a ErrorData,
}

/// Serialises a JSON-RPC error response; `id: None` is written as `null`.
pub fn error_body(id: Option<&RawValue>, code: i32, message: &str, data: &ErrorData) -> Vec<u8> {
    let envelope = Envelope { jsonrpc: "2.0", id, error: ErrorObject { code, message, data } };
    // Serialising these plain structs cannot fail.
    serde_json::to_vec(&envelope).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peeks_a_tools_call() {
        let body = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_weather","arguments":{"name":"nested","x":[1,{"name":"deep"}]}}}"#;
        let p = peek(body).unwrap();
        assert_eq!(p.method(), Some("tools/call"));
        assert_eq!(p.id.unwrap().get(), "7");
        assert_eq!(p.name(), Some("get_weather"));
        assert!(matches!(p.method, Some(Cow::Borrowed(_))), "no escapes means no allocation");
    }

    #[test]
    fn invalid_utf8_anywhere_is_a_parse_error() {
        // Found by the `jsonrpc_peek` fuzz target: the bad bytes sit in a string the
        // peek skips, so serde accepted the body while no JSON parser would.
        let body = b"{\"jsonrpc\":\"2\xff\xff.0\",\"id\":null,\"method\":\"t\\u006fols/list\"}";
        assert!(serde_json::from_slice::<serde_json::Value>(body).is_err());
        assert_eq!(peek(body).unwrap_err(), PeekError::Parse);
        let in_params =
            b"{\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"arguments\":{\"x\":\"\xc3\"}}}";
        assert_eq!(peek(in_params).unwrap_err(), PeekError::Parse);
    }

    #[test]
    fn escaped_method_name_and_keys_are_unescaped() {
        let body = br#"{"id":"a\"b","m\u0065thod":"tools\/call","params":{"na\u006de":"rm\u0020-rf"}}"#;
        let p = peek(body).unwrap();
        assert_eq!(p.method(), Some("tools/call"));
        assert_eq!(p.name(), Some("rm -rf"));
        assert_eq!(p.id.unwrap().get(), r#""a\"b""#);
    }

    #[test]
    fn fields_in_any_order_with_whitespace() {
        let body =
            b" \r\n\t{ \"params\" : { \"name\" : \"t\" } , \"id\" : null , \"method\" : \"tools/call\" } ";
        let p = peek(body).unwrap();
        assert_eq!(p.method(), Some("tools/call"));
        assert_eq!(p.name(), Some("t"));
        assert!(p.id.is_none());
    }

    #[test]
    fn missing_fields_are_none() {
        let p = peek(br#"{"jsonrpc":"2.0","result":{}}"#).unwrap();
        assert!(p.method.is_none() && p.id.is_none() && p.params.is_none());
        let p = peek(br#"{"method":"tools/call","params":{}}"#).unwrap();
        assert_eq!(p.name(), None);
    }

    #[test]
    fn non_string_name_is_not_a_name() {
        let p = peek(br#"{"method":"tools/call","params":{"name":{"a":1}}}"#).unwrap();
        assert_eq!(p.params.unwrap().name, Some(Field::NotString));
    }

    #[test]
    fn positional_and_odd_params_have_no_name() {
        for params in [r#"["get_weather"]"#, "null", "3", r#""x""#, "true"] {
            let body = format!(r#"{{"method":"tools/call","params":{params}}}"#);
            assert_eq!(peek(body.as_bytes()).unwrap().name(), None, "{params}");
        }
    }

    #[test]
    fn duplicate_security_relevant_keys_are_refused() {
        for body in [
            r#"{"method":"tools/list","method":"tools/call"}"#,
            r#"{"method":"tools/call","params":{"name":"a","name":"b"}}"#,
            r#"{"method":"tools/call","params":{"name":"a","n\u0061me":"b"}}"#,
        ] {
            assert_eq!(peek(body.as_bytes()).unwrap_err(), PeekError::Invalid, "{body}");
        }
    }

    #[test]
    fn malformed_batch_and_non_objects() {
        assert_eq!(peek(b"{\"method\":").unwrap_err(), PeekError::Parse);
        assert_eq!(peek(b"").unwrap_err(), PeekError::Parse);
        assert_eq!(peek(b"nope").unwrap_err(), PeekError::Parse);
        assert_eq!(peek(b"{} trailing").unwrap_err(), PeekError::Parse);
        assert_eq!(peek(b" [{\"method\":\"tools/call\"}]").unwrap_err(), PeekError::Batch);
        assert_eq!(peek(b"42").unwrap_err(), PeekError::Invalid);
        assert_eq!(peek(br#"{"method":5}"#).unwrap_err(), PeekError::Invalid);
    }

    #[test]
    fn meta_protocol_version_is_peeked() {
        let body = br#"{"method":"tools/list","params":{"_meta":{"progressToken":1,"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;
        assert_eq!(peek(body).unwrap().protocol_version(), Some("2026-07-28"));
    }

    #[test]
    fn error_body_echoes_id_or_null() {
        let data = ErrorData { reason: "tool_denied", source: ErrorSource::Gateway, retryable: false };
        let id = RawValue::from_string("\"x\"".into()).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&error_body(Some(&id), -32602, "no", &data)).unwrap();
        assert_eq!(v["id"], "x");
        assert_eq!(v["error"]["data"]["source"], "gateway");
        let v: serde_json::Value = serde_json::from_slice(&error_body(None, -1, "no", &data)).unwrap();
        assert!(v["id"].is_null());
    }

    proptest::proptest! {
        #[test]
        fn peek_never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = peek(&body);
        }

        #[test]
        fn peek_finds_any_tool_name(name in "\\PC*", id in proptest::num::i64::ANY) {
            let body = serde_json::json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"arguments":{"name":"x"},"name":name}});
            let bytes = serde_json::to_vec(&body).unwrap();
            let p = peek(&bytes).unwrap();
            proptest::prop_assert_eq!(p.name(), Some(name.as_str()));
            proptest::prop_assert_eq!(p.id.unwrap().get(), id.to_string());
        }
    }
}
