//! Input rules shared by the admin API and the store: slugs, URLs, upstream
//! headers, tool globs, scopes and users. Each failure names the field.

use std::collections::BTreeMap;

use axum::http::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

/// A rejected input value and the field it came from (the one type both planes use).
pub use gatehouse_config::identity::FieldError;

/// The auth types this control plane accepts for upstream servers.
pub const AUTH_TYPES: &[&str] = &["none", "headers", "oauth2", "client_credentials"];
const MAX_NAME_LEN: usize = 200;
const MAX_URL_LEN: usize = 2048;
const MAX_HEADERS: usize = 32;
const MAX_HEADER_VALUE_LEN: usize = 8 * 1024;
const MAX_GLOBS: usize = 256;
const MAX_GLOB_LEN: usize = 256;
const MAX_SCOPES: usize = 64;
const MAX_SCOPE_LEN: usize = 128;
const MAX_USER_LEN: usize = 256;

/// Header names an upstream credential may not set: hop-by-hop headers,
/// framing headers and the MCP protocol headers the edge manages.
const FORBIDDEN_HEADERS: &[&str] = &[
    "connection",
    "content-encoding",
    "content-length",
    "content-type",
    "expect",
    "host",
    "keep-alive",
    "last-event-id",
    "mcp-protocol-version",
    "mcp-session-id",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// `^[a-z0-9][a-z0-9-]{0,62}$`.
pub fn slug(field: &str, value: &str) -> Result<(), FieldError> {
    let bytes = value.as_bytes();
    let valid = !bytes.is_empty()
        && bytes.len() <= 63
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    if valid {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            "must be 1-63 characters of lowercase letters, digits and '-', starting with a letter or digit",
        ))
    }
}

/// A display name: non-empty after trimming, at most 200 characters, no control characters.
pub fn name(field: &str, value: &str) -> Result<String, FieldError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if trimmed.chars().count() > MAX_NAME_LEN {
        return Err(FieldError::new(field, format!("must be at most {MAX_NAME_LEN} characters")));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(FieldError::new(field, "must not contain control characters"));
    }
    Ok(trimmed.to_owned())
}

/// An absolute http(s) URL with a host, no credentials and no fragment; returns it normalised.
pub fn upstream_url(field: &str, value: &str) -> Result<String, FieldError> {
    if value.len() > MAX_URL_LEN {
        return Err(FieldError::new(field, format!("must be at most {MAX_URL_LEN} characters")));
    }
    let url = url::Url::parse(value)
        .map_err(|_| FieldError::new(field, "must be an absolute http or https URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FieldError::new(field, "must use the http or https scheme"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(FieldError::new(field, "must have a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FieldError::new(field, "must not contain credentials; use headers instead"));
    }
    if url.fragment().is_some() {
        return Err(FieldError::new(field, "must not contain a fragment"));
    }
    Ok(url.to_string())
}

/// One of [`AUTH_TYPES`].
pub fn auth_type(field: &str, value: &str) -> Result<(), FieldError> {
    if AUTH_TYPES.contains(&value) {
        Ok(())
    } else {
        Err(FieldError::new(field, format!("must be one of {}", AUTH_TYPES.join(", "))))
    }
}

/// Static upstream headers: valid, lower-cased, unique, allowed names and valid values.
///
/// Errors name the header but never echo its value.
pub fn upstream_headers(
    headers: &BTreeMap<String, SecretString>,
) -> Result<BTreeMap<String, SecretString>, FieldError> {
    if headers.len() > MAX_HEADERS {
        return Err(FieldError::new("headers", format!("at most {MAX_HEADERS} headers are allowed")));
    }
    let mut out = BTreeMap::new();
    for (raw_name, value) in headers {
        let field = format!("headers.{}", printable(raw_name));
        let name = HeaderName::from_bytes(raw_name.as_bytes())
            .map_err(|_| FieldError::new(&field, "is not a valid HTTP header name"))?;
        let lower = name.as_str().to_owned();
        if FORBIDDEN_HEADERS.contains(&lower.as_str()) {
            return Err(FieldError::new(&field, "is managed by the gateway and cannot be set"));
        }
        let text = value.expose_secret();
        if text.is_empty() {
            return Err(FieldError::new(&field, "value must not be empty"));
        }
        if text.len() > MAX_HEADER_VALUE_LEN {
            return Err(FieldError::new(
                &field,
                format!("value must be at most {MAX_HEADER_VALUE_LEN} bytes"),
            ));
        }
        if HeaderValue::from_str(text).is_err() {
            return Err(FieldError::new(&field, "value is not a valid HTTP header value"));
        }
        if out.insert(lower, value.clone()).is_some() {
            return Err(FieldError::new(&field, "is given more than once (names are case-insensitive)"));
        }
    }
    Ok(out)
}

/// Tool-name globs: non-empty, at most 256 printable characters each.
pub fn tool_globs(field: &str, globs: &[String]) -> Result<(), FieldError> {
    if globs.len() > MAX_GLOBS {
        return Err(FieldError::new(field, format!("at most {MAX_GLOBS} entries are allowed")));
    }
    for (i, glob) in globs.iter().enumerate() {
        let field = format!("{field}[{i}]");
        if glob.is_empty() {
            return Err(FieldError::new(field, "must not be empty"));
        }
        if glob.chars().count() > MAX_GLOB_LEN {
            return Err(FieldError::new(field, format!("must be at most {MAX_GLOB_LEN} characters")));
        }
        if glob.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(FieldError::new(field, "must be printable without whitespace"));
        }
    }
    Ok(())
}

