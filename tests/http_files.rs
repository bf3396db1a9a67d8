//! What the server answers about files: media types, validators and conditional
//! requests (RFC 9110 section 13), ranges (section 14), directories, listings,
//! precompressed siblings and `Cache-Control`.

mod common;

use common::http::{
    Conn, Response, TempDir, TestServer, config, get, multipart_parts, parse_one, pattern, raw,
};
use hebra_server::Engine;

engine_tests! {
    media_types_follow_the_extension,
    files_carry_a_strong_etag_and_last_modified,
    if_none_match_with_the_current_etag_is_not_modified,
    if_modified_since_the_last_modification_is_not_modified,
    if_match_that_fails_is_precondition_failed,
    if_unmodified_since_a_past_date_is_precondition_failed,
    preconditions_are_evaluated_in_the_rfc_order,
    a_single_range_is_partial_content,
    suffix_and_open_ended_ranges,
    a_range_past_the_end_is_clamped,
    several_ranges_are_multipart_byteranges,
    overlapping_ranges_are_coalesced,
    an_unsatisfiable_range_is_416,
    ranges_the_server_does_not_honour_get_the_whole_file,
    if_range_applies_the_range_only_to_the_current_representation,
    head_with_a_range_describes_the_whole_file,
    a_response_never_carries_more_bytes_than_the_file,
    a_directory_is_served_by_its_index,
    a_directory_without_its_slash_is_redirected,
    a_directory_without_index_is_not_found_unless_listed,
    a_listing_shows_symlinks_as_what_they_serve,
    precompressed_siblings_are_chosen_by_accept_encoding,
    precompressed_siblings_can_be_turned_off,
    cache_control_is_sent_when_configured,
    large_ranges_are_exact,
    an_empty_file_is_served_empty,
    encoded_names_are_served_and_redirected_encoded,
    a_symlink_loop_is_not_found,
    a_listing_answers_head_without_a_body,
    if_range_with_the_date_of_a_file_changed_this_second_sends_it_whole,
}

/// The file ranges are cut from: every byte differs from its neighbours.
const R: &[u8; 64] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
const LEN: usize = R.len();
/// A date long before any file of the test was written.
const LONG_AGO: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

fn site() -> TempDir {
    let site = TempDir::new("http-files");
    site.file("r.txt", R);
    site
}

fn start(engine: Engine, site: &TempDir) -> TestServer {
    TestServer::start(config(engine, site.path()))
}

fn range(server: &TestServer, spec: &str) -> Response {
    get(server.addr(), "/r.txt", &format!("Range: {spec}\r\n"))
}

fn assert_full(response: &Response) {
    assert_eq!(response.status, 200, "{response:#?}");
    assert_eq!(response.content_length(), Some(LEN as u64));
    assert_eq!(response.body, R);
    assert_eq!(response.header("Content-Range"), None);
}

fn assert_partial(response: &Response, first: usize, last: usize) {
    assert_eq!(response.status_line(), "HTTP/1.1 206 Partial Content", "{response:#?}");
    assert_eq!(response.header("Content-Range"), Some(&*format!("bytes {first}-{last}/{LEN}")));
    assert_eq!(response.content_length(), Some((last - first + 1) as u64));
    assert_eq!(response.body, &R[first..=last], "{:?}", response.text());
    assert_eq!(response.header("Content-Type"), Some("text/plain; charset=utf-8"));
}

