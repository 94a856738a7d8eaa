//! The identity settings both planes read: the control plane validates them
//! strictly (400 naming the field) and the edge compiles the same types, so
//! whatever the control plane accepts, the edge runs.
//!
//! - [`advanced_config`]: the identity keys of a server's `advanced_config`, an org's `jwt_validation`.
//! - [`jwt_validation`]: bring-your-own JWT settings ([`jwks`] for inline key sets, [`claims_match`] for `claimValues`).
//! - [`user_identity_forwarding`], [`forward_headers`]: what the upstream learns about the caller.
//! - [`external_auth`]: an org's own authorization server.
//! - [`cert_names`]: certificate identity name kinds and their normal form.
//! - [`cert_issuer`]: the CA fingerprint and SPIFFE trust domain a certificate identity is bound to.
//! - [`wire`]: these settings as typed config-stream messages, to and from.
//!
//! See `docs/edge.md` for the configuration reference.

pub mod advanced_config;
pub mod allowed_origins;
pub mod cert_issuer;
pub mod cert_names;
pub mod claims_match;
pub mod external_auth;
pub mod forward_headers;
pub mod jwks;
pub mod jwt_validation;
pub mod user_identity_forwarding;
pub mod wire;

pub use crate::field_error::FieldError;
