//! `Content-Type` from a file name.

use std::fmt;
use std::path::Path;

/// A media type from `mime_guess`, displayed with `; charset=utf-8` for the textual
/// types browsers would otherwise sniff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ContentType(&'static str);

impl ContentType {
    pub(super) const HTML: ContentType = ContentType("text/html");

    /// The first guess for the extension of `path`; `application/octet-stream` when
    /// there is none.
    pub(super) fn of(path: &Path) -> ContentType {
        ContentType(mime_guess::from_path(path).first_raw().unwrap_or("application/octet-stream"))
    }

    fn is_text(self) -> bool {
        self.0.starts_with("text/")
            || matches!(
                self.0,
                "application/javascript" | "application/json" | "application/xml" | "image/svg+xml"
            )
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)?;
        if self.is_text() {
            f.write_str("; charset=utf-8")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content_type(name: &str) -> String {
        ContentType::of(Path::new(name)).to_string()
    }

    #[test]
    fn textual_types_carry_a_charset() {
        assert_eq!(content_type("a/index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("style.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("app.mjs"), "application/javascript; charset=utf-8");
        assert_eq!(content_type("data.json"), "application/json; charset=utf-8");
        assert_eq!(content_type("logo.svg"), "image/svg+xml; charset=utf-8");
        assert_eq!(content_type("feed.xml"), "text/xml; charset=utf-8");
        assert_eq!(ContentType::HTML.to_string(), "text/html; charset=utf-8");
    }

    #[test]
    fn binary_types_do_not() {
        assert_eq!(content_type("photo.PNG"), "image/png");
        assert_eq!(content_type("archive.gz"), "application/gzip");
    }

    #[test]
    fn unknown_is_octet_stream() {
        assert_eq!(content_type("README"), "application/octet-stream");
        assert_eq!(content_type("x.nosuchextension"), "application/octet-stream");
    }
}
