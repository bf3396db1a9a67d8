use super::*;
use crate::http::BodyKind;

fn complete(buf: &[u8]) -> (Request<'_>, usize) {
    match parse_request(buf, &Limits::default()) {
        Ok(Parsed::Complete(request, len)) => (request, len),
        other => panic!("{}: {other:?}", buf.escape_ascii()),
    }
}

fn request(buf: &[u8]) -> Request<'_> {
    complete(buf).0
}

/// The status `buf` is refused with under the default limits.
fn refused(buf: &[u8]) -> u16 {
    refused_with(buf, &Limits::default())
}

fn refused_with(buf: &[u8], limits: &Limits) -> u16 {
    match parse_request(buf, limits) {
        Err(error) => error.status.code(),
        other => panic!("{}: {other:?}", buf.escape_ascii()),
    }
}

fn is_partial(buf: &[u8], limits: &Limits) -> bool {
    matches!(parse_request(buf, limits), Ok(Parsed::Partial))
}

#[test]
fn simple_get() {
    let buf = b"GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8\r\n\r\n";
    let (request, len) = complete(buf);
    assert_eq!(len, buf.len());
    assert_eq!(request.method, Method::Get);
    assert_eq!(request.version, Version::Http11);
    assert_eq!(request.target, "/a/b?c=d");
    assert_eq!(request.path, "/a/b");
    assert_eq!(request.query, Some("c=d"));
    assert_eq!(request.host, Some("example.com"));
    assert_eq!(request.fields.user_agent, Some("curl/8"));
    assert!(request.keep_alive);
    assert!(!request.expect_continue);
    assert_eq!(request.body, BodyKind::None);
}

#[test]
fn kept_fields_are_trimmed_raw_values() {
    let buf = b"GET / HTTP/1.1\r\nhost: h\r\nRange:  bytes=0-9 \t\r\nIF-RANGE: \"e\"\r\nIf-Match: \"a\", \"b\"\r\n\
If-None-Match: W/\"x\"\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
If-Unmodified-Since: Mon, 07 Nov 1994 08:49:37 GMT\r\nAccept-Encoding: br, gzip\r\nReferer: http://r/\r\n\r\n";
    let request = request(buf);
    assert_eq!(request.fields.range, Some("bytes=0-9"));
    assert_eq!(request.fields.if_range, Some("\"e\""));
    assert_eq!(request.fields.if_match, Some("\"a\", \"b\""));
    assert_eq!(request.fields.if_none_match, Some("W/\"x\""));
    assert_eq!(request.fields.if_modified_since, Some("Sun, 06 Nov 1994 08:49:37 GMT"));
    assert_eq!(request.fields.if_unmodified_since, Some("Mon, 07 Nov 1994 08:49:37 GMT"));
    assert_eq!(request.fields.accept_encoding, Some("br, gzip"));
    assert_eq!(request.fields.referer, Some("http://r/"));
}

