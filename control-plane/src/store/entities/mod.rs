//! sea-orm entities, one per table. They never leave the store: the store
//! converts them to the domain types in [`super::model`].

pub mod admin_token;
pub mod audit_event;
pub mod audit_export;
pub mod audit_sequence;
pub mod audit_setting;
pub mod certificate_identity;
pub mod config_outbox;
pub mod config_version;
pub mod console_key_session;
pub mod edge_token;
pub mod gateway_token;
pub mod org;
pub mod org_api_key;
pub mod provision;
pub mod rate_limit;
pub mod server;
pub mod server_header;
pub mod setting;
pub mod workspace;
// SSO (users, sessions, providers).
pub mod membership;
pub mod session;
pub mod sso_login_state;
pub mod sso_provider;
pub mod upstream_authorization_link;
pub mod upstream_elicitation_completion;
pub mod upstream_grant;
pub mod upstream_grant_revocation;
pub mod upstream_oauth_client;
pub mod upstream_pending_authorization;
pub mod user;
// Gatehouse's own OAuth authorization server.
pub mod as_auth_code;
pub mod as_client;
pub mod as_consent;
pub mod as_pending_request;
pub mod as_refresh_token;
pub mod as_setting;
pub mod as_signing_key;
