//! A streaming Server-Sent Events transformer for `tools/list` responses.
//!
//! [`SseFramer`] cuts a byte stream into raw events exactly as received
//! (lines end in CRLF, LF or CR; an empty line ends an event; events may be
//! split across chunks anywhere, even between the CR and LF of one line
//! ending). [`filter_tools_list`] passes every event through byte for byte,
//! except the `data:` event carrying the `tools/list` response, which is
//! re-emitted with its `data:` lines replaced by one line of filtered JSON and
//! every other line (`id:`, `event:`, `retry:`, comments) kept in place.
//!
//! It fails closed: an event whose data is not JSON is dropped, and an event
//! larger than [`MAX_EVENT_BYTES`] ends the stream, so nothing unfiltered
//! reaches the client.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::stream::{BoxStream, Stream};

use super::tools_filter::ToolsListFilter;

/// Largest single event buffered while filtering (the response holds the whole tool list).
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// The UTF-8 byte-order mark a stream may start with.
pub(super) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// An event exceeded [`MAX_EVENT_BYTES`].
#[derive(Debug, thiserror::Error)]
#[error("server-sent event exceeds {MAX_EVENT_BYTES} bytes")]
pub struct EventTooLarge;

/// Cuts a byte stream into raw events, keeping every byte.
#[derive(Debug, Default)]
pub struct SseFramer {
    buf: BytesMut,
    /// Start of the line being scanned, relative to `buf` (the event starts at 0).
    line_start: usize,
    /// Where scanning for the next line ending resumes.
    pos: usize,
    /// The last line ended with a CR at the end of the input seen so far; an LF
    /// that follows belongs to it.
    pending_cr: bool,
    /// Whether the start of the stream has been checked for a byte-order mark.
    bom_checked: bool,
}

impl SseFramer {
    /// Appends received bytes.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete raw frame: an event including its terminating empty
    /// line, or a stray byte (BOM, the LF of a CRLF split off its event) that
    /// carries no fields. `None` until more input arrives.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, EventTooLarge> {
        if !self.bom_checked {
            if self.buf.len() < BOM.len() && BOM.starts_with(&self.buf) {
                return Ok(None);
            }
            self.bom_checked = true;
            if self.buf.starts_with(BOM) {
                return Ok(Some(self.buf.split_to(BOM.len()).freeze()));
            }
        }
        if self.pending_cr && self.pos < self.buf.len() {
            self.pending_cr = false;
            if self.buf[self.pos] == b'\n' {
                if self.pos == 0 {
                    return Ok(Some(self.buf.split_to(1).freeze()));
                }
                self.pos += 1;
                self.line_start = self.pos;
            }
        }
        while let Some(offset) = self.buf[self.pos..].iter().position(|&b| b == b'\n' || b == b'\r') {
            let end = self.pos + offset;
            let next = match self.buf[end] {
                b'\r' if end + 1 == self.buf.len() => {
                    self.pending_cr = true;
                    end + 1
                }
                b'\r' if self.buf[end + 1] == b'\n' => end + 2,
                _ => end + 1,
            };
            if end == self.line_start {
                // An empty line: the event is complete.
                self.line_start = 0;
                self.pos = 0;
                return Ok(Some(self.buf.split_to(next).freeze()));
            }
            self.line_start = next;
            self.pos = next;
        }
        self.pos = self.buf.len();
        if self.buf.len() > MAX_EVENT_BYTES {
            return Err(EventTooLarge);
        }
        Ok(None)
    }

    /// Whatever is left at the end of the stream (an event without its empty line).
    pub fn finish(&mut self) -> Bytes {
        self.line_start = 0;
        self.pos = 0;
        self.buf.split().freeze()
    }
}

/// One line of a raw event: content and terminator (empty for the last, unterminated line).
fn lines(raw: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut rest = raw;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, term_len) = match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            Some(i) if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') => (i, 2),
            Some(i) => (i, 1),
            None => (rest.len(), 0),
        };
        let (content, tail) = rest.split_at(line);
        let (term, tail) = tail.split_at(term_len);
        rest = tail;
        Some((content, term))
    })
}

