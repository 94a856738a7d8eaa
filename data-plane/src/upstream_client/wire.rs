//! HTTP/1.1 message heads on a plain upstream connection (RFC 9112): the request head the
//! edge writes, and the response head it reads, with how the response's body is framed.
//!
//! The response head is parsed with `httparse` and its header values are slices of the bytes
//! read (no copy per value), as hyper's client did.

use std::mem::MaybeUninit;

use bytes::{BufMut as _, Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};

/// Most header fields in an upstream's response head (hyper's limit too).
pub(super) const MAX_HEADERS: usize = 100;
/// Largest upstream response head.
pub(super) const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Writes the request head for `method` on `path` (origin form) with `headers` into `out`.
/// `Content-Length` is the body's own; a `Transfer-Encoding` or `Content-Length` in `headers`
/// is not written (the body is sent whole, with its length).
pub(super) fn encode_request(
    out: &mut Vec<u8>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body_len: usize,
) {
    out.reserve(64 + path.len() + headers.len() * 32);
    out.put_slice(method.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(path.as_bytes());
    out.put_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
            continue;
        }
        out.put_slice(name.as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    // A method that defines a meaning for content states its length even when there is none
    // (RFC 9110 §8.6); GET, HEAD and DELETE without a body state nothing.
    if body_len > 0 || matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        out.put_slice(b"content-length: ");
        out.put_slice(itoa::Buffer::new().format(body_len).as_bytes());
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"\r\n");
}

/// How a response's body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body: a response to `HEAD`, a 204 or 304, or `Content-Length: 0`.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// The chunked transfer coding.
    Chunked,
    /// Everything until the upstream closes the connection.
    UntilClose,
}

/// A final response head.
#[derive(Debug)]
pub struct ResponseHead {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub framing: Framing,
    /// Whether the connection can carry another request after this response's body.
    pub keep_alive: bool,
}

/// What is at the front of the read buffer.
#[derive(Debug)]
pub enum Parsed {
    /// Not a whole head yet.
    Partial,
    /// An interim (1xx) response, consumed; the final one follows.
    Interim,
    Final(ResponseHead),
}

/// A response head the edge cannot use: the exchange fails and the connection is closed.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    #[error("the upstream's response head is not valid HTTP/1.1: {0}")]
    Malformed(httparse::Error),
    #[error("the upstream's response head is larger than {MAX_HEAD_BYTES} bytes")]
    TooLarge,
    #[error("the upstream's response head has more than {MAX_HEADERS} header fields")]
    TooManyFields,
    #[error("the upstream's response has an invalid header field")]
    InvalidHeader,
    #[error("the upstream's response has an invalid Content-Length")]
    InvalidContentLength,
    #[error("the upstream answered 101 Switching Protocols, which the edge does not use")]
    SwitchingProtocols,
}

/// Where a field's name and value lie in a response head.
#[derive(Debug, Clone, Copy)]
struct FieldSpan {
    name: (usize, usize),
    value: (usize, usize),
}

/// Reads response heads on one connection; keeps its scratch space between responses, so a
/// head costs no zeroed arrays and no allocation beyond the header map.
#[derive(Debug, Default)]
pub struct ResponseParser {
    spans: Vec<FieldSpan>,
    /// The field names of the last response, by position, as received and as parsed: an
    /// upstream sends the same fields in the same order response after response, and
    /// comparing the bytes is cheaper than parsing a name again.
    names: Vec<(Vec<u8>, HeaderName)>,
}

/// What the framing depends on, gathered while the fields are read.
#[derive(Default)]
struct FramingFields {
    /// `Content-Length`: its one value, or `Err` when invalid or values disagree.
    length: Option<Result<u64, ()>>,
    transfer_encoding: bool,
    /// Whether the last transfer coding named is `chunked`.
    chunked_last: bool,
    /// `Connection: close`.
    close: bool,
}

