//! MCP 2026-07-28 request metadata headers, checked against the body.
//!
//! The stateless revision mirrors body fields into headers so intermediaries
//! can route without parsing: `Mcp-Method` (= `method`), `Mcp-Name`
//! (= `params.name` for `tools/call`/`prompts/get`, `params.uri` for
//! `resources/read`, possibly as `=?base64?…?=`) and `MCP-Protocol-Version`
//! (= `params._meta["io.modelcontextprotocol/protocolVersion"]`). Anyone that
//! processes the body MUST reject a mismatch with 400 and `HeaderMismatch`
//! (-32020). For the gateway this is also a security check: tool policy is
//! decided on the body, so an upstream routing on `Mcp-Name` must never see a
//! different tool than the one the policy allowed.
//!
//! Only mismatches and malformed or repeated values are refused here. Missing
//! headers are left to the upstream: earlier revisions don't send them, and a
//! missing header cannot make the upstream run something the policy didn't see.
//! `Mcp-Param-*` headers are forwarded untouched (checking them needs the
//! tool's `inputSchema`, which the edge doesn't keep).

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use http::{HeaderMap, HeaderValue};

use crate::error::EdgeError;
use crate::jsonrpc::Peek;

// As header names are stored: lower case.
const MCP_METHOD: &str = "mcp-method";
const MCP_NAME: &str = "mcp-name";
const MCP_PROTOCOL_VERSION: &str = "mcp-protocol-version";

const SENTINEL_PREFIX: &str = "=?base64?";
const SENTINEL_SUFFIX: &str = "?=";

// The spec's examples are padded standard base64; accept unpadded too.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Refuses a request whose mirrored headers disagree with its body.
pub fn validate(headers: &HeaderMap, peek: &Peek<'_>) -> Result<(), EdgeError> {
    let [method, name, version] = mirrored(headers);
    if let Some(value) = method.single("Mcp-Method")? {
        if peek.method() != Some(value) {
            return Err(EdgeError::HeaderMismatch { header: "Mcp-Method" });
        }
    }
    if let Some(value) = name.single("Mcp-Name")? {
        let body = match peek.method() {
            Some("tools/call" | "prompts/get") => Some(peek.name()),
            Some("resources/read") => Some(peek.uri()),
            _ => None,
        };
        if let Some(body) = body {
            let header = decode_sentinel(value).ok_or(EdgeError::HeaderMismatch { header: "Mcp-Name" })?;
            if body != Some(header.as_ref()) {
                return Err(EdgeError::HeaderMismatch { header: "Mcp-Name" });
            }
        }
    }
    if let Some(value) = version.single("MCP-Protocol-Version")? {
        if peek.protocol_version().is_some_and(|body| body != value) {
            return Err(EdgeError::HeaderMismatch { header: "MCP-Protocol-Version" });
        }
    }
    Ok(())
}

/// The values of one mirrored header.
#[derive(Default, Clone, Copy)]
struct Values<'h> {
    first: Option<&'h HeaderValue>,
    repeated: bool,
}