/// The field name and value of an SSE line; `None` for comments.
fn field(line: &[u8]) -> Option<(&[u8], &[u8])> {
    if line.first() == Some(&b':') {
        return None;
    }
    Some(match line.iter().position(|&b| b == b':') {
        Some(i) => {
            let value = &line[i + 1..];
            (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
        }
        None => (line, &[][..]),
    })
}

/// The event's data (its `data:` lines joined with LF), if it has any.
pub fn event_data(raw: &[u8]) -> Option<Vec<u8>> {
    let mut data: Option<Vec<u8>> = None;
    for (line, _) in lines(raw) {
        if line.is_empty() {
            break;
        }
        if let Some((b"data", value)) = field(line) {
            match &mut data {
                Some(buf) => {
                    buf.push(b'\n');
                    buf.extend_from_slice(value);
                }
                None => data = Some(value.to_vec()),
            }
        }
    }
    data
}

/// Rebuilds `raw` with its `data:` lines replaced by one line holding `data`.
fn replace_data(raw: &[u8], data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(raw.len() + data.len());
    let mut written = false;
    for (line, term) in lines(raw) {
        if matches!(field(line), Some((b"data", _))) {
            if !written {
                written = true;
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(data);
                out.extend_from_slice(if term.is_empty() { b"\n" } else { term });
            }
            continue;
        }
        out.extend_from_slice(line);
        out.extend_from_slice(term);
    }
    out.freeze()
}

/// Applies `filter` to one raw event: unchanged, rewritten, or dropped (`None`).
///
/// Only a JSON-RPC message is filtered. Events that carry none (comments,
/// `retry:`, or an `id:` with empty `data:`, as servers prime a resumable
/// stream with) pass through byte for byte; data that is not JSON at all is
/// dropped, since it might be a response the filter cannot vouch for.
fn filter_event(raw: Bytes, filter: &ToolsListFilter) -> Option<Bytes> {
    let Some(data) = event_data(&raw) else { return Some(raw) };
    if data.iter().all(u8::is_ascii_whitespace) {
        return Some(raw);
    }
    match filter.rewrite(&data) {
        Ok(None) => Some(raw),
        Ok(Some(json)) => Some(replace_data(&raw, &json)),
        Err(error) => {
            tracing::warn!(%error, "dropping unparseable server-sent event from a filtered tools/list stream");
            None
        }
    }
}

/// Error type of the streams handed to the response body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Streams `upstream` through, filtering the `tools/list` response event.
pub fn filter_tools_list<E>(
    upstream: BoxStream<'static, Result<Bytes, E>>,
    filter: ToolsListFilter,
) -> impl Stream<Item = Result<Bytes, BoxError>> + Send + 'static
where
    E: Into<BoxError> + 'static,
{
    FilteredSse { upstream, framer: SseFramer::default(), filter, out: VecDeque::new(), done: false }
}

struct FilteredSse<E> {
    upstream: BoxStream<'static, Result<Bytes, E>>,
    framer: SseFramer,
    filter: ToolsListFilter,
    out: VecDeque<Bytes>,
    done: bool,
}

impl<E: Into<BoxError>> FilteredSse<E> {
    fn drain_frames(&mut self) -> Result<(), EventTooLarge> {
        while let Some(frame) = self.framer.next_frame()? {
            self.out.extend(filter_event(frame, &self.filter));
        }
        Ok(())
    }
}

impl<E: Into<BoxError>> Stream for FilteredSse<E> {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(bytes) = this.out.pop_front() {
                return Poll::Ready(Some(Ok(bytes)));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match std::task::ready!(this.upstream.as_mut().poll_next(cx)) {
                Some(Ok(chunk)) => {
                    this.framer.push(&chunk);
                    if let Err(e) = this.drain_frames() {
                        this.done = true;
                        return Poll::Ready(Some(Err(e.into())));
                    }
                }
                Some(Err(e)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e.into())));
                }
                None => {
                    this.done = true;
                    // An unterminated last event is filtered like any other.
                    let rest = this.framer.finish();
                    if !rest.is_empty() {
                        this.out.extend(filter_event(rest, &this.filter));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::tools_filter::tests::get_only;
    use futures::StreamExt;
    use proptest::prelude::*;
    use serde_json::value::RawValue;

    fn frames(chunks: &[&[u8]]) -> Vec<Bytes> {
        let mut framer = SseFramer::default();
        let mut out = vec![];
        for chunk in chunks {
            framer.push(chunk);
            while let Some(f) = framer.next_frame().unwrap() {
                out.push(f);
            }
        }
        let rest = framer.finish();
        if !rest.is_empty() {
            out.push(rest);
        }
        out
    }

    /// The (data, id, event) of each dispatched event, the way a client sees them.
    fn events(raw: &[u8]) -> Vec<(Option<String>, Option<String>, Option<String>)> {
        frames(&[raw])
            .iter()
            .filter_map(|f| {
                let mut id = None;
                let mut event = None;
                for (line, _) in lines(f) {
                    match field(line) {
                        Some((b"id", v)) => id = Some(String::from_utf8_lossy(v).into_owned()),
                        Some((b"event", v)) => event = Some(String::from_utf8_lossy(v).into_owned()),
                        _ => {}
                    }
                }
                let data = event_data(f).map(|d| String::from_utf8(d).unwrap());
                (data.is_some() || id.is_some() || event.is_some()).then_some((data, id, event))
            })
            .collect()
    }

    #[test]
    fn frames_lf_crlf_and_cr() {
        let raw = b"data: a\n\ndata: b\r\n\r\ndata: c\r\rid: 4\ndata: d\n\n";
        let f = frames(&[raw]);
        assert_eq!(f, [&b"data: a\n\n"[..], b"data: b\r\n\r\n", b"data: c\r\r", b"id: 4\ndata: d\n\n"]);
    }

    #[test]
    fn crlf_split_across_chunks() {
        let f = frames(&[b"data: a\r", b"\n\r", b"\ndata: b\r\n\r", b"\n"]);
        assert_eq!(f.concat(), b"data: a\r\n\r\ndata: b\r\n\r\n");
        assert_eq!(events(&f.concat()), [(Some("a".into()), None, None), (Some("b".into()), None, None)]);
    }

    #[test]
    fn multi_line_data_is_joined() {
        assert_eq!(event_data(b"data: {\"a\":\ndata:1}\n\n").unwrap(), b"{\"a\":\n1}");
        assert_eq!(event_data(b": comment\nevent: message\n\n"), None);
        assert_eq!(event_data(b"data\n\n").unwrap(), b"");
        assert_eq!(event_data(b"data:\ndata:\n\n").unwrap(), b"\n");
    }

    #[test]
    fn bom_is_split_off() {
        let f = frames(&[b"\xEF", b"\xBB\xBFdata: x\n\n"]);
        assert_eq!(f[0], BOM);
        assert_eq!(f[1], &b"data: x\n\n"[..]);
    }

    #[test]
    fn oversized_event_fails() {
        let mut framer = SseFramer::default();
        framer.push(&vec![b'x'; MAX_EVENT_BYTES + 1]);
        assert!(framer.next_frame().is_err());
    }

    fn tools_list_stream() -> Vec<u8> {
        let response = r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"get_a"},{"name":"drop_db"}]}}"#;
        // Multi-line data joins with a newline, so split between JSON tokens.
        let split = response.find("\"result\"").unwrap();
        format!(
            ": keep-alive\r\n\r\nevent: message\r\nid: 1\r\ndata: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{{\"name\":\"drop_db\"}}}}\r\n\r\nretry: 100\nevent: message\nid: 2\ndata: {}\ndata: {}\n\n",
            &response[..split],
            &response[split..]
        )
        .into_bytes()
    }

    async fn run_filter(chunks: Vec<Vec<u8>>) -> Vec<u8> {
        let upstream =
            futures::stream::iter(chunks.into_iter().map(|c| Ok::<_, BoxError>(Bytes::from(c)))).boxed();
        let id = RawValue::from_string("1".into()).unwrap();
        let filter = ToolsListFilter::new(get_only(), Some(&id));
        let out: Vec<Result<Bytes, BoxError>> = filter_tools_list(upstream, filter).collect().await;
        out.into_iter().map(Result::unwrap).collect::<Vec<_>>().concat()
    }

    #[tokio::test]
    async fn filters_only_the_response_event() {
        let out = run_filter(vec![tools_list_stream()]).await;
        let text = String::from_utf8(out).unwrap();
        // The notification mentioning drop_db is passed through untouched.
        assert!(text.starts_with(": keep-alive\r\n\r\nevent: message\r\nid: 1\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\""));
        let evs = events(text.as_bytes());
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[1].1.as_deref(), Some("2"));
        assert_eq!(evs[1].2.as_deref(), Some("message"));
        let v: serde_json::Value = serde_json::from_str(evs[1].0.as_deref().unwrap()).unwrap();
        assert_eq!(v["result"]["tools"], serde_json::json!([{"name":"get_a"}]));
        assert!(text.contains("retry: 100\nevent: message\nid: 2\ndata: {"));
    }

    #[tokio::test]
    async fn non_json_data_is_dropped() {
        let out = run_filter(vec![b"data: not json\n\ndata: {\"id\":9,\"result\":{}}\n\n".to_vec()]).await;
        assert_eq!(out, b"data: {\"id\":9,\"result\":{}}\n\n");
    }

    /// As the MCP "everything" server opens a resumable (2025-11-25) response stream:
    /// a priming event with an id and empty data, then the response.
    #[tokio::test]
    async fn a_priming_event_with_empty_data_passes_through_byte_for_byte() {
        let priming = "id: 0-priming\ndata:\n\n";
        let spaced = "id: 0-b\r\ndata: \r\n\r\n";
        let response = r#"id: 1-a
event: message
data: {"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"get_a"},{"name":"drop_db"}]}}

"#;
        let out = run_filter(vec![format!("{priming}{spaced}{response}").into_bytes()]).await;
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(&format!("{priming}{spaced}")),
            "priming events kept as they were: {text:?}"
        );
        assert!(
            text.contains("get_a") && !text.contains("drop_db"),
            "the response is still filtered: {text:?}"
        );
    }

    #[tokio::test]
    async fn unterminated_last_event_is_still_filtered() {
        let out = run_filter(vec![br#"data: {"id":1,"result":{"tools":[{"name":"drop"}]}}"#.to_vec()]).await;
        assert!(!String::from_utf8(out).unwrap().contains("drop"));
    }

    fn split(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort();
        let mut out = vec![];
        let mut prev = 0;
        for c in cuts.into_iter().chain([bytes.len()]) {
            out.push(bytes[prev..c].to_vec());
            prev = c;
        }
        out
    }

    fn sse_stream() -> impl Strategy<Value = Vec<u8>> {
        let line = prop_oneof![
            "[a-z ]{0,6}".prop_map(|v| format!("data: {v}")),
            "[a-z]{0,3}".prop_map(|v| format!("data:{v}")),
            "[0-9]{1,3}".prop_map(|v| format!("id: {v}")),
            Just("event: message".to_string()),
            Just("retry: 10".to_string()),
            Just(": comment".to_string()),
            Just(String::new()),
        ];
        let eol = prop_oneof![Just("\n"), Just("\r\n"), Just("\r")];
        proptest::collection::vec((line, eol), 0..20).prop_map(|lines| {
            lines.into_iter().flat_map(|(l, e)| [l, e.to_string()]).collect::<String>().into_bytes()
        })
    }

    proptest! {
        #[test]
        fn any_chunking_gives_the_same_events(raw in sse_stream(), cuts in proptest::collection::vec(0usize..400, 0..8)) {
            let whole = frames(&[&raw]);
            let chunks = split(&raw, &cuts);
            let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            let pieces = frames(&refs);
            prop_assert_eq!(pieces.concat(), raw.clone(), "framing keeps every byte");
            let parsed = |fs: &[Bytes]| fs.iter().filter_map(|f| event_data(f)).collect::<Vec<_>>();
            prop_assert_eq!(parsed(&pieces), parsed(&whole));
        }

        #[test]
        fn filtering_is_independent_of_chunking(cuts in proptest::collection::vec(0usize..400, 0..8), crlf in any::<bool>()) {
            let mut raw = tools_list_stream();
            if crlf {
                raw = String::from_utf8(raw).unwrap().replace("\r\n", "\n").replace('\n', "\r\n").into_bytes();
            }
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let whole = rt.block_on(run_filter(vec![raw.clone()]));
            let chunked = rt.block_on(run_filter(split(&raw, &cuts)));
            prop_assert_eq!(&chunked, &whole);
            let text = String::from_utf8(whole).unwrap();
            prop_assert!(text.contains("get_a"));
            prop_assert_eq!(text.matches("drop_db").count(), 1, "only the notification still names drop_db");
        }
    }
}
