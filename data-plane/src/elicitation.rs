//! The MCP `URLElicitationRequiredError` (-32042, MCP 2025-11-25) the edge
//! answers with when the caller must authorize an upstream server first: the
//! [`AuthorizationLink`] the control plane hands out and the error body that
//! carries it. It sits below both the credential broker, which obtains links,
//! and [`EdgeError`](crate::error::EdgeError), which answers with them.

use serde::Serialize;
use serde_json::value::RawValue;

/// A single-use link that starts the user's authorization (the elicitation URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationLink {
    /// Where the user goes (control plane, then the upstream's authorize endpoint).
    pub url: String,
    /// The MCP `elicitationId`.
    pub elicitation_id: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// JSON-RPC error code of `URLElicitationRequiredError`.
pub const URL_ELICITATION_REQUIRED: i32 = -32042;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Elicitation<'a> {
    mode: &'static str,
    elicitation_id: &'a str,
    url: &'a str,
    message: &'a str,
}

#[derive(Serialize)]
struct Data<'a> {
    elicitations: [Elicitation<'a>; 1],
    reason: &'static str,
    source: &'static str,
    retryable: bool,
}

#[derive(Serialize)]
struct ErrorObject<'a> {
    code: i32,
    message: &'a str,
    data: Data<'a>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    jsonrpc: &'static str,
    id: Option<&'a RawValue>,
    error: ErrorObject<'a>,
}

/// The JSON-RPC error response asking the user to open `link` to authorize `server_name`.
pub fn error_body(id: Option<&RawValue>, link: &AuthorizationLink, server_name: &str) -> Vec<u8> {
    let message = format!("Authorize {server_name} to continue");
    let envelope = Envelope {
        jsonrpc: "2.0",
        id,
        error: ErrorObject {
            code: URL_ELICITATION_REQUIRED,
            message: "This request requires authorization of the upstream server.",
            data: Data {
                elicitations: [Elicitation {
                    mode: "url",
                    elicitation_id: &link.elicitation_id,
                    url: &link.url,
                    message: &message,
                }],
                reason: "authorization_required",
                source: "gateway",
                retryable: true,
            },
        },
    };
    serde_json::to_vec(&envelope).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_the_spec_shape_and_echoes_the_id() {
        let link =
            AuthorizationLink { url: "https://cp/l/1".into(), elicitation_id: "e1".into(), expires_at: 1 };
        let id = RawValue::from_string("\"req-1\"".into()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&error_body(Some(&id), &link, "Linear")).unwrap();
        assert_eq!(v["id"], "req-1");
        assert_eq!(v["error"]["code"], -32042);
        assert_eq!(
            v["error"]["data"]["elicitations"],
            serde_json::json!([{"mode":"url","elicitationId":"e1","url":"https://cp/l/1",
                "message":"Authorize Linear to continue"}])
        );
    }
}
