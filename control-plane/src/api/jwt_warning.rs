//! The warning an admin gets for a bring-your-own-JWT setting that opts out of the
//! issuer and audience checks: a `Warning: 299` header (as the Kubernetes API warns),
//! so the response body keeps its documented shape.

use axum::http::{header::WARNING, HeaderMap, HeaderValue};
use serde_json::Value;

const TEXT: &str = r#"299 gatehouse "jwt_validation.skipIssuerAndAudienceCheck: tokens from any issuer the keys trust, minted for any service, are accepted""#;

/// The `Warning` header for `jwt_validation` (as stored), empty when it checks issuer and audience.
pub(crate) fn for_jwt_validation(jwt_validation: Option<&Value>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let skips = jwt_validation
        .and_then(|v| v.get("skipIssuerAndAudienceCheck"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if skips {
        headers.insert(WARNING, HeaderValue::from_static(TEXT));
    }
    headers
}

/// The `Warning` header for a server's `advanced_config`.
pub(crate) fn for_advanced_config(advanced_config: Option<&Value>) -> HeaderMap {
    for_jwt_validation(advanced_config.and_then(|c| c.get("jwt_validation")))
}
