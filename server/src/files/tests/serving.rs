//! Answers to plain requests: methods, paths, directories, special files, symlinks,
//! the fields of a file response, precompressed siblings.

use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;

#[test]
fn get_serves_a_file_with_its_fields() {
    let root = site();
    let config = FileConfig { cache_control: Some("max-age=60".into()), ..config() };
    let response = get(&root, &config, &request("/hello.txt"));
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"hello, world\n");
    assert_eq!(response.field("Content-Type"), Some("text/plain; charset=utf-8"));
    assert_eq!(response.field("Content-Length"), Some("13"));
    assert_eq!(response.field("Accept-Ranges"), Some("bytes"));
    assert_eq!(response.field("Cache-Control"), Some("max-age=60"));
    assert_eq!(response.field("Vary"), Some("Accept-Encoding"));
    assert_eq!(response.field("Content-Encoding"), None);
    assert_eq!(response.field("Connection"), None);

    let metadata = std::fs::metadata(root.path().join("hello.txt")).unwrap();
    let modified = metadata.modified().unwrap().duration_since(UNIX_EPOCH).unwrap();
    let etag = format!("\"d-{:x}-{:x}\"", modified.as_secs(), modified.subsec_nanos());
    assert_eq!(response.field("ETag"), Some(etag.as_str()));
    let last_modified = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(modified.as_secs()));
    assert_eq!(response.field("Last-Modified"), Some(last_modified.as_str()));
}

#[test]
fn optional_fields_follow_the_config() {
    let root = site();
    let config = FileConfig { precompressed: false, ..config() };
    let response = get(&root, &config, &request("/hello.txt"));
    assert_eq!((response.field("Vary"), response.field("Cache-Control")), (None, None));
}

#[test]
fn connection_follows_keep_alive() {
    let root = site();
    let fs = root.fs(false);
    let mut head = Vec::new();
    respond(&fs, &config(), &request("/hello.txt"), false, &mut head);
    assert!(String::from_utf8(head).unwrap().to_ascii_lowercase().contains("\r\nconnection: close\r\n"));
    let http10 = with("/hello.txt", |request| request.version = Version::Http10);
    let mut head = Vec::new();
    respond(&fs, &config(), &http10, true, &mut head);
    assert!(String::from_utf8(head).unwrap().to_ascii_lowercase().contains("\r\nconnection: keep-alive\r\n"));
}

#[test]
fn other_methods_are_405() {
    let root = site();
    for method in [Method::Post, Method::Put, Method::Delete, Method::Options, Method::Trace, Method::Patch] {
        let response = get(&root, &config(), &with("/hello.txt", |request| request.method = method));
        assert_eq!(response.status, 405);
        assert_eq!(response.field("Allow"), Some("GET, HEAD"));
    }
}

#[test]
fn head_has_the_head_of_get_and_no_body() {
    let root = site();
    let listing = FileConfig { listing: true, ..config() };
    for path in ["/hello.txt", "/empty", "/dir/", "/noindex/"] {
        let fs = root.fs(false);
        let (for_get, _) = exchange(&fs, &listing, &request(path));
        let (for_head, response) =
            exchange(&fs, &listing, &with(path, |request| request.method = Method::Head));
        assert!(matches!(response.body, Body::Empty) && response.body_len == 0);
        let without_date = |exchange: &Exchange| {
            exchange.head.lines().filter(|line| !line.starts_with("Date")).collect::<Vec<_>>().join("\n")
        };
        assert_eq!(without_date(&for_get), without_date(&for_head), "{path}");
        assert!(for_head.body.is_empty());
    }
}

#[test]
fn malformed_paths_are_400() {
    let root = site();
    for path in ["/hello%2", "/%zz", "/a%00b", "*"] {
        assert_eq!(get(&root, &config(), &request(path)).status, 400, "{path}");
    }
}

#[test]
fn traversal_and_hidden_are_404() {
    let root = site();
    for path in [
        "/../hello.txt",
        "/dir/../hello.txt",
        "/%2e%2e/etc/passwd",
        "/dir%2f..%2fhello.txt",
        "/.hidden/x.txt",
        "/noindex/.secret",
        "//hello.txt",
        "/dir\\index.html",
    ] {
        let response = get(&root, &config(), &request(path));
        assert_eq!(response.status, 404, "{path}");
        let root_text = root.path().to_string_lossy().into_owned();
        assert!(!response.head.contains(&root_text) && !response.body_text().contains(&root_text));
    }
    let hidden = FileConfig { hidden: true, ..config() };
    assert_eq!(get(&root, &hidden, &request("/.hidden/x.txt")).body, b"x");
}

