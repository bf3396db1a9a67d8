//! The `file-server` example as its users see it: started on a free port, it prints its
//! URL and serves the directory, listing directories that have no index.

mod common;

use std::net::SocketAddr;

use common::HANG_BOUND;
use common::example::{ExampleProcess, example_command};
use common::http::{TempDir, get};
use common::output_within;

fn start(dir: &TempDir) -> (ExampleProcess, SocketAddr) {
    let dir = dir.path().to_str().expect("a UTF-8 temporary directory");
    let server = ExampleProcess::start("file-server", &[dir, "127.0.0.1:0"]);
    let prefix = format!("serving {dir} on http://");
    let line = server.line_starting_with(&prefix);
    let addr = line[prefix.len()..]
        .strip_suffix("/ (Ctrl-C to stop)")
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (server, addr)
}

#[test]
fn it_prints_its_url_and_serves_files() {
    let site = TempDir::new("example-file-server");
    site.file("hello.txt", "hello from the example\n");
    let (_server, addr) = start(&site);
    let response = get(addr, "/hello.txt", "");
    assert_eq!(response.status_line(), "HTTP/1.1 200 OK");
    assert_eq!(response.header("Content-Type"), Some("text/plain; charset=utf-8"));
    assert_eq!(response.text(), "hello from the example\n");
    assert_eq!(get(addr, "/missing.txt", "").status, 404);
}

#[test]
fn it_lists_directories_without_an_index() {
    let site = TempDir::new("example-file-server");
    site.file("docs/guide.txt", "guide")
        .file("docs/notes.md", "notes")
        .file("site/index.html", "<p>home</p>");
    let (_server, addr) = start(&site);
    let listing = get(addr, "/docs/", "");
    assert_eq!(listing.status, 200);
    assert_eq!(listing.header("Content-Type"), Some("text/html; charset=utf-8"));
    for name in ["guide.txt", "notes.md"] {
        assert!(listing.text().contains(name), "{name} is not listed: {}", listing.text());
    }
    let root = get(addr, "/", "").text();
    assert!(root.contains("docs/") && root.contains("site/"), "{root}");
    // A directory with an index is served by it.
    assert_eq!(get(addr, "/site/", "").text(), "<p>home</p>");
}

#[test]
fn a_missing_directory_is_an_error_with_the_usage() {
    let site = TempDir::new("example-file-server");
    let missing = site.join("no-such-dir");
    let missing = missing.to_str().unwrap();
    let output = output_within(example_command("file-server", &[missing, "127.0.0.1:0"]), HANG_BOUND);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{:?}", output.status);
    assert!(stderr.contains(missing) && stderr.contains("usage: file-server"), "{stderr}");
}