impl ResponseParser {
    /// Parses the response head at the front of `buf` (the answer to a `method` request),
    /// removing it from `buf` once whole; the body's first bytes stay there.
    pub fn parse(&mut self, buf: &mut BytesMut, method: &Method) -> Result<Parsed, HeadError> {
        let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut []);
        let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut response,
            buf,
            &mut fields,
        );
        let len = match parsed {
            // The same limit however the head arrived.
            Ok(httparse::Status::Complete(len)) if len > MAX_HEAD_BYTES => return Err(HeadError::TooLarge),
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => return Err(HeadError::TooLarge),
            Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyFields),
            Err(error) => return Err(HeadError::Malformed(error)),
        };
        let code = response.code.unwrap_or_default();
        let status = StatusCode::from_u16(code).map_err(|_| HeadError::Malformed(httparse::Error::Status))?;
        let version = if response.version == Some(0) { Version::HTTP_10 } else { Version::HTTP_11 };
        // Where each field lies, to slice it from the head once the head is split off.
        let base = buf.as_ptr() as usize;
        self.spans.clear();
        self.spans.extend(response.headers.iter().map(|field| {
            let name = field.name.as_ptr() as usize - base;
            let value = field.value.as_ptr() as usize - base;
            FieldSpan { name: (name, name + field.name.len()), value: (value, value + field.value.len()) }
        }));
        let head: Bytes = buf.split_to(len).freeze();
        if status.is_informational() {
            if status == StatusCode::SWITCHING_PROTOCOLS {
                return Err(HeadError::SwitchingProtocols);
            }
            return Ok(Parsed::Interim);
        }
        let mut headers = HeaderMap::with_capacity(self.spans.len());
        let mut framing_fields = FramingFields::default();
        for (at, span) in self.spans.iter().enumerate() {
            let raw = &head[span.name.0..span.name.1];
            let name = match self.names.get_mut(at) {
                Some((seen, name)) if seen[..] == *raw => name.clone(),
                known => {
                    let name = HeaderName::from_bytes(raw).map_err(|_| HeadError::InvalidHeader)?;
                    match known {
                        Some((seen, kept)) => {
                            seen.clear();
                            seen.extend_from_slice(raw);
                            *kept = name.clone();
                        }
                        None => self.names.push((raw.to_vec(), name.clone())),
                    }
                    name
                }
            };
            let value = HeaderValue::from_maybe_shared(head.slice(span.value.0..span.value.1))
                .map_err(|_| HeadError::InvalidHeader)?;
            framing_fields.note(&name, value.as_bytes());
            headers.append(name, value);
        }
        let (framing, framed_keep_alive) = framing_fields.framing(method, status)?;
        let keep_alive = framed_keep_alive && version == Version::HTTP_11;
        Ok(Parsed::Final(ResponseHead { status, version, headers, framing, keep_alive }))
    }
}

impl FramingFields {
    fn note(&mut self, name: &HeaderName, value: &[u8]) {
        if name == CONTENT_LENGTH {
            self.length = Some(match self.length {
                Some(Err(())) => Err(()),
                seen => length_of(value, seen.and_then(Result::ok)),
            });
        } else if name == TRANSFER_ENCODING {
            self.transfer_encoding = true;
            let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
            self.chunked_last = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
        } else if name == CONNECTION {
            self.close |=
                value.split(|&b| b == b',').any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"));
        }
    }

    /// The body's framing (RFC 9112 §6.3) and whether the connection may carry another request.
    fn framing(&self, method: &Method, status: StatusCode) -> Result<(Framing, bool), HeadError> {
        let keep_alive = !self.close;
        if *method == Method::HEAD || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
            return Ok((Framing::Empty, keep_alive));
        }
        if self.transfer_encoding {
            // A length beside a transfer coding is ignored, and the connection not trusted again.
            let keep_alive = keep_alive && self.length.is_none();
            return Ok(if self.chunked_last {
                (Framing::Chunked, keep_alive)
            } else {
                (Framing::UntilClose, false)
            });
        }
        match self.length {
            Some(Ok(0)) => Ok((Framing::Empty, keep_alive)),
            Some(Ok(n)) => Ok((Framing::Length(n), keep_alive)),
            Some(Err(())) => Err(HeadError::InvalidContentLength),
            None => Ok((Framing::UntilClose, false)),
        }
    }
}

