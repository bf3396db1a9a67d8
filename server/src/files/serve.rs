//! The request flow of [`respond`](super::respond), and the heads of the responses it
//! ends in.
//!
//! ```text
//! method ─▶ resolve path ─▶ open ─┬─ file ─▶ precompressed sibling ─▶ preconditions ─▶ ranges ─▶ 200/206/304/412/416
//!                                 ├─ dir without `/` ─▶ 301
//!                                 ├─ dir/ ─▶ index file (as a file) ─▶ else listing ─▶ else 404
//!                                 └─ other ─▶ 404
//! ```
//!
//! Error pages come whole from [`error_response`], head and text body together in the
//! head buffer: their [`Response`] says `Body::Empty` and `body_len` 0.

use std::path::Path;

use super::mime::ContentType;
use super::precompressed::{self, Encoding};
use super::ranges::{self, Boundary, ByteRange, ContentRange, Ranges};
use super::resolve::{self, resolve};
use super::validators::{Precondition, Validators};
use super::{Body, FileConfig, FileKind, Fs, Metadata, Response, is_refusal, listing};
use crate::http::{Head, Method, Persistence, Request, Status, error_response};

type Served<T> = Result<Response<T>, Status>;

pub(super) fn respond<F: Fs>(
    fs: &F,
    config: &FileConfig,
    request: &Request<'_>,
    keep_alive: bool,
    head: &mut Vec<u8>,
) -> Response<F::File> {
    let mut reply = Reply {
        config,
        request,
        persistence: Persistence::new(keep_alive, request.version),
        head_only: request.method == Method::Head,
        head,
    };
    if !matches!(request.method, Method::Get | Method::Head) {
        return reply.error(Status::METHOD_NOT_ALLOWED, &[("Allow", "GET, HEAD")]);
    }
    match reply.serve(fs) {
        Ok(response) => response,
        Err(status) => reply.error(status, &[]),
    }
}

/// One request being answered. Methods write `head` through the field, not through
/// `self`, so the other fields stay readable while a [`Head`] borrows it.
struct Reply<'r, 'a> {
    config: &'r FileConfig,
    request: &'r Request<'a>,
    persistence: Persistence,
    head_only: bool,
    head: &'r mut Vec<u8>,
}

/// The file (or precompressed sibling) chosen to answer, and what its head says.
#[derive(Debug)]
struct Representation {
    /// The original's type, also for a sibling.
    content_type: ContentType,
    encoding: Option<Encoding>,
    len: u64,
    validators: Validators,
}

impl Reply<'_, '_> {
    fn serve<F: Fs>(&mut self, fs: &F) -> Served<F::File> {
        let target = resolve(self.request.path, self.config.hidden)?;
        let (file, metadata) = open(fs, &target.path)?;
        match (metadata.kind, target.names_dir) {
            (FileKind::File, false) => self.file(fs, &target.path, file, metadata),
            (FileKind::Dir, false) => Ok(self.redirect_to_dir()),
            (FileKind::Dir, true) => self.directory(fs, &target.path),
            // `file/`, and FIFOs, devices, sockets however named.
            (FileKind::File | FileKind::Other, _) => Err(Status::NOT_FOUND),
        }
    }

    /// `dir/`: its index file if that is a regular file, else a listing if allowed.
    fn directory<F: Fs>(&mut self, fs: &F, dir: &Path) -> Served<F::File> {
        if let Some(index) = resolve::child(dir, &self.config.index) {
            match open(fs, &index) {
                Ok((file, metadata)) if metadata.kind == FileKind::File => {
                    return self.file(fs, &index, file, metadata);
                }
                Ok(_) | Err(Status::NOT_FOUND) => {}
                Err(status) => return Err(status),
            }
        }
        if !self.config.listing {
            return Err(Status::NOT_FOUND);
        }
        let entries = fs.read_dir(dir).map_err(status_of)?;
        Ok(self.listing(listing::render(dir, entries, self.config.hidden)))
    }

