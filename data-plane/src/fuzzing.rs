//! What the fuzz targets in `fuzz/` call: the edge's parsers of untrusted
//! input, in one place. Not an API; hidden from the docs.

pub use crate::auth::presented_token;
pub use crate::jsonrpc::peek;
pub use crate::policy::glob_match;
pub use crate::proxy::splice_everywhere as sse_splice_everywhere;
pub use crate::proxy::sse::{event_data as sse_event_data, SseFramer};
pub use crate::upstream_client::chunked::{ChunkedDecoder, Decoded as ChunkedDecoded};
pub use crate::upstream_client::wire::{Framing, Parsed as ParsedHead, ResponseParser};
