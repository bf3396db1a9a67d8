//! HTTP/1.1 as a client sees it on the wire: exact response heads, connection
//! persistence (keep-alive, `Connection: close`, HTTP/1.0), pipelining, request bodies
//! the server reads past, and the requests it refuses, each closing the connection.

mod common;

use std::thread;
use std::time::Duration;

use common::http::{Conn, Response, TempDir, TestServer, config, get, parse_one, raw};
use common::{HANG_BOUND, LOCALHOST, within};
use hebra_server::{Engine, Server};

engine_tests! {
    get_sends_the_exact_head_and_body,
    head_sends_the_head_of_get_and_no_body,
    http11_keeps_the_connection_open_by_default,
    http10_closes_unless_asked_to_keep_alive,
    connection_close_is_answered_in_kind_and_done,
    pipelined_requests_are_answered_in_order,
    absolute_form_targets_are_served,
    http11_without_host_is_a_bad_request,
    expect_100_continue_gets_the_interim_response_first,
    methods_that_write_are_not_allowed,
    an_unknown_method_is_not_implemented,
    a_small_body_on_get_is_read_past,
    a_body_over_the_limit_is_content_too_large,
    content_length_with_chunked_is_refused_as_smuggling,
    a_chunked_body_on_get_is_read_past,
    a_malformed_request_line_is_a_bad_request,
    a_request_line_over_8_kib_is_uri_too_long,
    a_head_over_32_kib_is_header_fields_too_large,
    an_error_response_ends_a_pipeline,
    framing_the_server_cannot_trust_is_refused,
    a_request_sent_a_byte_at_a_time_is_served,
    empty_lines_before_a_request_are_skipped,
    a_long_pipeline_is_answered_in_order,
    http10_keep_alive_is_case_insensitive,
    error_responses_to_head_have_no_body,
    a_server_runs_on_a_listener_bound_by_the_caller,
    binding_checks_the_root,
    a_shutdown_requested_before_run_ends_it_at_once,
}

const A: &str = "hello, world\n";
const B: &str = "second file\n";
const C: &str = "third\n";

fn site() -> TempDir {
    let site = TempDir::new("http-protocol");
    site.file("a.txt", A).file("b.txt", B).file("c.txt", C);
    site
}

fn start(engine: Engine, site: &TempDir) -> TestServer {
    TestServer::start(config(engine, site.path()))
}

