//! Opt-in recording of a `tools/call`'s arguments and result, for servers whose
//! `advanced_config.audit` asks for it. Nothing here runs for other servers:
//! the request path checks one `Option` on the server.
//!
//! Arguments come from the request body the edge already holds. A result is
//! captured by [`ResultTap`], a body wrapper that passes every frame on to the
//! client unchanged and at once, copying at most `max_bytes` of the answer
//! aside: the JSON body, or the data of the SSE event answering the call's id.
//! The request's audit event is pushed when the answer is complete (or the
//! stream ends, or the client goes away), so it waits for the result, the
//! client never does.
//!
//! Both are redacted here, before anything leaves the edge, with the rule the
//! control plane applies to admin changes (`gatehouse_config::audit::redaction`),
//! and recorded as `{"truncated": false, "value": …}` or, when cut at
//! `max_bytes`, `{"truncated": true, "text": "…"}`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use gatehouse_config::audit::capture::AuditCapture;
use gatehouse_config::audit::redaction::redact_json_text;
use http_body::{Body as HttpBody, Frame, SizeHint};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{AuditQueue, RequestOutcome};

/// What to capture of one call's result.
#[derive(Debug)]
pub struct ResultPlan {
    /// The call's JSON-RPC id as sent (compact JSON text), to find its answer in a stream.
    id: String,
    max_bytes: usize,
}

/// The arguments and result plan of a `tools/call` to `capture`'s server, from its body.
pub fn plan(capture: AuditCapture, body: &[u8]) -> (Option<String>, Option<ResultPlan>) {
    #[derive(Deserialize)]
    struct Call<'a> {
        #[serde(borrow)]
        id: Option<&'a RawValue>,
        #[serde(borrow)]
        params: Option<Params<'a>>,
    }
    #[derive(Deserialize)]
    struct Params<'a> {
        #[serde(borrow)]
        arguments: Option<&'a RawValue>,
    }
    let max_bytes = capture.max_bytes as usize;
    let Ok(call) = serde_json::from_slice::<Call<'_>>(body) else { return (None, None) };
    let arguments = capture
        .arguments
        .then(|| call.params.and_then(|p| p.arguments))
        .flatten()
        .map(|raw| record(raw.get(), true, max_bytes));
    let result = capture
        .results
        .then(|| ResultPlan { id: call.id.map(|id| compact(id.get())).unwrap_or_default(), max_bytes });
    (arguments, result)
}

/// JSON text without insignificant whitespace (ids are compared as text).
fn compact(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json).map(|v| v.to_string()).unwrap_or_else(|_| json.to_owned())
}

/// The record of a captured JSON text: redacted, then cut to `max_bytes`.
/// `complete`: `text` is a whole JSON document (else a prefix).
fn record(text: &str, complete: bool, max_bytes: usize) -> String {
    let redacted = redact_json_text(text);
    if complete && redacted.len() <= max_bytes {
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&redacted) {
            return serde_json::json!({"truncated": false, "value": value}).to_string();
        }
    }
    let mut end = redacted.len().min(max_bytes);
    while !redacted.is_char_boundary(end) {
        end -= 1;
    }
    serde_json::json!({"truncated": true, "text": &redacted[..end]}).to_string()
}

/// The `result` (or `{"error": …}`) of a whole JSON-RPC response, if `message` is
/// one answering `id` (any id when `id` is empty).
fn answer(message: &[u8], id: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Response<'a> {
        #[serde(borrow)]
        id: Option<&'a RawValue>,
        #[serde(borrow)]
        result: Option<&'a RawValue>,
        #[serde(borrow)]
        error: Option<&'a RawValue>,
    }
    let response: Response<'_> = serde_json::from_slice(message).ok()?;
    if !id.is_empty() && response.id.map(|i| compact(i.get())).as_deref() != Some(id) {
        return None;
    }
    match (response.result, response.error) {
        (Some(result), _) => Some(result.get().to_owned()),
        (None, Some(error)) => Some(format!("{{\"error\":{}}}", error.get())),
        (None, None) => None,
    }
}

/// Whether a message cut off at the capture limit looks like the answer to `id`:
/// it names that id, or it starts as a response (`result`/`error` before any `method`).
fn prefix_answers(prefix: &[u8], id: &str) -> bool {
    let text = String::from_utf8_lossy(prefix);
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if !id.is_empty() && compact.contains(&format!("\"id\":{id}")) {
        return true;
    }
    let method = compact.find("\"method\":");
    let response = ["\"result\":", "\"error\":"].iter().filter_map(|k| compact.find(k)).min();
    response.is_some_and(|r| method.is_none_or(|m| r < m))
}