fn media_types_follow_the_extension(engine: Engine) {
    let site = site();
    let cases = [
        ("page.html", "text/html; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("data.json", "application/json; charset=utf-8"),
        ("logo.png", "image/png"),
        ("notes.txt", "text/plain; charset=utf-8"),
        ("blob.nosuchextension", "application/octet-stream"),
        ("README", "application/octet-stream"),
    ];
    for (name, _) in cases {
        site.file(name, name);
    }
    let server = start(engine, &site);
    for (name, content_type) in cases {
        let response = get(server.addr(), &format!("/{name}"), "");
        assert_eq!(response.status, 200, "{name}");
        assert_eq!(response.header("Content-Type"), Some(content_type), "{name}");
        assert_eq!(response.text(), name);
    }
}

fn files_carry_a_strong_etag_and_last_modified(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let first = get(server.addr(), "/r.txt", "");
    let etag = first.expect_header("ETag");
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2, "not a strong ETag: {etag}");
    let modified = first.expect_header("Last-Modified");
    assert!(modified.ends_with(" GMT") && modified.len() == LONG_AGO.len(), "{modified}");
    let again = get(server.addr(), "/r.txt", "");
    assert_eq!(again.header("ETag"), Some(etag), "the ETag of an unchanged file changed");

    site.file("r.txt", "a different length");
    let changed = get(server.addr(), "/r.txt", "");
    assert_eq!(changed.text(), "a different length");
    assert_ne!(changed.header("ETag"), Some(etag), "a changed file kept its ETag");
}

fn if_none_match_with_the_current_etag_is_not_modified(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let etag = get(server.addr(), "/r.txt", "").expect_header("ETag").to_owned();
    let weak = format!("W/{etag}");
    for value in [etag.as_str(), "*", &format!("\"other\", {etag}"), &weak] {
        let request =
            format!("GET /r.txt HTTP/1.1\r\nHost: l\r\nIf-None-Match: {value}\r\nConnection: close\r\n\r\n");
        let bytes = raw(server.addr(), request);
        assert!(bytes.ends_with(b"\r\n\r\n"), "a 304 with a body: {:?}", String::from_utf8_lossy(&bytes));
        let response = parse_one(&bytes, true);
        assert_eq!(response.status_line(), "HTTP/1.1 304 Not Modified", "If-None-Match: {value}");
        assert_eq!(response.header("ETag"), Some(etag.as_str()));
    }
    assert_full(&get(server.addr(), "/r.txt", "If-None-Match: \"other\"\r\n"));
    // A HEAD too.
    let mut conn = Conn::connect(server.addr());
    conn.send(format!("HEAD /r.txt HTTP/1.1\r\nHost: l\r\nIf-None-Match: {etag}\r\n\r\n"));
    assert_eq!(conn.head_response().status, 304);
}

fn if_modified_since_the_last_modification_is_not_modified(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let modified = get(server.addr(), "/r.txt", "").expect_header("Last-Modified").to_owned();
    let response = get(server.addr(), "/r.txt", &format!("If-Modified-Since: {modified}\r\n"));
    assert_eq!(response.status, 304);
    assert!(response.body.is_empty());
    assert_full(&get(server.addr(), "/r.txt", &format!("If-Modified-Since: {LONG_AGO}\r\n")));
    // A date that is not one is ignored.
    assert_full(&get(server.addr(), "/r.txt", "If-Modified-Since: yesterday\r\n"));
}

fn if_match_that_fails_is_precondition_failed(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let etag = get(server.addr(), "/r.txt", "").expect_header("ETag").to_owned();
    let failed = get(server.addr(), "/r.txt", "If-Match: \"other\"\r\n");
    assert_eq!(failed.status_line(), "HTTP/1.1 412 Precondition Failed");
    assert_ne!(failed.body, R);
    // If-Match compares strongly.
    assert_eq!(get(server.addr(), "/r.txt", &format!("If-Match: W/{etag}\r\n")).status, 412);
    assert_full(&get(server.addr(), "/r.txt", &format!("If-Match: {etag}\r\n")));
    assert_full(&get(server.addr(), "/r.txt", "If-Match: *\r\n"));
}

fn if_unmodified_since_a_past_date_is_precondition_failed(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let modified = get(server.addr(), "/r.txt", "").expect_header("Last-Modified").to_owned();
    assert_eq!(get(server.addr(), "/r.txt", &format!("If-Unmodified-Since: {LONG_AGO}\r\n")).status, 412);
    assert_full(&get(server.addr(), "/r.txt", &format!("If-Unmodified-Since: {modified}\r\n")));
}