#[test]
fn encoded_and_non_utf8_names_are_served() {
    let root = site();
    root.file("a b.txt", b"space");
    std::fs::write(root.path().join(std::ffi::OsStr::from_bytes(b"\xff.txt")), b"latin").unwrap();
    assert_eq!(get(&root, &config(), &request("/a%20b.txt")).body, b"space");
    assert_eq!(get(&root, &config(), &request("/%FF.txt")).body, b"latin");
}

#[test]
fn missing_and_file_as_directory_are_404() {
    let root = site();
    for path in ["/missing", "/hello.txt/", "/hello.txt/x", "/missing/"] {
        assert_eq!(get(&root, &config(), &request(path)).status, 404, "{path}");
    }
}

#[test]
fn directories_without_slash_redirect() {
    let root = site();
    let response = get(&root, &config(), &request("/dir"));
    assert_eq!(response.status, 301);
    assert_eq!(response.field("Location"), Some("/dir/"));
    let response = get(&root, &config(), &with("/noindex", |request| request.query = Some("a=%20b")));
    assert_eq!(response.field("Location"), Some("/noindex/?a=%20b"));
}

#[test]
fn directories_serve_their_index() {
    let root = site();
    let response = get(&root, &config(), &request("/"));
    assert_eq!((response.status, response.body.as_slice()), (200, &b"<p>home</p>"[..]));
    let response = get(&root, &config(), &request("/dir/"));
    assert_eq!(response.body, b"<p>dir</p>");
    assert_eq!(response.field("Content-Type"), Some("text/html; charset=utf-8"));
    assert!(response.field("ETag").is_some());
    let custom = FileConfig { index: "page.css".into(), ..config() };
    assert_eq!(get(&root, &custom, &request("/dir/")).field("Content-Type"), Some("text/css; charset=utf-8"));
}

#[test]
fn directories_without_index_are_404_unless_listed() {
    let root = site();
    root.dir("noindex/index.html");
    assert_eq!(get(&root, &config(), &request("/noindex/")).status, 404);
    let listing = FileConfig { listing: true, ..config() };
    let response = get(&root, &listing, &request("/noindex/"));
    assert_eq!(response.status, 200);
    assert_eq!(response.field("Content-Type"), Some("text/html; charset=utf-8"));
    let html = response.body_text();
    assert!(html.contains("<title>Index of /noindex/</title>") && html.contains("href=\"../\""));
    assert!(
        html.contains("<a href=\"sub/\">sub/</a>")
            && html.contains("<a href=\"a.txt\">a.txt</a></td><td>1</td>")
    );
    assert!(html.contains("<a href=\"index.html/\">"), "a directory named like the index is listed");
    assert!(!html.contains(".secret"));
    assert!(
        get(&root, &FileConfig { hidden: true, ..listing.clone() }, &request("/noindex/"))
            .body_text()
            .contains(".secret")
    );
    assert_eq!(
        get(&root, &listing, &with("/noindex/", |request| request.fields.if_none_match = Some("*"))).status,
        200
    );
}

#[test]
fn sockets_are_404() {
    let root = site();
    let _listener = std::os::unix::net::UnixListener::bind(root.path().join("noindex/socket")).unwrap();
    assert_eq!(get(&root, &config(), &request("/noindex/socket")).status, 404);
    let listing = FileConfig { listing: true, ..config() };
    assert!(!get(&root, &listing, &request("/noindex/")).body_text().contains("socket"));
}

#[test]
fn fifos_are_404_without_waiting_for_a_writer() {
    let root = site();
    let made = std::process::Command::new("mkfifo").arg(root.path().join("noindex/fifo")).status();
    assert!(made.expect("run mkfifo").success());
    std::os::unix::fs::symlink("noindex/fifo", root.path().join("to_fifo")).unwrap();
    assert_eq!(get(&root, &config(), &request("/noindex/fifo")).status, 404);
    assert_eq!(get(&root, &config(), &request("/to_fifo")).status, 404);
    let listing = FileConfig { listing: true, ..config() };
    assert!(!get(&root, &listing, &request("/noindex/")).body_text().contains("fifo"));
}