/// Copies the answer aside while the body streams through.
pub struct ResultTap {
    inner: Body,
    state: Option<TapState>,
}

impl ResultTap {
    /// `body` (JSON, or SSE when `sse`) recorded into `outcome` per `plan`; the
    /// outcome is pushed to `queue` once the answer is captured or the body ends.
    pub fn wrap(
        body: Body,
        sse: bool,
        plan: ResultPlan,
        outcome: RequestOutcome,
        queue: Arc<AuditQueue>,
    ) -> Body {
        let state = TapState {
            outcome: Some(outcome),
            queue,
            plan,
            sse,
            data: Vec::new(),
            overflowed: false,
            line: LineState::Start,
            field: Vec::new(),
        };
        Body::new(Self { inner: body, state: Some(state) })
    }
}

impl HttpBody for ResultTap {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(state)) = (frame.data_ref(), self.state.as_mut()) {
                    if state.feed(data) {
                        // Captured: pushed now (on drop), even if the stream stays open.
                        self.state = None;
                    }
                }
            }
            // The end of the body, or a broken one: record what was captured.
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => self.state = None,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Where an SSE line parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineState {
    /// At the start of a line.
    Start,
    /// Reading the field name.
    Field,
    /// In a `data` line's value (after `data:`, one optional space skipped).
    Data { skip_space: bool },
    /// In any other line; ignored to its end.
    Other,
}

struct TapState {
    /// Taken when pushed.
    outcome: Option<RequestOutcome>,
    queue: Arc<AuditQueue>,
    plan: ResultPlan,
    sse: bool,
    /// The JSON body, or the current SSE event's data, up to `max_bytes`.
    data: Vec<u8>,
    /// `data` reached `max_bytes` and more followed.
    overflowed: bool,
    line: LineState,
    field: Vec<u8>,
}

impl TapState {
    /// Takes in a chunk; true once the answer is captured.
    fn feed(&mut self, chunk: &[u8]) -> bool {
        if !self.sse {
            self.keep(chunk);
            return false;
        }
        for &byte in chunk {
            match (self.line, byte) {
                (_, b'\r') => {}
                (LineState::Start, b'\n') => {
                    // A blank line ends the event.
                    if self.event_end() {
                        return true;
                    }
                }
                (LineState::Start | LineState::Field, b':') if self.field == b"data" => {
                    if !self.data.is_empty() {
                        self.keep(b"\n");
                    }
                    self.line = LineState::Data { skip_space: true };
                }
                (LineState::Field, b'\n') => {
                    self.field.clear();
                    self.line = LineState::Start;
                }
                (LineState::Start | LineState::Field, b':') => self.line = LineState::Other,
                (LineState::Start | LineState::Field, _) => {
                    if self.field.len() < 8 {
                        self.field.push(byte);
                    }
                    self.line = LineState::Field;
                }
                (LineState::Data { .. } | LineState::Other, b'\n') => {
                    self.field.clear();
                    self.line = LineState::Start;
                }
                (LineState::Data { skip_space: true }, b' ') => {
                    self.line = LineState::Data { skip_space: false }
                }
                (LineState::Data { .. }, _) => {
                    self.line = LineState::Data { skip_space: false };
                    self.keep(&[byte]);
                }
                (LineState::Other, _) => {}
            }
        }
        false
    }

    /// Keeps as much of `bytes` as fits under the limit.
    fn keep(&mut self, bytes: &[u8]) {
        let room = self.plan.max_bytes.saturating_sub(self.data.len());
        if bytes.len() > room {
            self.overflowed = true;
        }
        self.data.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// An SSE event ended: records it when it answers the call; true then.
    fn event_end(&mut self) -> bool {
        self.field.clear();
        if self.data.is_empty() {
            return false;
        }
        let captured = self.capture();
        self.data.clear();
        self.overflowed = false;
        match captured {
            Some(result) => {
                if let Some(outcome) = self.outcome.as_mut() {
                    outcome.result = Some(result);
                }
                true
            }
            None => false,
        }
    }

    /// The record of `data`, if it is (or looks like, when cut off) the answer.
    fn capture(&self) -> Option<String> {
        if self.overflowed {
            return prefix_answers(&self.data, &self.plan.id)
                .then(|| record(&String::from_utf8_lossy(&self.data), false, self.plan.max_bytes));
        }
        let answer = answer(&self.data, &self.plan.id)?;
        Some(record(&answer, true, self.plan.max_bytes))
    }
}

impl Drop for TapState {
    fn drop(&mut self) {
        let Some(mut outcome) = self.outcome.take() else { return };
        if outcome.result.is_none() && !self.data.is_empty() {
            outcome.result = self.capture();
        }
        self.queue.push(outcome);
    }
}

#[cfg(test)]
mod tests;
