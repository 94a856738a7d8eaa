//! `advanced_config.allowed_origins`: the browser origins whose pages may call a
//! server's MCP URL. The Streamable HTTP transport requires servers to check the
//! `Origin` of every request (a page on a rebound DNS name would otherwise reach
//! them); requests without `Origin` (non-browser clients) are not affected.

use serde_json::Value;

use super::FieldError;

/// Most origins one server may list.
const MAX_ORIGINS: usize = 100;

/// Allowed origins in their ASCII serialisation (`https://app.example.com`,
/// `http://localhost:6274`): lowercase scheme and host, default ports left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<String>);

impl AllowedOrigins {
    /// Parses the JSON list of origins, naming the offending entry (`[i]`).
    pub fn from_value(value: &Value) -> Result<Self, FieldError> {
        let list = value.as_array().ok_or_else(|| FieldError::new("", "must be a list of origins"))?;
        if list.len() > MAX_ORIGINS {
            return Err(FieldError::new("", format!("at most {MAX_ORIGINS} origins")));
        }
        let origins = list
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let text = v.as_str().ok_or_else(|| FieldError::new(format!("[{i}]"), "must be a string"))?;
                normalize(text).ok_or_else(|| {
                    FieldError::new(
                        format!("[{i}]"),
                        "must be an origin: http or https, a host and an optional port, no path (e.g. https://app.example.com)",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(origins))
    }

    /// The origins as the config stream carries them (already normalised).
    pub fn from_wire(origins: &[String]) -> Self {
        Self(origins.iter().filter_map(|o| normalize(o)).collect())
    }

    /// The normalised origins.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Whether the `Origin` header value `origin` is one of these.
    pub fn allows(&self, origin: &str) -> bool {
        normalize(origin).is_some_and(|o| self.0.contains(&o))
    }
}

/// The ASCII serialisation of `text` when it is an http(s) origin (no path, query,
/// fragment or credentials), else `None`.
pub fn normalize(text: &str) -> Option<String> {
    let url = url::Url::parse(text.trim()).ok()?;
    let bare = matches!(url.path(), "" | "/")
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && !text.trim().ends_with('/');
    (matches!(url.scheme(), "http" | "https") && url.host().is_some() && bare)
        .then(|| url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn origins_are_normalised_and_matched_exactly() {
        let origins =
            AllowedOrigins::from_value(&json!(["HTTPS://App.Example.com:443", "http://localhost:6274"]))
                .unwrap();
        assert_eq!(origins.as_slice(), ["https://app.example.com", "http://localhost:6274"]);
        assert!(origins.allows("https://app.example.com"));
        assert!(origins.allows("http://localhost:6274"));
        assert!(!origins.allows("http://app.example.com"));
        assert!(!origins.allows("https://app.example.com.evil.com"));
        assert!(!origins.allows("http://localhost:6275"));
        assert!(!origins.allows("null"));
        assert_eq!(AllowedOrigins::from_wire(origins.as_slice()), origins);
    }

    #[test]
    fn anything_but_an_origin_is_refused_by_index() {
        for (bad, index) in [
            (json!(["https://a.example", "https://b.example/path"]), "[1]"),
            (json!(["https://a.example/"]), "[0]"),
            (json!(["*"]), "[0]"),
            (json!(["ftp://a.example"]), "[0]"),
            (json!([7]), "[0]"),
        ] {
            assert_eq!(AllowedOrigins::from_value(&bad).unwrap_err().field, index, "{bad}");
        }
        assert_eq!(AllowedOrigins::from_value(&json!("https://a.example")).unwrap_err().field, "");
    }
}
