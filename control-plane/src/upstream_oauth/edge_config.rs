//! `Server.oauth` for the config stream: what an edge needs to fetch and
//! refresh upstream tokens itself (client secret decrypted for the edge).

use gatehouse_proto::config::v1 as pb;
use secrecy::ExposeSecret;

use super::resolve::ResolvedEndpoints;
use crate::store::oauth_clients::OAuthClientRecord;

/// The wire form of a server's resolved OAuth client.
pub fn to_wire(record: &OAuthClientRecord) -> pb::UpstreamOAuth {
    let endpoints: Option<ResolvedEndpoints> = serde_json::from_value(record.metadata.clone()).ok();
    let ready = endpoints.is_some() && !record.client_id.is_empty();
    let endpoints = endpoints.unwrap_or_default();
    pb::UpstreamOAuth {
        issuer: record.issuer.clone(),
        token_endpoint: endpoints.token_endpoint,
        client_id: record.client_id.clone(),
        client_secret: record
            .client_secret
            .as_ref()
            .map(|s| s.expose_secret().to_owned())
            .unwrap_or_default(),
        token_endpoint_auth_method: record.auth_method.clone(),
        resource: endpoints.resource,
        scopes: endpoints.scopes,
        ready,
    }
}
