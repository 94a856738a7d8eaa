//! A reference parser of `text/event-stream`, written from the WHATWG HTML
//! rules (9.2.6 "Interpreting an event stream") for the fuzz targets to hold
//! the edge's framer and splicer against. Only what decides which events a
//! client sees: event type and data (ids and retry are ignored).

/// One dispatched event: its type (`message` when unset) and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `event:` field, or `message`.
    pub kind: Vec<u8>,
    /// `data:` lines joined with LF.
    pub data: Vec<u8>,
}

/// The events a client dispatches for the whole stream `input` (an event not
/// ended by an empty line is discarded, as at the end of a stream).
pub fn events(input: &[u8]) -> Vec<Event> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let mut out = Vec::new();
    let mut data: Vec<u8> = Vec::new();
    let mut kind: Vec<u8> = Vec::new();
    let mut rest = input;
    while let Some(i) = rest.iter().position(|&b| b == b'\r' || b == b'\n') {
        let line = &rest[..i];
        let skip = if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
        rest = &rest[i + skip..];
        if line.is_empty() {
            if !data.is_empty() {
                data.pop();
                let kind = if kind.is_empty() { b"message".to_vec() } else { std::mem::take(&mut kind) };
                out.push(Event { kind, data: std::mem::take(&mut data) });
            }
            data.clear();
            kind.clear();
            continue;
        }
        if line[0] == b':' {
            continue;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(c) => {
                let v = &line[c + 1..];
                (&line[..c], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &[][..]),
        };
        match name {
            b"data" => {
                data.extend_from_slice(value);
                data.push(b'\n');
            }
            b"event" => kind = value.to_vec(),
            _ => {}
        }
    }
    out
}

/// [`events`] for bytes that are not the start of a stream (a BOM is data there).
pub fn events_mid_stream(input: &[u8]) -> Vec<Event> {
    if input.starts_with(b"\xEF\xBB\xBF") {
        // Parse as if a BOM had already been stripped before this input.
        let mut prefixed = b"\xEF\xBB\xBF".to_vec();
        prefixed.extend_from_slice(input);
        return events(&prefixed);
    }
    events(input)
}
