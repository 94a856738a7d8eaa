//! The admin API as config as code uses it: JSON requests with a bearer
//! credential, lists walked page by page, errors carrying the API's message
//! and field.

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Which control plane and org to talk to, and as whom.
#[derive(Clone)]
pub struct ApiTarget {
    /// Base URL of the admin API (`http://127.0.0.1:8080`).
    pub api_url: String,
    /// Platform admin token or org API key.
    pub api_key: secrecy::SecretString,
    /// Org slug: requests go to `/v1/orgs/{org}/...`; `None`: the credential's own org.
    pub org: Option<String>,
}

impl std::fmt::Debug for ApiTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiTarget")
            .field("api_url", &self.api_url)
            .field("org", &self.org)
            .finish_non_exhaustive()
    }
}

/// A failed API call: the status and the API's own error, or why no answer came.
#[derive(Debug, thiserror::Error)]
pub enum ApiCallError {
    /// The API answered with an error.
    #[error("{method} {path}: {status}: {message}{}", field.as_ref().map(|f| format!(" (field `{f}`)")).unwrap_or_default())]
    Refused {
        /// The request's method.
        method: Method,
        /// The request's path.
        path: String,
        /// The status.
        status: StatusCode,
        /// The API's message.
        message: String,
        /// The field it names, if any.
        field: Option<String>,
    },
    /// No answer (connection refused, timeout, not JSON).
    #[error("{method} {path}: {message}")]
    Transport {
        /// The request's method.
        method: Method,
        /// The request's path.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// A client of the admin API for one org.
pub struct AdminApi {
    http: reqwest::Client,
    target: ApiTarget,
}

impl AdminApi {
    /// A client for `target`.
    pub fn new(target: ApiTarget) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("an HTTP client with default TLS settings builds");
        Self { http, target }
    }

    /// The org-relative `path` (`/servers`) as a URL path (`/v1/orgs/acme/servers` or `/v1/servers`).
    pub fn path(&self, path: &str) -> String {
        match &self.target.org {
            Some(org) => format!("/v1/orgs/{org}{path}"),
            None => format!("/v1{path}"),
        }
    }

    /// One request; `Ok(None)` for 404 when `allow_missing`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiCallError> {
        use secrecy::ExposeSecret as _;
        let full = self.path(path);
        let url = format!("{}{full}", self.target.api_url.trim_end_matches('/'));
        let mut request =
            self.http.request(method.clone(), url).bearer_auth(self.target.api_key.expose_secret());
        if let Some(body) = body {
            request = request.json(body);
        }
        let transport = |e: reqwest::Error| ApiCallError::Transport {
            method: method.clone(),
            path: full.clone(),
            message: e.to_string(),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let text = response.text().await.map_err(transport)?;
        let json: Value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) };
        if status.is_success() {
            return Ok(json);
        }
        Err(ApiCallError::Refused {
            method,
            path: full,
            status,
            message: json["error"]["message"].as_str().map(str::to_owned).unwrap_or(text),
            field: json["error"]["field"].as_str().map(str::to_owned),
        })
    }

    /// Every row of a paginated list (`key` names the array in each page).
    pub async fn list_all(&self, path: &str, key: &str) -> Result<Vec<Value>, ApiCallError> {
        let mut rows = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page_path = match &cursor {
                Some(c) => format!("{path}?limit=1000&cursor={c}"),
                None => format!("{path}?limit=1000"),
            };
            let page = self.call(Method::GET, &page_path, None).await?;
            rows.extend(page[key].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(rows),
            }
        }
    }
}
