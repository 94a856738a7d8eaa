//! The `chunked` transfer coding of an upstream's response body (RFC 9112 §7.1), decoded as
//! its bytes arrive: data is handed on as soon as any of a chunk is in, so a server-sent
//! event stream flows through unbuffered. Chunk extensions and trailer fields are read and
//! dropped (the client gets the data only, as from hyper's client before).

use bytes::{Buf as _, Bytes, BytesMut};

/// Longest chunk-size line, extensions included.
const MAX_SIZE_LINE: usize = 4096;
/// Most bytes of trailer fields after the last chunk.
const MAX_TRAILERS: usize = 16 * 1024;

/// What [`ChunkedDecoder::decode`] found at the front of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Bytes of chunk data (never empty).
    Data(Bytes),
    /// Everything in the buffer is consumed; the body goes on.
    NeedMore,
    /// The last chunk and the trailer section are read: the body has ended.
    Done,
}

/// A malformed chunked body: the connection cannot be used again.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChunkedError {
    #[error("invalid chunk size line in the upstream's chunked response body")]
    SizeLine,
    #[error("chunk size in the upstream's response body is too large")]
    SizeOverflow,
    #[error("missing CRLF after a chunk in the upstream's response body")]
    DataEnd,
    #[error("malformed or oversized trailer section in the upstream's response body")]
    Trailers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Hex digits of the size.
    Size,
    /// Whitespace after the size, before `;` or the line's end.
    SizeSpace,
    /// A chunk extension: anything up to the line's end.
    Extension,
    /// `\r` seen at the end of the size line.
    SizeLf,
    /// Data of the current chunk.
    Data,
    /// `\r` after a chunk's data.
    DataCr,
    /// `\n` after a chunk's data.
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a trailer field line.
    TrailerLine,
    /// `\r` seen at the end of a trailer field line.
    TrailerLf,
    /// `\r` seen on the final empty line.
    EndLf,
    Done,
}

/// The decoder of one body.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    /// The chunk's size while its line is read, then what is left of its data.
    size: u64,
    digits: u8,
    /// Bytes of the current size line, or of all trailer lines.
    line: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self { state: State::Size, size: 0, digits: 0, line: 0 }
    }
}

