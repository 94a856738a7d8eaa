//! `advanced_config.forward_headers`: which client headers pass through to the
//! upstream beyond the protocol ones, parsed and validated into
//! [`ForwardHeaders`]. Protected headers ([`is_protected`]) are never forwarded
//! from the client nor renamed onto; the edge applies the selection.

use http::HeaderName;
use serde::Deserialize;
use serde_json::Value;

use super::FieldError;

/// Whether a header can never be forwarded from the client, nor be a rename target:
/// credentials, identity headers, session and hop-by-hop headers, `Host`.
pub fn is_protected(name: &HeaderName) -> bool {
    let n = name.as_str();
    matches!(
        n,
        "authorization"
            | "proxy-authorization"
            | "cookie"
            | "set-cookie"
            | "x-api-key"
            | "x-organization-id"
            | "mcp-session-id"
            | "host"
            | "content-length"
            | "connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "keep-alive"
            | "accept-encoding"
            | "expect"
            | "forwarded"
    ) || n.starts_with("x-user-")
        || n.starts_with("proxy-")
        || n.starts_with("x-forwarded-")
}

/// A validated `forward_headers`: which client headers pass through.
#[derive(Debug, Clone, Default)]
pub struct ForwardHeaders {
    /// `all-except` mode: every client header but [`Self::names`]; otherwise only [`Self::names`].
    pub all_except: bool,
    /// The listed header names.
    pub names: Vec<HeaderName>,
    /// `(from, to)` renames.
    pub renames: Vec<(HeaderName, HeaderName)>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rename {
    from: String,
    to: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ListItem {
    Name(String),
    Rename(Rename),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    Allowlist,
    AllExcept,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectSpec {
    mode: Mode,
    #[serde(default)]
    headers: Vec<String>,
    #[serde(default)]
    rename: Vec<Rename>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ForwardHeadersSpec {
    List(Vec<ListItem>),
    Object(ObjectSpec),
}

fn header_name(field: &str, raw: &str, protected_ok: bool) -> Result<HeaderName, FieldError> {
    let name = HeaderName::from_bytes(raw.trim().to_ascii_lowercase().as_bytes())
        .map_err(|_| FieldError::new(field, format!("{raw:?} is not a valid header name")))?;
    if !protected_ok && is_protected(&name) {
        return Err(FieldError::new(
            field,
            format!("{name} is a protected header and cannot be forwarded or renamed onto"),
        ));
    }
    Ok(name)
}

impl ForwardHeaders {
    /// Parses and validates `forward_headers` (field paths relative to it).
    pub fn from_value(value: &Value) -> Result<Self, FieldError> {
        let spec: ForwardHeadersSpec = serde_json::from_value(value.clone()).map_err(|_| {
            FieldError::new(
                "",
                "must be a list of header names / {from, to} renames, or {mode, headers, rename}",
            )
        })?;
        let mut out = ForwardHeaders::default();
        let rename = |at: String, r: &Rename, out: &mut ForwardHeaders| -> Result<(), FieldError> {
            let from = header_name(&format!("{at}.from"), &r.from, false)?;
            let to = header_name(&format!("{at}.to"), &r.to, false)?;
            out.renames.push((from, to));
            Ok(())
        };
        match spec {
            ForwardHeadersSpec::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    match item {
                        ListItem::Name(n) => out.names.push(header_name(&format!("[{i}]"), n, false)?),
                        ListItem::Rename(r) => rename(format!("[{i}]"), r, &mut out)?,
                    }
                }
            }
            ForwardHeadersSpec::Object(spec) => {
                out.all_except = matches!(spec.mode, Mode::AllExcept);
                for (i, n) in spec.headers.iter().enumerate() {
                    // Excluding a protected header is harmless; allowing one is not.
                    out.names.push(header_name(&format!("headers[{i}]"), n, out.all_except)?);
                }
                for (i, r) in spec.rename.iter().enumerate() {
                    rename(format!("rename[{i}]"), r, &mut out)?;
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn protected_headers_are_refused_in_config() {
        for bad in [
            json!(["authorization"]),
            json!(["X-User-Email"]),
            json!([{"from":"x-a","to":"authorization"}]),
            json!([{"from":"cookie","to":"x-c"}]),
            json!({"mode":"allowlist","headers":["x-api-key"]}),
            json!({"mode":"sometimes","headers":[]}),
            json!(42),
        ] {
            assert!(ForwardHeaders::from_value(&bad).is_err(), "{bad}");
        }
        assert!(ForwardHeaders::from_value(&json!({"mode":"all-except","headers":["cookie","x-b"]})).is_ok());
    }
}
