//! Config distribution to edges: the [`Publisher`] turns committed state into
//! versioned deltas, the [`ConfigService`] streams them to edges authenticated
//! by [`EdgeAuth`] (each edge only the orgs its token is scoped to), and the
//! [`EdgeRegistry`] remembers what each edge acknowledged.

mod edge_auth;
mod edges;
mod publisher;
mod scope;
mod service;
mod wire;

pub use edge_auth::{EdgeAuth, EdgeCredential, BOOTSTRAP_TOKEN_NAME};
pub use edges::{EdgeRegistry, EdgeStatus, StreamToken};
pub use publisher::Publisher;
pub use scope::ScopedDelta;
pub use service::ConfigService;
