//! [`respond`] end to end on temporary directories, and the helpers the other test
//! modules share.
//!
//! | file | area |
//! |---|---|
//! | `serving.rs` | methods, paths, directories, special files, symlinks, fields, precompressed siblings |
//! | `conditional.rs` | validators, preconditions, ranges, empty files |

mod conditional;
mod serving;

use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::http::{BodyKind, Fields, Method, Version};

/// A directory under the system temporary directory, removed on drop.
pub(super) struct TempRoot(PathBuf);

impl TempRoot {
    pub(super) fn new() -> TempRoot {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("hebra-files-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempRoot(path)
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `contents` at `relative`, creating its directories.
    pub(super) fn file(&self, relative: &str, contents: &[u8]) -> PathBuf {
        let path = self.0.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub(super) fn dir(&self, relative: &str) {
        std::fs::create_dir_all(self.0.join(relative)).unwrap();
    }

    pub(super) fn fs(&self, follow_symlinks: bool) -> StdFs {
        StdFs::new(&self.0, follow_symlinks).unwrap()
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A GET for `path` over HTTP/1.1, without any optional field.
pub(super) fn request(path: &str) -> Request<'_> {
    Request {
        method: Method::Get,
        version: Version::Http11,
        target: path,
        path,
        query: None,
        host: Some("example.test"),
        keep_alive: true,
        expect_continue: false,
        body: BodyKind::None,
        fields: Fields::default(),
    }
}

/// A response as a client sees it: the head as text, the body bytes.
struct Exchange {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Exchange {
    /// The value of the first field `name` (case-insensitive) in the head.
    fn field(&self, name: &str) -> Option<&str> {
        self.head.split("\r\n").skip(1).find_map(|line| {
            let (field, value) = line.split_once(':')?;
            field.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    fn body_text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
}

/// Runs `respond`, checks the response is consistent (one complete head, `body_len`
/// the length of the body), and reads the body: for an error page, its text after the
/// head.
fn exchange<F: Fs>(fs: &F, config: &FileConfig, request: &Request<'_>) -> (Exchange, Response<F::File>)
where
    F::File: FileExt,
{
    let mut head = Vec::new();
    let response = respond(fs, config, request, request.keep_alive, &mut head);
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with(&format!("HTTP/1.1 {} ", response.status.code())), "{head}");
    let (head, inline_body) = head.split_once("\r\n\r\n").expect("a complete head");
    let body = match &response.body {
        Body::Empty => {
            assert_eq!(response.body_len, 0);
            inline_body.as_bytes().to_vec()
        }
        body => {
            assert!(inline_body.is_empty(), "bytes after the head and a body: {inline_body:?}");
            let bytes = body_bytes(body);
            assert_eq!(response.body_len, bytes.len() as u64);
            bytes
        }
    };
    let status = response.status.code();
    (Exchange { status, head: head.to_string(), body }, response)
}

fn body_bytes<F: FileExt>(body: &Body<F>) -> Vec<u8> {
    let read = |file: &F, offset: u64, len: u64| {
        let mut bytes = vec![0; len as usize];
        file.read_exact_at(&mut bytes, offset).unwrap();
        bytes
    };
    match body {
        Body::Empty => Vec::new(),
        Body::Bytes(bytes) => bytes.clone(),
        Body::File { file, offset, len } => read(file, *offset, *len),
        Body::Multipart { file, parts, trailer } => {
            let mut bytes = Vec::new();
            for part in parts {
                bytes.extend_from_slice(&part.header);
                bytes.extend(read(file, part.offset, part.len));
            }
            bytes.extend_from_slice(trailer);
            bytes
        }
    }
}

/// Serves `request` from `root` with `config`.
fn get(root: &TempRoot, config: &FileConfig, request: &Request<'_>) -> Exchange {
    exchange(&root.fs(config.follow_symlinks), config, request).0
}

fn site() -> TempRoot {
    let root = TempRoot::new();
    root.file("hello.txt", b"hello, world\n");
    root.file("index.html", b"<p>home</p>");
    root.file("dir/index.html", b"<p>dir</p>");
    root.file("dir/page.css", b"p {}");
    root.file("noindex/a.txt", b"a");
    root.file("noindex/.secret", b"s");
    root.file("noindex/sub/b", b"b");
    root.file(".hidden/x.txt", b"x");
    root.file("empty", b"");
    root.file("digits.bin", b"0123456789");
    root
}

fn config() -> FileConfig {
    FileConfig::default()
}

fn with<'a>(path: &'a str, change: impl FnOnce(&mut Request<'a>)) -> Request<'a> {
    let mut request = request(path);
    change(&mut request);
    request
}

/// An [`Fs`] answering from a table, for what a real directory cannot produce on demand.
struct TableFs(Vec<(&'static str, Result<Metadata, i32>)>);

impl Fs for TableFs {
    type File = Metadata;

    fn open(&self, path: &Path) -> io::Result<Metadata> {
        let entry = self.0.iter().find(|(name, _)| Path::new(name) == path);
        match entry {
            Some((_, Ok(metadata))) => Ok(*metadata),
            Some((_, Err(errno))) => Err(io::Error::from_raw_os_error(*errno)),
            None => Err(io::ErrorKind::NotFound.into()),
        }
    }

    fn metadata(&self, file: &Metadata) -> io::Result<Metadata> {
        Ok(*file)
    }

    fn read_dir(&self, _: &Path) -> io::Result<Vec<DirEntry>> {
        Err(io::Error::from_raw_os_error(5))
    }
}

fn table_exchange(
    path: &str,
    config: &FileConfig,
    table: Vec<(&'static str, Result<Metadata, i32>)>,
) -> Exchange {
    let fs = TableFs(table);
    let mut head = Vec::new();
    let response = respond(&fs, config, &request(path), true, &mut head);
    assert!(matches!(response.body, Body::Empty | Body::File { .. }));
    Exchange { status: response.status.code(), head: String::from_utf8(head).unwrap(), body: Vec::new() }
}