/// RFC 9110 section 13.2.2: If-Match, else If-Unmodified-Since; then If-None-Match,
/// else If-Modified-Since.
fn preconditions_are_evaluated_in_the_rfc_order(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let first = get(server.addr(), "/r.txt", "");
    let etag = first.expect_header("ETag");
    let modified = first.expect_header("Last-Modified");
    let status = |headers: String| get(server.addr(), "/r.txt", &headers).status;

    // A matching If-None-Match wins over an If-Modified-Since that says "modified".
    assert_eq!(status(format!("If-None-Match: {etag}\r\nIf-Modified-Since: {LONG_AGO}\r\n")), 304);
    // If-Modified-Since is ignored when If-None-Match is present.
    assert_eq!(status(format!("If-None-Match: \"other\"\r\nIf-Modified-Since: {modified}\r\n")), 200);
    // A failing If-Match wins over everything.
    assert_eq!(status(format!("If-Match: \"other\"\r\nIf-None-Match: {etag}\r\n")), 412);
    assert_eq!(status(format!("If-Match: \"other\"\r\nIf-Modified-Since: {modified}\r\n")), 412);
    assert_eq!(
        status(format!("If-Match: \"other\"\r\nIf-Unmodified-Since: {modified}\r\nRange: bytes=0-1\r\n")),
        412
    );
    // If-Unmodified-Since is ignored when If-Match is present.
    assert_eq!(status(format!("If-Match: {etag}\r\nIf-Unmodified-Since: {LONG_AGO}\r\n")), 200);
    // A passing If-Match, then a matching If-None-Match.
    assert_eq!(status(format!("If-Match: {etag}\r\nIf-None-Match: {etag}\r\n")), 304);
    // A failing If-Unmodified-Since wins over a matching If-None-Match.
    assert_eq!(status(format!("If-Unmodified-Since: {LONG_AGO}\r\nIf-None-Match: {etag}\r\n")), 412);
}

fn a_single_range_is_partial_content(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    assert_partial(&range(&server, "bytes=0-9"), 0, 9);
    assert_partial(&range(&server, "bytes=10-10"), 10, 10);
    assert_partial(&range(&server, "bytes=63-63"), 63, 63);
}

fn suffix_and_open_ended_ranges(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    assert_partial(&range(&server, "bytes=-5"), LEN - 5, LEN - 1);
    assert_partial(&range(&server, "bytes=5-"), 5, LEN - 1);
    assert_partial(&range(&server, "bytes=0-"), 0, LEN - 1);
}

fn a_range_past_the_end_is_clamped(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    assert_partial(&range(&server, "bytes=60-100"), 60, LEN - 1);
    assert_partial(&range(&server, "bytes=0-1000000"), 0, LEN - 1);
    assert_partial(&range(&server, "bytes=-1000"), 0, LEN - 1);
}

fn several_ranges_are_multipart_byteranges(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let response = range(&server, "bytes=0-1,5-6");
    assert_eq!(response.status, 206);
    assert_eq!(response.header("Content-Range"), None, "the parts carry the ranges");
    assert_eq!(response.content_length(), Some(response.body.len() as u64));
    let parts = multipart_parts(&response);
    let expected = [("bytes 0-1/64", &b"ab"[..]), ("bytes 5-6/64", b"fg")];
    assert_eq!(parts.len(), expected.len(), "{parts:#?}");
    for (part, (content_range, data)) in parts.iter().zip(expected) {
        assert_eq!(part.content_range, content_range);
        assert_eq!(part.data, data);
        assert_eq!(part.content_type.as_deref(), Some("text/plain; charset=utf-8"));
    }
    // Three, one of them a suffix; in whichever order the server chose.
    let parts = multipart_parts(&range(&server, "bytes=-2,10-11,30-31"));
    let mut got: Vec<_> = parts.iter().map(|part| (part.content_range.as_str(), &part.data[..])).collect();
    got.sort();
    assert_eq!(got, [("bytes 10-11/64", &b"kl"[..]), ("bytes 30-31/64", b"EF"), ("bytes 62-63/64", b"-_")]);
}

