//! The HTML page listing a directory without an index file.
//!
//! Names are arbitrary bytes: in text they are shown lossily as UTF-8 and
//! HTML-escaped; in links they are percent-encoded byte for byte (everything but
//! unreserved characters), so a link always leads back to the same name and can never
//! be read as a scheme (`javascript:`) or leave the attribute.

use std::cmp::Reverse;
use std::fmt::{self, Display, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::SystemTime;

use httpdate::HttpDate;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_encode};

use super::{DirEntry, FileKind};

/// Bytes kept as they are in a link: RFC 3986's unreserved characters.
const LINK: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The listing of the directory at `dir` (relative to the root, decoded), with dotfiles
/// only when `hidden`. Entries that are neither files nor directories are left out:
/// they would only answer 404.
pub(super) fn render(dir: &Path, mut entries: Vec<DirEntry>, hidden: bool) -> Vec<u8> {
    entries.retain(|entry| {
        (hidden || !entry.name.as_bytes().starts_with(b"."))
            && entry.metadata.is_none_or(|metadata| metadata.kind != FileKind::Other)
    });
    entries.sort_unstable_by(|a, b| {
        (Reverse(is_dir(a)), a.name.as_bytes()).cmp(&(Reverse(is_dir(b)), b.name.as_bytes()))
    });

    let mut html = String::with_capacity(512 + 160 * entries.len());
    let title = Title(dir);
    write!(
        html,
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>Index of {title}</title>\n</head>\n\
         <body>\n<h1>Index of {title}</h1>\n<table>\n<tr><th>Name</th><th>Size</th><th>Modified</th></tr>\n"
    )
    .expect("writing to a String cannot fail");
    if !dir.as_os_str().is_empty() {
        html.push_str("<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
    }
    for entry in &entries {
        write_row(&mut html, entry);
    }
    html.push_str("</table>\n</body>\n</html>\n");
    html.into_bytes()
}

fn write_row(html: &mut String, entry: &DirEntry) {
    let name = entry.name.as_bytes();
    let slash = if is_dir(entry) { "/" } else { "" };
    let link = percent_encode(name, LINK);
    let text = Escaped(Path::new(&entry.name).display());
    let size =
        Size(entry.metadata.filter(|metadata| metadata.kind == FileKind::File).map(|metadata| metadata.len));
    let modified = Modified(entry.metadata.and_then(|metadata| metadata.modified));
    writeln!(
        html,
        "<tr><td><a href=\"{link}{slash}\">{text}{slash}</a></td><td>{size}</td><td>{modified}</td></tr>"
    )
    .expect("writing to a String cannot fail");
}

fn is_dir(entry: &DirEntry) -> bool {
    entry.metadata.is_some_and(|metadata| metadata.kind == FileKind::Dir)
}

/// `/dir/sub/`, escaped.
struct Title<'a>(&'a Path);

impl Display for Title<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('/')?;
        if !self.0.as_os_str().is_empty() {
            write!(f, "{}/", Escaped(self.0.display()))?;
        }
        Ok(())
    }
}

/// Size in bytes; empty for directories and unknowns.
struct Size(Option<u64>);

impl Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.map_or(Ok(()), |len| len.fmt(f))
    }
}

/// An HTTP-date; empty when unknown or not representable.
struct Modified(Option<SystemTime>);

impl Display for Modified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `HttpDate` panics outside 1970..10000: check with its own parser's range.
        let representable = self.0.filter(|modified| {
            modified
                .duration_since(SystemTime::UNIX_EPOCH)
                .is_ok_and(|since| since.as_secs() < 253_402_300_800)
        });
        representable.map_or(Ok(()), |modified| HttpDate::from(modified).fmt(f))
    }
}

/// `T` displayed with `&`, `<`, `>`, `"` and `'` escaped for HTML text and attributes.
struct Escaped<T>(T);

impl<T: Display> Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Escaper<'a, 'f>(&'a mut fmt::Formatter<'f>);

        impl Write for Escaper<'_, '_> {
            fn write_str(&mut self, text: &str) -> fmt::Result {
                let mut rest = text;
                while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
                    self.0.write_str(&rest[..at])?;
                    self.0.write_str(match rest.as_bytes()[at] {
                        b'&' => "&amp;",
                        b'<' => "&lt;",
                        b'>' => "&gt;",
                        b'"' => "&quot;",
                        _ => "&#39;",
                    })?;
                    rest = &rest[at + 1..];
                }
                self.0.write_str(rest)
            }
        }

        write!(Escaper(f), "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::files::Metadata;

    fn entry(name: &[u8], kind: FileKind, len: u64) -> DirEntry {
        let modified = Some(UNIX_EPOCH + Duration::from_secs(784_111_777));
        DirEntry { name: OsString::from_vec(name.to_vec()), metadata: Some(Metadata { kind, len, modified }) }
    }

    fn page(dir: &str, entries: Vec<DirEntry>, hidden: bool) -> String {
        String::from_utf8(render(Path::new(dir), entries, hidden)).unwrap()
    }

    #[test]
    fn rows_are_sorted_directories_first() {
        let entries = vec![
            entry(b"b.txt", FileKind::File, 3),
            entry(b"zdir", FileKind::Dir, 4096),
            entry(b"a.txt", FileKind::File, 1),
        ];
        let html = page("sub", entries, false);
        let (a, b, zdir) =
            (html.find(">a.txt<").unwrap(), html.find(">b.txt<").unwrap(), html.find(">zdir/<").unwrap());
        assert!(zdir < a && a < b, "{html}");
        assert!(
            html.contains("<a href=\"zdir/\">zdir/</a></td><td></td><td>Sun, 06 Nov 1994 08:49:37 GMT</td>")
        );
        assert!(html.contains("<a href=\"b.txt\">b.txt</a></td><td>3</td>"));
    }

    #[test]
    fn title_and_parent_link() {
        let html = page("a/b c", vec![], false);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(
            html.contains("<title>Index of /a/b c/</title>") && html.contains("<h1>Index of /a/b c/</h1>")
        );
        assert!(html.contains("href=\"../\""));
        let root = page("", vec![], false);
        assert!(root.contains("<title>Index of /</title>"));
        assert!(!root.contains("../"));
    }

    #[test]
    fn names_are_escaped_in_text_and_encoded_in_links() {
        let entries = vec![
            entry(b"<script>&\"'.html", FileKind::File, 0),
            entry(b"javascript:x \xff", FileKind::File, 0),
        ];
        let html = page("<d>", entries, false);
        assert!(html.contains("Index of /&lt;d&gt;/"));
        assert!(
            html.contains("<a href=\"%3Cscript%3E%26%22%27.html\">&lt;script&gt;&amp;&quot;&#39;.html</a>"),
            "{html}"
        );
        assert!(html.contains("<a href=\"javascript%3Ax%20%FF\">javascript:x \u{fffd}</a>"), "{html}");
        assert!(!html.contains("<script>"));
    }

    #[test]
    fn dotfiles_only_when_hidden() {
        let entries = || vec![entry(b".env", FileKind::File, 1), entry(b"visible", FileKind::File, 1)];
        assert!(!page("", entries(), false).contains(".env"));
        assert!(page("", entries(), true).contains(">.env<"));
    }

    #[test]
    fn specials_are_left_out_and_unknowns_shown_bare() {
        let unknown = DirEntry { name: "unknown".into(), metadata: None };
        let html = page("", vec![entry(b"fifo", FileKind::Other, 0), unknown], false);
        assert!(!html.contains("fifo"));
        assert!(html.contains("<a href=\"unknown\">unknown</a></td><td></td><td></td>"));
    }
}
