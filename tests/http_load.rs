//! The server under many clients and badly behaved ones: concurrent large downloads
//! checked byte for byte, clients that vanish mid-body, slowloris, idle connections,
//! the connection cap, the access log, and a graceful shutdown with work in flight.

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::http::{Conn, TempDir, TestServer, config, connect, get, parse_one, pattern, raw};
use common::{HANG_BOUND, set_linger_zero, within};
use hebra_server::{Engine, LogTarget};

engine_tests! {
    a_hundred_concurrent_downloads_are_exact,
    clients_gone_mid_body_do_not_hurt_the_next,
    a_slowloris_client_is_cut_off_while_others_are_served,
    idle_connections_are_closed,
    a_new_connection_that_sends_nothing_is_closed_by_the_header_timeout,
    a_trickled_body_is_cut_off_by_the_header_timeout,
    max_connections_leaves_further_clients_waiting,
    max_connections_is_the_number_of_connections_served,
    max_connections_of_one_serves_clients_in_turn,
    the_access_log_has_a_combined_line_per_request,
    graceful_shutdown_finishes_downloads_and_closes_the_rest,
}

const BIG: usize = 16 * 1024 * 1024;
const A: &str = "hello, world\n";

/// A site with `a.txt` and the 16 MiB `big.bin`; also returns big.bin's bytes.
fn site() -> (TempDir, Arc<Vec<u8>>) {
    let site = TempDir::new("http-load");
    let big = pattern(BIG);
    site.file("a.txt", A).file("big.bin", &big);
    (site, Arc::new(big))
}

/// Reads `expected.len()` body bytes and checks each piece as it arrives.
fn read_checked(reader: &mut impl Read, expected: &[u8], who: &str) {
    let mut buf = vec![0; 256 * 1024];
    let mut at = 0;
    while at < expected.len() {
        let want = buf.len().min(expected.len() - at);
        let n = reader.read(&mut buf[..want]).unwrap_or_else(|err| panic!("{who}: {err} after {at} bytes"));
        assert!(n > 0, "{who}: EOF after {at} of {} bytes", expected.len());
        assert!(buf[..n] == expected[at..at + n], "{who}: wrong bytes in {at}..{}", at + n);
        at += n;
    }
}

/// GETs big.bin on `conn` and reads its head; the body is left to read.
fn start_download(conn: &mut Conn) {
    conn.send_get("/big.bin", "");
    let head = conn.head_response();
    assert_eq!(head.status, 200, "{head:#?}");
    assert_eq!(head.content_length(), Some(BIG as u64));
}

fn a_hundred_concurrent_downloads_are_exact(engine: Engine) {
    const CLIENTS: usize = 100;
    let (site, big) = site();
    let server = TestServer::start(config(engine, site.path()));
    let addr = server.addr();
    within("100 downloads of 16 MiB", 3 * HANG_BOUND, move || {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|id| {
                let big = big.clone();
                thread::spawn(move || {
                    let mut conn = Conn::connect(addr);
                    start_download(&mut conn);
                    read_checked(conn.reader(), &big, &format!("client {id}"));
                    // The connection is still good for another request.
                    conn.send_get("/a.txt", "Connection: close\r\n");
                    assert_eq!(conn.response().text(), A);
                })
            })
            .collect();
        for client in clients {
            client.join().expect("a download failed");
        }
    });
}

fn clients_gone_mid_body_do_not_hurt_the_next(engine: Engine) {
    let (site, big) = site();
    let server = TestServer::start(config(engine, site.path()));
    let addr = server.addr();
    within("downloads after abandoned ones", HANG_BOUND, move || {
        for reset in [false, true, false, true] {
            let mut conn = Conn::connect(addr);
            start_download(&mut conn);
            read_checked(conn.reader(), &big[..1024 * 1024], "the leaving client");
            if reset {
                set_linger_zero(conn.stream());
            }
            drop(conn);
        }
        let mut conn = Conn::connect(addr);
        start_download(&mut conn);
        read_checked(conn.reader(), &big, "the next client");
        assert_eq!(get(addr, "/a.txt", "").text(), A);
    });
}

