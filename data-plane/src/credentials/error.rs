//! `BrokerError`: why the broker has no upstream credential for a request.

use crate::elicitation::AuthorizationLink;

/// Why no upstream credential could be produced; cloned to every waiter of a shared fetch.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BrokerError {
    /// The user must (re)authorize the server at the link (MCP URL elicitation).
    #[error("authorization required")]
    AuthorizationRequired(AuthorizationLink),
    /// The user holds no usable grant (none, dead, or unrefreshable); the broker
    /// turns this into [`BrokerError::AuthorizationRequired`] per caller.
    #[error("no usable grant")]
    NoUsableGrant,
    /// The server's OAuth discovery or client registration has not finished.
    #[error("upstream oauth not configured yet")]
    NotConfigured,
    /// The control plane's credential broker could not be reached or failed.
    #[error("control plane credential broker failed: {0}")]
    ControlPlane(String),
    /// The upstream authorization server failed (retryable).
    #[error("upstream token endpoint failed: {0}")]
    TokenEndpoint(String),
    /// The upstream authorization server refused the gateway's client.
    #[error("upstream token endpoint refused the client: {0}")]
    TokenRefused(String),
    /// Another edge's refresh did not finish in time.
    #[error("timed out waiting for a token refresh")]
    RefreshTimeout,
}

impl BrokerError {
    /// The edge's answer to a request this error stopped (`server_name` names the server to authorize).
    pub fn into_edge_error(self, server_name: &str) -> crate::error::EdgeError {
        use crate::error::EdgeError;
        match self {
            BrokerError::AuthorizationRequired(link) => {
                EdgeError::UpstreamAuthorizationRequired { link, server_name: server_name.to_owned() }
            }
            BrokerError::NotConfigured => EdgeError::UpstreamOAuthNotConfigured,
            BrokerError::ControlPlane(_) | BrokerError::RefreshTimeout | BrokerError::NoUsableGrant => {
                EdgeError::UpstreamCredentialUnavailable
            }
            BrokerError::TokenEndpoint(_) => EdgeError::UpstreamTokenEndpointFailed,
            BrokerError::TokenRefused(_) => EdgeError::UpstreamTokenRefused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::EdgeError;
    use http::StatusCode;
    use http_body_util::BodyExt as _;

    #[tokio::test]
    async fn authorization_required_is_a_url_elicitation_in_a_200() {
        let link =
            AuthorizationLink { url: "https://cp/l".into(), elicitation_id: "e".into(), expires_at: 0 };
        let error = BrokerError::AuthorizationRequired(link).into_edge_error("Linear");
        let id = serde_json::value::RawValue::from_string("3".into()).unwrap();
        let response = error.to_response(Some(&id));
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["id"], 3);
        assert_eq!(body["error"]["code"], -32042);
        assert_eq!(body["error"]["data"]["elicitations"][0]["message"], "Authorize Linear to continue");
    }

    #[test]
    fn other_failures_say_whether_to_retry() {
        let not_ready = BrokerError::NotConfigured.into_edge_error("s");
        assert_eq!(not_ready.status(), StatusCode::BAD_GATEWAY);
        assert!(not_ready.retryable());
        assert_eq!(not_ready.to_string(), "upstream OAuth not configured yet");
        let unavailable = BrokerError::RefreshTimeout.into_edge_error("s");
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(unavailable.retryable());
        let refused = BrokerError::TokenRefused("invalid_client".into()).into_edge_error("s");
        assert!(!refused.retryable());
        assert!(matches!(refused, EdgeError::UpstreamTokenRefused));
        assert!(!refused.to_string().contains("invalid_client"), "AS details stay in the logs");
    }
}
