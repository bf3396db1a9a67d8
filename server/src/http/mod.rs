//! Sans-I/O HTTP/1.1 (RFC 9110, RFC 9112): parse a request head from bytes, discard a
//! request body, write a response head. Nothing here reads a socket or a clock other
//! than the `Date` cache: every engine drives the same code.
//!
//! | item | role |
//! |---|---|
//! | [`parse_request`] | one request head from the front of a buffer, with hard [`Limits`] |
//! | [`BodyDiscard`] | reads past a request body (`Content-Length` or chunked) without keeping it |
//! | [`Head`] | writes a response head: status line, `Date`, `Server`, headers |
//! | [`Status`] | the status codes the server sends, with their reason phrases |

mod body;
mod date;
mod head;
mod parse;
#[cfg(test)]
mod proptests;

pub use body::BodyDiscard;
pub use date::http_date;
pub use head::{Head, continue_response, error_response};
pub use parse::parse_request;

/// Hard limits on what a client may send. Exceeding one is an error response, and the
/// connection closes, since the rest of the stream can no longer be trusted.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Longest request line in bytes, CRLF excluded: longer is 414.
    pub max_request_line: usize,
    /// Longest head (request line and header fields, through the empty line): longer
    /// is 431.
    pub max_head: usize,
    /// Most header fields: more is 431. Values over 100 count as 100: the parser's
    /// field slots live on the stack.
    pub max_headers: usize,
    /// Largest request body read and discarded: larger is 413.
    pub max_body: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_request_line: 8 * 1024, max_head: 32 * 1024, max_headers: 100, max_body: 64 * 1024 }
    }
}

/// Request methods; a method not listed is a parse error (501).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Connect,
    Options,
    Trace,
    Patch,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Connect => "CONNECT",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Patch => "PATCH",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// What a response tells the client about its connection (RFC 9112 section 9.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistence {
    /// `Connection: close`: the server closes after this response.
    Close,
    /// Nothing: HTTP/1.1 connections persist by default.
    KeepAlive,
    /// `Connection: keep-alive`, which an HTTP/1.0 client needs to hear.
    KeepAliveHttp10,
}

impl Persistence {
    /// For a response the server will (`keep_alive`) or will not follow with another
    /// on the same connection, to a client speaking `version`.
    pub fn new(keep_alive: bool, version: Version) -> Persistence {
        match (keep_alive, version) {
            (false, _) => Persistence::Close,
            (true, Version::Http11) => Persistence::KeepAlive,
            (true, Version::Http10) => Persistence::KeepAliveHttp10,
        }
    }
}

/// How the request body is delimited (RFC 9112 section 6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    None,
    Length(u64),
    Chunked,
}

/// A parsed request head, borrowing from the buffer it was parsed from.
///
/// Only the fields the server acts on are kept; a header field that occurs more than
/// once where the grammar forbids it (`Host`, `Content-Length` with differing values)
/// is a parse error, not a choice made here.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    pub method: Method,
    pub version: Version,
    /// The request target as sent.
    pub target: &'a str,
    /// The path of the target, still percent-encoded: the target itself in origin
    /// form, the part after the authority in absolute form (`/` when empty); `*` for
    /// `OPTIONS *`, empty for CONNECT.
    pub path: &'a str,
    /// What follows `?`, without it.
    pub query: Option<&'a str>,
    /// The authority of an absolute-form target, else the `Host` field.
    pub host: Option<&'a str>,
    /// Whether the connection may stay open after the response: HTTP/1.1 unless
    /// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
    pub body: BodyKind,
    /// The other header fields the server acts on.
    pub fields: Fields<'a>,
}

/// The request header fields the server acts on beyond framing and routing, each as
/// sent with the surrounding whitespace trimmed.
#[derive(Clone, Debug, Default)]
pub struct Fields<'a> {
    pub range: Option<&'a str>,
    pub if_range: Option<&'a str>,
    pub if_match: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
    pub if_modified_since: Option<&'a str>,
    pub if_unmodified_since: Option<&'a str>,
    pub accept_encoding: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub referer: Option<&'a str>,
}

/// Outcome of [`parse_request`] on a buffer that holds no error.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "boxing the Request would allocate per request; the value is moved once, to the caller"
)]
pub enum Parsed<'a> {
    /// A whole head: the request and the number of bytes it took (through CRLF CRLF).
    Complete(Request<'a>, usize),
    /// More bytes are needed. Returned only while the buffer is within the limits, so a
    /// caller that reads at most `Limits::max_head + 1` bytes always ends with
    /// `Complete` or an error.
    Partial,
}

/// A request the server refuses: the status to answer with. The connection is closed
/// after the response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error {
    pub status: Status,
    /// Why, for the log (never sent to the client beyond the status).
    pub reason: &'static str,
}

impl Error {
    pub const fn new(status: Status, reason: &'static str) -> Error {
        Error { status, reason }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.code(), self.status.reason(), self.reason)
    }
}

impl std::error::Error for Error {}

/// A response status the server sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Status(u16);

impl Status {
    pub const CONTINUE: Status = Status(100);
    pub const OK: Status = Status(200);
    pub const PARTIAL_CONTENT: Status = Status(206);
    pub const MOVED_PERMANENTLY: Status = Status(301);
    pub const NOT_MODIFIED: Status = Status(304);
    pub const BAD_REQUEST: Status = Status(400);
    pub const FORBIDDEN: Status = Status(403);
    pub const NOT_FOUND: Status = Status(404);
    pub const METHOD_NOT_ALLOWED: Status = Status(405);
    pub const REQUEST_TIMEOUT: Status = Status(408);
    pub const PRECONDITION_FAILED: Status = Status(412);
    pub const CONTENT_TOO_LARGE: Status = Status(413);
    pub const URI_TOO_LONG: Status = Status(414);
    pub const RANGE_NOT_SATISFIABLE: Status = Status(416);
    pub const EXPECTATION_FAILED: Status = Status(417);
    pub const HEADER_FIELDS_TOO_LARGE: Status = Status(431);
    pub const INTERNAL_SERVER_ERROR: Status = Status(500);
    pub const NOT_IMPLEMENTED: Status = Status(501);
    pub const SERVICE_UNAVAILABLE: Status = Status(503);
    pub const HTTP_VERSION_NOT_SUPPORTED: Status = Status(505);

    pub const fn code(self) -> u16 {
        self.0
    }

    pub const fn reason(self) -> &'static str {
        match self.0 {
            100 => "Continue",
            200 => "OK",
            206 => "Partial Content",
            301 => "Moved Permanently",
            304 => "Not Modified",
            400 => "Bad Request",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            412 => "Precondition Failed",
            413 => "Content Too Large",
            414 => "URI Too Long",
            416 => "Range Not Satisfiable",
            417 => "Expectation Failed",
            431 => "Request Header Fields Too Large",
            500 => "Internal Server Error",
            501 => "Not Implemented",
            503 => "Service Unavailable",
            505 => "HTTP Version Not Supported",
            _ => "Unknown",
        }
    }

    /// Whether a response with this status carries no body (1xx, 204, 304).
    pub const fn is_bodiless(self) -> bool {
        self.0 < 200 || self.0 == 204 || self.0 == 304
    }
}