fn overlapping_ranges_are_coalesced(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    assert_partial(&range(&server, "bytes=0-5,3-9"), 0, 9);
    assert_partial(&range(&server, "bytes=3-9,0-5"), 0, 9);
    assert_partial(&range(&server, "bytes=0-9,-60"), 0, LEN - 1);
}

fn an_unsatisfiable_range_is_416(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    for spec in ["bytes=1000-", "bytes=64-", "bytes=64-70", "bytes=100-200,300-400"] {
        let response = range(&server, spec);
        assert_eq!(response.status_line(), "HTTP/1.1 416 Range Not Satisfiable", "{spec}");
        assert_eq!(response.header("Content-Range"), Some("bytes */64"), "{spec}");
        assert_ne!(response.body, R);
    }
    // One satisfiable range among unsatisfiable ones is served.
    assert_partial(&range(&server, "bytes=1000-,2-3"), 2, 3);
}

fn ranges_the_server_does_not_honour_get_the_whole_file(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    // More than 16 ranges: the server's documented limit.
    let many: Vec<String> = (0..17).map(|i| format!("{0}-{0}", i * 2)).collect();
    assert_full(&range(&server, &format!("bytes={}", many.join(","))));
    // Sixteen are fine.
    let sixteen = multipart_parts(&range(&server, &format!("bytes={}", many[..16].join(","))));
    assert_eq!(sixteen.len(), 16);
    // A unit other than bytes is ignored.
    assert_full(&range(&server, "items=0-5"));
}

fn if_range_applies_the_range_only_to_the_current_representation(engine: Engine) {
    let site = site();
    // A date counts in If-Range only once it is a second older than the response.
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let file = std::fs::File::options().write(true).open(site.join("r.txt")).unwrap();
    file.set_modified(an_hour_ago).unwrap();
    let server = start(engine, &site);
    let first = get(server.addr(), "/r.txt", "");
    let etag = first.expect_header("ETag");
    let modified = first.expect_header("Last-Modified");
    let with = |if_range: &str| {
        get(server.addr(), "/r.txt", &format!("Range: bytes=0-9\r\nIf-Range: {if_range}\r\n"))
    };
    assert_partial(&with(etag), 0, 9);
    assert_partial(&with(modified), 0, 9);
    assert_full(&with("\"stale\""));
    assert_full(&with(&format!("W/{etag}")));
    assert_full(&with(LONG_AGO));
}

/// Range applies to GET only (RFC 9110 section 14.2 leaves other methods to the
/// server; files/serve.rs documents GET only): a HEAD describes the whole file.
fn head_with_a_range_describes_the_whole_file(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let mut conn = Conn::connect(server.addr());
    conn.send(
        "HEAD /r.txt HTTP/1.1\r\nHost: l\r\nRange: bytes=0-9\r\n\r\nGET /r.txt HTTP/1.1\r\nHost: l\r\n\r\n",
    );
    let head = conn.head_response();
    assert_eq!(head.status, 200, "{head:#?}");
    assert_eq!(head.header("Content-Range"), None);
    assert_eq!(head.content_length(), Some(LEN as u64));
    assert_eq!(head.header("Accept-Ranges"), Some("bytes"));
    assert_full(&conn.response());
}

fn a_response_never_carries_more_bytes_than_the_file(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let overlapping: Vec<String> = (0..16).map(|i| format!("{i}-")).collect();
    let overlapping = format!("bytes={}", overlapping.join(","));
    for spec in [&*overlapping, "bytes=0-,0-,0-", "bytes=-64,0-63", "bytes=0-0,0-1000", "bytes=0-1000,-1000"]
    {
        let response = range(&server, spec);
        let data: usize = if response.header("Content-Type").is_some_and(|t| t.starts_with("multipart/")) {
            multipart_parts(&response).iter().map(|part| part.data.len()).sum()
        } else {
            response.body.len()
        };
        assert!(data <= LEN, "{spec}: {data} bytes of a {LEN}-byte file");
        assert_eq!(response.content_length(), Some(response.body.len() as u64), "{spec}");
    }
}

