//! The console's files, built from `web/` by the crate's build script and
//! embedded in the binary. Vite names every asset by its content hash, so
//! `/assets/*` is cached for a year as immutable; `index.html` is revalidated
//! on every load so a new release is picked up at once. Every response carries
//! the console's security headers: a Content-Security-Policy that allows
//! scripts, styles and connections from this origin only (no inline script or
//! `<style>`), and no framing.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::rest::ApiError;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));
}

/// The policy of every console response. `img-src data:` is for the inline
/// favicon; `frame-ancestors 'none'` and `X-Frame-Options` stop clickjacking.
/// The page's own response adds a fresh nonce to `style-src` (see [`NONCE_PLACEHOLDER`]).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// In `index.html`'s `<meta property="csp-nonce">`, replaced by a fresh nonce per
/// response: React Aria reads it for the one `<style>` element it adds. Scripts get no nonce.
const NONCE_PLACEHOLDER: &str = "__CSP_NONCE__";

/// Path prefixes that are never the console's: an unknown route there is the JSON 404.
const NOT_CONSOLE: &[&str] = &["/v1/", "/auth/", "/oauth/", "/.well-known/", "/mcp", "/healthz", "/assets/"];

/// `GET /`: the console's page.
pub(crate) async fn index() -> Response {
    page()
}

/// `GET /assets/{file}`: a hashed asset, or the JSON 404.
pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    match embedded::ASSETS.iter().find(|(name, _)| name.strip_prefix("assets/") == Some(file.as_str())) {
        Some((name, bytes)) => {
            let mut response = respond(name, *bytes, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            );
            response
        }
        None => ApiError::NotFound("asset").into_response(),
    }
}

/// Unmatched requests: a browser navigating to a console URL (a deep link or
/// a reload) gets the page, whose router shows it; anything else the JSON 404.
pub(crate) async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    let navigation = matches!(method, Method::GET | Method::HEAD)
        && !NOT_CONSOLE.iter().any(|prefix| path.starts_with(prefix))
        && headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
    if navigation {
        page()
    } else {
        ApiError::NotFound("route").into_response()
    }
}

fn page() -> Response {
    let Some((name, bytes)) = embedded::ASSETS.iter().find(|(name, _)| *name == "index.html") else {
        return ApiError::NotFound("console").into_response();
    };
    let mut nonce = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    let nonce = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, nonce);
    let html = String::from_utf8_lossy(bytes).replace(NONCE_PLACEHOLDER, &nonce);
    let policy =
        CONTENT_SECURITY_POLICY.replace("style-src 'self'", &format!("style-src 'self' 'nonce-{nonce}'"));
    let policy = HeaderValue::from_str(&policy).expect("base64 is valid header text");
    let mut response = respond(name, html.into_bytes(), policy);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn respond(name: &str, body: impl IntoResponse, policy: HeaderValue) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("woff2") => "font/woff2",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_is_embedded_with_hashed_assets() {
        let index = embedded::ASSETS.iter().find(|(name, _)| *name == "index.html").expect("index.html");
        let html = std::str::from_utf8(index.1).unwrap();
        assert!(html.contains("/assets/"), "the page loads its hashed bundle");
        assert!(!html.contains("<script>") && !html.contains("<style"), "no inline script or style: {html}");
        assert!(embedded::ASSETS
            .iter()
            .any(|(name, _)| name.starts_with("assets/") && name.ends_with(".js")));
    }

    #[tokio::test]
    async fn navigation_gets_the_page_and_api_paths_the_json_404() {
        let html = |path: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, HeaderValue::from_static("text/html,application/xhtml+xml"));
            fallback(Method::GET, path.parse().unwrap(), h)
        };
        let html_page = || html("/servers/github");
        let page = html_page().await;
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(page.headers()[header::CACHE_CONTROL], "no-cache");
        assert_eq!(page.headers()[header::X_FRAME_OPTIONS], "DENY");
        let policy = page.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
        let nonce = policy.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).expect("a nonce");
        let body = axum::body::to_bytes(page.into_body(), 1 << 20).await.unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains(&format!("nonce=\"{nonce}\"")) && !text.contains(NONCE_PLACEHOLDER));
        let again = html_page().await;
        assert!(
            !again.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains(nonce),
            "fresh per response"
        );
        assert_eq!(html("/v1/nope").await.status(), StatusCode::NOT_FOUND);
        let json = fallback(Method::GET, "/servers".parse().unwrap(), HeaderMap::new()).await;
        assert_eq!(json.status(), StatusCode::NOT_FOUND);
        assert_eq!(asset(Path("nope.js".into())).await.status(), StatusCode::NOT_FOUND);
    }
}
