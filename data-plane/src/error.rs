//! `EdgeError`: every way the edge answers a request itself, mapped once to an
//! HTTP status and a JSON-RPC error body.
//!
//! Messages are what the client reads, so they never carry header values,
//! tokens, upstream URLs or upstream error text; details go to the logs.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use serde_json::value::RawValue;

use crate::elicitation::{self, AuthorizationLink};
use crate::jsonrpc::{self, ErrorData, ErrorSource};

/// A request the edge answers itself instead of (or after) asking the upstream.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// No config loaded yet (neither from the control plane nor the cache).
    #[error("gateway is not ready")]
    NotReady,
    /// No gateway token presented.
    #[error("missing gateway token")]
    MissingToken,
    /// The token is not known.
    #[error("invalid gateway token")]
    InvalidToken,
    /// An admin API or edge credential presented where agents present a gateway token.
    #[error("this is an admin API credential (admin token or org API key) or an edge token, not a gateway token: agents authenticate with a gateway token, minted with POST /v1/auth/tokens")]
    NotAGatewayToken,
    /// The token has expired.
    #[error("gateway token expired")]
    ExpiredToken,
    /// No credential but a verified client certificate that is registered as no
    /// certificate identity.
    #[error("client certificate is not registered as an identity")]
    CertificateNotMapped,
    /// A verified client certificate whose name matches a certificate identity, signed by
    /// another CA than the one the identity is bound to.
    #[error("client certificate was not issued by the CA its certificate identity is bound to")]
    CertificateIssuerMismatch,
    /// A verified client certificate whose name matches a certificate identity bound to a
    /// SPIFFE trust domain, without a SPIFFE ID in that trust domain.
    #[error(
        "client certificate carries no SPIFFE ID in the trust domain its certificate identity is bound to"
    )]
    CertificateTrustDomainMismatch,
    /// The identity provider needed to verify the credential (JWKS or
    /// introspection endpoint) could not be reached.
    #[error("identity provider is unavailable")]
    IdentityProviderUnavailable,
    /// The client address spent its budget of identity-provider calls (JWKS, introspection).
    #[error("too many credentials to check from this client; retry later")]
    IdentityChecksRateLimited,
    /// A valid Gatehouse access token without the scope every MCP URL requires.
    #[error("the access token lacks the required scope")]
    InsufficientScope,
    /// A credential whose `mcp:read` / `mcp:write` scopes do not cover the JSON-RPC method.
    #[error("{method} needs the {scope} scope, which this credential does not carry")]
    ScopeMissing {
        /// The scope the method needs.
        scope: &'static str,
        /// The refused method.
        method: String,
    },
    /// A bring-your-own token names no workspace (`jwt_validation` without `workspace`
    /// or `workspaceClaim`) and the server is provisioned to several.
    #[error("the token names no workspace and this server is provisioned to several: set jwt_validation.workspaceClaim (or workspace) so the caller's workspace is known")]
    WorkspaceAmbiguous,
    /// A browser request whose `Origin` is neither the edge's own nor one the server allows.
    #[error("origin is not allowed")]
    OriginNotAllowed,
    /// No server with that slug in the URL's org.
    #[error("no server {0:?} in this org: servers are at /mcp/{{org}}/{{server_slug}}")]
    ServerNotFound(String),
    /// A path under `/mcp` that names no server.
    #[error("no MCP server at this path: use /mcp/{{org}}/{{server_slug}} (or /mcp/{{server_slug}} for the default org), without a trailing slash")]
    NoSuchPath,
    /// The client does not accept what MCP answers with.
    #[error("the Accept header must list application/json and text/event-stream (MCP Streamable HTTP); GET needs text/event-stream")]
    NotAcceptable,
    /// The server is not provisioned to the token's workspace.
    #[error("server is not provisioned to this workspace")]
    ServerNotProvisioned,
    /// The token's server permissions exclude the server.
    #[error("token is not permitted to use this server")]
    ServerNotPermitted,
    /// Not POST, GET or DELETE.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request body is larger than the configured limit.
    #[error("request body exceeds {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The request body could not be read from the client.
    #[error("failed to read request body")]
    BodyRead,
    /// The body is not JSON.
    #[error("parse error")]
    Parse,
    /// The body is a JSON array.
    #[error("batch requests are not supported")]
    Batch,
    /// JSON, but not an acceptable JSON-RPC request.
    #[error("invalid request")]
    InvalidRequest,
    /// An MCP 2026-07-28 mirrored header disagrees with the body, or is malformed.
    #[error("{header} header does not match the request body")]
    HeaderMismatch {
        /// The header name as the spec spells it.
        header: &'static str,
    },
    /// A `tools/call` without a string `params.name`.
    #[error("tools/call requires a string params.name")]
    MissingToolName,
    /// The tool policy denies the tool.
    #[error("tool '{tool}' is not permitted")]
    ToolDenied {
        /// The tool the client asked for.
        tool: String,
    },
    /// The presented `Mcp-Session-Id` is not bound to this caller (or not ours).
    #[error("session not found")]
    SessionNotFound,
    /// The server uses an upstream auth type this edge does not implement.
    #[error("upstream auth type is not supported by this gateway")]
    UpstreamAuthUnsupported,
    /// Could not connect to the upstream.
    #[error("upstream server is unavailable")]
    UpstreamUnavailable,
    /// The upstream did not send response headers in time.
    #[error("upstream server timed out")]
    UpstreamTimeout,
    /// The upstream answered 401/403 to the gateway's credentials.
    #[error("upstream rejected the gateway's credentials")]
    UpstreamRejectedCredentials,
    /// The server's URL points at an address the edge may not reach (link-local, cloud
    /// metadata, loopback, private), by its literal or by what its name resolves to.
    #[error("upstream address is not allowed")]
    UpstreamAddressBlocked,
    /// The upstream answered with a redirect (3xx), which is never passed on.
    #[error("upstream server answered with a redirect")]
    UpstreamRedirect,
    /// The upstream exchange failed after connecting.
    #[error("upstream request failed")]
    UpstreamFailed,
    /// A response the edge must filter was not valid JSON-RPC.
    #[error("upstream sent an invalid response")]
    UpstreamInvalidResponse,
    /// A response the edge must filter exceeded the buffering limit.
    #[error("upstream response is too large to filter")]
    UpstreamResponseTooLarge,
    // Upstream credentials.
    /// The caller must authorize the upstream server first (MCP URL elicitation, -32042).
    #[error("authorization of the upstream server is required")]
    UpstreamAuthorizationRequired {
        /// Where the user authorizes.
        link: AuthorizationLink,
        /// The server's display name, for the elicitation message.
        server_name: String,
    },
    /// The server's upstream OAuth discovery or registration has not finished.
    #[error("upstream OAuth not configured yet")]
    UpstreamOAuthNotConfigured,
    /// No upstream credential could be obtained right now (control plane or refresh wait).
    #[error("upstream credential is temporarily unavailable")]
    UpstreamCredentialUnavailable,
    /// The upstream authorization server failed to issue a token.
    #[error("upstream authorization server failed")]
    UpstreamTokenEndpointFailed,
    /// The upstream authorization server refused the gateway's OAuth client.
    #[error("upstream authorization server refused the gateway's client")]
    UpstreamTokenRefused,
    /// A rate limit or budget refused the request; it never reached the upstream.
    #[error("{}", crate::rate_limited::message(.0))]
    RateLimited(Box<crate::limit_rules::Refusal>),
}