fn a_directory_is_served_by_its_index(engine: Engine) {
    let site = site();
    site.file("dir/index.html", "<p>index</p>").file("dir/sub/index.html", "<p>sub</p>");
    let server = start(engine, &site);
    let response = get(server.addr(), "/dir/", "");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(response.text(), "<p>index</p>");
    assert_eq!(get(server.addr(), "/dir/sub/", "").text(), "<p>sub</p>");
    assert_eq!(get(server.addr(), "/dir/index.html", "").text(), "<p>index</p>");
}

fn a_directory_without_its_slash_is_redirected(engine: Engine) {
    let site = site();
    site.file("dir/index.html", "<p>index</p>").file("dir/sub/x.txt", "x");
    let server = start(engine, &site);
    for (path, location) in [("/dir", "/dir/"), ("/dir?x=1", "/dir/?x=1"), ("/dir/sub", "/dir/sub/")] {
        let response = get(server.addr(), path, "");
        assert_eq!(response.status_line(), "HTTP/1.1 301 Moved Permanently", "{path}");
        assert_eq!(response.header("Location"), Some(location), "{path}");
    }
    // A file asked for as a directory is not one.
    assert_eq!(get(server.addr(), "/r.txt/", "").status, 404);
}

fn a_directory_without_index_is_not_found_unless_listed(engine: Engine) {
    let site = site();
    site.file("list/a<b>&.txt", "x").file("list/plain.txt", "y").file("list/.secret", "z").dir("list/sub");
    let server = start(engine, &site);
    assert_eq!(get(server.addr(), "/list/", "").status, 404);
    assert_eq!(get(server.addr(), "/", "").status, 404);
    drop(server);

    let mut config = config(engine, site.path());
    config.files.listing = true;
    let server = TestServer::start(config);
    let response = get(server.addr(), "/list/", "");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("Content-Type"), Some("text/html; charset=utf-8"));
    let html = response.text();
    assert!(html.contains("a&lt;b&gt;&amp;.txt"), "the name is not escaped: {html}");
    assert!(!html.contains("a<b>"), "the raw name is in the page: {html}");
    assert!(
        html.contains("href=\"a%3Cb%3E%26.txt\"") || html.contains("href=\"/list/a%3Cb%3E%26.txt\""),
        "{html}"
    );
    assert!(html.contains("plain.txt"), "{html}");
    assert!(html.contains("sub/"), "{html}");
    assert!(!html.contains(".secret"), "a hidden file is listed: {html}");
    // The links lead to the files.
    assert_eq!(get(server.addr(), "/list/a%3Cb%3E%26.txt", "").text(), "x");
    // The root has no index either.
    assert_eq!(get(server.addr(), "/", "").status, 200);
}

fn a_listing_shows_symlinks_as_what_they_serve(engine: Engine) {
    let site = site();
    let outside = TempDir::new("http-listing-outside");
    outside.file("secret.txt", "outside");
    site.file("list/target.txt", "12345").symlink("list/inner-link.txt", "target.txt");
    site.symlink("list/outer-link.txt", outside.join("secret.txt"));
    let mut config = config(engine, site.path());
    config.files.listing = true;
    let server = TestServer::start(config);
    let html = get(server.addr(), "/list/", "").text();
    // A symlink inside the root is served, so it is listed, as the file it leads to.
    assert!(html.contains("inner-link.txt"), "{html}");
    assert_eq!(get(server.addr(), "/list/inner-link.txt", "").text(), "12345");
    // One that leads out is refused, so it is not listed either.
    assert_eq!(get(server.addr(), "/list/outer-link.txt", "").status, 404);
    assert!(!html.contains("outer-link"), "{html}");
}