#[test]
fn symlinks_out_of_the_root_are_404_unless_followed() {
    let outside = TempRoot::new();
    outside.file("secret.txt", b"secret");
    let root = site();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.path().join("out.txt")).unwrap();
    std::os::unix::fs::symlink("hello.txt", root.path().join("in.txt")).unwrap();
    assert_eq!(get(&root, &config(), &request("/out.txt")).status, 404);
    assert_eq!(get(&root, &config(), &request("/in.txt")).body, b"hello, world\n");
    let follow = FileConfig { follow_symlinks: true, ..config() };
    assert_eq!(get(&root, &follow, &request("/out.txt")).body, b"secret");
}

#[test]
fn precompressed_siblings_follow_accept_encoding() {
    let root = site();
    root.file("app.js", b"plain javascript");
    root.file("app.js.br", b"BR");
    root.file("app.js.gz", b"GZIP");
    let accepting = |accept_encoding| {
        with("/app.js", move |request| request.fields.accept_encoding = Some(accept_encoding))
    };

    let response = get(&root, &config(), &accepting("gzip, deflate, br"));
    assert_eq!(response.body, b"BR");
    assert_eq!(response.field("Content-Encoding"), Some("br"));
    assert_eq!(response.field("Content-Type"), Some("text/javascript; charset=utf-8"));
    assert_eq!(response.field("Content-Length"), Some("2"));
    assert!(response.field("ETag").unwrap().ends_with("-br\""));
    assert_eq!(response.field("Vary"), Some("Accept-Encoding"));

    let response = get(&root, &config(), &accepting("gzip, br;q=0"));
    assert_eq!((response.body.as_slice(), response.field("Content-Encoding")), (&b"GZIP"[..], Some("gzip")));
    assert!(response.field("ETag").unwrap().ends_with("-gz\""));

    for accept_encoding in ["identity", "br;q=0, gzip;q=0", "deflate"] {
        let response = get(&root, &config(), &accepting(accept_encoding));
        assert_eq!(
            (response.body.as_slice(), response.field("Content-Encoding")),
            (&b"plain javascript"[..], None)
        );
    }
    let off = FileConfig { precompressed: false, ..config() };
    assert_eq!(get(&root, &off, &accepting("br")).body, b"plain javascript");
    assert_eq!(get(&root, &config(), &request("/app.js")).body, b"plain javascript");
}

#[test]
fn precompressed_needs_the_original_and_a_regular_sibling() {
    let root = site();
    root.file("only.txt.gz", b"GZIP");
    root.dir("hello.txt.br");
    let gzip = with("/only.txt", |request| request.fields.accept_encoding = Some("gzip"));
    assert_eq!(get(&root, &config(), &gzip).status, 404);
    let response =
        get(&root, &config(), &with("/only.txt.gz", |request| request.fields.accept_encoding = Some("gzip")));
    assert_eq!(
        (response.field("Content-Type"), response.field("Content-Encoding")),
        (Some("application/gzip"), None)
    );
    assert_eq!(
        get(&root, &config(), &with("/hello.txt", |request| request.fields.accept_encoding = Some("br")))
            .body,
        b"hello, world\n"
    );
}

#[test]
fn index_files_have_precompressed_siblings_too() {
    let root = site();
    root.file("dir/index.html.gz", b"GZ");
    let response =
        get(&root, &config(), &with("/dir/", |request| request.fields.accept_encoding = Some("gzip")));
    assert_eq!(
        (response.body.as_slice(), response.field("Content-Type")),
        (&b"GZ"[..], Some("text/html; charset=utf-8"))
    );
}

#[test]
fn open_errors_map_to_404_or_500() {
    let file = Metadata { kind: FileKind::File, len: 1, modified: Some(SystemTime::now()) };
    let other = Metadata { kind: FileKind::Other, ..file };
    let cases = [
        (Ok(other), 404),
        (Err(18), 404),
        (Err(40), 404),
        (Err(20), 404),
        (Err(13), 404),
        (Err(6), 404),
        (Err(5), 500),
        (Err(24), 500),
    ];
    for (entry, status) in cases {
        assert_eq!(table_exchange("/f", &config(), vec![("f", entry)]).status, status, "{entry:?}");
    }
    let dir = Metadata { kind: FileKind::Dir, ..file };
    let listing = FileConfig { listing: true, ..config() };
    assert_eq!(table_exchange("/", &listing, vec![("", Ok(dir))]).status, 500);
    assert_eq!(table_exchange("/", &listing, vec![("", Ok(dir)), ("index.html", Err(5))]).status, 500);
}
