//! From the request path to the relative path handed to [`Fs`](super::Fs).
//!
//! The path is percent-decoded exactly once, strictly, and every check runs on the
//! decoded bytes, so `%2e%2e` is `..` and `%2F` separates segments like `/`. What is
//! refused, and how:
//!
//! | decoded path holds | answer |
//! |---|---|
//! | `%` not followed by two hex digits | 400 |
//! | NUL | 400 |
//! | a backslash | 404: a legal byte in a Linux name, but a separator elsewhere, so never served |
//! | a `.` or `..` segment | 404 |
//! | an empty segment (`a//b`) | 404: not collapsed, so a resource has one URL |
//! | a segment starting with `.` | 404 unless `hidden` |
//!
//! One trailing `/` is not a segment: it marks a directory request.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use percent_encoding::percent_decode;

use crate::http::Status;

/// What a request path names.
#[derive(Debug)]
pub(super) struct Target<'a> {
    /// Relative to the root, without leading or trailing `/`; empty for the root.
    /// Borrowed from the request unless it held a `%`.
    pub(super) path: Cow<'a, Path>,
    /// The request path ended with `/`: it asks for a directory.
    pub(super) names_dir: bool,
}

/// Decodes and checks the raw (percent-encoded) request path; `Err` is the status to
/// answer with.
pub(super) fn resolve(raw: &str, hidden: bool) -> Result<Target<'_>, Status> {
    let rest = raw.strip_prefix('/').ok_or(Status::BAD_REQUEST)?;
    let (encoded, names_dir) = match rest.strip_suffix('/') {
        // "//": an empty segment, not the root.
        Some("") => return Err(Status::NOT_FOUND),
        Some(encoded) => (encoded, true),
        None => (rest, rest.is_empty()),
    };
    let decoded = decode(encoded.as_bytes())?;
    if decoded.contains(&0) {
        return Err(Status::BAD_REQUEST);
    }
    if !decoded.is_empty() && !decoded.split(|&byte| byte == b'/').all(|segment| is_servable(segment, hidden))
    {
        return Err(Status::NOT_FOUND);
    }
    Ok(Target { path: into_path(decoded), names_dir })
}

/// `name` inside the directory `dir` (both relative), if `name` is a single servable
/// segment: the index file name comes from the configuration, and an absolute or
/// `..` one must not turn into a path outside the directory.
pub(super) fn child(dir: &Path, name: &str) -> Option<PathBuf> {
    if name.contains('/') || !is_servable(name.as_bytes(), true) {
        return None;
    }
    Some(dir.join(name))
}

/// `path` with `suffix` appended to its last segment (`a/b.js` + `.gz`).
pub(super) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::with_capacity(path.as_os_str().len() + suffix.len());
    name.push(path);
    name.push(suffix);
    name.into()
}

fn decode(encoded: &[u8]) -> Result<Cow<'_, [u8]>, Status> {
    let mut percents = encoded.iter().enumerate().filter(|&(_, &byte)| byte == b'%');
    let valid = percents.all(|(at, _)| {
        let digits = encoded.get(at + 1..at + 3);
        digits.is_some_and(|digits| digits.iter().all(u8::is_ascii_hexdigit))
    });
    if !valid {
        return Err(Status::BAD_REQUEST);
    }
    Ok(percent_decode(encoded).into())
}

fn is_servable(segment: &[u8], hidden: bool) -> bool {
    match segment {
        b"" | b"." | b".." => false,
        [b'.', ..] if !hidden => false,
        _ => !segment.contains(&b'\\'),
    }
}

fn into_path(decoded: Cow<'_, [u8]>) -> Cow<'_, Path> {
    match decoded {
        Cow::Borrowed(bytes) => Cow::Borrowed(Path::new(OsStr::from_bytes(bytes))),
        Cow::Owned(bytes) => Cow::Owned(PathBuf::from(OsString::from_vec(bytes))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(raw: &str) -> Result<(Vec<u8>, bool), u16> {
        resolve(raw, false)
            .map(|target| (target.path.as_os_str().as_bytes().to_vec(), target.names_dir))
            .map_err(Status::code)
    }

    #[test]
    fn plain_paths_are_relative_and_borrowed() {
        assert_eq!(resolved("/"), Ok((b"".to_vec(), true)));
        assert_eq!(resolved("/a.txt"), Ok((b"a.txt".to_vec(), false)));
        assert_eq!(resolved("/dir/"), Ok((b"dir".to_vec(), true)));
        assert_eq!(resolved("/dir/sub/f"), Ok((b"dir/sub/f".to_vec(), false)));
        assert!(matches!(resolve("/a/b", false).unwrap().path, Cow::Borrowed(_)));
    }

    #[test]
    fn percent_decoding_happens_once() {
        assert_eq!(resolved("/a%20b"), Ok((b"a b".to_vec(), false)));
        assert_eq!(resolved("/%2541"), Ok((b"%41".to_vec(), false)));
        assert_eq!(resolved("/d%2Ff"), Ok((b"d/f".to_vec(), false)));
        assert_eq!(resolved("/%ff%FE"), Ok((vec![0xff, 0xfe], false)));
    }

    #[test]
    fn malformed_escapes_and_nul_are_bad_requests() {
        for raw in ["/%", "/%4", "/a%g0", "/%%41", "/a%00b", "/%00/", "relative", ""] {
            assert_eq!(resolved(raw), Err(400), "{raw}");
        }
    }

    #[test]
    fn traversal_is_not_found_however_encoded() {
        for raw in [
            "/..",
            "/../etc/passwd",
            "/a/../b",
            "/%2e%2e/x",
            "/%2E%2E",
            "/a/%2e/b",
            "/./a",
            "/a/.",
            "/a%2F..%2Fb",
        ] {
            assert_eq!(resolved(raw), Err(404), "{raw}");
        }
    }

    #[test]
    fn empty_segments_and_backslashes_are_not_found() {
        for raw in ["//", "//a", "/a//b", "/a//", "/a%2F%2Fb", "/a\\b", "/a%5cb", "/..%5c..%5cx", "/a%2F"] {
            assert_eq!(resolved(raw), Err(404), "{raw}");
        }
    }

    #[test]
    fn dotfiles_need_hidden() {
        assert_eq!(resolved("/.env"), Err(404));
        assert_eq!(resolved("/a/.git/config"), Err(404));
        assert_eq!(resolved("/%2egit/"), Err(404));
        let target = resolve("/a/.git/config", true).unwrap();
        assert_eq!(target.path, Path::new("a/.git/config"));
        assert_eq!(resolve("/a/../b", true).unwrap_err(), Status::NOT_FOUND);
        assert_eq!(resolved("/a.b/c."), Ok((b"a.b/c.".to_vec(), false)));
    }

    #[test]
    fn children_are_single_names() {
        assert_eq!(child(Path::new(""), "index.html"), Some(PathBuf::from("index.html")));
        assert_eq!(child(Path::new("d/e"), "index.html"), Some(PathBuf::from("d/e/index.html")));
        for name in ["/etc/passwd", "..", ".", "", "a/b", "a\\b"] {
            assert_eq!(child(Path::new("d"), name), None, "{name}");
        }
    }

    #[test]
    fn suffixes_extend_the_last_segment() {
        assert_eq!(with_suffix(Path::new("a/b.js"), ".gz"), PathBuf::from("a/b.js.gz"));
    }
}
