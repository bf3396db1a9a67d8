//! What to answer for a request on a directory of files: traversal-safe resolution,
//! metadata, MIME types, validators (`ETag`, `Last-Modified`), conditional requests
//! (RFC 9110 section 13), ranges (section 14), precompressed siblings, directory
//! listings. Sans-I/O but for the file system, which it reaches through [`Fs`], so each
//! engine decides how file operations wait: the coroutine engine on `hebra::fs`, the
//! event-loop engines inline, as their models do.
//!
//! [`respond`] is the whole interface: a request in, a response head written and a
//! [`Body`] to send.
//!
//! | file | mechanism |
//! |---|---|
//! | `serve.rs` | the request flow, and the response heads it writes |
//! | `resolve.rs` | request path to relative path: one strict percent-decoding, traversal and dotfile refusal |
//! | `validators.rs` | `ETag`, `Last-Modified`, and the conditional headers in RFC 9110 order |
//! | `ranges.rs` | `Range` parsing and coalescing, `multipart/byteranges` framing |
//! | `precompressed.rs` | `Accept-Encoding` and the `.br` / `.gz` siblings |
//! | `mime.rs` | `Content-Type` from the name |
//! | `listing.rs` | the HTML directory listing |
//! | `std_fs.rs` | [`StdFs`]: [`Fs`] on blocking calls and `openat2` |
//!
//! Per request, `respond` allocates only where a response needs it: a decoded path
//! when the request path holds a `%`, the index or sibling names tried, the ranges and
//! multipart framing, a listing, the text of an error page. Validators and dates are
//! formatted straight into the head.

use std::io;
use std::path::Path;
use std::time::SystemTime;

use crate::http::{Request, Status};

mod listing;
mod mime;
mod precompressed;
mod ranges;
mod resolve;
mod serve;
mod std_fs;
#[cfg(test)]
mod tests;
mod validators;

pub use std_fs::StdFs;

/// How files are served. Defaults are the safe ones: no listings, no dotfiles, no
/// symlinks out of the root.
#[derive(Clone, Debug)]
pub struct FileConfig {
    /// Send an HTML listing for a directory without an index file (else 404).
    pub listing: bool,
    /// Serve names starting with `.` (else 404).
    pub hidden: bool,
    /// Follow symlinks that lead out of the root (else 404). Symlinks that stay inside
    /// the root are always followed. Enforced by the [`Fs`] implementations.
    pub follow_symlinks: bool,
    /// `Cache-Control` value for files, if any.
    pub cache_control: Option<String>,
    /// Serve `NAME.br` / `NAME.gz` for `NAME` when the client accepts that encoding.
    pub precompressed: bool,
    /// File served for a directory request (`/dir/`).
    pub index: String,
}

impl Default for FileConfig {
    fn default() -> FileConfig {
        FileConfig {
            listing: false,
            hidden: false,
            follow_symlinks: false,
            cache_control: None,
            precompressed: true,
            index: "index.html".into(),
        }
    }
}

/// The file system under the served root, as the engine reaches it.
///
/// Paths given to it are relative to the root, already percent-decoded and checked:
/// no `..`, `.` or empty segments, no NUL, no backslash, never absolute; `""` is the
/// root itself. An implementation must still refuse (with `NotFound` or
/// `PermissionDenied`) a path whose resolution leaves the root through a symlink,
/// unless configured to follow symlinks.
pub trait Fs {
    /// An open file or directory.
    type File;

    fn open(&self, path: &Path) -> io::Result<Self::File>;
    fn metadata(&self, file: &Self::File) -> io::Result<Metadata>;
    /// The entries of the directory at `path` (`.` and `..` excluded), in no order.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metadata {
    pub kind: FileKind,
    pub len: u64,
    pub modified: Option<SystemTime>,
}

impl From<&std::fs::Metadata> for Metadata {
    /// The metadata as `stat` gives it: a symlink (from `lstat`) is `Other`.
    fn from(metadata: &std::fs::Metadata) -> Metadata {
        let kind = if metadata.is_file() {
            FileKind::File
        } else if metadata.is_dir() {
            FileKind::Dir
        } else {
            FileKind::Other
        };
        Metadata { kind, len: metadata.len(), modified: metadata.modified().ok() }
    }
}

#[derive(Clone, Debug)]
pub struct DirEntry {
    pub name: std::ffi::OsString,
    /// `None` when the entry could not be examined (it is listed without size and date).
    pub metadata: Option<Metadata>,
}

/// What [`respond`] decided.
#[derive(Debug)]
pub struct Response<F> {
    pub status: Status,
    pub body: Body<F>,
    /// Bytes of body that follow the head (0 for HEAD and bodiless statuses): what the
    /// engine must send, and what the access log reports.
    pub body_len: u64,
}

/// A response body, for the engine to send after the head.
#[derive(Debug)]
pub enum Body<F> {
    Empty,
    /// Generated bytes: a listing, an error text.
    Bytes(Vec<u8>),
    /// `len` bytes of `file` from `offset`.
    File {
        file: F,
        offset: u64,
        len: u64,
    },
    /// multipart/byteranges: for each part, its delimiter and header lines, then `len`
    /// bytes of `file` from `offset`; then the closing delimiter.
    Multipart {
        file: F,
        parts: Vec<Part>,
        trailer: Vec<u8>,
    },
}

#[derive(Debug)]
pub struct Part {
    pub header: Vec<u8>,
    pub offset: u64,
    pub len: u64,
}

/// Answers `request` from the files `fs` serves: writes the whole response head into
/// `head` and returns the body to send after it.
///
/// Methods other than GET and HEAD are 405 with `Allow: GET, HEAD`. `keep_alive` is
/// the engine's decision, written as `Connection: close` when false; the response never
/// carries more bytes than the file has.
///
/// Error responses (4xx, 5xx, and the 301 to a directory's `/` URL) are written whole,
/// text body included, into `head`: their body is `Body::Empty` with `body_len` 0.
pub fn respond<F: Fs>(
    fs: &F,
    config: &FileConfig,
    request: &Request<'_>,
    keep_alive: bool,
    head: &mut Vec<u8>,
) -> Response<F::File> {
    serve::respond(fs, config, request, keep_alive, head)
}

/// Linux's `ENXIO`, `ENAMETOOLONG` and `ELOOP`, which `io::ErrorKind` does not name
/// (or names only after this crate's minimum Rust version); the crate does not depend
/// on `libc`.
const ENXIO: i32 = 6;
const ENAMETOOLONG: i32 = 36;
const ELOOP: i32 = 40;

/// Whether an error opening a path means there is nothing to serve there (404), as
/// opposed to a fault of the server (500): absent, forbidden, a file used as a
/// directory, a symlink out of the root (`EXDEV` from `RESOLVE_BENEATH`), a symlink
/// loop, a name too long, a socket (`ENXIO`).
fn is_refusal(error: &io::Error) -> bool {
    use io::ErrorKind::{CrossesDevices, NotADirectory, NotFound, PermissionDenied};
    matches!(error.kind(), NotFound | PermissionDenied | NotADirectory | CrossesDevices)
        || matches!(error.raw_os_error(), Some(ENXIO | ENAMETOOLONG | ELOOP))
}
