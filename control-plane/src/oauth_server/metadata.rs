//! RFC 8414 authorization server metadata (also served as the OpenID
//! configuration mirror and at the path-inserted well-known URL) and the public JWKS.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{AuthServerState, OAuthError, SCOPES_SUPPORTED};

/// The metadata document of `issuer`.
pub(crate) fn document(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "registration_endpoint": format!("{issuer}/oauth/register"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "jwks_uri": format!("{issuer}/oauth/jwks.json"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "scopes_supported": SCOPES_SUPPORTED,
        "client_id_metadata_document_supported": true,
        "authorization_response_iss_parameter_supported": true,
        "resource_indicators_supported": true,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
    })
}

/// `GET /.well-known/oauth-authorization-server` (and the OpenID mirror).
pub(crate) async fn authorization_server(State(state): State<AuthServerState>) -> Response {
    cacheable(Json(document(state.server.issuer())))
}

/// `GET /.well-known/oauth-authorization-server/{issuer path}` (RFC 8414 §3.1 path insertion).
pub(crate) async fn authorization_server_at(
    State(state): State<AuthServerState>,
    Path(issuer_path): Path<String>,
) -> Response {
    let issuer = state.server.issuer();
    let own_path =
        url::Url::parse(issuer).map(|u| u.path().trim_end_matches('/').to_owned()).unwrap_or_default();
    if own_path.is_empty() || own_path != format!("/{}", issuer_path.trim_end_matches('/')) {
        return StatusCode::NOT_FOUND.into_response();
    }
    cacheable(Json(document(issuer)))
}

/// `GET /oauth/jwks.json`: every published public key (access tokens and identity assertions).
pub(crate) async fn jwks(State(state): State<AuthServerState>) -> Result<Response, OAuthError> {
    let keys: Vec<Value> =
        state.server.store.as_signing_keys().await?.into_iter().map(|k| k.public_jwk).collect();
    Ok(cacheable(Json(json!({ "keys": keys }))))
}

fn cacheable(body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}
