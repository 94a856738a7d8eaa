//! Where the edge writes its own notifications into an upstream SSE stream
//! (`data-plane/src/proxy/sse_notify.rs`): with one pending at every moment it
//! may go, a client still sees every upstream event intact and in order, and
//! each of ours as a whole event of its own.
#![no_main]

use gatehouse_data_plane::fuzzing::sse_splice_everywhere;
use gatehouse_fuzz::{chunks, sse_reference};
use libfuzzer_sys::fuzz_target;

const ID: &str = "elicit-1";

fuzz_target!(|input: &[u8]| {
    let (seed, stream) = input.split_at(input.len().min(4));
    let parts = chunks(seed, stream);
    let merged = sse_splice_everywhere(&parts, ID);
    let ours = sse_reference::events(&sse_splice_everywhere(&[], ID));
    assert_eq!(ours.len(), 1);
    let ours = &ours[0];
    let upstream: Vec<_> = sse_reference::events(stream).into_iter().filter(|e| e != ours).collect();
    let seen = sse_reference::events(&merged);
    let (mine, theirs): (Vec<_>, Vec<_>) = seen.into_iter().partition(|e| e == ours);
    assert_eq!(theirs, upstream, "upstream events survive the merge: {merged:?}");
    assert!(!mine.is_empty(), "an event of ours always finds a place (at least at the end)");
});