fn compressed_site() -> TempDir {
    let site = TempDir::new("http-precompressed");
    site.file("x.js", "console.log('identity');\n")
        .file("x.js.gz", "gzip bytes")
        .file("x.js.br", "br bytes!");
    site.file("only-gz.css", "body {}\n").file("only-gz.css.gz", "gzipped css");
    site
}

fn encoded(server: &TestServer, path: &str, accept: Option<&str>) -> Response {
    let headers = accept.map_or(String::new(), |accept| format!("Accept-Encoding: {accept}\r\n"));
    let response = get(server.addr(), path, &headers);
    assert_eq!(response.status, 200, "{accept:?}: {response:#?}");
    response
}

fn precompressed_siblings_are_chosen_by_accept_encoding(engine: Engine) {
    let site = compressed_site();
    let server = TestServer::start(config(engine, site.path()));
    let cases = [
        (Some("br, gzip"), Some("br"), "br bytes!"),
        (Some("gzip, br"), Some("br"), "br bytes!"),
        (Some("gzip"), Some("gzip"), "gzip bytes"),
        (Some("gzip, deflate"), Some("gzip"), "gzip bytes"),
        (Some("br;q=0, gzip"), Some("gzip"), "gzip bytes"),
        (Some("gzip;q=0"), None, "console.log('identity');\n"),
        (Some("br;q=0, gzip;q=0"), None, "console.log('identity');\n"),
        (Some("identity"), None, "console.log('identity');\n"),
        (None, None, "console.log('identity');\n"),
    ];
    let mut etags = Vec::new();
    for (accept, encoding, body) in cases {
        let response = encoded(&server, "/x.js", accept);
        assert_eq!(response.header("Content-Encoding"), encoding, "{accept:?}");
        assert_eq!(response.text(), body, "{accept:?}");
        assert_eq!(response.header("Content-Type"), Some("text/javascript; charset=utf-8"), "{accept:?}");
        assert_eq!(response.header("Vary"), Some("Accept-Encoding"), "{accept:?}");
        etags.push((encoding, response.expect_header("ETag").to_owned()));
    }
    // Each representation has its own ETag.
    etags.sort();
    etags.dedup();
    assert_eq!(etags.len(), 3, "{etags:?}");

    let response = encoded(&server, "/only-gz.css", Some("br, gzip"));
    assert_eq!(response.header("Content-Encoding"), Some("gzip"));
    assert_eq!(response.text(), "gzipped css");
    // The sibling itself is an ordinary file.
    let response = encoded(&server, "/x.js.gz", Some("gzip"));
    assert_eq!(response.header("Content-Encoding"), None);
    assert_eq!(response.header("Content-Type"), Some("application/gzip"));
    assert_eq!(response.text(), "gzip bytes");
}

fn precompressed_siblings_can_be_turned_off(engine: Engine) {
    let site = compressed_site();
    let mut config = config(engine, site.path());
    config.files.precompressed = false;
    let server = TestServer::start(config);
    let response = encoded(&server, "/x.js", Some("br, gzip"));
    assert_eq!(response.header("Content-Encoding"), None);
    assert_eq!(response.text(), "console.log('identity');\n");
}

