//! The header fields the server acts on, and the body framing they declare (RFC 9112
//! section 6). Field names are case-insensitive; httparse has already trimmed the
//! whitespace around each value and refused CR, LF and NUL inside one.

use super::target::is_authority;
use crate::http::{BodyKind, Error, Fields, Status, Version};

/// What the field lines of one head say, gathered in order.
#[derive(Debug, Default)]
pub(super) struct Gathered<'a> {
    pub host: Option<&'a str>,
    pub connection_close: bool,
    pub connection_keep_alive: bool,
    pub expect_continue: bool,
    content_length: Option<u64>,
    transfer_coding: Codings,
    pub fields: Fields<'a>,
}

/// The fields we read; every other one is ignored.
#[derive(Clone, Copy, Debug)]
enum Field {
    Host,
    Connection,
    Expect,
    ContentLength,
    TransferEncoding,
    Range,
    IfRange,
    IfMatch,
    IfNoneMatch,
    IfModifiedSince,
    IfUnmodifiedSince,
    AcceptEncoding,
    UserAgent,
    Referer,
}

impl Field {
    /// The length, and for equal lengths one letter, pick the only name a field line can
    /// have; then its first letter turns most others away (Accept-Language, Sec-*)
    /// before the whole name is compared.
    fn from_name(name: &str) -> Option<Field> {
        // `| 0x20` lowercases a letter; another byte becomes junk the compare refuses.
        let letter = |i: usize| name.as_bytes()[i] | 0x20;
        let (known, field) = match name.len() {
            4 => ("host", Field::Host),
            5 => ("range", Field::Range),
            6 => ("expect", Field::Expect),
            7 => ("referer", Field::Referer),
            8 if letter(3) == b'm' => ("if-match", Field::IfMatch),
            8 => ("if-range", Field::IfRange),
            10 if letter(0) == b'c' => ("connection", Field::Connection),
            10 => ("user-agent", Field::UserAgent),
            13 => ("if-none-match", Field::IfNoneMatch),
            14 => ("content-length", Field::ContentLength),
            15 => ("accept-encoding", Field::AcceptEncoding),
            17 if letter(0) == b't' => ("transfer-encoding", Field::TransferEncoding),
            17 => ("if-modified-since", Field::IfModifiedSince),
            19 => ("if-unmodified-since", Field::IfUnmodifiedSince),
            _ => return None,
        };
        (letter(0) == known.as_bytes()[0] && is_lowercase_of(name.as_bytes(), known.as_bytes()))
            .then_some(field)
    }
}

/// `name.eq_ignore_ascii_case(known)` for a token `name` and a `known` of lowercase
/// letters and `-`, without a branch per byte: `| 0x20` lowercases a letter and keeps
/// `-`, and only CR (no token byte) would also become `-`.
fn is_lowercase_of(name: &[u8], known: &[u8]) -> bool {
    name.len() == known.len() && name.iter().zip(known).fold(0, |diff, (&n, &k)| diff | ((n | 0x20) ^ k)) == 0
}