impl<'h> Values<'h> {
    /// The header's only value; repeated or non-visible-ASCII values are malformed.
    fn single(self, spelled: &'static str) -> Result<Option<&'h str>, EdgeError> {
        let Some(first) = self.first else { return Ok(None) };
        if self.repeated {
            return Err(EdgeError::HeaderMismatch { header: spelled });
        }
        first.to_str().map(Some).map_err(|_| EdgeError::HeaderMismatch { header: spelled })
    }
}

/// `Mcp-Method`, `Mcp-Name` and `MCP-Protocol-Version`, found in one pass over the few
/// headers a request has: three lookups by name would hash each name on every request,
/// though most requests carry none of them.
fn mirrored(headers: &HeaderMap) -> [Values<'_>; 3] {
    let mut found = [Values::default(); 3];
    for (name, value) in headers {
        let slot = match name.as_str() {
            MCP_METHOD => 0,
            MCP_NAME => 1,
            MCP_PROTOCOL_VERSION => 2,
            _ => continue,
        };
        let values = &mut found[slot];
        values.repeated |= values.first.is_some();
        values.first.get_or_insert(value);
    }
    found
}

/// Decodes a `=?base64?…?=` value; plain values are returned as they are.
fn decode_sentinel(value: &str) -> Option<std::borrow::Cow<'_, str>> {
    match value.strip_prefix(SENTINEL_PREFIX).and_then(|v| v.strip_suffix(SENTINEL_SUFFIX)) {
        Some(encoded) => {
            let bytes = BASE64.decode(encoded).ok()?;
            String::from_utf8(bytes).ok().map(Into::into)
        }
        None => Some(value.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonrpc::peek;
    use http::{HeaderName, HeaderValue};

    fn check(headers: &[(&str, &str)], body: &str) -> Result<(), EdgeError> {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        validate(&map, &peek(body.as_bytes()).unwrap())
    }

    const CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;

    #[test]
    fn matching_headers_pass() {
        let h = [
            ("mcp-method", "tools/call"),
            ("mcp-name", "get_weather"),
            ("mcp-protocol-version", "2026-07-28"),
        ];
        check(&h, CALL).unwrap();
        check(&[], CALL).unwrap();
        check(&[("mcp-protocol-version", "2025-06-18")], r#"{"method":"tools/list"}"#).unwrap();
    }

    #[test]
    fn mismatches_are_refused() {
        let refused = |h: &[(&str, &str)], header: &str| match check(h, CALL) {
            Err(EdgeError::HeaderMismatch { header: got }) => assert_eq!(got, header),
            other => panic!("expected mismatch on {header}, got {other:?}"),
        };
        refused(&[("mcp-method", "tools/list")], "Mcp-Method");
        refused(&[("mcp-method", "Tools/Call")], "Mcp-Method");
        refused(&[("mcp-name", "delete_everything")], "Mcp-Name");
        refused(&[("mcp-name", "get_weather"), ("mcp-name", "delete_everything")], "Mcp-Name");
        refused(&[("mcp-name", "=?base64?not base64?=")], "Mcp-Name");
        refused(&[("mcp-protocol-version", "2025-11-25")], "MCP-Protocol-Version");
        // Repeated, even with the same value, and wherever the repeat is.
        refused(
            &[("mcp-method", "tools/call"), ("accept", "*/*"), ("Mcp-Method", "tools/call")],
            "Mcp-Method",
        );
        refused(
            &[("mcp-protocol-version", "2026-07-28"), ("mcp-protocol-version", "2026-07-28")],
            "MCP-Protocol-Version",
        );
        // The first header in the order of the checks is named, whatever order they came in.
        refused(&[("mcp-name", "other"), ("mcp-method", "tools/list")], "Mcp-Method");
    }

    #[test]
    fn other_headers_are_not_mistaken_for_mirrored_ones() {
        let h = [
            ("content-type", "application/json"),
            ("mcp-session-id", "abc"),
            ("mcp-param-city", "Paris"),
            ("mcp-methods", "x"),
            ("x-mcp-name", "delete_everything"),
        ];
        check(&h, CALL).unwrap();
    }

    #[test]
    fn base64_sentinel_is_decoded_before_comparing() {
        let body = r#"{"method":"tools/call","params":{"name":"Hello, 世界"}}"#;
        check(&[("mcp-name", "=?base64?SGVsbG8sIOS4lueVjA==?=")], body).unwrap();
        check(&[("mcp-name", "=?base64?SGVsbG8sIOS4lueVjA?=")], body).unwrap();
        let literal = r#"{"method":"tools/call","params":{"name":"=?base64?literal?="}}"#;
        check(&[("mcp-name", "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=")], literal).unwrap();
    }

    #[test]
    fn resources_read_compares_the_uri() {
        let body = r#"{"method":"resources/read","params":{"uri":"file:///a.txt"}}"#;
        check(&[("mcp-name", "file:///a.txt")], body).unwrap();
        assert!(check(&[("mcp-name", "file:///b.txt")], body).is_err());
    }

    #[test]
    fn header_without_body_field_is_a_mismatch() {
        let body = r#"{"method":"tools/call","params":{}}"#;
        assert!(check(&[("mcp-name", "x")], body).is_err());
        assert!(check(&[("mcp-method", "tools/call")], r#"{"result":{}}"#).is_err());
    }
}