impl ChunkedDecoder {
    /// Whether the last chunk and the trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from the front of `buf`, removing what it consumed: returns data as soon as
    /// any is there, `NeedMore` once `buf` is used up, `Done` at the body's end (bytes after
    /// the end stay in `buf`).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, ChunkedError> {
        let mut at = 0;
        let result = loop {
            if self.state == State::Done {
                break Ok(Decoded::Done);
            }
            if self.state == State::Data {
                if at < buf.len() {
                    let available = (buf.len() - at) as u64;
                    let take = self.size.min(available) as usize;
                    self.size -= take as u64;
                    if self.size == 0 {
                        self.state = State::DataCr;
                    }
                    // The line bytes before the data are consumed with it.
                    buf.advance(at);
                    return Ok(Decoded::Data(buf.split_to(take).freeze()));
                }
                break Ok(Decoded::NeedMore);
            }
            let Some(&byte) = buf.get(at) else { break Ok(Decoded::NeedMore) };
            at += 1;
            if let Err(error) = self.step(byte) {
                break Err(error);
            }
        };
        buf.advance(at);
        result
    }

    /// One byte of a size line, the CRLF after data, or the trailers.
    fn step(&mut self, byte: u8) -> Result<(), ChunkedError> {
        match self.state {
            State::Size | State::SizeSpace | State::Extension => {
                self.line += 1;
                if self.line > MAX_SIZE_LINE {
                    return Err(ChunkedError::SizeLine);
                }
            }
            State::TrailerStart | State::TrailerLine | State::TrailerLf | State::EndLf => {
                self.line += 1;
                if self.line > MAX_TRAILERS {
                    return Err(ChunkedError::Trailers);
                }
            }
            _ => {}
        }
        self.state = match (self.state, byte) {
            (State::Size, b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F') => {
                let digit = (byte as char).to_digit(16).unwrap_or(0) as u64;
                self.digits += 1;
                // Sixteen hex digits fill a u64; leading zeros are allowed.
                if self.size > u64::MAX >> 4 {
                    return Err(ChunkedError::SizeOverflow);
                }
                self.size = self.size << 4 | digit;
                State::Size
            }
            (State::Size | State::SizeSpace, b' ' | b'\t') if self.digits > 0 => State::SizeSpace,
            (State::Size | State::SizeSpace, b';') if self.digits > 0 => State::Extension,
            (State::Size | State::SizeSpace | State::Extension, b'\r') if self.digits > 0 => State::SizeLf,
            (State::Extension, b'\n') => return Err(ChunkedError::SizeLine),
            (State::Extension, _) => State::Extension,
            (State::SizeLf, b'\n') => {
                self.digits = 0;
                self.line = 0;
                if self.size == 0 {
                    State::TrailerStart
                } else {
                    State::Data
                }
            }
            (State::Size | State::SizeSpace | State::SizeLf, _) => return Err(ChunkedError::SizeLine),
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => State::Size,
            (State::DataCr | State::DataLf, _) => return Err(ChunkedError::DataEnd),
            (State::TrailerStart, b'\r') => State::EndLf,
            (State::TrailerStart | State::TrailerLine, b'\n') => return Err(ChunkedError::Trailers),
            (State::TrailerLine, b'\r') => State::TrailerLf,
            (State::TrailerStart | State::TrailerLine, _) => State::TrailerLine,
            (State::TrailerLf, b'\n') => State::TrailerStart,
            (State::EndLf, b'\n') => State::Done,
            (State::TrailerLf | State::EndLf, _) => return Err(ChunkedError::Trailers),
            // Handled by `decode` before a byte is read.
            (State::Data | State::Done, _) => self.state,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `wire` fed in pieces of `step` bytes; returns the data and whether it ended,
    /// and what was left after the end.
    fn decode_in_pieces(wire: &[u8], step: usize) -> Result<(Vec<u8>, bool, Vec<u8>), ChunkedError> {
        let mut decoder = ChunkedDecoder::default();
        let mut buf = BytesMut::new();
        let mut data = Vec::new();
        let step = step.max(1);
        for (i, piece) in wire.chunks(step).enumerate() {
            buf.extend_from_slice(piece);
            loop {
                match decoder.decode(&mut buf)? {
                    Decoded::Data(bytes) => {
                        assert!(!bytes.is_empty());
                        data.extend_from_slice(&bytes);
                    }
                    Decoded::NeedMore => {
                        assert!(buf.is_empty(), "NeedMore leaves nothing unread");
                        break;
                    }
                    Decoded::Done => {
                        // What arrives after the end is the connection's, not the body's.
                        let unfed = wire.get((i + 1) * step..).unwrap_or_default();
                        buf.extend_from_slice(unfed);
                        return Ok((data, decoder.is_done(), buf.to_vec()));
                    }
                }
            }
        }
        Ok((data, decoder.is_done(), buf.to_vec()))
    }

    #[test]
    fn chunks_decode_the_same_however_the_bytes_arrive() {
        let wire = b"5\r\nhello\r\n1;name=value\r\n \r\nA \t; ext\r\n0123456789\r\n000\r\nExpires: never\r\nX-Two: 2\r\n\r\nNEXT";
        for step in 1..=wire.len() {
            let (data, done, rest) = decode_in_pieces(wire, step).unwrap();
            assert_eq!(data, b"hello 0123456789", "pieces of {step}");
            assert!(done);
            assert_eq!(rest, b"NEXT", "bytes after the body are left, pieces of {step}");
        }
    }

    #[test]
    fn an_unfinished_body_is_not_done() {
        let (data, done, _) = decode_in_pieces(b"3\r\nabc\r\n0\r\n", 2).unwrap();
        assert_eq!(data, b"abc");
        assert!(!done, "the final CRLF is missing");
    }

    #[test]
    fn malformed_bodies_are_errors() {
        let cases: &[(&[u8], ChunkedError)] = &[
            (b"x\r\n", ChunkedError::SizeLine),
            (b"\r\n", ChunkedError::SizeLine),
            (b";ext\r\n", ChunkedError::SizeLine),
            (b"5\n", ChunkedError::SizeLine),
            (b"5 5\r\n", ChunkedError::SizeLine),
            (b"5;a\nb\r\n", ChunkedError::SizeLine),
            (b"10000000000000000\r\n", ChunkedError::SizeOverflow),
            (b"3\r\nabcX", ChunkedError::DataEnd),
            (b"3\r\nabc\rX", ChunkedError::DataEnd),
            (b"0\r\nbad\n", ChunkedError::Trailers),
            (b"0\r\n\rX", ChunkedError::Trailers),
        ];
        for (wire, expected) in cases {
            for step in [1, wire.len()] {
                assert_eq!(
                    decode_in_pieces(wire, step).unwrap_err(),
                    *expected,
                    "{:?} in pieces of {step}",
                    String::from_utf8_lossy(wire)
                );
            }
        }
    }

    #[test]
    fn the_largest_size_parses_and_lines_are_bounded() {
        let mut decoder = ChunkedDecoder::default();
        let mut buf = BytesMut::from(&b"00ffffffffffffffff\r\nab"[..]);
        assert_eq!(decoder.decode(&mut buf).unwrap(), Decoded::Data(Bytes::from_static(b"ab")));
        assert_eq!(decoder.size, u64::MAX - 2);

        let long = format!("1;{}\r\n", "e".repeat(MAX_SIZE_LINE));
        assert_eq!(decode_in_pieces(long.as_bytes(), 100).unwrap_err(), ChunkedError::SizeLine);
        let trailers = format!("0\r\n{}\r\n\r\n", "t".repeat(MAX_TRAILERS));
        assert_eq!(decode_in_pieces(trailers.as_bytes(), 100).unwrap_err(), ChunkedError::Trailers);
    }
}
