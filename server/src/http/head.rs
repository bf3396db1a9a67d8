//! Response heads.
//!
//! Everything is appended to the caller's `Vec`: no allocation beyond its growth, and
//! numbers are written without the formatting machinery. Field values come from our
//! own code (files, configuration, sanitized paths), never straight from a request:
//! a CR or LF in one would split the response, so debug builds assert there is none.

use std::fmt::Display;
use std::io::Write;

use super::{Persistence, Status, http_date};

/// Writes a response head into a buffer: `HTTP/1.1 <status>`, then `Server` and
/// `Date`, then the caller's fields, then the empty line on [`finish`](Head::finish).
#[derive(Debug)]
pub struct Head<'o> {
    out: &'o mut Vec<u8>,
}

impl<'o> Head<'o> {
    /// Appends the status line, `Server` and `Date` to `out`.
    pub fn new(out: &'o mut Vec<u8>, status: Status) -> Head<'o> {
        out.extend_from_slice(b"HTTP/1.1 ");
        push_decimal(out, u64::from(status.code()));
        out.push(b' ');
        out.extend_from_slice(status.reason().as_bytes());
        out.extend_from_slice(b"\r\nServer: hebra\r\nDate: ");
        out.extend_from_slice(&http_date());
        out.extend_from_slice(b"\r\n");
        Head { out }
    }

    /// Appends `name: value`. The value must hold no CR or LF (asserted in debug builds).
    pub fn header(&mut self, name: &str, value: impl Display) -> &mut Self {
        debug_assert!(is_token(name), "header field name {name:?} is not a token");
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b": ");
        let start = self.out.len();
        write!(self.out, "{value}").expect("writing to a Vec cannot fail");
        debug_assert!(
            !self.out[start..].iter().any(|&b| b == b'\r' || b == b'\n'),
            "header field {name} has a CR or LF in its value"
        );
        self.out.extend_from_slice(b"\r\n");
        self
    }

    /// `Content-Length`, without formatting machinery.
    pub fn content_length(&mut self, len: u64) -> &mut Self {
        self.out.extend_from_slice(b"Content-Length: ");
        push_decimal(self.out, len);
        self.out.extend_from_slice(b"\r\n");
        self
    }

    /// The `Connection` field `persistence` calls for, if any.
    pub fn connection(&mut self, persistence: Persistence) -> &mut Self {
        match persistence {
            Persistence::Close => self.out.extend_from_slice(b"Connection: close\r\n"),
            Persistence::KeepAliveHttp10 => self.out.extend_from_slice(b"Connection: keep-alive\r\n"),
            Persistence::KeepAlive => {}
        }
        self
    }

    /// Ends the head with the empty line.
    pub fn finish(self) {
        self.out.extend_from_slice(b"\r\n");
    }
}

/// `HTTP/1.1 100 Continue` and the empty line.
pub fn continue_response() -> &'static [u8] {
    b"HTTP/1.1 100 Continue\r\n\r\n"
}

/// A complete error response: head and a short `text/plain` body naming the status
/// (none for HEAD). `Connection: close` when `!keep_alive`; `extra` fields go in the
/// head (`Allow` for 405). A bodiless status (1xx, 204, 304) gets neither body nor
/// `Content-Type` nor `Content-Length`; for HEAD, `Content-Length` is that of the body
/// a GET would have had.
pub fn error_response(
    out: &mut Vec<u8>,
    status: Status,
    persistence: Persistence,
    head_only: bool,
    extra: &[(&str, &str)],
) {
    let bodiless = status.is_bodiless();
    // `{code} {reason}\n`: the code always has three digits.
    let body_len = 3 + 1 + status.reason().len() + 1;
    let mut head = Head::new(out, status);
    if !bodiless {
        head.header("Content-Type", "text/plain; charset=utf-8").content_length(body_len as u64);
    }
    for (name, value) in extra {
        head.header(name, value);
    }
    head.connection(persistence);
    head.finish();
    if !bodiless && !head_only {
        push_decimal(out, u64::from(status.code()));
        out.push(b' ');
        out.extend_from_slice(status.reason().as_bytes());
        out.push(b'\n');
    }
}

fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0; 20]; // u64::MAX has 20 digits
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// RFC 9110 section 5.6.2.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Version;

    /// The head with its `Date` value replaced by `<date>`.
    fn masked(out: &[u8]) -> String {
        let text = String::from_utf8(out.to_vec()).unwrap();
        let start = text.find("Date: ").expect("a Date field") + "Date: ".len();
        let date = &text[start..start + 29];
        assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
        format!("{}<date>{}", &text[..start], &text[start + 29..])
    }

    #[test]
    fn head_fields_in_order() {
        let mut out = b"previous response".to_vec();
        let mut head = Head::new(&mut out, Status::PARTIAL_CONTENT);
        head.header("Content-Type", "text/html")
            .content_length(0)
            .header("ETag", format_args!("\"{}-{}\"", 7, 9));
        head.connection(Persistence::KeepAlive);
        head.finish();
        assert_eq!(
            masked(&out),
            "previous responseHTTP/1.1 206 Partial Content\r\nServer: hebra\r\nDate: <date>\r\n\
             Content-Type: text/html\r\nContent-Length: 0\r\nETag: \"7-9\"\r\n\r\n"
        );
    }

    #[test]
    fn content_length_digits() {
        for (len, text) in
            [(0, "0"), (9, "9"), (10, "10"), (1234567890, "1234567890"), (u64::MAX, "18446744073709551615")]
        {
            let mut out = Vec::new();
            let mut head = Head::new(&mut out, Status::OK);
            head.content_length(len);
            let expected = format!("Content-Length: {text}\r\n");
            assert!(out.ends_with(expected.as_bytes()), "{}", out.escape_ascii());
        }
    }

    #[test]
    fn connection_field() {
        let connection = |keep_alive, version| {
            let mut out = Vec::new();
            Head::new(&mut out, Status::OK).connection(Persistence::new(keep_alive, version));
            let text = masked(&out);
            text.split_once("<date>\r\n").unwrap().1.to_owned()
        };
        assert_eq!(connection(false, Version::Http11), "Connection: close\r\n");
        assert_eq!(connection(false, Version::Http10), "Connection: close\r\n");
        assert_eq!(connection(true, Version::Http10), "Connection: keep-alive\r\n");
        assert_eq!(connection(true, Version::Http11), "");
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "CR or LF")]
    fn a_value_with_a_line_break_is_a_bug() {
        let mut out = Vec::new();
        Head::new(&mut out, Status::OK).header("Location", "/a\r\nSet-Cookie: x=y");
    }

    #[test]
    fn error_response_with_body() {
        let mut out = Vec::new();
        error_response(
            &mut out,
            Status::METHOD_NOT_ALLOWED,
            Persistence::Close,
            false,
            &[("Allow", "GET, HEAD")],
        );
        assert_eq!(
            masked(&out),
            "HTTP/1.1 405 Method Not Allowed\r\nServer: hebra\r\nDate: <date>\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Length: 23\r\nAllow: GET, HEAD\r\n\
             Connection: close\r\n\r\n405 Method Not Allowed\n"
        );
    }

    #[test]
    fn error_response_to_head_keeps_the_length() {
        let mut out = Vec::new();
        error_response(&mut out, Status::NOT_FOUND, Persistence::KeepAlive, true, &[]);
        assert_eq!(
            masked(&out),
            "HTTP/1.1 404 Not Found\r\nServer: hebra\r\nDate: <date>\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\n\r\n"
        );
    }

    #[test]
    fn bodiless_statuses_have_no_body_fields() {
        let mut out = Vec::new();
        error_response(&mut out, Status::NOT_MODIFIED, Persistence::KeepAlive, false, &[("ETag", "\"x\"")]);
        assert_eq!(
            masked(&out),
            "HTTP/1.1 304 Not Modified\r\nServer: hebra\r\nDate: <date>\r\nETag: \"x\"\r\n\r\n"
        );
        out.clear();
        error_response(&mut out, Status::CONTINUE, Persistence::Close, false, &[]);
        assert_eq!(
            masked(&out),
            "HTTP/1.1 100 Continue\r\nServer: hebra\r\nDate: <date>\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn every_status_line_is_well_formed() {
        let statuses = [
            Status::CONTINUE,
            Status::OK,
            Status::MOVED_PERMANENTLY,
            Status::BAD_REQUEST,
            Status::URI_TOO_LONG,
            Status::HEADER_FIELDS_TOO_LARGE,
            Status::HTTP_VERSION_NOT_SUPPORTED,
        ];
        for status in statuses {
            let mut out = Vec::new();
            error_response(&mut out, status, Persistence::KeepAlive, false, &[]);
            let line = format!("HTTP/1.1 {} {}\r\n", status.code(), status.reason());
            assert!(out.starts_with(line.as_bytes()));
            if !status.is_bodiless() {
                assert!(out.ends_with(format!("\r\n\r\n{} {}\n", status.code(), status.reason()).as_bytes()));
            }
        }
    }

    #[test]
    fn continue_is_a_whole_head() {
        assert_eq!(continue_response(), b"HTTP/1.1 100 Continue\r\n\r\n");
    }
}
