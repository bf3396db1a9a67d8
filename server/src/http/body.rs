//! Reading past a request body the server does not want.
//!
//! [`BodyDiscard`] is a state machine fed whatever bytes arrive, split anywhere (one
//! byte at a time works). A `Content-Length` body is skipped in bulk. A chunked body
//! (RFC 9112 section 7.1) is read strictly, because two parsers that disagree on where
//! a chunked body ends are how a request gets smuggled past a proxy:
//!
//! - every line ends in CRLF: a bare CR or LF is 400 (the head, read by httparse,
//!   tolerates a bare LF; a body does not);
//! - a chunk size is 1 to 16 hex digits (16 fill a `u64`, so it cannot overflow),
//!   optionally followed by whitespace, then extensions after `;`; extensions are
//!   skipped but may hold no control character, and the whole line is at most
//!   [`MAX_CHUNK_LINE`] bytes \[400\];
//! - chunk data is followed by CRLF [400 otherwise];
//! - trailer fields after the last chunk are skipped, at most [`MAX_TRAILERS`] bytes
//!   \[431\], with no control characters and no obsolete line folding \[400\].
//!
//! The limit counts content: `Content-Length`, or the sum of the chunk sizes, which is
//! refused \[413\] as soon as a chunk-size line announces more than the limit allows.
//! Framing is bounded per line and, at [`MAX_FRAMING`] bytes, in total \[413\]: a body
//! of one-byte chunks with long extensions must not cost far more than its content.

use super::{BodyKind, Error, Status};

/// Longest chunk-size line, extensions and CRLF included.
const MAX_CHUNK_LINE: usize = 4096;
/// Longest trailer section, every CRLF included.
const MAX_TRAILERS: usize = 8192;
/// Most bytes of chunked framing (size lines, CRLFs, trailers) in one body.
const MAX_FRAMING: u64 = 64 * 1024;
/// A `u64` holds 16 hex digits.
const MAX_SIZE_DIGITS: u8 = 16;

/// Consumes a request body (its bytes are dropped) up to a limit.
#[derive(Debug)]
pub struct BodyDiscard {
    state: State,
    /// Content bytes still allowed: `max` less the chunk sizes announced so far.
    allowance: u64,
    /// Bytes of any kind still allowed: content and [`MAX_FRAMING`].
    total_allowance: u64,
}

#[derive(Clone, Copy, Debug)]
enum State {
    /// Content bytes still to come of a `Content-Length` body.
    Length(u64),
    SizeLine(SizeLine),
    /// Bytes still to come of a chunk's data.
    Data(u64),
    /// The CR, then the LF, after a chunk's data.
    DataCr,
    DataLf,
    Trailers(Trailers),
    Done,
    /// A framing error: every later `feed` returns it again.
    Failed(Error),
}

/// A chunk-size line read so far.
#[derive(Clone, Copy, Debug, Default)]
struct SizeLine {
    size: u64,
    digits: u8,
    /// Bytes of the line so far, CRLF included.
    len: usize,
    part: SizePart,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum SizePart {
    #[default]
    Digits,
    /// Whitespace after the digits: `;` or CR must follow.
    Space,
    /// After the first `;`, up to CR.
    Extensions,
    /// After CR: LF must follow.
    Cr,
}

#[derive(Clone, Copy, Debug, Default)]
struct Trailers {
    /// Bytes of the trailer section so far.
    len: usize,
    /// Bytes of the current line before its CR.
    line: usize,
    cr: bool,
}

impl BodyDiscard {
    /// Errors with 413 when `kind` is a `Content-Length` over `max`.
    pub fn new(kind: BodyKind, max: u64) -> Result<BodyDiscard, Error> {
        let state = match kind {
            BodyKind::None | BodyKind::Length(0) => State::Done,
            BodyKind::Length(len) if len > max => return Err(too_large()),
            BodyKind::Length(len) => State::Length(len),
            BodyKind::Chunked => State::SizeLine(SizeLine::default()),
        };
        Ok(BodyDiscard { state, allowance: max, total_allowance: max.saturating_add(MAX_FRAMING) })
    }

