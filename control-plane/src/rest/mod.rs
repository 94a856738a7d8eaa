//! What every JSON endpoint of the control plane shares, whichever subsystem
//! serves it: [`ApiError`] (the one mapping of failures to an HTTP status and
//! the `{"error": {"code", "message", "field"}}` envelope) and the JSON and
//! query extractors whose rejections are `ApiError`s.
//!
//! It sits below the admin API, SSO and the authorization server so that
//! they answer alike without knowing one another.

mod error;
pub mod json;
pub mod schemas;
mod scope;

pub use error::{forbidden, ApiError, ErrorBody, ErrorDetail};
pub use scope::PageQuery;
