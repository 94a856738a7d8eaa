//! Shared pieces of the fuzz targets: a reference SSE parser written from the
//! WHATWG event-stream rules, a way to cut input into chunks, and the control
//! plane's token format.

pub mod sse_reference;
pub mod tokens;

/// Cuts `data` into chunks whose lengths come from `seed` (cycled), so one
/// input exercises many ways a stream can arrive.
pub fn chunks<'a>(seed: &[u8], data: &'a [u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        // 1-16 bytes: every chunk makes progress.
        let len = seed.get(i % seed.len().max(1)).map_or(rest.len(), |&b| usize::from(b % 16) + 1);
        let (chunk, tail) = rest.split_at(len.min(rest.len()));
        out.push(chunk);
        rest = tail;
        i += 1;
        if seed.is_empty() {
            break;
        }
    }
    out
}
