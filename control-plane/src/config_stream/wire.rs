//! The edge-facing state as the config stream carries it.

use gatehouse_config::identity::external_auth::ExternalAuthConfig;
use gatehouse_config::identity::wire::{advanced_config_to_wire, jwt_validation_to_wire};
use gatehouse_config::state::{ConfigState, ProvisionId};
use gatehouse_proto::config::v1 as pb;
use secrecy::ExposeSecret;

use crate::store::EdgeState;

/// The edge-facing state (all of it, or the entries an outbox read loaded) in wire form.
pub(super) fn to_config_state(state: EdgeState) -> ConfigState {
    let servers = state
        .servers
        .into_iter()
        .map(|s| {
            let headers = s.headers.iter().map(|(k, v)| (k.clone(), v.expose_secret().to_owned())).collect();
            let server = s.server;
            let wire = pb::Server {
                id: server.id.clone(),
                org_id: server.org_id,
                slug: server.slug,
                name: server.name,
                url: server.url,
                auth_type: server.auth_type,
                headers,
                advanced_config: Some(advanced_config_to_wire(&server.advanced_config)),
                oauth: state.upstream_oauth.servers.get(&server.id).map(upstream_oauth_wire),
            };
            (server.id, wire)
        })
        .collect();
    let workspaces = state
        .workspaces
        .into_iter()
        .map(|w| {
            let wire = pb::Workspace { id: w.id.clone(), org_id: w.org_id, slug: w.slug, name: w.name };
            (w.id, wire)
        })
        .collect();
    let provisions = state
        .provisions
        .into_iter()
        .map(|p| {
            let key = ProvisionId { workspace_id: p.workspace_id.clone(), server_id: p.server_id.clone() };
            let wire = pb::Provision {
                workspace_id: p.workspace_id,
                server_id: p.server_id,
                tool_allow: p.tools.allow,
                tool_deny: p.tools.deny,
            };
            (key, wire)
        })
        .collect();
    let tokens = state
        .tokens
        .into_iter()
        .map(|t| {
            let r = t.record;
            let wire = pb::GatewayToken {
                id: r.id.clone(),
                org_id: r.org_id,
                token_hash: t.hash.to_vec(),
                user: r.user,
                workspace_id: r.workspace_id,
                scopes: r.scopes,
                server_permissions: r.server_permissions,
                tool_permissions: r.tool_permissions,
                expires_at: r.expires_at.map_or(0, |e| e.timestamp()),
            };
            (r.id, wire)
        })
        .collect();
    let certificate_identities = state
        .certificate_identities
        .into_iter()
        .map(|c| {
            let wire = pb::CertificateIdentity {
                id: c.id.clone(),
                org_id: c.org_id,
                kind: c.kind.as_str().to_owned(),
                value: c.value,
                user: c.user,
                workspace_id: c.workspace_id,
                scopes: c.scopes,
                server_permissions: c.server_permissions,
                tool_permissions: c.tool_permissions,
                issuer_ca_sha256: c.issuer.ca_sha256.map(|f| f.to_vec()).unwrap_or_default(),
                spiffe_trust_domain: c.issuer.spiffe_trust_domain.unwrap_or_default(),
            };
            (c.id, wire)
        })
        .collect();
    let settings = pb::EdgeSettings {
        session_binding_key: state
            .session_binding_key
            .map(|k| k.expose_secret().to_vec())
            .unwrap_or_default(),
        // Gatehouse's own OAuth authorization server.
        issuer: state.oauth_server.issuer,
        jwks_json: state.oauth_server.jwks_json,
        identity_signing_jwk: state
            .oauth_server
            .identity_signing_jwk
            .map(|k| k.expose_secret().to_owned())
            .unwrap_or_default(),
        edge_public_base_url: state.oauth_server.edge_public_base_url,
        control_plane_public_url: state.oauth_server.control_plane_public_url,
        deactivated_users: state.oauth_server.deactivated_users,
        token_cache_key: state
            .upstream_oauth
            .token_cache_key
            .as_ref()
            .map(|k| k.expose_secret().to_vec())
            .unwrap_or_default(),
    };
    let orgs = state
        .orgs
        .into_iter()
        .map(|o| {
            let auth = state.org_auth.get(&o.id).cloned().unwrap_or_default();
            let org = pb::Org {
                id: o.id.clone(),
                slug: o.slug,
                jwt_validation: auth.jwt_validation.as_ref().map(jwt_validation_to_wire),
                // One that no longer validates is left out, as if unset: the edges
                // then advertise Gatehouse's authorization server.
                external_auth_config: auth
                    .external_auth_config
                    .as_ref()
                    .and_then(|v| ExternalAuthConfig::from_value("external_auth_config", v).ok())
                    .map(|c| c.to_wire()),
            };
            (o.id, org)
        })
        .collect();
    let revoked_grants = state.revoked_grants.into_iter().map(|id| (id.clone(), id)).collect();
    let completed_elicitations = state
        .completed_elicitations
        .into_iter()
        .map(|c| {
            let wire = pb::ElicitationCompletion {
                elicitation_id: c.elicitation_id.clone(),
                org_id: c.org_id,
                user: c.user,
                server_id: c.server_id,
                session_hash: c.session_hash,
            };
            (c.elicitation_id, wire)
        })
        .collect();
    let rate_limits = state.rate_limits.into_iter().map(|r| (r.id.clone(), rate_limit_wire(r))).collect();
    ConfigState {
        rate_limits,
        orgs,
        servers,
        workspaces,
        provisions,
        tokens,
        certificate_identities,
        settings,
        revoked_grants,
        completed_elicitations,
    }
}

/// A rate limit as the edges read it: unset match fields travel as empty strings.
fn rate_limit_wire(r: crate::store::RateLimitRecord) -> pb::RateLimit {
    let spec = r.spec;
    pb::RateLimit {
        id: r.id,
        org_id: r.org_id,
        name: spec.name,
        workspace: spec.workspace.unwrap_or_default(),
        user: spec.user.unwrap_or_default(),
        server: spec.server.unwrap_or_default(),
        tool: spec.tool.unwrap_or_default(),
        per_caller: spec.per_caller,
        kind: spec.kind.as_str().to_owned(),
        amount: spec.amount,
        period: spec.period.as_str().to_owned(),
        burst: spec.burst.unwrap_or_default(),
    }
}

/// `Server.oauth` of a resolved upstream OAuth client.
fn upstream_oauth_wire(record: &crate::store::oauth_clients::OAuthClientRecord) -> pb::UpstreamOAuth {
    crate::upstream_oauth::edge_config::to_wire(record)
}
