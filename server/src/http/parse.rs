//! Request heads: `httparse` plus the limits and the RFC 9112 rules it leaves to us.
//!
//! httparse checks the grammar of the request line and of each field line; it does not
//! know our [`Limits`] beyond a header count, nor what the fields mean. This module adds,
//! in this order: the limits ([`partial`] while bytes are missing, the request line
//! length once it is whole), the method, the request target ([`target`]), then the
//! fields the server acts on and the body framing ([`fields`]).
//!
//! Nothing here allocates: the header slots live on the stack and every string in the
//! [`Request`] borrows the caller's buffer.

mod fields;
mod target;

use std::mem::MaybeUninit;

use super::{Error, Limits, Method, Parsed, Request, Status, Version};
use fields::Gathered;

/// Header field slots on the stack (32 bytes each). `Limits::max_headers` above this is
/// treated as this.
const MAX_HEADERS: usize = 100;

/// Parses the request head at the front of `buf`.
///
/// Errors (status in brackets): malformed request line or header field, a missing
/// `Host` on HTTP/1.1, `Host` twice, `Content-Length` together with
/// `Transfer-Encoding`, conflicting or invalid `Content-Length`, a transfer coding
/// list whose last item is not `chunked` \[400\]; request line over
/// `limits.max_request_line` \[414\]; head over `limits.max_head` or more than
/// `limits.max_headers` fields \[431\]; an unknown method or a transfer coding other
/// than `chunked` \[501\]; a version other than 1.0 and 1.1 \[505\].
///
/// Choices the RFCs leave open:
/// - Leading empty lines before the request line are skipped (RFC 9112 section 2.2);
///   they count towards `max_head`, not towards `max_request_line`. A bare LF ends a
///   line of the head as well as CRLF does.
/// - A well-formed version other than 1.0 and 1.1 (`HTTP/2.0`, `HTTP/1.2`) is 505; a
///   malformed one (`HTTP/1.1x`, `HTTX/1.1`) is 400.
/// - The request target must be ASCII (percent-encode the rest) without `#` \[400\].
///   Origin form (`/p?q`); absolute form with scheme `http` or `https`, whose
///   authority then wins over `Host` (RFC 9112 section 3.2.2); `*` for OPTIONS only,
///   with path `*`; authority form (`host:port`) for CONNECT only, and only it, with
///   path `""` so that nothing mistakes it for a file.
/// - `Host` must be a valid `uri-host [":" port]`, never empty, on every version;
///   HTTP/1.1 requires it even with an absolute-form target (RFC 9112 section 3.2).
/// - Fields the grammar makes single (`Host`, `Range`, `If-Range`, `If-Match`,
///   `If-Modified-Since`, `If-Unmodified-Since`) are 400 when repeated: `If-Match` is
///   a list, but evaluating only one of its lines could refuse with a false 412.
///   `If-None-Match` and `Accept-Encoding` keep their first line: ignoring the others
///   can only turn a 304 into a 200 or a compressed answer into an identity one, both
///   correct responses. `User-Agent` and `Referer` keep their first line too.
/// - The fields kept must be UTF-8 \[400\]; fields the server ignores are not checked.
/// - `Content-Length: 0` is [`BodyKind::None`](super::BodyKind::None).
/// - `Expect: 100-continue` counts on HTTP/1.1 only (RFC 9110 section 10.1.1).
pub fn parse_request<'a>(buf: &'a [u8], limits: &Limits) -> Result<Parsed<'a>, Error> {
    // Never parse past `max_head`: the work per call stays bounded however much a
    // client pipelines, and a head ending further on is 431 anyway.
    let window = &buf[..buf.len().min(limits.max_head)];
    let mut slots = [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let slots = &mut slots[..limits.max_headers.min(MAX_HEADERS)];
    let mut raw = httparse::Request::new(&mut []);
    match httparse::ParserConfig::default().parse_request_with_uninit_headers(&mut raw, window, slots) {
        Ok(httparse::Status::Complete(len)) => Ok(Parsed::Complete(request(&raw, limits)?, len)),
        Ok(httparse::Status::Partial) => partial(buf, limits),
        Err(error) => Err(malformed(error, window)),
    }
}

/// An incomplete head: `Partial` unless the bytes present already break a limit.
fn partial<'a>(buf: &[u8], limits: &Limits) -> Result<Parsed<'a>, Error> {
    if request_line_too_long(buf, limits.max_request_line) {
        return Err(Error::new(Status::URI_TOO_LONG, "request line too long"));
    }
    // `parse_request` looked at `max_head` bytes and found no end: the head needs more.
    if buf.len() >= limits.max_head {
        return Err(Error::new(Status::HEADER_FIELDS_TOO_LARGE, "request head too long"));
    }
    Ok(Parsed::Partial)
}