fn assert_file(response: &Response, body: &str) {
    assert_eq!(response.status_line(), "HTTP/1.1 200 OK", "{response:#?}");
    assert_eq!(response.content_length(), Some(body.len() as u64));
    assert_eq!(response.text(), body);
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`: the IMF-fixdate form (RFC 9110 section 5.6.7).
fn assert_imf_fixdate(date: &str) {
    let bytes = date.as_bytes();
    let shape = "Www, DD Mmm YYYY HH:MM:SS GMT";
    let fits = date.len() == shape.len()
        && date.ends_with(" GMT")
        && bytes[3] == b','
        && [5, 6, 12, 13, 14, 15, 17, 18, 20, 21, 23, 24].iter().all(|&i| bytes[i].is_ascii_digit())
        && bytes[19] == b':'
        && bytes[22] == b':';
    assert!(fits, "not an IMF-fixdate: {date:?}");
}

fn get_sends_the_exact_head_and_body(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let bytes = raw(server.addr(), "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert!(bytes.starts_with(b"HTTP/1.1 200 OK\r\n"), "{:?}", String::from_utf8_lossy(&bytes));
    assert!(bytes.ends_with(format!("\r\n\r\n{A}").as_bytes()), "{:?}", String::from_utf8_lossy(&bytes));
    let response = parse_one(&bytes, true);
    assert_file(&response, A);
    assert_eq!(response.expect_header("Content-Type"), "text/plain; charset=utf-8");
    assert_imf_fixdate(response.expect_header("Date"));
    assert!(!response.expect_header("Server").is_empty());
    assert!(response.closes());
    for name in ["Content-Length", "Content-Type", "Date", "Server", "Connection"] {
        assert_eq!(response.count(name), 1, "{name} more than once: {:#?}", response.headers);
    }
}

fn head_sends_the_head_of_get_and_no_body(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let got = get(server.addr(), "/a.txt", "");
    let mut conn = Conn::connect(server.addr());
    // The GET right behind the HEAD shows where the HEAD's response ended.
    conn.send(
        "HEAD /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\nGET /b.txt HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    let head = conn.head_response();
    assert_eq!(head.status_line(), "HTTP/1.1 200 OK");
    for name in ["Content-Length", "Content-Type", "ETag", "Last-Modified"] {
        assert_eq!(head.header(name), got.header(name), "{name} differs between HEAD and GET");
    }
    assert_file(&conn.response(), B);

    let bytes = raw(server.addr(), "HEAD /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert!(bytes.ends_with(b"\r\n\r\n"), "a body after the head: {:?}", String::from_utf8_lossy(&bytes));
    assert_eq!(parse_one(&bytes, false).content_length(), Some(A.len() as u64));
}

fn http11_keeps_the_connection_open_by_default(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let mut conn = Conn::connect(server.addr());
    for (path, body) in [("/a.txt", A), ("/b.txt", B), ("/a.txt", A)] {
        conn.send_get(path, "");
        let response = conn.response();
        assert_file(&response, body);
        assert_eq!(response.header("Connection"), None, "HTTP/1.1 needs no Connection field to stay open");
    }
}

fn http10_closes_unless_asked_to_keep_alive(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let mut conn = Conn::connect(server.addr());
    conn.send("GET /a.txt HTTP/1.0\r\n\r\n");
    let response = conn.response();
    assert_file(&response, A);
    assert!(!response.header("Connection").is_some_and(|v| v.eq_ignore_ascii_case("keep-alive")));
    conn.expect_closed();

    let mut conn = Conn::connect(server.addr());
    for (path, body) in [("/a.txt", A), ("/b.txt", B)] {
        conn.send(format!("GET {path} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        let response = conn.response();
        assert_file(&response, body);
        assert_eq!(response.header("Connection").map(str::to_ascii_lowercase).as_deref(), Some("keep-alive"));
    }
    conn.send("GET /c.txt HTTP/1.0\r\n\r\n");
    assert_file(&conn.response(), C);
    conn.expect_closed();
}

fn connection_close_is_answered_in_kind_and_done(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let mut conn = Conn::connect(server.addr());
    conn.send_get("/a.txt", "Connection: close\r\n");
    let response = conn.response();
    assert_file(&response, A);
    assert!(response.closes(), "{:#?}", response.headers);
    conn.expect_closed();
}

fn pipelined_requests_are_answered_in_order(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let mut conn = Conn::connect(server.addr());
    let request = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    conn.send([request("/c.txt"), request("/a.txt"), request("/b.txt")].concat());
    for body in [C, A, B] {
        assert_file(&conn.response(), body);
    }
    // And the connection is still good afterwards.
    conn.send(request("/a.txt"));
    assert_file(&conn.response(), A);
}

fn absolute_form_targets_are_served(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let mut conn = Conn::connect(server.addr());
    conn.send("GET http://localhost/a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_file(&conn.response(), A);
    conn.send("GET http://localhost:80/b.txt?x=1 HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_file(&conn.response(), B);
}

/// Asserts that `request` is answered with `status`, `Connection: close` and nothing
/// else, and that the server then closes the connection.
fn assert_refused(server: &TestServer, request: &[u8], status: u16) {
    let mut conn = Conn::connect(server.addr());
    conn.send(request);
    let response = conn.response();
    let shown = String::from_utf8_lossy(&request[..request.len().min(200)]);
    assert_eq!(response.status, status, "{shown:?} got {response:#?}");
    assert!(response.closes(), "{shown:?}: no Connection: close in {:#?}", response.headers);
    conn.expect_closed();
}

fn http11_without_host_is_a_bad_request(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    assert_refused(&server, b"GET /a.txt HTTP/1.1\r\n\r\n", 400);
    assert_refused(&server, b"GET /a.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    // HTTP/1.0 had no Host.
    assert_file(&parse_one(&raw(server.addr(), "GET /a.txt HTTP/1.0\r\n\r\n"), true), A);
}

fn expect_100_continue_gets_the_interim_response_first(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let mut conn = Conn::connect(server.addr());
    conn.send("GET /a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    let interim = conn.head_response();
    assert_eq!(interim.status_line(), "HTTP/1.1 100 Continue");
    assert!(interim.headers.is_empty(), "{:#?}", interim.headers);
    conn.send("hello");
    assert_file(&conn.response(), A);
    conn.send_get("/b.txt", "");
    assert_file(&conn.response(), B);
}

fn methods_that_write_are_not_allowed(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let mut conn = Conn::connect(server.addr());
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        conn.send(format!("{method} /a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc"));
        let response = conn.response();
        assert_eq!(response.status_line(), "HTTP/1.1 405 Method Not Allowed", "{method}");
        assert_eq!(response.header("Allow"), Some("GET, HEAD"), "{method}");
        assert_eq!(response.content_length(), Some(response.body.len() as u64));
        assert!(!response.closes(), "a 405 needs not end the connection");
    }
    conn.send_get("/a.txt", "");
    assert_file(&conn.response(), A);
    assert_eq!(std::fs::read_to_string(site.join("a.txt")).unwrap(), A, "the file was touched");
}

fn an_unknown_method_is_not_implemented(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    assert_refused(&server, b"FOO /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n", 501);
    // Methods are case-sensitive.
    assert_refused(&server, b"get /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n", 501);
}

fn a_small_body_on_get_is_read_past(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let mut conn = Conn::connect(server.addr());
    // Body and next request in the same write as the head.
    conn.send(
        "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello\
         GET /b.txt HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_file(&conn.response(), A);
    assert_file(&conn.response(), B);
    // Body in a later write than the head, with the next request behind it: the server
    // reads it from the socket, and the bytes past it are the next request.
    conn.send("GET /c.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\n\r\n");
    thread::sleep(Duration::from_millis(50));
    conn.send("hello worldGET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_file(&conn.response(), C);
    assert_file(&conn.response(), A);
}

fn a_body_over_the_limit_is_content_too_large(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    assert_refused(&server, b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n", 413);
    // Exactly the limit (64 KiB) is read past.
    let mut conn = Conn::connect(server.addr());
    conn.send("GET /a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 65536\r\n\r\n");
    conn.send(vec![b'x'; 65536]);
    conn.send_get("/b.txt", "");
    assert_file(&conn.response(), A);
    assert_file(&conn.response(), B);
}

fn content_length_with_chunked_is_refused_as_smuggling(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    // Were either framing believed, the GET of b.txt would get its own response.
    assert_refused(
        &server,
        b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n\
          0\r\n\r\nGET /b.txt HTTP/1.1\r\nHost: localhost\r\n\r\n",
        400,
    );
    assert_refused(
        &server,
        b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n\
          0\r\n\r\n",
        400,
    );
    assert_refused(
        &server,
        b"GET /a.txt HTTP/1.1\r\nHost: l\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        400,
    );
}

fn a_chunked_body_on_get_is_read_past(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let mut conn = Conn::connect(server.addr());
    conn.send(
        "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n\
         5\r\nhello\r\n3;name=value\r\nGET\r\nA\r\n0123456789\r\n0\r\nTrailer-Field: x\r\n\r\n\
         GET /b.txt HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_file(&conn.response(), A);
    assert_file(&conn.response(), B);
}

fn a_malformed_request_line_is_a_bad_request(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let bad: [&[u8]; 6] = [
        b"GARBAGE\r\n\r\n",
        b"GET /a.txt\r\nHost: localhost\r\n\r\n",
        b"GET  /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET /a.txt HTTP/1.1x\r\nHost: localhost\r\n\r\n",
        b"GET /a b.txt HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n",
    ];
    for request in bad {
        assert_refused(&server, request, 400);
    }
    assert_refused(&server, b"GET /a.txt HTTP/2.0\r\nHost: localhost\r\n\r\n", 505);
}

fn a_request_line_over_8_kib_is_uri_too_long(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let long = format!("GET /{} HTTP/1.1\r\nHost: localhost\r\n\r\n", "a".repeat(9000));
    assert_refused(&server, long.as_bytes(), 414);
    // One without its end yet is refused as soon as it is over the limit.
    let unfinished = format!("GET /{}", "a".repeat(9000));
    assert_refused(&server, unfinished.as_bytes(), 414);
    // A line of exactly the limit is served (the query makes it long).
    let query = "q".repeat(8 * 1024 - "GET /a.txt? HTTP/1.1".len());
    let request = format!("GET /a.txt?{query} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert_eq!(request.find('\r'), Some(8 * 1024));
    assert_file(&parse_one(&raw(server.addr(), request), true), A);
}

fn a_head_over_32_kib_is_header_fields_too_large(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let fields: String = (0..40).map(|i| format!("X-Filler-{i}: {}\r\n", "f".repeat(1000))).collect();
    let request = format!("GET /a.txt HTTP/1.1\r\nHost: localhost\r\n{fields}\r\n");
    assert_refused(&server, request.as_bytes(), 431);
    // Without the end of the head too.
    let unfinished = format!("GET /a.txt HTTP/1.1\r\nHost: localhost\r\n{fields}");
    assert_refused(&server, unfinished.as_bytes(), 431);
    // More than 100 fields.
    let many: String = (0..101).map(|i| format!("X-{i}: y\r\n")).collect();
    assert_refused(&server, format!("GET /a.txt HTTP/1.1\r\nHost: localhost\r\n{many}\r\n").as_bytes(), 431);
}

fn an_error_response_ends_a_pipeline(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let mut conn = Conn::connect(server.addr());
    conn.send(
        "GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n\
         BAD\r\n\r\n\
         GET /b.txt HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_file(&conn.response(), A);
    let refused = conn.response();
    assert_eq!(refused.status, 400);
    assert!(refused.closes());
    conn.expect_closed();
}

fn framing_the_server_cannot_trust_is_refused(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let head = "GET /a.txt HTTP/1.1\r\nHost: localhost\r\n";
    let cases: [(&str, u16); 12] = [
        ("Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
        ("Content-Length: -1\r\n\r\n", 400),
        ("Content-Length: +5\r\n\r\nhello", 400),
        ("Content-Length: five\r\n\r\n", 400),
        ("Host : other\r\n\r\n", 400),
        ("X-Folded: a\r\n b\r\n\r\n", 400),
        ("Transfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n", 400),
        ("Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400),
        ("Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ("Transfer-Encoding: chunked\r\n\r\n0\r\nX-Folded: a\r\n b\r\n\r\n", 400),
        // One chunk over the 64 KiB limit is refused as soon as its size is read.
        ("Transfer-Encoding: chunked\r\n\r\n10001\r\n", 413),
    ];
    for (rest, status) in cases {
        assert_refused(&server, format!("{head}{rest}").as_bytes(), status);
    }
    // Chunks that add up to more than the limit.
    let chunk = format!("8000\r\n{}\r\n", "x".repeat(0x8000));
    let request = format!("{head}Transfer-Encoding: chunked\r\n\r\n{chunk}{chunk}1\r\n");
    assert_refused(&server, request.as_bytes(), 413);
}

fn a_request_sent_a_byte_at_a_time_is_served(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let mut conn = Conn::connect(server.addr());
    let requests = "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n\
                    3\r\nabc\r\n0\r\n\r\n\
                    GET /b.txt HTTP/1.1\r\nHost: localhost\r\n\r\n";
    for byte in requests.bytes() {
        conn.send([byte]);
        thread::sleep(Duration::from_millis(1));
    }
    assert_file(&conn.response(), A);
    assert_file(&conn.response(), B);
}

fn empty_lines_before_a_request_are_skipped(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let mut conn = Conn::connect(server.addr());
    conn.send("\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n\r\nGET /b.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_file(&conn.response(), A);
    assert_file(&conn.response(), B);
}

fn a_long_pipeline_is_answered_in_order(engine: Engine) {
    const REQUESTS: usize = 2000;
    let site = site();
    let server = start(engine, &site);
    let mut conn = Conn::connect(server.addr());
    let files = [("/a.txt", A), ("/b.txt", B), ("/c.txt", C)];
    let requests: String = (0..REQUESTS)
        .map(|i| format!("GET {} HTTP/1.1\r\nHost: localhost\r\nX-Request: {i}\r\n\r\n", files[i % 3].0))
        .collect();
    // Written from another thread while this one reads: the responses would fill the
    // socket buffers long before the requests are all written.
    let mut writer = conn.stream().try_clone().unwrap();
    let writing = thread::spawn(move || std::io::Write::write_all(&mut writer, requests.as_bytes()));
    for i in 0..REQUESTS {
        let response = conn.response();
        assert_eq!(response.text(), files[i % 3].1, "response {i}");
    }
    writing.join().unwrap().expect("cannot write the pipeline");
}

fn http10_keep_alive_is_case_insensitive(engine: Engine) {
    let site = site();
    let server = start(engine, &site);
    let mut conn = Conn::connect(server.addr());
    conn.send("GET /a.txt HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    let response = conn.response();
    assert_file(&response, A);
    assert!(response.header("Connection").is_some_and(|v| v.eq_ignore_ascii_case("keep-alive")));
    conn.send("GET /b.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_file(&conn.response(), B);
}

fn error_responses_to_head_have_no_body(engine: Engine) {
    let site = site();
    site.file("dir/x.txt", "x");
    let server = start(engine, &site);
    let mut conn = Conn::connect(server.addr());
    conn.send(
        "HEAD /missing HTTP/1.1\r\nHost: localhost\r\n\r\n\
         HEAD /dir HTTP/1.1\r\nHost: localhost\r\n\r\n\
         HEAD /%2e%2e/x HTTP/1.1\r\nHost: localhost\r\n\r\n\
         GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(conn.head_response().status, 404);
    let redirect = conn.head_response();
    assert_eq!(redirect.status, 301);
    assert_eq!(redirect.header("Location"), Some("/dir/"));
    assert_eq!(conn.head_response().status, 404);
    assert_file(&conn.response(), A);
}

fn a_server_runs_on_a_listener_bound_by_the_caller(engine: Engine) {
    let site = site();
    let listener = std::net::TcpListener::bind(LOCALHOST).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::from_listener(listener, config(engine, site.path())).unwrap();
    assert_eq!(server.local_addr(), addr);
    let server = TestServer::run(server);
    assert_file(&get(addr, "/a.txt", ""), A);
    server.stop();
}

fn binding_checks_the_root(engine: Engine) {
    let site = site();
    let missing = Server::bind(LOCALHOST, config(engine, site.join("missing"))).unwrap_err();
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    assert!(missing.to_string().contains("missing"), "{missing}");
    let file = Server::bind(LOCALHOST, config(engine, site.join("a.txt"))).unwrap_err();
    assert!(file.to_string().contains("a.txt"), "{file}");
}

fn a_shutdown_requested_before_run_ends_it_at_once(engine: Engine) {
    let site = site();
    let server = Server::bind(LOCALHOST, config(engine, site.path())).unwrap();
    server.shutdown_handle().shutdown();
    within("run after shutdown", HANG_BOUND, move || server.run()).unwrap();
}