impl EdgeError {
    /// HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        use EdgeError::*;
        match self {
            NotReady | IdentityProviderUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            MissingToken
            | InvalidToken
            | NotAGatewayToken
            | ExpiredToken
            | CertificateNotMapped
            | CertificateIssuerMismatch
            | CertificateTrustDomainMismatch => StatusCode::UNAUTHORIZED,
            ServerNotFound(_) | NoSuchPath | SessionNotFound => StatusCode::NOT_FOUND,
            NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            InsufficientScope
            | ScopeMissing { .. }
            | WorkspaceAmbiguous
            | ServerNotProvisioned
            | ServerNotPermitted
            | OriginNotAllowed => StatusCode::FORBIDDEN,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            IdentityChecksRateLimited => StatusCode::TOO_MANY_REQUESTS,
            BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyRead | Parse | Batch | InvalidRequest | HeaderMismatch { .. } => StatusCode::BAD_REQUEST,
            // JSON-RPC-level refusals of a well-formed request travel in a 200, like an upstream's would.
            MissingToolName | ToolDenied { .. } => StatusCode::OK,
            UpstreamAuthUnsupported
            | UpstreamAddressBlocked
            | UpstreamUnavailable
            | UpstreamRejectedCredentials
            | UpstreamFailed
            | UpstreamRedirect
            | UpstreamInvalidResponse
            | UpstreamResponseTooLarge => StatusCode::BAD_GATEWAY,
            UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            UpstreamAuthorizationRequired { .. } => StatusCode::OK,
            UpstreamOAuthNotConfigured | UpstreamTokenEndpointFailed | UpstreamTokenRefused => {
                StatusCode::BAD_GATEWAY
            }
            UpstreamCredentialUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            RateLimited(refusal) => crate::rate_limited::status(refusal),
        }
    }

    /// JSON-RPC error code.
    pub fn code(&self) -> i32 {
        use EdgeError::*;
        match self {
            Parse => jsonrpc::PARSE_ERROR,
            Batch | InvalidRequest | BodyTooLarge { .. } | BodyRead => jsonrpc::INVALID_REQUEST,
            MissingToolName | ToolDenied { .. } => jsonrpc::INVALID_PARAMS,
            HeaderMismatch { .. } => jsonrpc::HEADER_MISMATCH,
            SessionNotFound => jsonrpc::SESSION_NOT_FOUND,
            UpstreamAuthorizationRequired { .. } => elicitation::URL_ELICITATION_REQUIRED,
            RateLimited(_) => crate::rate_limited::RATE_LIMITED,
            _ => jsonrpc::SERVER_ERROR,
        }
    }

    /// Machine-readable reason for `error.data.reason` and logs.
    pub fn reason(&self) -> &'static str {
        use EdgeError::*;
        match self {
            NotReady => "not_ready",
            MissingToken => "missing_token",
            InvalidToken => "invalid_token",
            NotAGatewayToken => "not_a_gateway_token",
            ExpiredToken => "token_expired",
            CertificateNotMapped => "certificate_not_mapped",
            CertificateIssuerMismatch => "certificate_issuer_mismatch",
            CertificateTrustDomainMismatch => "certificate_trust_domain_mismatch",
            IdentityProviderUnavailable => "identity_provider_unavailable",
            IdentityChecksRateLimited => "identity_checks_rate_limited",
            InsufficientScope | ScopeMissing { .. } => "insufficient_scope",
            WorkspaceAmbiguous => "workspace_ambiguous",
            ServerNotFound(_) => "server_not_found",
            NoSuchPath => "not_found",
            NotAcceptable => "not_acceptable",
            OriginNotAllowed => "origin_not_allowed",
            ServerNotProvisioned => "server_not_provisioned",
            ServerNotPermitted => "server_not_permitted",
            MethodNotAllowed => "method_not_allowed",
            BodyTooLarge { .. } => "body_too_large",
            BodyRead => "body_read_failed",
            Parse => "parse_error",
            Batch => "batch_not_supported",
            InvalidRequest => "invalid_request",
            HeaderMismatch { .. } => "header_mismatch",
            MissingToolName => "invalid_params",
            ToolDenied { .. } => "tool_denied",
            SessionNotFound => "session_not_found",
            UpstreamAuthUnsupported => "upstream_auth_unsupported",
            UpstreamUnavailable => "upstream_unavailable",
            UpstreamTimeout => "upstream_timeout",
            UpstreamRejectedCredentials => "upstream_credentials_rejected",
            UpstreamFailed => "upstream_failed",
            UpstreamRedirect => "upstream_redirect",
            UpstreamAddressBlocked => "upstream_address_blocked",
            UpstreamInvalidResponse => "upstream_invalid_response",
            UpstreamResponseTooLarge => "upstream_response_too_large",
            UpstreamAuthorizationRequired { .. } => "authorization_required",
            UpstreamOAuthNotConfigured => "upstream_oauth_not_configured",
            UpstreamCredentialUnavailable => "upstream_credential_unavailable",
            UpstreamTokenEndpointFailed => "upstream_token_endpoint_failed",
            UpstreamTokenRefused => "upstream_token_refused",
            RateLimited(_) => "rate_limited",
        }
    }

    /// Who is at fault.
    pub fn source(&self) -> ErrorSource {
        use EdgeError::*;
        match self {
            NotReady
            | ToolDenied { .. }
            | UpstreamAuthUnsupported
            | UpstreamAddressBlocked
            | WorkspaceAmbiguous
            | IdentityProviderUnavailable => ErrorSource::Gateway,
            UpstreamUnavailable
            | UpstreamTimeout
            | UpstreamRejectedCredentials
            | UpstreamFailed
            | UpstreamRedirect
            | UpstreamInvalidResponse
            | UpstreamResponseTooLarge => ErrorSource::Upstream,
            UpstreamTokenEndpointFailed | UpstreamTokenRefused => ErrorSource::Upstream,
            UpstreamAuthorizationRequired { .. }
            | UpstreamOAuthNotConfigured
            | UpstreamCredentialUnavailable => ErrorSource::Gateway,
            _ => ErrorSource::Client,
        }
    }

    /// Whether the same request may succeed if retried.
    pub fn retryable(&self) -> bool {
        use EdgeError::*;
        if matches!(
            self,
            UpstreamAuthorizationRequired { .. }
                | UpstreamOAuthNotConfigured
                | UpstreamCredentialUnavailable
                | UpstreamTokenEndpointFailed
        ) {
            return true;
        }
        matches!(
            self,
            NotReady
                | UpstreamUnavailable
                | UpstreamTimeout
                | UpstreamFailed
                | IdentityProviderUnavailable
                | IdentityChecksRateLimited
                | RateLimited(_)
        )
    }

    /// The full answer, echoing the request `id` (or `null` when unknown).
    pub fn to_response(&self, id: Option<&RawValue>) -> Response {
        if let EdgeError::UpstreamAuthorizationRequired { link, server_name } = self {
            let body = elicitation::error_body(id, link, server_name);
            let mut response = Response::new(Body::from(body));
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            return response;
        }
        if let EdgeError::RateLimited(refusal) = self {
            return crate::rate_limited::response(refusal, id);
        }
        let data = ErrorData { reason: self.reason(), source: self.source(), retryable: self.retryable() };
        let body = jsonrpc::error_body(id, self.code(), &self.to_string(), &data);
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        match self {
            // A client whose certificate maps to nothing may still present a token.
            EdgeError::MissingToken
            | EdgeError::CertificateNotMapped
            | EdgeError::CertificateIssuerMismatch
            | EdgeError::CertificateTrustDomainMismatch => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(r#"Bearer realm="gatehouse""#));
            }
            EdgeError::InvalidToken | EdgeError::NotAGatewayToken | EdgeError::ExpiredToken => {
                headers.insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="gatehouse", error="invalid_token""#),
                );
            }
            EdgeError::InsufficientScope => {
                headers.insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="gatehouse", error="insufficient_scope""#),
                );
            }
            // RFC 6750: the scope the request needs (only `mcp:write` is ever missing).
            EdgeError::ScopeMissing { .. } => {
                headers.insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        r#"Bearer realm="gatehouse", error="insufficient_scope", scope="mcp:write""#,
                    ),
                );
            }
            EdgeError::MethodNotAllowed => {
                headers.insert(ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
            }
            EdgeError::NotReady => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            EdgeError::IdentityChecksRateLimited => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("60"));
            }
            _ => {}
        }
        response
    }
}