#[test]
fn every_method_maps_and_others_are_501() {
    let methods = [
        ("GET", Method::Get),
        ("HEAD", Method::Head),
        ("POST", Method::Post),
        ("PUT", Method::Put),
        ("DELETE", Method::Delete),
        ("OPTIONS", Method::Options),
        ("TRACE", Method::Trace),
        ("PATCH", Method::Patch),
    ];
    for (name, method) in methods {
        let buf = format!("{name} / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(request(buf.as_bytes()).method, method);
        assert_eq!(method.as_str(), name);
    }
    assert_eq!(request(b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n").method, Method::Connect);
    for unknown in ["get", "PROPFIND", "BREW", "GETS"] {
        assert_eq!(refused(format!("{unknown} / HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes()), 501, "{unknown}");
    }
}

#[test]
fn versions() {
    assert_eq!(request(b"GET / HTTP/1.0\r\n\r\n").version, Version::Http10);
    assert_eq!(refused(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505);
    assert_eq!(refused(b"GET / HTTP/1.2\r\nHost: h\r\n\r\n"), 505);
    assert_eq!(refused(b"GET / HTTP/0.9\r\n\r\n"), 505);
    assert_eq!(refused(b"GET / HTTP/3"), 505);
    for malformed in [
        &b"GET / HTTP/1.1x\r\n\r\n"[..],
        b"GET / HTTX/1.1\r\n\r\n",
        b"GET / HTTP/2\r\n\r\n",
        b"GET / http/1.1\r\n\r\n",
    ] {
        assert_eq!(refused(malformed), 400, "{}", malformed.escape_ascii());
    }
    assert_eq!(refused(b"GET /\r\n\r\n"), 400);
}

#[test]
fn malformed_request_lines_are_400() {
    for malformed in [
        &b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n"[..],
        b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n",
        b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n",
        b" GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.1\rHost: h\r\n\r\n",
    ] {
        assert_eq!(refused(malformed), 400, "{}", malformed.escape_ascii());
    }
}

#[test]
fn target_forms() {
    let req = request(b"GET http://Example.com:81?q HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_eq!((req.path, req.query, req.host), ("/", Some("q"), Some("Example.com:81")));
    let req = request(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!((req.path, req.target), ("*", "*"));
    let req = request(b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n");
    assert_eq!((req.path, req.host), ("", Some("h:443")));
    for bad in [
        &b"GET * HTTP/1.1\r\nHost: h\r\n\r\n"[..],
        b"GET index.html HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET h:443 HTTP/1.1\r\nHost: h\r\n\r\n",
        b"CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /caf\xe9 HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n",
    ] {
        assert_eq!(refused(bad), 400, "{}", bad.escape_ascii());
    }
    assert_eq!(request(b"GET /caf%C3%A9 HTTP/1.1\r\nHost: h\r\n\r\n").path, "/caf%C3%A9");
}

#[test]
fn host_rules() {
    assert_eq!(refused(b"GET / HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(
        refused(b"GET http://h/ HTTP/1.1\r\n\r\n"),
        400,
        "absolute form does not excuse a missing Host"
    );
    assert_eq!(refused(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(refused(b"GET / HTTP/1.1\r\nHost:\r\n\r\n"), 400);
    assert_eq!(refused(b"GET / HTTP/1.0\r\nHost: \r\n\r\n"), 400);
    assert_eq!(refused(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400);
    assert_eq!(request(b"GET / HTTP/1.0\r\n\r\n").host, None);
    assert_eq!(request(b"GET / HTTP/1.0\r\nHOST: [::1]:8080\r\n\r\n").host, Some("[::1]:8080"));
}

#[test]
fn keep_alive_defaults_and_connection_options() {
    let keep_alive = |buf: &[u8]| request(buf).keep_alive;
    assert!(keep_alive(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    assert!(!keep_alive(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n"));
    assert!(!keep_alive(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"));
    assert!(!keep_alive(b"GET / HTTP/1.0\r\n\r\n"));
    assert!(keep_alive(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    assert!(!keep_alive(b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"));
}

#[test]
fn expect_continue_on_http11_only() {
    assert!(
        request(b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-CONTINUE\r\nContent-Length: 3\r\n\r\n")
            .expect_continue
    );
    assert!(!request(b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n").expect_continue);
    assert!(!request(b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: nothing\r\n\r\n").expect_continue);
}

#[test]
fn body_framing() {
    let body = |buf: &[u8]| request(buf).body;
    assert_eq!(body(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n"), BodyKind::Length(12));
    assert_eq!(body(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"), BodyKind::Chunked);
    assert_eq!(body(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"), BodyKind::None);
    let te_cl = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n";
    assert_eq!(refused(te_cl), 400);
    assert_eq!(refused(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
    assert_eq!(refused(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501);
    assert_eq!(refused(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), 400);
    assert_eq!(refused(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), 400);
    assert_eq!(refused(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n"), 400);
}

#[test]
fn malformed_fields_are_400() {
    for bad in [
        &b"GET / HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: h\r\n Leading: space\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nNo colon\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nSpace : before colon\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX: nul\0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX: bare\rcr\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nIf-Match: \"\xff\"\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nRange: a\r\nrange: b\r\n\r\n",
    ] {
        assert_eq!(refused(bad), 400, "{}", bad.escape_ascii());
    }
}

#[test]
fn leading_empty_lines_and_bare_lf_are_tolerated() {
    let buf = b"\r\n\nGET / HTTP/1.1\nHost: h\n\n";
    let (request, len) = complete(buf);
    assert_eq!((request.path, len), ("/", buf.len()));
}

#[test]
fn every_split_of_a_request_is_partial_until_complete() {
    let buf = b"\r\nPOST /up?x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello";
    let head_len = buf.len() - 5;
    for end in 0..head_len {
        assert!(is_partial(&buf[..end], &Limits::default()), "{end}");
    }
    for end in head_len..=buf.len() {
        let (request, len) = complete(&buf[..end]);
        assert_eq!((len, request.body), (head_len, BodyKind::Length(5)));
    }
    // An error shows as soon as its bytes are present, never later than the end.
    let bad = b"GET / HTTP/1.1\r\nHost: h\r\nX: \x01\r\n\r\n";
    let first_error = (0..=bad.len()).find(|&end| !is_partial(&bad[..end], &Limits::default())).unwrap();
    assert_eq!(first_error, bad.len() - 4);
    assert_eq!(refused(&bad[..first_error]), 400);
}

#[test]
fn pipelined_requests_parse_one_after_the_other() {
    let buf = b"GET /one HTTP/1.1\r\nHost: h\r\n\r\nHEAD /two HTTP/1.1\r\nHost: h\r\n\r\nGET /thr";
    let (first, len) = complete(buf);
    assert_eq!(first.path, "/one");
    let rest = &buf[len..];
    let (second, len2) = complete(rest);
    assert_eq!((second.method, second.path), (Method::Head, "/two"));
    assert!(is_partial(&rest[len2..], &Limits::default()));
}

/// `GET /xxx HTTP/1.1` of exactly `len` bytes, CRLF excluded.
fn request_line(len: usize) -> Vec<u8> {
    let mut line = b"GET /".to_vec();
    line.resize(len - " HTTP/1.1".len(), b'x');
    line.extend_from_slice(b" HTTP/1.1");
    assert_eq!(line.len(), len);
    line
}

#[test]
fn request_line_limit_is_exact() {
    let limits = Limits::default();
    let max = limits.max_request_line;
    let mut ok = request_line(max);
    assert!(is_partial(&ok, &limits), "max bytes, no line end yet");
    ok.push(b'\r');
    assert!(is_partial(&ok, &limits), "max bytes and CR");
    ok.extend_from_slice(b"\nHost: h\r\n\r\n");
    assert_eq!(complete(&ok).1, ok.len());
    let mut lf_only = request_line(max);
    lf_only.extend_from_slice(b"\nHost: h\n\n");
    assert_eq!(complete(&lf_only).1, lf_only.len());

    let mut long = request_line(max + 1);
    assert_eq!(refused_with(&long, &limits), 414, "proved before its line end arrives");
    assert_eq!(refused_with(&long[..max + 1], &limits), 414);
    long.extend_from_slice(b"\r\nHost: h\r\n\r\n");
    assert_eq!(refused_with(&long, &limits), 414);
    // A line with no end at all is refused after max + 2 bytes, whatever they are.
    assert_eq!(refused_with(&[b'G'; 8194], &limits), 414);
    assert!(is_partial(&[b'G'; 8192], &limits));
}

#[test]
fn request_line_limit_does_not_count_leading_empty_lines() {
    let mut buf = b"\r\n\r\n".to_vec();
    buf.extend_from_slice(&request_line(Limits::default().max_request_line));
    buf.extend_from_slice(b"\r\nHost: h\r\n\r\n");
    assert_eq!(complete(&buf).1, buf.len());
}

/// A whole head of exactly `len` bytes, padded with one field.
fn head(len: usize) -> Vec<u8> {
    let mut head = b"GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ".to_vec();
    head.resize(len - 4, b'p');
    head.extend_from_slice(b"\r\n\r\n");
    head
}

#[test]
fn head_limit_is_exact() {
    let limits = Limits::default();
    let max = limits.max_head;
    let ok = head(max);
    assert_eq!(complete(&ok).1, max);
    let long = head(max + 1);
    assert_eq!(refused_with(&long, &limits), 431);
    assert_eq!(refused_with(&long[..max], &limits), 431, "max bytes without an end prove it");
    assert!(is_partial(&long[..max - 1], &limits));
    // What follows a head that fits does not count against it.
    let mut pipelined = ok.clone();
    pipelined.extend_from_slice(&ok);
    assert_eq!(complete(&pipelined).1, max);
}

#[test]
fn a_caller_reading_max_head_plus_one_bytes_never_sees_partial() {
    let limits = Limits { max_request_line: 64, max_head: 256, max_headers: 4, max_body: 0 };
    let inputs: [&[u8]; 4] =
        [&[b'a'; 300], &[b'\n'; 300], b"GET / HTTP/1.1\r\n", b"GET / HTTP/1.1\r\nX: y\r\n"];
    for input in inputs {
        let mut buf = input.to_vec();
        buf.resize(limits.max_head + 1, b'z');
        assert!(!is_partial(&buf, &limits), "{}", buf.escape_ascii());
    }
}

#[test]
fn header_count_limit() {
    let with_fields = |count: usize| {
        let mut buf = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        for i in 1..count {
            buf.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        buf.extend_from_slice(b"\r\n");
        buf
    };
    assert!(complete(&with_fields(100)).0.host.is_some());
    assert_eq!(refused(&with_fields(101)), 431);
    let three = Limits { max_headers: 3, ..Limits::default() };
    assert!(matches!(parse_request(&with_fields(3), &three), Ok(Parsed::Complete(..))));
    assert_eq!(refused_with(&with_fields(4), &three), 431);
    let many = Limits { max_headers: 1000, ..Limits::default() };
    assert_eq!(refused_with(&with_fields(101), &many), 431, "clamped to MAX_HEADERS");
}