fn cache_control_is_sent_when_configured(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    assert_eq!(get(server.addr(), "/r.txt", "").header("Cache-Control"), None);
    drop(server);
    let mut config = config(engine, site.path());
    config.files.cache_control = Some("public, max-age=60".into());
    let server = TestServer::start(config);
    let response = get(server.addr(), "/r.txt", "");
    assert_eq!(response.header("Cache-Control"), Some("public, max-age=60"));
    let etag = response.expect_header("ETag");
    let not_modified = get(server.addr(), "/r.txt", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!(not_modified.status, 304);
    assert_eq!(not_modified.header("Cache-Control"), Some("public, max-age=60"), "RFC 9110 15.4.5");
}

fn large_ranges_are_exact(engine: Engine) {
    let site = site();
    let big = pattern(1024 * 1024);
    site.file("big.bin", &big);
    let server = start(engine, &site);
    let response = get(server.addr(), "/big.bin", "Range: bytes=100000-400000\r\n");
    assert_eq!(response.status, 206);
    assert_eq!(response.header("Content-Range"), Some("bytes 100000-400000/1048576"));
    assert!(response.body == big[100_000..=400_000], "wrong bytes in a large range");
    let response = get(server.addr(), "/big.bin", "Range: bytes=-300000\r\n");
    assert!(response.body == big[big.len() - 300_000..], "wrong bytes in a large suffix");

    let response = get(server.addr(), "/big.bin", "Range: bytes=1000-50000,600000-700000,1048000-\r\n");
    let parts = multipart_parts(&response);
    let expected = [(1000, 50_000), (600_000, 700_000), (1_048_000, 1_048_575)];
    assert_eq!(parts.len(), expected.len());
    for (part, (first, last)) in parts.iter().zip(expected) {
        assert_eq!(part.content_range, format!("bytes {first}-{last}/1048576"));
        assert!(part.data == big[first..=last], "wrong bytes in part {first}-{last}");
        assert_eq!(part.content_type.as_deref(), Some("application/octet-stream"));
    }
}

fn an_empty_file_is_served_empty(engine: Engine) {
    let site = site();
    site.file("empty.txt", "");
    let server = start(engine, &site);
    let bytes = raw(server.addr(), "GET /empty.txt HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n");
    assert!(bytes.ends_with(b"\r\n\r\n"), "{:?}", String::from_utf8_lossy(&bytes));
    let response = parse_one(&bytes, true);
    assert_eq!(response.status, 200);
    assert_eq!(response.content_length(), Some(0));
    let response = get(server.addr(), "/empty.txt", "Range: bytes=0-\r\n");
    assert_eq!(response.status, 416);
    assert_eq!(response.header("Content-Range"), Some("bytes */0"));
}

fn encoded_names_are_served_and_redirected_encoded(engine: Engine) {
    let site = site();
    site.file("my dir/index.html", "spaced").file("caf\u{e9}.txt", "utf-8 name");
    let server = start(engine, &site);
    let response = get(server.addr(), "/my%20dir", "");
    assert_eq!(response.status, 301);
    assert_eq!(response.header("Location"), Some("/my%20dir/"));
    assert_eq!(get(server.addr(), "/my%20dir/", "").text(), "spaced");
    assert_eq!(get(server.addr(), "/caf%C3%A9.txt", "").text(), "utf-8 name");
}

fn a_symlink_loop_is_not_found(engine: Engine) {
    let site = site();
    site.symlink("loop-a", "loop-b").symlink("loop-b", "loop-a");
    let server = start(engine, &site);
    assert_eq!(get(server.addr(), "/loop-a", "").status, 404);
    assert_eq!(get(server.addr(), "/loop-a/x", "").status, 404);
}

fn a_listing_answers_head_without_a_body(engine: Engine) {
    let site = site();
    site.file("list/one.txt", "1");
    let mut config = config(engine, site.path());
    config.files.listing = true;
    let server = TestServer::start(config);
    let listing = get(server.addr(), "/list/", "");
    let mut conn = Conn::connect(server.addr());
    conn.send("HEAD /list/ HTTP/1.1\r\nHost: l\r\n\r\nGET /r.txt HTTP/1.1\r\nHost: l\r\n\r\n");
    let head = conn.head_response();
    assert_eq!(head.status, 200);
    assert_eq!(head.content_length(), Some(listing.body.len() as u64));
    assert_full(&conn.response());
}

fn if_range_with_the_date_of_a_file_changed_this_second_sends_it_whole(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let modified = get(server.addr(), "/r.txt", "").expect_header("Last-Modified").to_owned();
    let response = get(server.addr(), "/r.txt", &format!("Range: bytes=0-9\r\nIf-Range: {modified}\r\n"));
    // The file may change again within the second: the date cannot tell (RFC 9110
    // section 13.1.5), so the whole file is the safe answer.
    if response.header("Date") == Some(&*modified) {
        assert_full(&response);
    }
}
