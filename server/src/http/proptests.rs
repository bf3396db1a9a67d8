//! Properties over arbitrary input: the parser and the body discard never panic,
//! never claim more bytes than they were given, and do not depend on how the input
//! was split.

use proptest::prelude::*;

use super::{BodyDiscard, BodyKind, Limits, Parsed, parse_request};

const VALID: &[u8] = b"\r\nPOST http://example.com:8080/a%20b/c?x=1&y HTTP/1.1\r\nHost: example.com\r\n\
Connection: keep-alive, Upgrade\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\
Range: bytes=0-99\r\nIf-None-Match: \"a\", W/\"b\"\r\nAccept-Encoding: gzip, br\r\n\r\n\
5;e=1\r\nhello\r\n0\r\nTrailer: t\r\n\r\nGET / HTTP/1.0\r\n\r\n";

/// Bytes that matter to the grammar, more often than chance would pick them.
fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![any::<u8>(), prop::sample::select(&b"\r\n \t:;,?#/*%\"\\=0aAfF\x00\x7f\x80\xff"[..]),]
}

#[derive(Clone, Debug)]
enum Mutation {
    Replace(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), interesting_byte()).prop_map(|(at, b)| Mutation::Replace(at, b)),
        (any::<usize>(), interesting_byte()).prop_map(|(at, b)| Mutation::Insert(at, b)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        let len = bytes.len();
        match *mutation {
            Mutation::Replace(at, b) if len > 0 => bytes[at % len] = b,
            Mutation::Insert(at, b) => bytes.insert(at % (len + 1), b),
            Mutation::Remove(at) if len > 0 => drop(bytes.remove(at % len)),
            Mutation::Truncate(at) => bytes.truncate(at % (len + 1)),
            _ => {}
        }
    }
    bytes
}

fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        Just(Limits::default()),
        (1..80usize, 1..300usize, 0..12usize, 0..64u64).prop_map(|(line, head, headers, body)| Limits {
            max_request_line: line,
            max_head: head,
            max_headers: headers,
            max_body: body,
        }),
    ]
}

/// Parses `buf`; then whatever the outcome, discards the body the head declares from
/// the rest, in the given pieces.
fn check(buf: &[u8], limits: &Limits, pieces: &[usize]) -> Result<(), TestCaseError> {
    let parsed = parse_request(buf, limits);
    if let Ok(Parsed::Partial) = parsed {
        prop_assert!(buf.len() < limits.max_head, "Partial only within the limits");
    }
    let Ok(Parsed::Complete(request, len)) = parsed else { return Ok(()) };
    prop_assert!(len <= buf.len() && len <= limits.max_head);
    // The head alone parses to the same length.
    let again = parse_request(&buf[..len], limits);
    prop_assert!(matches!(again, Ok(Parsed::Complete(_, l)) if l == len), "{again:?}");
    let Ok(mut discard) = BodyDiscard::new(request.body, limits.max_body) else { return Ok(()) };
    let mut rest = &buf[len..];
    for &piece in pieces {
        let piece = piece.min(rest.len());
        match discard.feed(&rest[..piece]) {
            Ok((used, done)) => {
                prop_assert!(used <= piece);
                prop_assert_eq!(done, discard.is_done());
                prop_assert!(done || used == piece, "an unfinished body takes all it is given");
                rest = &rest[used..];
            }
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// `chunks` framed as a chunked body, with an extension on some size lines.
fn encode_chunked(chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, chunk) in chunks.iter().filter(|c| !c.is_empty()).enumerate() {
        let extension = if i % 2 == 0 { "" } else { ";ext=\"v\"" };
        body.extend_from_slice(format!("{:x}{extension}\r\n", chunk.len()).as_bytes());
        body.extend_from_slice(chunk);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\nX-Trailer: 1\r\n\r\n");
    body
}

proptest! {
    #[test]
    fn random_bytes_never_panic(
        buf in prop::collection::vec(interesting_byte(), 0..400),
        limits in limits(),
        pieces in prop::collection::vec(0..64usize, 0..16),
    ) {
        check(&buf, &limits, &pieces)?;
    }

    #[test]
    fn mutated_requests_never_panic(
        mutations in prop::collection::vec(mutation(), 0..8),
        limits in limits(),
        pieces in prop::collection::vec(0..64usize, 0..16),
    ) {
        check(&mutate(VALID.to_vec(), &mutations), &limits, &pieces)?;
    }

    #[test]
    fn random_bodies_never_panic(
        body in prop::collection::vec(interesting_byte(), 0..300),
        chunked in any::<bool>(),
        len in 0..400u64,
        max in 0..400u64,
        pieces in prop::collection::vec(0..32usize, 0..24),
    ) {
        let kind = if chunked { BodyKind::Chunked } else { BodyKind::Length(len) };
        let Ok(mut discard) = BodyDiscard::new(kind, max) else { return Ok(()) };
        let mut rest = &body[..];
        for piece in pieces {
            let piece = piece.min(rest.len());
            let Ok((used, _)) = discard.feed(&rest[..piece]) else { return Ok(()) };
            prop_assert!(used <= piece);
            rest = &rest[used..];
        }
    }

    #[test]
    fn a_chunked_body_ends_in_the_same_place_however_it_is_split(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..6),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let body = encode_chunked(&chunks);
        let mut input = body.clone();
        input.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
        cuts.push(input.len());
        cuts.sort_unstable();
        let mut discard = BodyDiscard::new(BodyKind::Chunked, 1 << 20).unwrap();
        let (mut at, mut done) = (0, false);
        for cut in cuts {
            let (used, finished) = discard.feed(&input[at..cut.max(at)]).unwrap();
            at += used;
            done = finished;
            if finished { break; }
        }
        prop_assert!(done);
        prop_assert_eq!(at, body.len());
    }
}
