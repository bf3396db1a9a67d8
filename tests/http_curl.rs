//! A real client: curl, as people use it against the server. Skipped where curl is
//! not installed.

mod common;

use std::process::{Command, Output};

use common::http::{TempDir, TestServer, config, parse_one};
use common::{HANG_BOUND, output_within};
use hebra_server::Engine;

engine_tests! {
    curl_gets_heads_and_ranges,
    curl_decompresses_a_precompressed_sibling,
    curl_follows_the_directory_redirect,
}

const A: &str = "hello, world\n";
const JS: &str = "console.log('a script long enough to be worth compressing');\n";

fn curl_installed() -> bool {
    let found = Command::new("curl").arg("--version").output().is_ok_and(|out| out.status.success());
    if !found {
        eprintln!("skipped: curl is not installed (apt-get install curl)");
    }
    found
}

/// Runs curl with `args`, never through a proxy, and checks that it succeeded.
fn curl(args: &[&str]) -> Output {
    let mut command = Command::new("curl");
    command.args(["-sS", "--noproxy", "*", "--max-time", "30"]).args(args);
    let output = output_within(command, HANG_BOUND);
    assert!(
        output.status.success(),
        "curl {args:?} failed ({:?}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A gzip member holding `data` in stored (uncompressed) deflate blocks: a valid
/// file any gunzip reads, with no compressor needed.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    let mut blocks = data.chunks(u16::MAX as usize).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        let len = block.len() as u16;
        out.push(u8::from(blocks.peek().is_none()));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// CRC-32 (IEEE), bit by bit: fast enough for a test file.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn site() -> TempDir {
    let site = TempDir::new("http-curl");
    site.file("a.txt", A).file("app.js", JS).file("app.js.gz", gzip_stored(JS.as_bytes()));
    site.file("dir/index.html", "<p>index</p>\n");
    site
}

fn curl_gets_heads_and_ranges(engine: Engine) {
    if !curl_installed() {
        return;
    }
    let site = site();
    let server = TestServer::start(config(engine, site.path()));
    let url = format!("http://{}/a.txt", server.addr());

    let got = parse_one(&curl(&["-D", "-", &url]).stdout, true);
    assert_eq!(got.status_line(), "HTTP/1.1 200 OK");
    assert_eq!(got.text(), A);

    let head = parse_one(&curl(&["-I", &url]).stdout, false);
    assert_eq!(head.status, 200);
    assert_eq!(head.content_length(), Some(A.len() as u64));

    let range = parse_one(&curl(&["-D", "-", "-r", "0-9", &url]).stdout, true);
    assert_eq!(range.status, 206);
    assert_eq!(range.header("Content-Range"), Some("bytes 0-9/13"));
    assert_eq!(range.text(), &A[..10]);

    let old = parse_one(&curl(&["-D", "-", "--http1.0", &url]).stdout, true);
    assert_eq!(old.status, 200);
    assert_eq!(old.text(), A);
}

fn curl_decompresses_a_precompressed_sibling(engine: Engine) {
    if !curl_installed() {
        return;
    }
    let site = site();
    let headers = site.join("headers.txt");
    let server = TestServer::start(config(engine, site.path()));
    let url = format!("http://{}/app.js", server.addr());
    let output = curl(&["--compressed", "-D", headers.to_str().unwrap(), &url]);
    let head = std::fs::read_to_string(&headers).unwrap();
    assert!(head.to_ascii_lowercase().contains("content-encoding: gzip"), "{head}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), JS);
}

fn curl_follows_the_directory_redirect(engine: Engine) {
    if !curl_installed() {
        return;
    }
    let site = site();
    let headers = site.join("headers.txt");
    let server = TestServer::start(config(engine, site.path()));
    let url = format!("http://{}/dir", server.addr());
    let output = curl(&["-L", "-D", headers.to_str().unwrap(), &url]);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "<p>index</p>\n");
    let head = std::fs::read_to_string(&headers).unwrap();
    let statuses: Vec<&str> = head.lines().filter(|line| line.starts_with("HTTP/")).collect();
    assert_eq!(statuses, ["HTTP/1.1 301 Moved Permanently", "HTTP/1.1 200 OK"], "{head}");
}
