//! `Range: bytes=...` (RFC 9110 section 14) and the `multipart/byteranges` body for
//! several ranges.
//!
//! Ranges are resolved against the length, sorted and coalesced (overlapping or
//! adjacent ranges become one), so a client cannot make the server send a byte twice.
//! More than [`MAX_RANGES`] left after that, a syntax error, or a unit other than
//! `bytes` make the server ignore the header and send the whole file, as section 14.2
//! allows.

use std::fmt;
use std::hash::BuildHasher;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::Part;

/// Most ranges served as one multipart body.
pub(super) const MAX_RANGES: usize = 16;

/// What a `Range` header asks of a representation.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Ranges {
    /// Send the whole representation (no usable `Range`).
    Whole,
    /// 416: no range overlaps the representation.
    Unsatisfiable,
    /// 206: sorted, disjoint, non-adjacent, between 1 and `MAX_RANGES`.
    Partial(Vec<ByteRange>),
}

/// The bytes `first..=last` of a representation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ByteRange {
    pub(super) first: u64,
    pub(super) last: u64,
}

/// `bytes FIRST-LAST/LEN`, the `Content-Range` of a part.
#[derive(Clone, Copy, Debug)]
pub(super) struct ContentRange {
    pub(super) range: ByteRange,
    pub(super) len: u64,
}

/// A multipart delimiter: 16 hex digits no one can predict, so no file content can
/// contain it by design; the file is never scanned for it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Boundary(u64);

/// One `byte-range-spec` or `suffix-range` as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Spec {
    /// `first-last`
    Closed(u64, u64),
    /// `first-`
    From(u64),
    /// `-count`: the last `count` bytes.
    Suffix(u64),
}

impl ByteRange {
    pub(super) fn len(self) -> u64 {
        self.last - self.first + 1
    }
}

/// Parses a `Range` value against a representation of `len` bytes.
pub(super) fn parse(range: &str, len: u64) -> Ranges {
    let Some((unit, set)) = range.trim().split_once('=') else { return Ranges::Whole };
    if !unit.eq_ignore_ascii_case("bytes") {
        return Ranges::Whole;
    }
    let mut ranges = Vec::new();
    let mut any_spec = false;
    // Empty list members are allowed and ignored (RFC 9110 section 5.6.1.2).
    for member in
        set.split(',').map(|member| member.trim_matches([' ', '\t'])).filter(|member| !member.is_empty())
    {
        let Some(spec) = Spec::parse(member) else { return Ranges::Whole };
        any_spec = true;
        ranges.extend(spec.resolve(len));
    }
    if !any_spec {
        return Ranges::Whole;
    }
    if ranges.is_empty() {
        return Ranges::Unsatisfiable;
    }
    coalesce(&mut ranges);
    if ranges.len() > MAX_RANGES {
        return Ranges::Whole;
    }
    Ranges::Partial(ranges)
}

/// The parts of a `multipart/byteranges` body (RFC 9110 section 14.6) and its closing
/// delimiter: each part's header names `content_type` and its `Content-Range`.
pub(super) fn multipart(
    ranges: &[ByteRange],
    len: u64,
    content_type: impl fmt::Display,
    boundary: Boundary,
) -> (Vec<Part>, Vec<u8>) {
    let parts = ranges.iter().enumerate().map(|(index, &range)| {
        let mut header = Vec::with_capacity(96);
        // The first delimiter needs no CRLF before it: the body starts there.
        let crlf = if index == 0 { "" } else { "\r\n" };
        let content_range = ContentRange { range, len };
        write!(
            header,
            "{crlf}--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: {content_range}\r\n\r\n"
        )
        .expect("writing to a Vec cannot fail");
        Part { header, offset: range.first, len: range.len() }
    });
    let parts = parts.collect();
    (parts, format!("\r\n--{boundary}--\r\n").into_bytes())
}

impl Spec {
    fn parse(spec: &str) -> Option<Spec> {
        let (first, last) = spec.split_once('-')?;
        match (first, last) {
            ("", count) => Some(Spec::Suffix(digits(count)?)),
            (first, "") => Some(Spec::From(digits(first)?)),
            (first, last) => {
                let (first, last) = (digits(first)?, digits(last)?);
                // A last position before the first makes the whole set invalid.
                (first <= last).then_some(Spec::Closed(first, last))
            }
        }
    }

    /// The bytes this spec selects of `len`, if any.
    fn resolve(self, len: u64) -> Option<ByteRange> {
        let end = len.checked_sub(1)?;
        match self {
            Spec::Closed(first, last) => (first < len).then(|| ByteRange { first, last: last.min(end) }),
            Spec::From(first) => (first < len).then_some(ByteRange { first, last: end }),
            Spec::Suffix(count) => {
                (count > 0).then(|| ByteRange { first: len.saturating_sub(count), last: end })
            }
        }
    }
}

/// `1*DIGIT`, saturating: a position past any file is as unsatisfiable as the file's
/// length, and a last position past the end is clamped anyway.
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    Some(
        text.bytes()
            .fold(0u64, |value, digit| value.saturating_mul(10).saturating_add(u64::from(digit - b'0'))),
    )
}

/// Sorts `ranges` and merges those that overlap or touch.
fn coalesce(ranges: &mut Vec<ByteRange>) {
    ranges.sort_unstable_by_key(|range| range.first);
    ranges.dedup_by(|next, kept| {
        let touches = next.first <= kept.last.saturating_add(1);
        if touches {
            kept.last = kept.last.max(next.last);
        }
        touches
    });
}