    /// Feeds the bytes that follow; returns how many belong to the body (the rest is
    /// the next request) and whether the body is complete. Errors: malformed chunked
    /// framing \[400\], more than `max` body bytes in total \[413\], trailer fields over
    /// 8 KiB \[431\]. Until the body is complete, every byte given belongs to it; after
    /// an error, every call returns that error again.
    pub fn feed(&mut self, input: &[u8]) -> Result<(usize, bool), Error> {
        let mut used = 0;
        while used < input.len() && !self.is_done() {
            let step = self.step(&input[used..]).and_then(|n| self.count(n));
            used += step.inspect_err(|&error| self.state = State::Failed(error))?;
        }
        if let State::Failed(error) = self.state {
            return Err(error);
        }
        Ok((used, self.is_done()))
    }

    fn count(&mut self, n: usize) -> Result<usize, Error> {
        self.total_allowance = self.total_allowance.checked_sub(n as u64).ok_or_else(too_large)?;
        Ok(n)
    }

    /// Whether the whole body has been consumed.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Consumes from the front of `input` (not empty): data in bulk, framing by the byte.
    fn step(&mut self, input: &[u8]) -> Result<usize, Error> {
        let available = u64::try_from(input.len()).unwrap_or(u64::MAX);
        match self.state {
            State::Length(left) => {
                let taken = left.min(available);
                self.state = if taken == left { State::Done } else { State::Length(left - taken) };
                Ok(taken as usize) // at most input.len()
            }
            State::Data(left) => {
                let taken = left.min(available);
                self.state = if taken == left { State::DataCr } else { State::Data(left - taken) };
                Ok(taken as usize) // at most input.len()
            }
            _ => {
                self.state = self.after_byte(input[0])?;
                Ok(1)
            }
        }
    }

    /// The state after one framing byte.
    fn after_byte(&mut self, b: u8) -> Result<State, Error> {
        match self.state {
            State::SizeLine(line) => self.size_line(line, b),
            State::DataCr if b == b'\r' => Ok(State::DataLf),
            State::DataLf if b == b'\n' => Ok(State::SizeLine(SizeLine::default())),
            State::DataCr | State::DataLf => Err(malformed("chunk data not followed by CRLF")),
            State::Trailers(trailers) => trailer_byte(trailers, b),
            State::Failed(error) => Err(error),
            // `feed` stops at Done, and `step` takes Length and Data in bulk.
            State::Done | State::Length(_) | State::Data(_) => Ok(self.state),
        }
    }

    fn size_line(&mut self, mut line: SizeLine, b: u8) -> Result<State, Error> {
        line.len += 1;
        if line.len > MAX_CHUNK_LINE {
            return Err(malformed("chunk-size line too long"));
        }
        if let (SizePart::Digits, Some(digit)) = (line.part, hex_digit(b)) {
            if line.digits == MAX_SIZE_DIGITS {
                return Err(malformed("chunk size over 16 hex digits"));
            }
            line.size = line.size << 4 | u64::from(digit);
            line.digits += 1;
            return Ok(State::SizeLine(line));
        }
        line.part = match (line.part, b) {
            (SizePart::Digits, _) if line.digits == 0 => return Err(malformed("chunk size missing")),
            (SizePart::Digits | SizePart::Space, b' ' | b'\t') => SizePart::Space,
            (SizePart::Digits | SizePart::Space, b';') => SizePart::Extensions,
            (SizePart::Digits | SizePart::Space | SizePart::Extensions, b'\r') => SizePart::Cr,
            (SizePart::Extensions, _) if !is_control(b) => SizePart::Extensions,
            (SizePart::Cr, b'\n') => return self.chunk(line.size),
            _ => return Err(malformed("malformed chunk-size line")),
        };
        Ok(State::SizeLine(line))
    }

