//! Config distribution to edges: the [`Publisher`] turns committed state into
//! versioned deltas, the [`ConfigService`] streams them to authenticated
//! edges, and the [`EdgeRegistry`] remembers what each edge acknowledged.

mod edges;
mod publisher;
mod service;
mod wire;

pub use edges::{EdgeRegistry, EdgeStatus};
pub use publisher::Publisher;
pub(crate) use service::check_node_token;
pub use service::ConfigService;
