//! Upstream HTTP/1.1 responses as the edge reads them on plain connections
//! (`data-plane/src/upstream_client/wire.rs` and `chunked.rs`), from arbitrary bytes cut
//! into arbitrary chunks. Nothing panics; the head, its framing and the body's data come out
//! the same whether the bytes arrive whole or piece by piece; a body never yields more bytes
//! than arrived.
#![no_main]

use bytes::BytesMut;
use gatehouse_data_plane::fuzzing::{ChunkedDecoded, ChunkedDecoder, Framing, ParsedHead, ResponseParser};
use gatehouse_fuzz::chunks;
use http::Method;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let (seed, stream) = input.split_at(input.len().min(4));
    let whole = read(&[stream]);
    let pieces = read(&chunks(seed, stream));
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
    Response { status: u16, framing: Framing, data: Vec<u8>, ended: bool },
    BodyRefused { status: u16, data: Vec<u8> },
}

/// What the edge makes of `pieces` arriving in turn.
fn read(pieces: &[&[u8]]) -> Outcome {
    let mut buf = BytesMut::new();
    let mut pieces = pieces.iter();
    let mut parser = ResponseParser::default();
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
    let mut data = Vec::new();
    let ended = match head.framing {
        Framing::Empty => true,
        Framing::Length(n) => {
            loop {
                let take = (n - data.len() as u64).min(buf.len() as u64) as usize;
                data.extend_from_slice(&buf.split_to(take));
                if data.len() as u64 == n {
                    break true;
                }
                match pieces.next() {
                    Some(piece) => buf.extend_from_slice(piece),
                    None => break false,
                }
            }
        }
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
    Outcome::Response { status, framing: head.framing, data, ended }
}
