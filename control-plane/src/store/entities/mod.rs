//! sea-orm entities, one per table. They never leave the store: the store
//! converts them to the domain types in [`super::model`].

pub mod admin_token;
pub mod config_version;
pub mod gateway_token;
pub mod org;
pub mod provision;
pub mod server;
pub mod server_header;
pub mod setting;
pub mod workspace;
