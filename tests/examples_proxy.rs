//! The `proxy` example as its users see it: a proxy process started from the build
//! directory in front of backends run by the test, and clients that are std sockets.
//!
//! Each test backend reads a whole request, up to the client's half-close, and only
//! then answers `backend ID` and the request back, so every exchange also checks that
//! the proxy passes a half-close on and keeps the other direction open.

mod common;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::example::{ExampleProcess, example_command};
use common::{HANG_BOUND, LOCALHOST, output_within};

/// Bound on every read: it only turns a hang into a failure, nothing waits that long.
const READ_BOUND: Duration = Duration::from_secs(30);

/// A backend on its own thread, answering every connection with its id.
struct Backend {
    id: usize,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Backend {
    fn start(id: usize) -> Backend {
        Backend::start_on(id, LOCALHOST)
    }

    /// Listens on `addr` (std sets `SO_REUSEADDR`, so a stopped backend's port works).
    fn start_on(id: usize, addr: SocketAddr) -> Backend {
        let listener = TcpListener::bind(addr).expect("bind a test backend");
        let addr = listener.local_addr().unwrap();
        // Non-blocking, so that the acceptor notices `stop` and closes the listener.
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let acceptor = thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        thread::spawn(move || answer(id, stream));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Backend { id, addr, stop, acceptor: Some(acceptor) }
    }

    /// Closes the listening socket: from now on connecting here is refused.
    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.join().expect("the backend's acceptor panicked");
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads the request to its end, then answers `backend ID\n` and the request. Errors
/// only end this connection: the proxy's health probes connect and hang up at once.
fn answer(id: usize, mut stream: TcpStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(READ_BOUND));
    let mut request = Vec::new();
    if stream.read_to_end(&mut request).is_ok() {
        let _ = stream.write_all(format!("backend {id}\n").as_bytes());
        let _ = stream.write_all(&request);
    }
}

fn start_proxy(backends: &[&Backend]) -> (ExampleProcess, SocketAddr) {
    let addrs: Vec<String> = backends.iter().map(|backend| backend.addr.to_string()).collect();
    let mut args = vec!["--listen", "127.0.0.1:0"];
    for addr in &addrs {
        args.extend(["--backend", addr]);
    }
    let proxy = ExampleProcess::start("proxy", &args);
    let addr = proxy.address_after("proxy listening on ");
    (proxy, addr)
}

/// Sends `request` through the proxy, half-closes, and reads the answer to its end.
fn exchange(proxy: SocketAddr, request: &[u8]) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(proxy)?;
    stream.set_read_timeout(Some(READ_BOUND))?;
    stream.write_all(request)?;
    stream.shutdown(Shutdown::Write)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(answer)
}

/// The id of the backend that answered a small request, checking the echo.
fn backend_of(proxy: SocketAddr) -> usize {
    let answer = exchange(proxy, b"ping").expect("a request through the proxy");
    let answer = String::from_utf8_lossy(&answer);
    let id = answer.strip_prefix("backend ").and_then(|rest| rest.strip_suffix("\nping"));
    id.and_then(|id| id.parse().ok()).unwrap_or_else(|| panic!("unexpected answer {answer:?}"))
}

#[test]
fn requests_take_turns_over_the_backends() {
    let backends = [Backend::start(0), Backend::start(1), Backend::start(2)];
    let (_proxy, addr) = start_proxy(&backends.each_ref());
    let ids: Vec<usize> = (0..9).map(|_| backend_of(addr)).collect();
    let mut first_round = ids[..3].to_vec();
    first_round.sort();
    assert_eq!(first_round, [0, 1, 2], "not every backend had a turn: {ids:?}");
    assert!(ids.iter().enumerate().all(|(i, &id)| id == ids[i % 3]), "turns not kept: {ids:?}");
}

#[test]
fn a_dead_backend_is_skipped_and_comes_back() {
    let [first, mut middle, last] = [Backend::start(0), Backend::start(1), Backend::start(2)];
    let (proxy, addr) = start_proxy(&[&first, &middle, &last]);
    middle.stop();

    // Every request still gets an answer, from the two that are alive.
    let ids: Vec<usize> = (0..9).map(|_| backend_of(addr)).collect();
    assert!(!ids.contains(&middle.id), "a stopped backend answered: {ids:?}");
    assert!(ids.contains(&first.id) && ids.contains(&last.id), "a live backend was skipped: {ids:?}");

    // Back on its port, it is found by the health check and gets turns again.
    let _revived = Backend::start_on(middle.id, middle.addr);
    let deadline = Instant::now() + HANG_BOUND;
    while backend_of(addr) != middle.id {
        assert!(Instant::now() < deadline, "the revived backend never got a turn");
        thread::sleep(Duration::from_millis(50));
    }
    // It was taken out of rotation, not merely tried and failed over each time.
    proxy.wait_for_stderr(&format!("backend {} is down", middle.addr));
    proxy.wait_for_stderr(&format!("backend {} is back up", middle.addr));
}

#[test]
fn a_half_closed_client_still_gets_the_whole_answer() {
    let backends = [Backend::start(7)];
    let (_proxy, addr) = start_proxy(&backends.each_ref());
    // Larger than the socket buffers on the way, so that it flows while being copied.
    let request: Vec<u8> = (0..8 * 1024 * 1024).map(|i: u32| (i % 251) as u8).collect();
    let answer = exchange(addr, &request).expect("a request through the proxy");
    let (head, echoed) = answer.split_at(answer.len().min(b"backend 7\n".len()));
    assert_eq!(head, b"backend 7\n");
    assert!(echoed == request, "the answer lost or changed bytes: {} of {}", echoed.len(), request.len());
}

#[test]
fn with_every_backend_down_clients_are_closed_at_once() {
    let dead = {
        let listener = TcpListener::bind(LOCALHOST).unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let proxy = ExampleProcess::start("proxy", &["--listen", "127.0.0.1:0", "--backend", &dead]);
    let addr = proxy.address_after("proxy listening on ");
    // The first client finds the backend down, the second is refused without a try.
    for client in ["first", "second"] {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(READ_BOUND)).unwrap();
        let mut buf = [0; 64];
        match stream.read(&mut buf) {
            Ok(0) => {}
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => {}
            other => panic!("{client} client: expected the proxy to close it, got {other:?}"),
        }
    }
}

#[test]
fn without_backends_it_balances_over_its_demo_ones() {
    let proxy = ExampleProcess::start("proxy", &["--listen", "127.0.0.1:0"]);
    let addr = proxy.address_after("proxy listening on ");
    for number in 1..=4 {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(READ_BOUND)).unwrap();
        stream.write_all(b"echo me\n").unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let expected = (number - 1) % 3 + 1;
        assert!(answer.starts_with(&format!("demo backend {expected} here")), "answer {number}: {answer:?}");
        assert!(answer.ends_with("\necho me\n"), "answer {number} did not echo: {answer:?}");
    }
}

#[test]
fn bad_arguments_are_refused_with_the_usage() {
    let cases: [&[&str]; 4] =
        [&["--backend", "nonsense"], &["--frobnicate"], &["--listen"], &["--demo", "0"]];
    for args in cases {
        let output = output_within(example_command("proxy", args), HANG_BOUND);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "proxy {args:?}: {stderr}");
        assert!(stderr.contains("usage: proxy"), "proxy {args:?} did not print the usage: {stderr}");
    }
    let help = output_within(example_command("proxy", &["--help"]), HANG_BOUND);
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).contains("--backend ADDR"));
}