impl IntoResponse for EdgeError {
    fn into_response(self) -> Response {
        self.to_response(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body(response: Response) -> serde_json::Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn tool_denied_is_a_jsonrpc_error_in_a_200() {
        let id = RawValue::from_string("42".into()).unwrap();
        let response = EdgeError::ToolDenied { tool: "drop".into() }.to_response(Some(&id));
        assert_eq!(response.status(), StatusCode::OK);
        let v = body(response).await;
        assert_eq!(
            v,
            serde_json::json!({"jsonrpc":"2.0","id":42,"error":{"code":-32602,"message":"tool 'drop' is not permitted",
                "data":{"reason":"tool_denied","source":"gateway","retryable":false}}})
        );
    }

    #[tokio::test]
    async fn unauthenticated_carries_www_authenticate() {
        let r = EdgeError::MissingToken.into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[WWW_AUTHENTICATE], r#"Bearer realm="gatehouse""#);
        let r = EdgeError::InvalidToken.into_response();
        assert!(r.headers()[WWW_AUTHENTICATE].to_str().unwrap().contains(r#"error="invalid_token""#));
        assert!(body(r).await["id"].is_null());
    }

    #[test]
    fn upstream_failures_say_where_and_whether_to_retry() {
        assert_eq!(EdgeError::UpstreamUnavailable.status(), StatusCode::BAD_GATEWAY);
        assert!(EdgeError::UpstreamUnavailable.retryable());
        assert_eq!(EdgeError::UpstreamTimeout.status(), StatusCode::GATEWAY_TIMEOUT);
        assert!(!EdgeError::UpstreamRejectedCredentials.retryable());
        assert!(!EdgeError::UpstreamAuthUnsupported.retryable());
        assert_eq!(EdgeError::UpstreamAuthUnsupported.source(), ErrorSource::Gateway);
        assert_eq!(EdgeError::BodyTooLarge { limit: 1 }.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
