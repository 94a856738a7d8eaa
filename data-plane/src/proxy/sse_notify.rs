//! Adds Gatehouse's own notifications to a standalone SSE stream: the upstream
//! bytes pass through untouched, chunk by chunk, and an event of ours is only
//! ever written where an event boundary is (never inside an upstream event,
//! even one split across chunks or idle halfway).
//!
//! Today the one notification is `notifications/elicitation/complete`.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::{Stream, StreamExt as _};
use http::StatusCode;

use super::sse::BOM;
use crate::elicitation_streams::{StreamKey, Subscription};
use crate::state::EdgeState;

/// Where the upstream stream stands, as far as inserting an event goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// At the start of a line that starts an event (stream start, or after an
    /// empty line): an event may go here.
    EventStart,
    /// At the start of a line inside an event.
    LineStart,
    /// Inside a line.
    InLine,
    /// Just after a CR; `blank` if it ended an empty line. An LF may follow
    /// (CRLF); inserting after a blank line's CR is still safe, since that LF
    /// then reads as one more empty line, which dispatches nothing.
    Cr { blank: bool },
}

impl Position {
    fn is_boundary(self) -> bool {
        matches!(self, Position::EventStart | Position::Cr { blank: true })
    }

    fn feed(mut self, bytes: &[u8]) -> Self {
        for &b in bytes {
            if let Position::Cr { blank } = self {
                let next = if blank { Position::EventStart } else { Position::LineStart };
                if b == b'\n' {
                    self = next;
                    continue;
                }
                self = next;
            }
            self = match (self, b) {
                (Position::InLine, b'\r') => Position::Cr { blank: false },
                (Position::InLine, b'\n') => Position::LineStart,
                (_, b'\r') => Position::Cr { blank: true },
                (_, b'\n') => Position::EventStart,
                _ => Position::InLine,
            };
        }
        self
    }
}

/// The SSE event carrying `notifications/elicitation/complete` for `id`.
fn elicitation_complete_event(id: &str) -> Bytes {
    let id = serde_json::to_string(id).unwrap_or_else(|_| "\"\"".to_owned());
    Bytes::from(format!(
        "data: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/elicitation/complete\",\"params\":{{\"elicitationId\":{id}}}}}\n\n"
    ))
}

/// Where events of ours may go in the upstream bytes seen so far, and what the
/// upstream bytes become once ours are among them.
struct Splice {
    position: Position,
    /// No upstream byte has been seen yet.
    at_start: bool,
    /// An event of ours went out before the first upstream byte.
    wrote_first: bool,
    /// Leading upstream bytes held back because they are the start of a
    /// byte-order mark that arrived split across chunks.
    held: usize,
}

impl Splice {
    fn new() -> Self {
        Self { position: Position::EventStart, at_start: true, wrote_first: false, held: 0 }
    }

    /// Whether an event of ours may be written now.
    fn may_insert(&self) -> bool {
        self.position.is_boundary()
    }

    /// Records that an event of ours was written.
    fn inserted(&mut self) {
        self.wrote_first |= self.at_start;
    }

    /// The upstream chunk as it goes out after what was written so far.
    fn upstream(&mut self, mut bytes: Bytes) -> Bytes {
        if self.at_start && !bytes.is_empty() {
            if self.wrote_first {
                // A client strips a BOM only at the very start of the stream, which is
                // now ours: drop the upstream's, even when it comes a byte at a time.
                let rest = &BOM[self.held..];
                let matched = bytes.iter().zip(rest).take_while(|(a, b)| a == b).count();
                if matched == bytes.len() && matched < rest.len() {
                    self.held += matched;
                    return Bytes::new();
                }
                self.at_start = false;
                if matched == rest.len() {
                    bytes = bytes.slice(matched..);
                } else if self.held > 0 {
                    // Not a BOM after all: give back what was held.
                    let mut whole = BOM[..self.held].to_vec();
                    whole.extend_from_slice(&bytes);
                    bytes = Bytes::from(whole);
                }
                self.held = 0;
            } else {
                self.at_start = false;
            }
        }
        self.position = self.position.feed(&bytes);
        bytes
    }
}