/// Whether the bytes present prove the request line longer than `max` (CRLF or LF
/// excluded).
fn request_line_too_long(buf: &[u8], max: usize) -> bool {
    if buf.len() <= max {
        return false;
    }
    let line = skip_empty_lines(buf);
    match line.iter().take(max.saturating_add(2)).position(|&b| b == b'\n') {
        Some(lf) => lf - usize::from(lf > 0 && line[lf - 1] == b'\r') > max,
        // `max` bytes and a CR may still be a line of exactly `max` bytes.
        None => line.len() > max && !(line.len() == max + 1 && line[max] == b'\r'),
    }
}

fn skip_empty_lines(buf: &[u8]) -> &[u8] {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
    &buf[start..]
}

/// The [`Request`] of a head httparse found complete and well-formed.
fn request<'a>(raw: &httparse::Request<'_, 'a>, limits: &Limits) -> Result<Request<'a>, Error> {
    let (Some(method), Some(target), Some(minor)) = (raw.method, raw.path, raw.version) else {
        return Err(Error::new(Status::BAD_REQUEST, "incomplete request line"));
    };
    // httparse's default config takes exactly one space between the three parts, so
    // the line is `METHOD SP TARGET SP HTTP/1.x`: its length needs no scan.
    if method.len() + target.len() + " HTTP/1.1 ".len() > limits.max_request_line {
        return Err(Error::new(Status::URI_TOO_LONG, "request line too long"));
    }
    let method = parse_method(method)?;
    let version = if minor == 0 { Version::Http10 } else { Version::Http11 };
    let form = target::split(method, target)?;
    let fields = Gathered::gather(raw.headers)?;
    if version == Version::Http11 && fields.host.is_none() {
        return Err(Error::new(Status::BAD_REQUEST, "HTTP/1.1 request without Host"));
    }
    Ok(Request {
        method,
        version,
        target,
        path: form.path,
        query: form.query,
        host: form.authority.or(fields.host),
        keep_alive: match version {
            Version::Http11 => !fields.connection_close,
            Version::Http10 => fields.connection_keep_alive && !fields.connection_close,
        },
        expect_continue: version == Version::Http11 && fields.expect_continue,
        body: fields.body(version)?,
        fields: fields.fields,
    })
}

/// Methods are case-sensitive (RFC 9110 section 9.1): `get` is an unknown method.
fn parse_method(method: &str) -> Result<Method, Error> {
    Ok(match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        _ => return Err(Error::new(Status::NOT_IMPLEMENTED, "unknown method")),
    })
}

fn malformed(error: httparse::Error, buf: &[u8]) -> Error {
    let (status, reason) = match error {
        httparse::Error::TooManyHeaders => (Status::HEADER_FIELDS_TOO_LARGE, "too many header fields"),
        httparse::Error::Version if is_other_version(buf) => {
            (Status::HTTP_VERSION_NOT_SUPPORTED, "HTTP version not supported")
        }
        httparse::Error::Version => (Status::BAD_REQUEST, "malformed HTTP version"),
        httparse::Error::HeaderName => (Status::BAD_REQUEST, "malformed header field name"),
        httparse::Error::HeaderValue => (Status::BAD_REQUEST, "malformed header field value"),
        httparse::Error::NewLine => (Status::BAD_REQUEST, "malformed line ending"),
        _ => (Status::BAD_REQUEST, "malformed request line"),
    };
    Error::new(status, reason)
}

/// Whether the version httparse refused is well-formed (`HTTP/DIGIT.DIGIT`, RFC 9112
/// section 2.3), as far as the bytes present show: then it is only not ours.
fn is_other_version(buf: &[u8]) -> bool {
    // httparse got as far as the version, so the method and target before it are
    // tokens each followed by one space.
    let Some(rest) = skip_empty_lines(buf).splitn(3, |&b| b == b' ').nth(2) else {
        return false;
    };
    let end = rest.iter().position(|&b| b == b'\r' || b == b'\n');
    let version = &rest[..end.unwrap_or(rest.len())];
    let shape = b"HTTP/0.0";
    let fits = version.len() <= shape.len()
        && version.iter().zip(shape).all(|(&b, &s)| if s == b'0' { b.is_ascii_digit() } else { b == s });
    fits && (end.is_none() || version.len() == shape.len())
}

#[cfg(test)]
mod tests;