/// What a slowloris client saw: the bytes the server sent before ending the
/// connection.
fn slowloris(addr: SocketAddr, byte_every: Duration, bound: Duration) -> Vec<u8> {
    let mut stream = connect(addr);
    stream.write_all(b"GET /a.txt HTTP/1.1\r\n").unwrap();
    // A client served on the same (single) worker while this head is unfinished.
    assert_eq!(get(addr, "/a.txt", "").text(), A, "a normal client was not served");
    stream.set_read_timeout(Some(byte_every)).unwrap();
    let started = Instant::now();
    let mut received = Vec::new();
    let mut header = b"X-Slow: ".iter().chain(std::iter::repeat(&b'a'));
    while started.elapsed() < bound {
        let mut buf = [0; 1024];
        match stream.read(&mut buf) {
            Ok(0) => return received,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(err) if matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(_) => return received, // reset
        }
        let byte = *header.next().unwrap();
        if stream.write_all(&[byte]).is_err() {
            return received; // the server is gone
        }
    }
    panic!(
        "the slowloris client was not cut off within {bound:?}; got {:?}",
        String::from_utf8_lossy(&received)
    )
}

fn a_slowloris_client_is_cut_off_while_others_are_served(engine: Engine) {
    let (site, _) = site();
    let mut config = config(engine, site.path());
    config.workers = 1;
    config.header_timeout = Duration::from_secs(1);
    let server = TestServer::start(config);
    let received = slowloris(server.addr(), Duration::from_millis(300), HANG_BOUND);
    assert!(
        received.is_empty() || received.starts_with(b"HTTP/1.1 408 "),
        "the slowloris client got {:?}",
        String::from_utf8_lossy(&received)
    );
    assert_eq!(get(server.addr(), "/a.txt", "").text(), A);
}

fn idle_connections_are_closed(engine: Engine) {
    let (site, _) = site();
    let mut config = config(engine, site.path());
    config.idle_timeout = Duration::from_secs(1);
    config.header_timeout = Duration::from_secs(1);
    let server = TestServer::start(config);
    let mut silent = Conn::connect(server.addr());
    let mut done = Conn::connect(server.addr());
    done.send_get("/a.txt", "");
    assert_eq!(done.response().text(), A);
    // Both must end, eventually: the read bound is far above the timeout.
    done.expect_closed();
    silent.expect_closed();
}

fn a_new_connection_that_sends_nothing_is_closed_by_the_header_timeout(engine: Engine) {
    let (site, _) = site();
    let mut config = config(engine, site.path());
    config.header_timeout = Duration::from_secs(1);
    config.idle_timeout = Duration::from_secs(3600);
    let server = TestServer::start(config);
    // Silent sockets must not hold permits for the (long) keep-alive timeout.
    Conn::connect(server.addr()).expect_closed();
}

fn a_trickled_body_is_cut_off_by_the_header_timeout(engine: Engine) {
    let (site, _) = site();
    let mut config = config(engine, site.path());
    config.header_timeout = Duration::from_secs(1);
    config.idle_timeout = Duration::from_secs(3600);
    let server = TestServer::start(config);
    let mut stream = connect(server.addr());
    stream.write_all(b"POST /a.txt HTTP/1.1\r\nHost: l\r\nContent-Length: 1000\r\n\r\n").unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let started = Instant::now();
    let mut received = Vec::new();
    while started.elapsed() < HANG_BOUND {
        let mut buf = [0; 1024];
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(err) if matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
        if stream.write_all(b"x").is_err() {
            break;
        }
    }
    assert!(started.elapsed() < HANG_BOUND, "the trickled body was never cut off");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
}

fn max_connections_leaves_further_clients_waiting(engine: Engine) {
    let (site, _) = site();
    let mut config = config(engine, site.path());
    // One listener, so that the order of accepts is the order of connects.
    config.workers = 1;
    config.max_connections = 2;
    let server = TestServer::start(config);
    let mut held: Vec<Conn> = (0..2).map(|_| Conn::connect(server.addr())).collect();
    for conn in &mut held {
        conn.send_get("/a.txt", "");
        assert_eq!(conn.response().text(), A);
    }
    let mut third = Conn::connect(server.addr());
    third.send_get("/a.txt", "");
    third.expect_silence(Duration::from_secs(1));
    // The others are still served meanwhile.
    held[1].send_get("/a.txt", "");
    assert_eq!(held[1].response().text(), A);
    drop(held.remove(0));
    assert_eq!(third.response().text(), A);
}