    fn file<F: Fs>(&mut self, fs: &F, path: &Path, file: F::File, metadata: Metadata) -> Served<F::File> {
        let (file, metadata, encoding) = match self.precompressed(fs, path) {
            Some((sibling, metadata, encoding)) => (sibling, metadata, Some(encoding)),
            None => (file, metadata, None),
        };
        let representation = Representation {
            content_type: ContentType::of(path),
            encoding,
            len: metadata.len,
            validators: Validators::new(&metadata, encoding),
        };
        match representation.validators.evaluate(self.request) {
            Precondition::Failed => return Err(Status::PRECONDITION_FAILED),
            Precondition::NotModified => return Ok(self.not_modified(&representation)),
            Precondition::Proceed => {}
        }
        Ok(match self.ranges(&representation) {
            Ranges::Whole => self.whole(file, &representation),
            Ranges::Unsatisfiable => self.unsatisfiable(representation.len),
            Ranges::Partial(ranges) if ranges.len() == 1 => {
                self.single_range(file, &representation, ranges[0])
            }
            Ranges::Partial(ranges) => self.multiple_ranges(file, &representation, &ranges),
        })
    }

    /// The best sibling (`path.br`, `path.gz`) the client accepts that is a regular
    /// file; `None` serves the original.
    fn precompressed<F: Fs>(&self, fs: &F, path: &Path) -> Option<(F::File, Metadata, Encoding)> {
        let accept_encoding = self.request.fields.accept_encoding.filter(|_| self.config.precompressed)?;
        precompressed::accepted(accept_encoding).find_map(|encoding| {
            let sibling = resolve::with_suffix(path, encoding.file_suffix());
            // An error other than absence was logged by `status_of`; the original serves.
            let (file, metadata) = open(fs, &sibling).ok()?;
            (metadata.kind == FileKind::File).then_some((file, metadata, encoding))
        })
    }

    /// The `Range` to apply: GET only, and only while `If-Range` (if any) holds.
    fn ranges(&self, representation: &Representation) -> Ranges {
        let Some(range) = self.request.fields.range.filter(|_| self.request.method == Method::Get) else {
            return Ranges::Whole;
        };
        if self
            .request
            .fields
            .if_range
            .is_some_and(|if_range| !representation.validators.if_range_holds(if_range))
        {
            return Ranges::Whole;
        }
        ranges::parse(range, representation.len)
    }

    fn whole<T>(&mut self, file: T, representation: &Representation) -> Response<T> {
        let mut head = Head::new(self.head, Status::OK);
        head.header("Content-Type", representation.content_type).content_length(representation.len);
        representation.write_content_fields(&mut head, self.config);
        head.connection(self.persistence);
        head.finish();
        if self.head_only || representation.len == 0 {
            return Response { status: Status::OK, body: Body::Empty, body_len: 0 };
        }
        let body = Body::File { file, offset: 0, len: representation.len };
        Response { status: Status::OK, body, body_len: representation.len }
    }

    fn single_range<T>(&mut self, file: T, representation: &Representation, range: ByteRange) -> Response<T> {
        let mut head = Head::new(self.head, Status::PARTIAL_CONTENT);
        head.header("Content-Type", representation.content_type).content_length(range.len());
        head.header("Content-Range", ContentRange { range, len: representation.len });
        representation.write_content_fields(&mut head, self.config);
        head.connection(self.persistence);
        head.finish();
        let body = Body::File { file, offset: range.first, len: range.len() };
        Response { status: Status::PARTIAL_CONTENT, body, body_len: range.len() }
    }