impl Boundary {
    /// A fresh boundary: a process-wide counter and the time, hashed with the
    /// randomly keyed `RandomState`.
    pub(super) fn new() -> Boundary {
        // Relaxed: the counter only makes each value distinct; it publishes nothing.
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Boundary(std::collections::hash_map::RandomState::new().hash_one((count, now)))
    }
}

impl fmt::Display for Boundary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Display for ContentRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bytes {}-{}/{}", self.range.first, self.range.last, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partial(pairs: &[(u64, u64)]) -> Ranges {
        Ranges::Partial(pairs.iter().map(|&(first, last)| ByteRange { first, last }).collect())
    }

    #[test]
    fn the_three_forms() {
        assert_eq!(parse("bytes=0-499", 1000), partial(&[(0, 499)]));
        assert_eq!(parse("bytes=500-", 1000), partial(&[(500, 999)]));
        assert_eq!(parse("bytes=-200", 1000), partial(&[(800, 999)]));
        assert_eq!(parse("bytes=-2000", 1000), partial(&[(0, 999)]));
        assert_eq!(parse("BYTES=5-5", 1000), partial(&[(5, 5)]));
    }

    #[test]
    fn last_positions_are_clamped() {
        assert_eq!(parse("bytes=900-5000", 1000), partial(&[(900, 999)]));
        assert_eq!(parse("bytes=0-99999999999999999999999", 10), partial(&[(0, 9)]));
    }

    #[test]
    fn whitespace_and_empty_members_are_tolerated() {
        assert_eq!(parse("bytes=0-1 ,\t5-6,, ", 10), partial(&[(0, 1), (5, 6)]));
    }

    #[test]
    fn syntax_errors_and_other_units_are_ignored() {
        for range in [
            "bytes=",
            "bytes=,",
            "bytes 0-1",
            "items=0-1",
            "bytes=1",
            "bytes=a-b",
            "bytes=5-1",
            "bytes=0-1,x",
            "bytes=--1",
            "bytes=0 -1",
            "bytes=+1-2",
        ] {
            assert_eq!(parse(range, 10), Ranges::Whole, "{range}");
        }
    }

    #[test]
    fn unsatisfiable_specs_are_dropped() {
        assert_eq!(parse("bytes=10-20", 10), Ranges::Unsatisfiable);
        assert_eq!(parse("bytes=-0", 10), Ranges::Unsatisfiable);
        assert_eq!(parse("bytes=99999999999999999999999-", 10), Ranges::Unsatisfiable);
        assert_eq!(parse("bytes=10-, 2-3, -0", 10), partial(&[(2, 3)]));
    }

    #[test]
    fn nothing_is_satisfiable_in_an_empty_file() {
        for range in ["bytes=0-", "bytes=0-0", "bytes=-5"] {
            assert_eq!(parse(range, 0), Ranges::Unsatisfiable, "{range}");
        }
    }

    #[test]
    fn ranges_are_sorted_and_coalesced() {
        assert_eq!(parse("bytes=50-59,0-9", 100), partial(&[(0, 9), (50, 59)]));
        assert_eq!(parse("bytes=0-9,5-20,21-30", 100), partial(&[(0, 30)]));
        assert_eq!(parse("bytes=0-0,0-0,0-0", 100), partial(&[(0, 0)]));
        assert_eq!(parse("bytes=-10,80-", 100), partial(&[(80, 99)]));
        assert_eq!(parse("bytes=20-30,0-50", 100), partial(&[(0, 50)]));
    }

    #[test]
    fn too_many_ranges_are_ignored() {
        let sixteen: Vec<String> = (0..16).map(|index| format!("{}-{}", index * 10, index * 10)).collect();
        assert!(
            matches!(parse(&format!("bytes={}", sixteen.join(",")), 1000), Ranges::Partial(ranges) if ranges.len() == 16)
        );
        let seventeen: Vec<String> = (0..17).map(|index| format!("{}-{}", index * 10, index * 10)).collect();
        assert_eq!(parse(&format!("bytes={}", seventeen.join(",")), 1000), Ranges::Whole);
        let overlapping = vec!["0-5"; 1000].join(",");
        assert_eq!(parse(&format!("bytes={overlapping}"), 1000), partial(&[(0, 5)]));
    }

    #[test]
    fn multipart_bodies_frame_each_part() {
        let ranges = [ByteRange { first: 0, last: 1 }, ByteRange { first: 5, last: 9 }];
        let boundary = Boundary(0xab);
        let (parts, trailer) = multipart(&ranges, 10, "text/plain", boundary);
        let header = |part: &Part| String::from_utf8(part.header.clone()).unwrap();
        assert_eq!(
            header(&parts[0]),
            "--00000000000000ab\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/10\r\n\r\n"
        );
        assert_eq!(
            header(&parts[1]),
            "\r\n--00000000000000ab\r\nContent-Type: text/plain\r\nContent-Range: bytes 5-9/10\r\n\r\n"
        );
        assert_eq!((parts[0].offset, parts[0].len, parts[1].offset, parts[1].len), (0, 2, 5, 5));
        assert_eq!(trailer, b"\r\n--00000000000000ab--\r\n");
    }

    #[test]
    fn boundaries_differ() {
        let (first, second) = (Boundary::new(), Boundary::new());
        assert_ne!(first.0, second.0);
        assert_eq!(first.to_string().len(), 16);
    }
}