/// The bytes [`merge`] writes for upstream `chunks` when a notification for `id`
/// is pending at every point: one of ours wherever one may go (before each
/// chunk and at the end). The same decisions as `merge`, without a runtime, so
/// a fuzzer can check that upstream events always come through intact.
#[doc(hidden)]
pub fn splice_everywhere(chunks: &[&[u8]], id: &str) -> Vec<u8> {
    let mut splice = Splice::new();
    let mut out = Vec::new();
    for chunk in chunks {
        if splice.may_insert() {
            splice.inserted();
            out.extend_from_slice(&elicitation_complete_event(id));
        }
        out.extend_from_slice(&splice.upstream(Bytes::copy_from_slice(chunk)));
    }
    if splice.may_insert() {
        out.extend_from_slice(&elicitation_complete_event(id));
    }
    out
}

struct Merge<S> {
    upstream: S,
    subscription: Subscription,
    splice: Splice,
    done: bool,
}

/// `upstream` with the subscription's notifications written between its events.
pub fn merge<S, E>(upstream: S, subscription: Subscription) -> impl Stream<Item = Result<Bytes, E>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: Send + 'static,
{
    let state = Merge { upstream, subscription, splice: Splice::new(), done: false };
    futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        let boundary = st.splice.may_insert();
        tokio::select! {
            chunk = st.upstream.next() => match chunk {
                Some(Ok(bytes)) => {
                    let bytes = st.splice.upstream(bytes);
                    Some((Ok(bytes), st))
                }
                Some(Err(error)) => {
                    st.done = true;
                    Some((Err(error), st))
                }
                None => None,
            },
            // Only between events; the registry holds the sender while the subscription lives.
            Some(id) = st.subscription.recv(), if boundary => {
                st.splice.inserted();
                Some((Ok(elicitation_complete_event(&id)), st))
            }
        }
    })
}

