//! Upstream HTTP/1.1 responses as the edge reads them on plain connections
//! (`data-plane/src/upstream_client/wire.rs` and `chunked.rs`), from arbitrary bytes cut
//! into arbitrary chunks. Nothing panics; the head, its fields, its framing and the body's
//! data come out the same whether the bytes arrive whole or piece by piece, and whether the
//! parser is new or has read another head before (it keeps the last head's field names);
//! a body never yields more bytes than arrived.
#![no_main]

use bytes::BytesMut;
use gatehouse_data_plane::fuzzing::{ChunkedDecoded, ChunkedDecoder, Framing, ParsedHead, ResponseParser};
use gatehouse_fuzz::chunks;
use http::Method;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let (seed, stream) = input.split_at(input.len().min(4));
    let whole = read(&[stream], ResponseParser::default());
    let pieces = read(&chunks(seed, stream), warmed());
    assert_eq!(whole, pieces, "the same response however it arrives");
    if let Outcome::Response { data, .. } = &whole {
        assert!(data.len() <= stream.len());
    }
});

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The bytes ended before a whole head.
    NoHead,
    HeadRefused,
    Response {
        status: u16,
        fields: Vec<(String, Vec<u8>)>,
        framing: Framing,
        data: Vec<u8>,
        ended: bool,
    },
    BodyRefused {
        status: u16,
        data: Vec<u8>,
    },
}

/// A parser that has read a head already.
fn warmed() -> ResponseParser {
    let mut parser = ResponseParser::default();
    let head = b"HTTP/1.1 200 OK\r\nContent-Type: a\r\nX-Trace: 1\r\nContent-Length: 0\r\n\r\n";
    let _ = parser.parse(&mut BytesMut::from(&head[..]), &Method::POST);
    parser
}

/// What the edge makes of `pieces` arriving in turn, read with `parser`.
fn read(pieces: &[&[u8]], mut parser: ResponseParser) -> Outcome {
    let mut buf = BytesMut::new();
    let mut pieces = pieces.iter();
    let head = loop {
        match parser.parse(&mut buf, &Method::POST) {
            Ok(ParsedHead::Final(head)) => break head,
            Ok(ParsedHead::Interim) => {}
            Ok(ParsedHead::Partial) => match pieces.next() {
                Some(piece) => buf.extend_from_slice(piece),
                None => return Outcome::NoHead,
            },
            Err(_) => return Outcome::HeadRefused,
        }
    };
    let status = head.status.as_u16();
    let fields = head.headers.iter().map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec())).collect();
    let mut data = Vec::new();
    let ended = match head.framing {
        Framing::Empty => true,
        Framing::Length(n) => loop {
            let take = (n - data.len() as u64).min(buf.len() as u64) as usize;
            data.extend_from_slice(&buf.split_to(take));
            if data.len() as u64 == n {
                break true;
            }
            match pieces.next() {
                Some(piece) => buf.extend_from_slice(piece),
                None => break false,
            }
        },
        Framing::UntilClose => {
            data.extend_from_slice(&buf.split());
            for piece in pieces {
                data.extend_from_slice(piece);
            }
            true
        }
        Framing::Chunked => {
            let mut decoder = ChunkedDecoder::default();
            loop {
                match decoder.decode(&mut buf) {
                    Ok(ChunkedDecoded::Data(bytes)) => {
                        assert!(!bytes.is_empty());
                        data.extend_from_slice(&bytes);
                    }
                    Ok(ChunkedDecoded::Done) => break true,
                    Ok(ChunkedDecoded::NeedMore) => {
                        assert!(buf.is_empty());
                        match pieces.next() {
                            Some(piece) => buf.extend_from_slice(piece),
                            None => break false,
                        }
                    }
                    Err(_) => return Outcome::BodyRefused { status, data },
                }
            }
        }
    };
    Outcome::Response { status, fields, framing: head.framing, data, ended }
}