    /// A chunk of `size` bytes was announced.
    fn chunk(&mut self, size: u64) -> Result<State, Error> {
        if size == 0 {
            return Ok(State::Trailers(Trailers::default()));
        }
        self.allowance = self.allowance.checked_sub(size).ok_or_else(too_large)?;
        Ok(State::Data(size))
    }
}

fn trailer_byte(mut trailers: Trailers, b: u8) -> Result<State, Error> {
    trailers.len += 1;
    if trailers.len > MAX_TRAILERS {
        return Err(Error::new(Status::HEADER_FIELDS_TOO_LARGE, "trailer section too long"));
    }
    match (trailers.cr, b) {
        (true, b'\n') if trailers.line == 0 => return Ok(State::Done),
        (true, b'\n') => trailers = Trailers { line: 0, cr: false, ..trailers },
        (true, _) => return Err(malformed("bare CR in trailer section")),
        (false, b'\r') => trailers.cr = true,
        (false, b' ' | b'\t') if trailers.line == 0 => {
            return Err(malformed("obsolete line folding in trailers"));
        }
        (false, _) if is_control(b) => return Err(malformed("control character in trailer section")),
        (false, _) => trailers.line += 1,
    }
    Ok(State::Trailers(trailers))
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// CTL less HTAB: CR and LF included, so a line end can only be CRLF.
fn is_control(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

fn malformed(reason: &'static str) -> Error {
    Error::new(Status::BAD_REQUEST, reason)
}

fn too_large() -> Error {
    Error::new(Status::CONTENT_TOO_LARGE, "request body over the limit")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = 64 * 1024;

    fn chunked() -> BodyDiscard {
        BodyDiscard::new(BodyKind::Chunked, MAX).unwrap()
    }

    /// Feeds `input` whole to a fresh chunked discard; the status on error.
    fn feed_chunked(input: &[u8]) -> Result<(usize, bool), u16> {
        chunked().feed(input).map_err(|e| e.status.code())
    }

    /// Feeds `input` one byte at a time: the bytes consumed and whether it finished.
    fn feed_bytewise(discard: &mut BodyDiscard, input: &[u8]) -> Result<(usize, bool), u16> {
        let mut used = 0;
        for byte in input.chunks(1) {
            let (n, done) = discard.feed(byte).map_err(|e| e.status.code())?;
            used += n;
            if done {
                return Ok((used, true));
            }
        }
        Ok((used, false))
    }

    #[test]
    fn no_body_is_done_at_once() {
        for kind in [BodyKind::None, BodyKind::Length(0)] {
            let mut discard = BodyDiscard::new(kind, 0).unwrap();
            assert!(discard.is_done());
            assert_eq!(discard.feed(b"GET / HTTP/1.1\r\n"), Ok((0, true)));
        }
    }

    #[test]
    fn content_length_body_stops_at_its_length() {
        let mut discard = BodyDiscard::new(BodyKind::Length(5), 5).unwrap();
        assert_eq!(discard.feed(b""), Ok((0, false)));
        assert_eq!(discard.feed(b"hel"), Ok((3, false)));
        assert!(!discard.is_done());
        assert_eq!(discard.feed(b"loGET"), Ok((2, true)));
        assert!(discard.is_done());
        assert_eq!(discard.feed(b"GET"), Ok((0, true)));
    }

    #[test]
    fn content_length_over_the_limit_is_413() {
        let error = BodyDiscard::new(BodyKind::Length(MAX + 1), MAX).unwrap_err();
        assert_eq!(error.status, Status::CONTENT_TOO_LARGE);
        assert!(BodyDiscard::new(BodyKind::Length(MAX), MAX).is_ok());
    }

    const BODY: &[u8] = b"5\r\nhello\r\n1a;name=value;q=\"a b\"\r\nabcdefghijklmnopqrstuvwxyz\r\n\
A \t;x\r\n0123456789\r\n000;last\r\nTrailer: yes\r\nOther:\tx\r\n\r\n";

    #[test]
    fn chunked_body_stops_after_its_trailers() {
        let mut input = BODY.to_vec();
        input.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(feed_chunked(&input), Ok((BODY.len(), true)));
        assert_eq!(feed_chunked(b"0\r\n\r\n"), Ok((5, true)));
        assert_eq!(feed_chunked(b"3 \r\nabc\r\n0\r\n\r\n"), Ok((14, true)));
    }

    #[test]
    fn chunked_body_split_anywhere() {
        let mut discard = chunked();
        assert_eq!(feed_bytewise(&mut discard, BODY), Ok((BODY.len(), true)));
        assert!(discard.is_done());
        for split in 0..=BODY.len() {
            let mut discard = chunked();
            let (first, done) = discard.feed(&BODY[..split]).unwrap();
            assert_eq!((first, done), (split, split == BODY.len()), "{split}");
            assert_eq!(discard.feed(&BODY[split..]).unwrap(), (BODY.len() - split, true), "{split}");
        }
    }

    #[test]
    fn malformed_chunk_sizes_are_400() {
        for bad in [
            &b"\r\n"[..],
            b";ext\r\n",
            b" 5\r\n",
            b"-5\r\n",
            b"0x5\r\n",
            b"5 5\r\n",
            b"5 x\r\n",
            b"g\r\n",
            b"5\n",
            b"5\rx",
            b"5;a\nb\r\n",
            b"5;a\0\r\n",
            b"00000000000000001\r\n",
        ] {
            assert_eq!(feed_chunked(bad), Err(400), "{}", bad.escape_ascii());
        }
    }

    #[test]
    fn chunk_data_must_end_in_crlf() {
        for bad in [&b"5\r\nhelloX"[..], b"5\r\nhello\n", b"5\r\nhello\rX", b"5\r\nhello\r\r\n"] {
            assert_eq!(feed_chunked(bad), Err(400), "{}", bad.escape_ascii());
        }
    }

    #[test]
    fn chunk_size_line_is_bounded() {
        let line = |len: usize| {
            let mut line = b"1;".to_vec();
            line.resize(len - 2, b'e');
            line.extend_from_slice(b"\r\n");
            line
        };
        assert_eq!(feed_chunked(&line(MAX_CHUNK_LINE)), Ok((MAX_CHUNK_LINE, false)));
        assert_eq!(feed_chunked(&line(MAX_CHUNK_LINE + 1)), Err(400));
    }

    #[test]
    fn sixteen_hex_digits_do_not_overflow() {
        assert_eq!(feed_chunked(b"FFFFFFFFFFFFFFFF\r\n"), Err(413));
        assert_eq!(feed_chunked(b"000000000000000A\r\n"), Ok((18, false)));
    }

    #[test]
    fn content_over_the_limit_is_413_when_announced() {
        let mut discard = BodyDiscard::new(BodyKind::Chunked, 10).unwrap();
        assert_eq!(discard.feed(b"5\r\nhello\r\n5\r\nworld\r\n"), Ok((20, false)));
        let error = discard.feed(b"1\r\n").unwrap_err();
        assert_eq!(error.status, Status::CONTENT_TOO_LARGE);
        let mut discard = BodyDiscard::new(BodyKind::Chunked, 10).unwrap();
        assert_eq!(discard.feed(b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n"), Ok((25, true)));
        let mut discard = BodyDiscard::new(BodyKind::Chunked, 10).unwrap();
        assert_eq!(feed_bytewise(&mut discard, b"b\r\n"), Err(413));
    }

    #[test]
    fn trailers_are_bounded_and_checked() {
        let with_trailer = |len: usize| {
            let mut body = b"0\r\nX: ".to_vec();
            body.resize(3 + len - 4, b'v');
            body.extend_from_slice(b"\r\n\r\n");
            body
        };
        let fits = with_trailer(MAX_TRAILERS);
        assert_eq!(feed_chunked(&fits), Ok((fits.len(), true)));
        assert_eq!(feed_chunked(&with_trailer(MAX_TRAILERS + 1)), Err(431));
        for bad in [
            &b"0\r\nX: a\nY: b\r\n\r\n"[..],
            b"0\r\nX: a\r\n folded\r\n\r\n",
            b"0\r\nX: \x01\r\n\r\n",
            b"0\r\n\rX",
        ] {
            assert_eq!(feed_chunked(bad), Err(400), "{}", bad.escape_ascii());
        }
    }

    #[test]
    fn errors_are_sticky() {
        let mut discard = chunked();
        assert_eq!(discard.feed(b"x").unwrap_err().status, Status::BAD_REQUEST);
        assert_eq!(discard.feed(b"").unwrap_err().status, Status::BAD_REQUEST);
        assert_eq!(discard.feed(b"0\r\n\r\n").unwrap_err().status, Status::BAD_REQUEST);
        assert!(!discard.is_done());
    }

    #[test]
    fn framing_is_bounded_in_total() {
        let mut body = BodyDiscard::new(BodyKind::Chunked, 64 * 1024).unwrap();
        let chunk = format!("1;{}\r\nx\r\n", "e".repeat(4000));
        let mut result = Ok((0, false));
        for _ in 0..100 {
            result = body.feed(chunk.as_bytes());
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result.unwrap_err().status, Status::CONTENT_TOO_LARGE);
    }
}