    fn multiple_ranges<T>(
        &mut self,
        file: T,
        representation: &Representation,
        ranges: &[ByteRange],
    ) -> Response<T> {
        let boundary = Boundary::new();
        let (parts, trailer) =
            ranges::multipart(ranges, representation.len, representation.content_type, boundary);
        let framing: usize = parts.iter().map(|part| part.header.len()).sum::<usize>() + trailer.len();
        let body_len = framing as u64 + ranges.iter().map(|range| range.len()).sum::<u64>();
        let mut head = Head::new(self.head, Status::PARTIAL_CONTENT);
        head.header("Content-Type", format_args!("multipart/byteranges; boundary={boundary}"));
        head.content_length(body_len);
        representation.write_content_fields(&mut head, self.config);
        head.connection(self.persistence);
        head.finish();
        Response { status: Status::PARTIAL_CONTENT, body: Body::Multipart { file, parts, trailer }, body_len }
    }

    fn not_modified<T>(&mut self, representation: &Representation) -> Response<T> {
        let mut head = Head::new(self.head, Status::NOT_MODIFIED);
        representation.write_validators(&mut head, self.config);
        head.connection(self.persistence);
        head.finish();
        Response { status: Status::NOT_MODIFIED, body: Body::Empty, body_len: 0 }
    }

    fn listing<T>(&mut self, html: Vec<u8>) -> Response<T> {
        let len = html.len() as u64;
        let mut head = Head::new(self.head, Status::OK);
        head.header("Content-Type", ContentType::HTML).content_length(len);
        head.connection(self.persistence);
        head.finish();
        if self.head_only {
            return Response { status: Status::OK, body: Body::Empty, body_len: 0 };
        }
        Response { status: Status::OK, body: Body::Bytes(html), body_len: len }
    }

    /// 301 to the path with a `/` (the raw path is already a valid encoded path).
    fn redirect_to_dir<T>(&mut self) -> Response<T> {
        let location = match self.request.query {
            Some(query) => format!("{}/?{query}", self.request.path),
            None => format!("{}/", self.request.path),
        };
        self.error(Status::MOVED_PERMANENTLY, &[("Location", &location)])
    }

    fn unsatisfiable<T>(&mut self, len: u64) -> Response<T> {
        let content_range = format!("bytes */{len}");
        self.error(Status::RANGE_NOT_SATISFIABLE, &[("Content-Range", &content_range)])
    }

    /// A whole response written by `error_response` (see the module docs).
    fn error<T>(&mut self, status: Status, extra: &[(&str, &str)]) -> Response<T> {
        error_response(self.head, status, self.persistence, self.head_only, extra);
        Response { status, body: Body::Empty, body_len: 0 }
    }
}

impl Representation {
    /// Fields of a 200 or 206 beyond `Content-Type` and `Content-Length`.
    fn write_content_fields(&self, head: &mut Head<'_>, config: &FileConfig) {
        head.header("Accept-Ranges", "bytes");
        if let Some(encoding) = self.encoding {
            head.header("Content-Encoding", encoding.token());
        }
        self.write_validators(head, config);
    }

    /// Fields a 304 repeats from the 200 it stands for (RFC 9110 section 15.4.5).
    fn write_validators(&self, head: &mut Head<'_>, config: &FileConfig) {
        if let Some(etag) = self.validators.etag {
            head.header("ETag", etag);
        }
        if let Some(last_modified) = self.validators.last_modified() {
            head.header("Last-Modified", last_modified);
        }
        if let Some(cache_control) = &config.cache_control {
            head.header("Cache-Control", cache_control);
        }
        if config.precompressed {
            head.header("Vary", "Accept-Encoding");
        }
    }
}

fn open<F: Fs>(fs: &F, path: &Path) -> Result<(F::File, Metadata), Status> {
    let file = fs.open(path).map_err(status_of)?;
    let metadata = fs.metadata(&file).map_err(status_of)?;
    Ok((file, metadata))
}

/// 404 for what means "nothing to serve here", 500 (logged) for the rest.
fn status_of(error: std::io::Error) -> Status {
    if is_refusal(&error) {
        tracing::debug!(%error, "not served");
        Status::NOT_FOUND
    } else {
        tracing::warn!(%error, "file system error");
        Status::INTERNAL_SERVER_ERROR
    }
}