/// Scopes: at most 64, each 1-128 visible ASCII characters.
pub fn scopes(field: &str, scopes: &[String]) -> Result<(), FieldError> {
    if scopes.len() > MAX_SCOPES {
        return Err(FieldError::new(field, format!("at most {MAX_SCOPES} scopes are allowed")));
    }
    for (i, scope) in scopes.iter().enumerate() {
        let ok =
            !scope.is_empty() && scope.len() <= MAX_SCOPE_LEN && scope.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(FieldError::new(
                format!("{field}[{i}]"),
                format!("must be 1-{MAX_SCOPE_LEN} visible ASCII characters"),
            ));
        }
    }
    Ok(())
}

/// The user a token is issued to: 1-256 characters, no control characters.
pub fn user(field: &str, value: &str) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if value.chars().count() > MAX_USER_LEN {
        return Err(FieldError::new(field, format!("must be at most {MAX_USER_LEN} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(field, "must not contain control characters"));
    }
    Ok(())
}

/// `advanced_config` must be a JSON object; its identity keys (`jwt_validation`, `external_auth_config`,
/// `user_identity_forwarding`, `forward_headers`) must compile exactly as the edge will.
pub fn advanced_config(field: &str, value: &serde_json::Value) -> Result<(), FieldError> {
    if !value.is_object() {
        return Err(FieldError::new(field, "must be a JSON object"));
    }
    gatehouse_config::identity::advanced_config::validate_advanced_config(field, value)
        .map_err(|e| FieldError::new(e.field, e.message))
}

/// A field-name fragment safe to echo: printable ASCII, at most 64 characters.
fn printable(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_graphic()).take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn headers(pairs: &[(&str, &str)]) -> BTreeMap<String, SecretString> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), SecretString::from(*v))).collect()
    }

    #[test]
    fn slugs() {
        for ok in ["a", "0", "my-server", "a1-b2", &"a".repeat(63)] {
            assert!(slug("slug", ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "A", "a_b", "a b", "é", &"a".repeat(64), "a.b"] {
            assert_eq!(slug("slug", bad).unwrap_err().field, "slug", "{bad}");
        }
    }

    #[test]
    fn urls() {
        assert_eq!(
            upstream_url("url", "https://mcp.example.com/mcp").unwrap(),
            "https://mcp.example.com/mcp"
        );
        assert!(upstream_url("url", "http://127.0.0.1:8080/mcp").is_ok());
        for bad in [
            "",
            "mcp.example.com",
            "/relative",
            "ftp://example.com",
            "https://user:pw@example.com/",
            "https://user@example.com/",
            "https://example.com/#frag",
            "file:///etc/passwd",
            "http://",
        ] {
            assert_eq!(upstream_url("url", bad).unwrap_err().field, "url", "{bad}");
        }
    }

    #[test]
    fn header_rules() {
        let ok = upstream_headers(&headers(&[("Authorization", "Bearer x"), ("X-Api-Key", "k")])).unwrap();
        assert_eq!(ok.keys().collect::<Vec<_>>(), ["authorization", "x-api-key"]);
        for name in ["Host", "content-length", "Transfer-Encoding", "connection", "mcp-session-id", "te"] {
            let err = upstream_headers(&headers(&[(name, "v")])).unwrap_err();
            assert_eq!(err.field, format!("headers.{name}"));
        }
        assert!(upstream_headers(&headers(&[("bad name", "v")])).is_err());
        assert!(upstream_headers(&headers(&[("x-a", "")])).is_err());
        let err = upstream_headers(&headers(&[("x-a", "line\r\nInjected: yes")])).unwrap_err();
        assert!(!err.message.contains("Injected"));
        assert!(upstream_headers(&headers(&[("X-A", "1"), ("x-a", "2")])).is_err());
    }

    #[test]
    fn globs_scopes_users() {
        assert!(tool_globs("tools.allow", &["get_*".into(), "a?c".into()]).is_ok());
        assert_eq!(tool_globs("tools.allow", &["ok".into(), "".into()]).unwrap_err().field, "tools.allow[1]");
        assert!(tool_globs("tools.deny", &["a\u{7}".into()]).is_err());
        assert!(scopes("scopes", &["mcp:read".into()]).is_ok());
        assert!(scopes("scopes", &["has space".into()]).is_err());
        assert!(user("user", "alice@example.com").is_ok());
        assert!(user("user", "").is_err());
        assert!(user("user", &"a".repeat(257)).is_err());
        assert!(advanced_config("advanced_config", &serde_json::json!({})).is_ok());
        assert!(advanced_config("advanced_config", &serde_json::json!([1])).is_err());
    }

    proptest! {
        #[test]
        fn slug_validator_matches_the_regex(s in "\\PC{0,70}") {
            let expected = s.len() <= 63
                && s.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            prop_assert_eq!(slug("slug", &s).is_ok(), expected);
        }

        #[test]
        fn generated_slugs_are_valid(s in "[a-z0-9][a-z0-9-]{0,62}") {
            prop_assert!(slug("slug", &s).is_ok());
        }

        #[test]
        fn header_errors_never_echo_values(value in "\\PC{0,40}") {
            let secret = format!("S3CRET{value}");
            if let Err(e) = upstream_headers(&headers(&[("host", &secret)])) {
                prop_assert!(!e.to_string().contains(&secret));
            }
            if let Err(e) = upstream_headers(&headers(&[("x-key", &format!("{secret}\n"))])) {
                prop_assert!(!e.to_string().contains("S3CRET"));
            }
        }

        #[test]
        fn url_validator_never_panics(s in "\\PC{0,80}") {
            let _ = upstream_url("url", &s);
        }
    }
}
