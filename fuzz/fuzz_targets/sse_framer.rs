//! The edge's SSE framer (`data-plane/src/proxy/sse.rs`) on arbitrary streams
//! cut into arbitrary chunks: it loses no byte, never splits or merges events
//! (each frame read on its own gives the events the whole stream gives), and
//! `event_data` reads each frame's data as a client would.
#![no_main]

use gatehouse_data_plane::fuzzing::{sse_event_data, SseFramer};
use gatehouse_fuzz::{chunks, sse_reference};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let (seed, stream) = input.split_at(input.len().min(4));
    let mut framer = SseFramer::default();
    let mut frames = Vec::new();
    for chunk in chunks(seed, stream) {
        framer.push(chunk);
        while let Some(frame) = framer.next_frame().expect("small events fit") {
            frames.push(frame);
        }
    }
    let rest = framer.finish();
    let joined: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).chain(rest.iter().copied()).collect();
    assert_eq!(joined, stream, "the frames are the stream");

    let whole = sse_reference::events(stream);
    let mut one_by_one = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        // A BOM counts only at the start of the stream.
        let events =
            if i == 0 { sse_reference::events(frame) } else { sse_reference::events_mid_stream(frame) };
        assert!(events.len() <= 1, "one frame holds at most one event: {frame:?}");
        if let Some(event) = events.first() {
            assert_eq!(sse_event_data(frame).as_deref(), Some(&event.data[..]), "data of {frame:?}");
        }
        one_by_one.extend(events);
    }
    assert_eq!(one_by_one, whole);
});
