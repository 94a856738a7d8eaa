//! The admin API's request counter, as an axum middleware on every route.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::{ApiRequestLabels, ControlPlaneMetrics};

/// The `route` label of a request no route matched (a 404 or 405 fallback).
const UNMATCHED: &str = "unmatched";

/// Counts each request by its matched route template (`/v1/servers/{id}`, never the path
/// itself), HTTP method and status. Add with `axum::middleware::from_fn_with_state`.
pub async fn track_api_requests(
    State(metrics): State<Arc<ControlPlaneMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let route = route_label(&metrics, request.extensions().get::<MatchedPath>().map(MatchedPath::as_str));
    let method = method_label(request.method());
    let response = next.run(request).await;
    metrics.api_request(&ApiRequestLabels { route, method, status: response.status().as_u16() });
    response
}

fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Route templates interned once, so counting a request does not allocate.
fn route_label(metrics: &ControlPlaneMetrics, template: Option<&str>) -> Arc<str> {
    let template = template.unwrap_or(UNMATCHED);
    intern(&metrics.routes, template)
}

/// The one `Arc<str>` of `text` in `routes` (route templates are a fixed set).
pub(super) fn intern(routes: &RwLock<HashMap<Box<str>, Arc<str>>>, text: &str) -> Arc<str> {
    if let Some(found) = routes.read().unwrap_or_else(|e| e.into_inner()).get(text) {
        return found.clone();
    }
    let mut routes = routes.write().unwrap_or_else(|e| e.into_inner());
    routes.entry(text.into()).or_insert_with(|| Arc::from(text)).clone()
}