impl<'a> Gathered<'a> {
    pub(super) fn gather(headers: &[httparse::Header<'a>]) -> Result<Gathered<'a>, Error> {
        let mut gathered = Gathered::default();
        for header in headers {
            if let Some(field) = Field::from_name(header.name) {
                gathered.add(field, header.value)?;
            }
        }
        Ok(gathered)
    }

    fn add(&mut self, field: Field, value: &'a [u8]) -> Result<(), Error> {
        match field {
            Field::Host => single(&mut self.host, host(value)?, "Host twice")?,
            Field::Connection => {
                for option in list(value) {
                    self.connection_close |= option.eq_ignore_ascii_case(b"close");
                    self.connection_keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            Field::Expect => {
                self.expect_continue |= list(value).any(|e| e.eq_ignore_ascii_case(b"100-continue"))
            }
            Field::ContentLength => self.content_length(value)?,
            Field::TransferEncoding => self.transfer_coding.add(value),
            Field::Range => single(&mut self.fields.range, lenient(value), "Range twice")?,
            Field::IfRange => single(&mut self.fields.if_range, text(value)?, "If-Range twice")?,
            Field::IfMatch => single(&mut self.fields.if_match, text(value)?, "If-Match twice")?,
            Field::IfModifiedSince => {
                single(&mut self.fields.if_modified_since, lenient(value), "If-Modified-Since twice")?
            }
            Field::IfUnmodifiedSince => {
                single(&mut self.fields.if_unmodified_since, lenient(value), "If-Unmodified-Since twice")?
            }
            Field::IfNoneMatch => first(&mut self.fields.if_none_match, lenient(value)),
            Field::AcceptEncoding => first(&mut self.fields.accept_encoding, lenient(value)),
            Field::UserAgent => first(&mut self.fields.user_agent, lenient(value)),
            Field::Referer => first(&mut self.fields.referer, lenient(value)),
        }
        Ok(())
    }

    /// RFC 9110 section 8.6: a list of equal values is that value; digits only, so
    /// `+1`, `1 2`, `0x1` and an empty value are all refused.
    fn content_length(&mut self, value: &[u8]) -> Result<(), Error> {
        for item in value.split(|&b| b == b',') {
            let len = decimal(item.trim_ascii()).ok_or_else(|| bad_request("invalid Content-Length"))?;
            if self.content_length.is_some_and(|seen| seen != len) {
                return Err(bad_request("conflicting Content-Length values"));
            }
            self.content_length = Some(len);
        }
        Ok(())
    }

    /// How the body is delimited (RFC 9112 section 6.3). Both framings at once is how
    /// requests are smuggled past a proxy that reads the other one: refused.
    pub(super) fn body(&self, version: Version) -> Result<BodyKind, Error> {
        if !self.transfer_coding.present {
            return Ok(match self.content_length {
                None | Some(0) => BodyKind::None,
                Some(len) => BodyKind::Length(len),
            });
        }
        if self.content_length.is_some() {
            return Err(bad_request("Content-Length with Transfer-Encoding"));
        }
        if version == Version::Http10 {
            return Err(bad_request("Transfer-Encoding on HTTP/1.0"));
        }
        self.transfer_coding.check()?;
        Ok(BodyKind::Chunked)
    }
}

/// The transfer codings of every `Transfer-Encoding` line, in order, summed up.
#[derive(Debug, Default)]
struct Codings {
    present: bool,
    chunked: usize,
    last_is_chunked: bool,
    /// A well-formed coding other than `chunked`.
    other: bool,
    malformed: bool,
}

impl Codings {
    fn add(&mut self, value: &[u8]) {
        self.present = true;
        for coding in list(value) {
            let (name, parameters) = match coding.iter().position(|&b| b == b';') {
                Some(semicolon) => (coding[..semicolon].trim_ascii(), true),
                None => (coding, false),
            };
            let chunked = name.eq_ignore_ascii_case(b"chunked");
            // `chunked` takes no parameters: one with some is read differently by
            // different parsers.
            self.malformed |= !is_token(name) || (chunked && parameters);
            self.other |= !chunked;
            self.chunked += usize::from(chunked);
            self.last_is_chunked = chunked && !parameters;
        }
    }

    /// Only `chunked`, once and last, can be read: anything else leaves the body's end
    /// unknown \[400\] or needs a decoder the server does not have \[501\].
    fn check(&self) -> Result<(), Error> {
        if self.malformed {
            return Err(bad_request("malformed Transfer-Encoding"));
        }
        if !self.last_is_chunked {
            return Err(bad_request("transfer codings not ending in chunked"));
        }
        if self.chunked > 1 {
            return Err(bad_request("chunked applied twice"));
        }
        if self.other {
            return Err(Error::new(Status::NOT_IMPLEMENTED, "transfer coding other than chunked"));
        }
        Ok(())
    }
}

/// The non-empty items of a comma-separated list (RFC 9110 section 5.6.1: empty items
/// are allowed and mean nothing).
fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(<[u8]>::trim_ascii).filter(|item| !item.is_empty())
}

fn host(value: &[u8]) -> Result<&str, Error> {
    match std::str::from_utf8(value) {
        Ok(host) if is_authority(value, false) => Ok(host),
        _ => Err(bad_request("invalid Host")),
    }
}

fn text(value: &[u8]) -> Result<&str, Error> {
    std::str::from_utf8(value).map_err(|_| bad_request("header field value is not UTF-8"))
}

/// A value RFC 9110 allows to hold obs-text (bytes over 0x7F) and the server may
/// ignore when it cannot read it: `None` for one that is not UTF-8. Ignoring is safe
/// for these: an unreadable `Range` or date is ignored by the RFC's own rules, our
/// entity-tags are ASCII so an unreadable `If-None-Match` could not match, and the
/// others only choose an encoding or feed the log. (`If-Match` and `If-Range` must
/// not be ignored, since that would serve what the client asked not to get: they stay
/// errors.)
fn lenient(value: &[u8]) -> Option<&str> {
    std::str::from_utf8(value).ok()
}

/// A field that may occur once.
fn single<'a>(
    slot: &mut Option<&'a str>,
    value: impl Into<Option<&'a str>>,
    twice: &'static str,
) -> Result<(), Error> {
    let value = value.into();
    if slot.is_some() {
        return Err(bad_request(twice));
    }
    *slot = value;
    Ok(())
}

/// A field whose first readable line is the one we keep.
fn first<'a>(slot: &mut Option<&'a str>, value: Option<&'a str>) {
    if let Some(value) = value {
        slot.get_or_insert(value);
    }
}

fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| match d {
        b'0'..=b'9' => n.checked_mul(10)?.checked_add(u64::from(d - b'0')),
        _ => None,
    })
}