/// The length one `Content-Length` value states (a list of equal values is one length), which
/// must agree with `seen`, the length earlier values stated.
fn length_of(value: &[u8], mut seen: Option<u64>) -> Result<u64, ()> {
    for part in value.split(|&b| b == b',') {
        let part = part.trim_ascii();
        if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
            return Err(());
        }
        let n = part.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
        if seen.is_some_and(|length| length != n) {
            return Err(());
        }
        seen = Some(n);
    }
    seen.ok_or(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_response(buf: &mut BytesMut, method: &Method) -> Result<Parsed, HeadError> {
        ResponseParser::default().parse(buf, method)
    }

    fn parse(wire: &[u8], method: Method) -> Result<(Parsed, BytesMut), HeadError> {
        let mut buf = BytesMut::from(wire);
        parse_response(&mut buf, &method).map(|parsed| (parsed, buf))
    }

    #[test]
    fn the_request_head_is_written_with_the_bodys_own_length() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("upstream.test:8080"));
        headers.append("x-multi", HeaderValue::from_static("a"));
        headers.append("x-multi", HeaderValue::from_static("b"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("999"));
        headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        let mut out = Vec::new();
        encode_request(&mut out, &Method::POST, "/mcp?x=1", &headers, 12);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /mcp?x=1 HTTP/1.1\r\nhost: upstream.test:8080\r\nx-multi: a\r\nx-multi: b\r\n\
             content-length: 12\r\n\r\n"
        );
        let mut out = Vec::new();
        encode_request(&mut out, &Method::GET, "/mcp", &HeaderMap::new(), 0);
        assert_eq!(out, b"GET /mcp HTTP/1.1\r\n\r\n");
        let mut out = Vec::new();
        encode_request(&mut out, &Method::POST, "/mcp", &HeaderMap::new(), 0);
        assert_eq!(out, b"POST /mcp HTTP/1.1\r\ncontent-length: 0\r\n\r\n");
    }

    #[test]
    fn a_head_is_parsed_and_its_body_left_in_the_buffer() {
        let wire =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n\
                     Content-Length: 5\r\n\r\nhello";
        let (parsed, rest) = parse(wire, Method::POST).unwrap();
        let Parsed::Final(head) = parsed else { panic!("{parsed:?}") };
        assert_eq!(head.status, StatusCode::OK);
        assert_eq!(head.version, Version::HTTP_11);
        assert_eq!(head.headers["content-type"], "application/json");
        let cookies: Vec<_> = head.headers.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"], "repeated fields are kept in order");
        assert_eq!(head.framing, Framing::Length(5));
        assert!(head.keep_alive);
        assert_eq!(&rest[..], b"hello");
    }

    #[test]
    fn one_parser_reads_each_head_as_a_new_one_would_whatever_names_came_before() {
        let heads: [&[u8]; 6] = [
            b"HTTP/1.1 200 OK\r\nContent-Type: a\r\nX-Trace: 1\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Type: b\r\nX-Trace: 2\r\nContent-Length: 0\r\n\r\n",
            // The same names in other case, other names in the same places, fewer, then more.
            b"HTTP/1.1 200 OK\r\ncontent-type: c\r\nx-trace: 3\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX-Other: d\r\nContent-Type: d\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\nX-Other: e\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX-Other: f\r\nSet-Cookie: 1\r\nSet-Cookie: 2\r\nX-New: f\r\nContent-Length: 0\r\n\r\n",
        ];
        let mut kept = ResponseParser::default();
        for wire in heads {
            let (Parsed::Final(fresh), _) = parse(wire, Method::GET).unwrap() else { panic!("not final") };
            let Parsed::Final(again) = kept.parse(&mut BytesMut::from(wire), &Method::GET).unwrap() else {
                panic!("not final")
            };
            assert_eq!(again.headers, fresh.headers, "{}", String::from_utf8_lossy(wire));
            assert_eq!(again.framing, fresh.framing);
        }
        let bad: &[u8] = b"HTTP/1.1 200 OK\r\nX-Other: g\r\nBad Name: g\r\n\r\n";
        assert!(kept.parse(&mut BytesMut::from(bad), &Method::GET).is_err());
    }

    #[test]
    fn partial_heads_wait_and_oversized_or_malformed_ones_fail() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        for end in 0..wire.len() {
            let (parsed, rest) = parse(&wire[..end], Method::POST).unwrap();
            assert!(matches!(parsed, Parsed::Partial), "{end} bytes");
            assert_eq!(rest.len(), end, "nothing consumed");
        }
        let huge = format!("HTTP/1.1 200 OK\r\nx-big: {}", "a".repeat(MAX_HEAD_BYTES));
        assert!(matches!(parse(huge.as_bytes(), Method::POST), Err(HeadError::TooLarge)));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: v\r\n")).collect();
        let many = format!("HTTP/1.1 200 OK\r\n{many}\r\n");
        assert!(matches!(parse(many.as_bytes(), Method::POST), Err(HeadError::TooManyFields)));
        assert!(matches!(parse(b"HTTP/1.1 2x0 OK\r\n\r\n", Method::POST), Err(HeadError::Malformed(_))));
        assert!(matches!(parse(b"SSH-2.0-OpenSSH\r\n\r\n", Method::POST), Err(HeadError::Malformed(_))));
        assert!(matches!(parse(b"HTTP/1.1 099 X\r\n\r\n", Method::POST), Err(HeadError::Malformed(_))));
        assert!(matches!(
            parse(b"HTTP/1.1 101 Switching\r\nUpgrade: h2c\r\n\r\n", Method::POST),
            Err(HeadError::SwitchingProtocols)
        ));
    }

    #[test]
    fn interim_responses_are_consumed() {
        let (parsed, rest) =
            parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", Method::POST).unwrap();
        assert!(matches!(parsed, Parsed::Interim));
        assert_eq!(&rest[..], b"HTTP/1.1 204 No Content\r\n\r\n");
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let framing = |wire: &[u8], method: Method| match parse(wire, method).unwrap().0 {
            Parsed::Final(head) => (head.framing, head.keep_alive),
            other => panic!("{other:?}"),
        };
        use Framing::*;
        let cases: &[(&[u8], Method, (Framing, bool))] = &[
            (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", Method::HEAD, (Empty, true)),
            (b"HTTP/1.1 204 No Content\r\n\r\n", Method::POST, (Empty, true)),
            (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n", Method::GET, (Empty, true)),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Method::POST, (Empty, true)),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\ncontent-length: 7\r\n\r\n",
                Method::POST,
                (Length(7), true),
            ),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Method::POST, (Chunked, true)),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n", Method::POST, (Chunked, true)),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                Method::POST,
                (UntilClose, false),
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
                Method::POST,
                (Chunked, false),
            ),
            (b"HTTP/1.1 200 OK\r\n\r\n", Method::POST, (UntilClose, false)),
            (
                b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 1\r\n\r\n",
                Method::POST,
                (Length(1), false),
            ),
            (b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", Method::POST, (Length(1), false)),
        ];
        for (wire, method, expected) in cases {
            assert_eq!(framing(wire, method.clone()), *expected, "{}", String::from_utf8_lossy(wire));
        }
        for bad in ["x", "-1", "1 1", "", "7, 8", "99999999999999999999"] {
            let wire = format!("HTTP/1.1 200 OK\r\nContent-Length: {bad}\r\n\r\n");
            assert!(
                matches!(parse(wire.as_bytes(), Method::POST), Err(HeadError::InvalidContentLength)),
                "Content-Length: {bad:?}"
            );
        }
    }
}