fn max_connections_is_the_number_of_connections_served(engine: Engine) {
    let (site, _) = site();
    let mut config = config(engine, site.path());
    config.workers = 2;
    config.max_connections = 2;
    let server = TestServer::start(config);
    // Each round, two clients held open at once must both be served, whichever
    // worker's listener the kernel gives each of them to.
    for round in 0..8 {
        let mut first = Conn::connect(server.addr());
        first.send_get("/a.txt", "");
        assert_eq!(first.response().text(), A);
        let mut second = Conn::connect(server.addr());
        second.stream().set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        second.send_get("/a.txt", "");
        let mut byte = [0];
        let got = second.reader().read(&mut byte);
        assert!(
            matches!(got, Ok(1)),
            "round {round}: the second of 2 connections (max_connections 2) was not served: {got:?}"
        );
        // Both gone before the next round, so their permits come back.
        first.send_get("/a.txt", "Connection: close\r\n");
        first.response();
        first.expect_closed();
        drop(second);
    }
}

/// Even one permit serves every client, one after the other, whichever worker's
/// listener the kernel gives each to.
fn max_connections_of_one_serves_clients_in_turn(engine: Engine) {
    let (site, _) = site();
    let mut config = config(engine, site.path());
    config.workers = 2;
    config.max_connections = 1;
    let server = TestServer::start(config);
    for client in 0..8 {
        let mut conn = Conn::connect(server.addr());
        conn.stream().set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        conn.send_get("/a.txt", "Connection: close\r\n");
        let mut response = Vec::new();
        let got = conn.reader().read_to_end(&mut response);
        assert!(
            got.is_ok() && response.ends_with(A.as_bytes()),
            "client {client} (one at a time, max_connections 1) was not served: {got:?}, {:?}",
            String::from_utf8_lossy(&response)
        );
    }
}

fn the_access_log_has_a_combined_line_per_request(engine: Engine) {
    let (site, _) = site();
    let logs = TempDir::new("http-access-log");
    let log = logs.join("access.log");
    let mut config = config(engine, site.path());
    config.access_log = Some(LogTarget::File(log.clone()));
    let server = TestServer::start(config);
    let ua = "User-Agent: hebra-test/1.0\r\n";
    assert_eq!(get(server.addr(), "/a.txt", ua).text(), A);
    assert_eq!(get(server.addr(), "/missing", &format!("{ua}Referer: http://example.com/x\r\n")).status, 404);
    let mut conn = Conn::connect(server.addr());
    conn.send(format!("HEAD /a.txt HTTP/1.1\r\nHost: l\r\n{ua}\r\n"));
    assert_eq!(conn.head_response().status, 200);
    drop(conn);
    assert_eq!(parse_one(&raw(server.addr(), "BAD\r\n\r\n"), true).status, 400);
    server.stop();

    let text = std::fs::read_to_string(&log).expect("no access log");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    for line in &lines {
        assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
        assert!(line.contains(" +0000] \""), "{line}");
    }
    let find = |needle: &str| {
        lines.iter().find(|line| line.contains(needle)).unwrap_or_else(|| panic!("no {needle:?} in\n{text}"))
    };
    assert!(find("\"GET /a.txt HTTP/1.1\" 200 13 ").ends_with(" \"-\" \"hebra-test/1.0\""));
    assert!(
        find("\"GET /missing HTTP/1.1\" 404 14 ").ends_with(" \"http://example.com/x\" \"hebra-test/1.0\"")
    );
    assert!(find("\"HEAD /a.txt HTTP/1.1\" 200 0 ").ends_with(" \"-\" \"hebra-test/1.0\""));
    assert!(find("\"-\" 400 16 ").ends_with(" \"-\" \"-\""));
}

fn graceful_shutdown_finishes_downloads_and_closes_the_rest(engine: Engine) {
    let (site, big) = site();
    let mut config = config(engine, site.path());
    config.send_timeout = 2 * HANG_BOUND;
    config.shutdown_timeout = 2 * HANG_BOUND;
    let server = TestServer::start(config);
    let addr = server.addr();

    let mut download = Conn::connect(addr);
    start_download(&mut download);
    read_checked(download.reader(), &big[..1024 * 1024], "the download before the shutdown");
    let mut idle = Conn::connect(addr);
    idle.send_get("/a.txt", "");
    assert_eq!(idle.response().text(), A);

    server.shutdown_handle().shutdown();
    within("refusing new connections", HANG_BOUND, move || {
        // Connects that the kernel completed before the listener shut are reset, not served.
        while TcpStream::connect(addr).is_ok() {
            thread::sleep(Duration::from_millis(10));
        }
    });
    read_checked(download.reader(), &big[1024 * 1024..], "the download across the shutdown");
    download.expect_closed();
    idle.expect_closed();
    server.stop();
    let refused = TcpStream::connect(addr);
    assert!(refused.is_err(), "a connection after run() returned: {refused:?}");
}