/// RFC 9110 section 5.6.2.
fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn bad_request(reason: &'static str) -> Error {
    Error::new(Status::BAD_REQUEST, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gather(lines: &[(&'static str, &'static [u8])]) -> Result<Gathered<'static>, Error> {
        let headers: Vec<_> = lines.iter().map(|&(name, value)| httparse::Header { name, value }).collect();
        Gathered::gather(&headers)
    }

    fn body(lines: &[(&'static str, &'static [u8])], version: Version) -> Result<BodyKind, u16> {
        gather(lines).and_then(|f| f.body(version)).map_err(|e| e.status.code())
    }

    fn body11(lines: &[(&'static str, &'static [u8])]) -> Result<BodyKind, u16> {
        body(lines, Version::Http11)
    }

    #[test]
    fn names_are_case_insensitive() {
        let fields = gather(&[("hOsT", b"a"), ("RANGE", b"bytes=0-1"), ("x-host", b"b")]).unwrap();
        assert_eq!(fields.host, Some("a"));
        assert_eq!(fields.fields.range, Some("bytes=0-1"));
    }

    #[test]
    fn content_length_values() {
        assert_eq!(body11(&[]), Ok(BodyKind::None));
        assert_eq!(body11(&[("Content-Length", b"0")]), Ok(BodyKind::None));
        assert_eq!(body11(&[("Content-Length", b"0042")]), Ok(BodyKind::Length(42)));
        assert_eq!(body11(&[("Content-Length", b"18446744073709551615")]), Ok(BodyKind::Length(u64::MAX)));
        assert_eq!(body11(&[("Content-Length", b"5, 5 ,5")]), Ok(BodyKind::Length(5)));
        assert_eq!(body11(&[("Content-Length", b"5"), ("content-length", b"5")]), Ok(BodyKind::Length(5)));
        for bad in
            [&b""[..], b"+5", b"-5", b"5 5", b"0x5", b"5,", b",5", b"5,6", b"18446744073709551616", b"\xff"]
        {
            assert_eq!(body11(&[("Content-Length", bad)]), Err(400), "{}", bad.escape_ascii());
        }
        assert_eq!(body11(&[("Content-Length", b"5"), ("Content-Length", b"6")]), Err(400));
    }

    #[test]
    fn transfer_encoding_chunked_only() {
        assert_eq!(body11(&[("Transfer-Encoding", b"chunked")]), Ok(BodyKind::Chunked));
        assert_eq!(body11(&[("Transfer-Encoding", b"CHUNKED")]), Ok(BodyKind::Chunked));
        assert_eq!(body11(&[("Transfer-Encoding", b" , chunked,")]), Ok(BodyKind::Chunked));
        assert_eq!(body11(&[("Transfer-Encoding", b"gzip, chunked")]), Err(501));
        assert_eq!(body11(&[("Transfer-Encoding", b"gzip"), ("Transfer-Encoding", b"chunked")]), Err(501));
        assert_eq!(body11(&[("Transfer-Encoding", b"chunked, gzip")]), Err(400));
        assert_eq!(body11(&[("Transfer-Encoding", b"chunked"), ("Transfer-Encoding", b"gzip")]), Err(400));
        assert_eq!(body11(&[("Transfer-Encoding", b"gzip")]), Err(400));
        assert_eq!(body11(&[("Transfer-Encoding", b"chunked, chunked")]), Err(400));
        assert_eq!(body11(&[("Transfer-Encoding", b"")]), Err(400));
        assert_eq!(body11(&[("Transfer-Encoding", b"chunked;x=1")]), Err(400));
        assert_eq!(body11(&[("Transfer-Encoding", b"chunk\"ed")]), Err(400));
        assert_eq!(body11(&[("Transfer-Encoding", b"gzip;level=1, chunked")]), Err(501));
    }

    #[test]
    fn transfer_encoding_refused_with_content_length_and_on_http10() {
        assert_eq!(body11(&[("Transfer-Encoding", b"chunked"), ("Content-Length", b"5")]), Err(400));
        assert_eq!(body11(&[("Content-Length", b"5"), ("Transfer-Encoding", b"chunked")]), Err(400));
        assert_eq!(body11(&[("Content-Length", b"0"), ("Transfer-Encoding", b"chunked")]), Err(400));
        assert_eq!(body(&[("Transfer-Encoding", b"chunked")], Version::Http10), Err(400));
        assert_eq!(body(&[("Content-Length", b"3")], Version::Http10), Ok(BodyKind::Length(3)));
    }

    #[test]
    fn connection_options_are_a_case_insensitive_list() {
        let fields = gather(&[("Connection", b"Upgrade, CLOSE")]).unwrap();
        assert!(fields.connection_close && !fields.connection_keep_alive);
        let fields = gather(&[("connection", b"te"), ("Connection", b"Keep-Alive")]).unwrap();
        assert!(!fields.connection_close && fields.connection_keep_alive);
        assert!(!gather(&[("Connection", b"closed, keep-alivex")]).unwrap().connection_close);
    }

    #[test]
    fn expect_100_continue() {
        assert!(gather(&[("Expect", b"100-Continue")]).unwrap().expect_continue);
        assert!(!gather(&[("Expect", b"200-ok")]).unwrap().expect_continue);
    }

    #[test]
    fn host_is_single_non_empty_and_well_formed() {
        assert_eq!(gather(&[("Host", b"example.com:80")]).unwrap().host, Some("example.com:80"));
        assert_eq!(gather(&[("Host", b"a"), ("Host", b"a")]).unwrap_err().status, Status::BAD_REQUEST);
        for bad in [&b""[..], b"a b", b"a/b", b"u@h", b"h:x", b"\xc3\xa9"] {
            assert_eq!(gather(&[("Host", bad)]).unwrap_err().status, Status::BAD_REQUEST);
        }
    }

    #[test]
    fn single_fields_twice_are_refused() {
        for name in ["Range", "If-Range", "If-Match", "If-Modified-Since", "If-Unmodified-Since"] {
            let error = gather(&[(name, b"a"), (name, b"b")]).unwrap_err();
            assert_eq!(error.status, Status::BAD_REQUEST, "{name}");
        }
    }

    #[test]
    fn list_fields_keep_their_first_line() {
        let fields = gather(&[
            ("If-None-Match", b"\"a\""),
            ("If-None-Match", b"\"b\""),
            ("Accept-Encoding", b"gzip"),
            ("Accept-Encoding", b"br"),
            ("User-Agent", b"one"),
            ("User-Agent", b"two"),
            ("Referer", b"/x"),
        ])
        .unwrap();
        assert_eq!(fields.fields.if_none_match, Some("\"a\""));
        assert_eq!(fields.fields.accept_encoding, Some("gzip"));
        assert_eq!(fields.fields.user_agent, Some("one"));
        assert_eq!(fields.fields.referer, Some("/x"));
    }

    #[test]
    fn values_that_are_not_utf8_are_ignored_where_that_is_safe() {
        let fields = gather(&[("User-Agent", b"caf\xc3\xa9")]).unwrap();
        assert_eq!(fields.fields.user_agent, Some("café"));
        for name in
            ["User-Agent", "Referer", "Accept-Encoding", "If-None-Match", "Range", "If-Modified-Since"]
        {
            let fields = gather(&[(name, b"caf\xe9"), ("X-Latin1", b"caf\xe9")]).unwrap();
            assert!(format!("{:?}", fields.fields).matches("Some").count() == 0, "{name}");
        }
        // Ignoring these would serve what the client asked not to get.
        for name in ["If-Match", "If-Range"] {
            assert_eq!(gather(&[(name, b"\"caf\xe9\"")]).unwrap_err().status, Status::BAD_REQUEST, "{name}");
        }
    }
}
