//! JSON extractors whose rejections are [`ApiError`]s (never axum's plain text),
//! and whose messages never echo submitted values.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, HeaderMap};
use serde::de::DeserializeOwned;

use super::ApiError;

/// A JSON body; requires `content-type: application/json`.
pub struct ApiJson<T>(pub T);

/// An optional JSON body: an empty body (or JSON `null`) yields `T::default()`.
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = read_body(req, state).await?;
        parse(&bytes).map(ApiJson)
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = is_json(req.headers());
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        if !json {
            return Err(ApiError::UnsupportedMediaType);
        }
        // A JSON `null` is no body either.
        if bytes.trim_ascii() == b"null" {
            return Ok(OptionalJson(T::default()));
        }
        parse(&bytes).map(OptionalJson)
    }
}

/// Query parameters, rejected as [`ApiError::InvalidQuery`].
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| ApiQuery(q.0))
            .map_err(|_| ApiError::InvalidQuery("invalid query parameters".into()))
    }
}

/// Path parameters, rejected as [`ApiError::InvalidPath`] (e.g. a segment that
/// percent-decodes to invalid UTF-8) instead of axum's plain-text 400.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(path) => Ok(ApiPath(path.0)),
            // A route whose parameters do not fit `T` is our bug, not the caller's.
            Err(rejection) if rejection.status().is_server_error() => {
                tracing::error!(error = %rejection.body_text(), "path parameters do not fit the handler");
                Err(ApiError::Internal)
            }
            Err(_) => Err(ApiError::InvalidPath),
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::InvalidJson { field: None, message: "could not read the request body".into() }
        }
    })
}

/// Parses a JSON object, reporting the path of the offending field and redacting values.
///
/// Every body is an object: serde would also read a struct from a JSON array
/// (its fields by position), which no client means and the document does not allow.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | None => {}
        Some(_) if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() => {
            return Err(ApiError::InvalidJson {
                field: None,
                message: "the body must be a JSON object".into(),
            });
        }
        Some(_) => {}
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = known_path(&err.path().to_string());
        let inner = err.into_inner();
        let field = (!path.is_empty()).then_some(path);
        let message = match inner.classify() {
            serde_json::error::Category::Data => redact(&inner.to_string()),
            serde_json::error::Category::Eof => "the JSON body ends unexpectedly".to_owned(),
            _ => format!("the body is not valid JSON (line {}, column {})", inner.line(), inner.column()),
        };
        ApiError::InvalidJson { field, message }
    })?;
    de.end().map_err(|_| ApiError::InvalidJson {
        field: None,
        message: "trailing characters after the JSON body".into(),
    })?;
    Ok(value)
}

/// The part of a serde path that names fields: `?` stands for a segment serde could not
/// name (e.g. inside malformed JSON), and `.` for the top level; neither is a field.
fn known_path(path: &str) -> String {
    let segments: Vec<&str> = path.split('.').take_while(|s| *s != "?" && !s.is_empty()).collect();
    segments.join(".")
}

/// Drops serde's position suffix and replaces quoted string values (which may be
/// secrets, e.g. a mistyped header value) with `"…"`.
fn redact(message: &str) -> String {
    let message = message.split(" at line ").next().unwrap_or(message);
    let mut out = String::with_capacity(message.len());
    let mut in_quotes = false;
    for c in message.chars() {
        match (c, in_quotes) {
            ('"', false) => {
                in_quotes = true;
                out.push_str("\"…");
            }
            ('"', true) => {
                in_quotes = false;
                out.push('"');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unnamed_path_segments_are_never_a_field() {
        assert_eq!(known_path("."), "");
        assert_eq!(known_path("?"), "");
        assert_eq!(known_path("headers.?"), "headers");
        assert_eq!(known_path("permissions.servers[0]"), "permissions.servers[0]");
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Body {
            slug: String,
        }
        for bad in [&br#"{"slug": "a",}"#[..], br#"{"slug" "a"}"#, b"[1,", br#"{"slug": 5}"#] {
            if let Err(ApiError::InvalidJson { field, .. }) = parse::<Body>(bad) {
                assert!(field.as_deref().is_none_or(|f| !f.contains('?') && !f.is_empty()), "{field:?}");
            }
        }
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        count: u32,
    }

    fn err(json: &str) -> (Option<String>, String) {
        match parse::<Body>(json.as_bytes()) {
            Err(ApiError::InvalidJson { field, message }) => (field, message),
            other => panic!("unexpected {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn reports_field_paths_and_redacts_strings() {
        let (field, message) = err(r#"{"name": "n", "count": "secret-value"}"#);
        assert_eq!(field.as_deref(), Some("count"));
        assert!(!message.contains("secret-value"), "{message}");
        let (_, message) = err(r#"{"name": "n", "count": 1, "extra": 1}"#);
        assert!(message.contains("unknown field"), "{message}");
        let (_, message) = err(r#"{"name": "n""#);
        assert!(message.contains("ends unexpectedly"), "{message}");
        let (_, message) = err(r#"{name}"#);
        assert!(message.contains("not valid JSON"), "{message}");
        let (_, message) = err(r#"{"name": "n", "count": 1} x"#);
        assert!(message.contains("trailing"), "{message}");
        // A struct is never read from an array of its fields by position.
        let (field, message) = err(r#"["n", 1]"#);
        assert_eq!((field, message.as_str()), (None, "the body must be a JSON object"));
        let (_, message) = err("[");
        assert!(message.contains("ends unexpectedly"), "{message}");
    }
}