/// Registers a successful standalone SSE response under `key` and merges the
/// session's notifications into its body; any other response is returned as is.
pub(super) fn attach(edge: &EdgeState, key: StreamKey, response: Response) -> Response {
    if response.status() != StatusCode::OK
        || !super::response::content_type_is(response.headers(), "text/event-stream")
    {
        return response;
    }
    let subscription = edge.elicitation_streams().subscribe(key);
    let (parts, body) = response.into_parts();
    let merged = merge(body.into_data_stream(), subscription);
    Response::from_parts(parts, Body::from_stream(merged))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures::stream;
    use gatehouse_proto::config::v1 as pb;

    use super::*;
    use crate::elicitation_streams::{session_hash, ElicitationStreams};

    #[test]
    fn boundaries_follow_the_sse_line_rules() {
        let at = |bytes: &[u8]| Position::EventStart.feed(bytes);
        assert!(at(b"").is_boundary());
        assert!(at(b"data: x\n\n").is_boundary());
        assert!(at(b"data: x\r\n\r\n").is_boundary());
        assert!(at(b"data: x\r\r").is_boundary());
        assert!(at(b"data: x\r\n\r").is_boundary());
        assert!(!at(b"data: x").is_boundary());
        assert!(!at(b"data: x\n").is_boundary());
        assert!(!at(b"data: x\r\n").is_boundary());
        assert!(!at(b"data: x\r").is_boundary());
        assert!(!at(b": keep-alive\n").is_boundary());
        assert!(at(b": keep-alive\n\n").is_boundary());
        // Split anywhere, the answer is the same.
        let whole = b"id: 1\r\ndata: a\r\n\r\ndata: b\r\n";
        for cut in 0..whole.len() {
            let (a, b) = whole.split_at(cut);
            assert_eq!(Position::EventStart.feed(a).feed(b), at(whole), "cut at {cut}");
        }
    }

    #[test]
    fn a_bom_split_across_chunks_is_dropped_after_an_event_of_ours() {
        // Found by the `sse_splice` fuzz target: with our event first, a BOM arriving
        // a byte at a time went out mid-stream, where it is part of the next field
        // name, and the client lost the upstream's first event.
        let ours = String::from_utf8(elicitation_complete_event("e").to_vec()).unwrap();
        // (One of ours before every chunk: the held bytes leave the stream at an event start.)
        let out = splice_everywhere(&[b"\xEF", b"\xBB", b"\xBFdata: x\n\n"], "e");
        assert_eq!(out, format!("{ours}{ours}{ours}data: x\n\n{ours}").into_bytes());
        let out = splice_everywhere(&[b"\xEF\xBB\xBFdata: x\n\n"], "e");
        assert_eq!(out, format!("{ours}data: x\n\n{ours}").into_bytes());
        // Bytes that only start like a BOM are given back.
        let out = splice_everywhere(&[b"\xEF", b"data: x\n\n"], "e");
        assert_eq!(out, [ours.as_bytes(), ours.as_bytes(), b"\xEFdata: x\n\n", ours.as_bytes()].concat());
    }

    fn completion(id: &str) -> pb::ElicitationCompletion {
        pb::ElicitationCompletion {
            elicitation_id: id.into(),
            org_id: "o".into(),
            user: "u".into(),
            server_id: "s".into(),
            session_hash: session_hash(b"sid"),
        }
    }

    fn key() -> StreamKey {
        StreamKey {
            org: "o".into(),
            user: "u".into(),
            server_id: "s".into(),
            session_hash: session_hash(b"sid"),
        }
    }

    #[tokio::test]
    async fn notifications_wait_for_the_end_of_an_upstream_event() {
        let registry = Arc::new(ElicitationStreams::default());
        let subscription = registry.subscribe(key());
        // Queued while the upstream is halfway through an event.
        let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Bytes, ()>>();
        let mut merged = Box::pin(merge(rx, subscription));
        tx.unbounded_send(Ok(Bytes::from_static(b"id: 7\ndata: {\"a\":"))).unwrap();
        assert_eq!(merged.next().await.unwrap().unwrap(), Bytes::from_static(b"id: 7\ndata: {\"a\":"));
        assert_eq!(registry.complete(&completion("e\"1")), 1);
        tx.unbounded_send(Ok(Bytes::from_static(b"1}\n\n"))).unwrap();
        assert_eq!(merged.next().await.unwrap().unwrap(), Bytes::from_static(b"1}\n\n"));
        let event = merged.next().await.unwrap().unwrap();
        assert_eq!(
            event,
            Bytes::from_static(
                b"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/elicitation/complete\",\"params\":{\"elicitationId\":\"e\\\"1\"}}\n\n"
            )
        );
        drop(tx);
        assert!(merged.next().await.is_none());
        assert_eq!(registry.open_streams(), 0, "the stream unregisters when it ends");
    }

    #[tokio::test]
    async fn an_idle_stream_gets_the_notification_at_once_and_a_later_bom_is_dropped() {
        let registry = Arc::new(ElicitationStreams::default());
        let subscription = registry.subscribe(key());
        let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Bytes, ()>>();
        let mut merged = Box::pin(merge(rx, subscription));
        registry.complete(&completion("e1"));
        let event = merged.next().await.unwrap().unwrap();
        assert!(event.starts_with(b"data: {"), "{event:?}");
        tx.unbounded_send(Ok(Bytes::from_static(b"\xEF\xBB\xBFdata: x\n\n"))).unwrap();
        assert_eq!(merged.next().await.unwrap().unwrap(), Bytes::from_static(b"data: x\n\n"));
    }

    #[tokio::test]
    async fn upstream_errors_end_the_stream() {
        let registry = Arc::new(ElicitationStreams::default());
        let upstream =
            stream::iter(vec![Ok(Bytes::from_static(b"data: x\n\n")), Err("boom"), Ok(Bytes::new())]);
        let merged: Vec<_> = merge(upstream, registry.subscribe(key())).collect().await;
        assert_eq!(merged, vec![Ok(Bytes::from_static(b"data: x\n\n")), Err("boom")]);
    }
}
