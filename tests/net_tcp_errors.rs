//! TCP timeouts and errors match std: each case runs with std on a plain thread, with
//! hebra on a plain thread and with hebra on a coroutine, and the error kinds must agree
//! (read/write timeouts: `WouldBlock`; zero timeouts: `InvalidInput`; a closed port:
//! `ConnectionRefused`; `connect_timeout` to a full backlog: `TimedOut`; a reset peer:
//! `ConnectionReset`).

mod common;

use std::io::{self, ErrorKind, Read, Write};
use std::net::{self, SocketAddr};
use std::thread;
use std::time::{Duration, Instant};

use common::{HANG_BOUND, LOCALHOST, run_with, set_backlog, set_linger_zero, set_send_buffer, within};
use hebra::net::{TcpListener, TcpStream, UdpSocket, UnixStream};

const TIMEOUT: Duration = Duration::from_millis(100);

fn std_pair() -> (net::TcpStream, net::TcpStream) {
    let listener = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    (client, listener.accept().unwrap().0)
}

fn hebra_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind(LOCALHOST).unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    (client, listener.accept().unwrap().0)
}

/// Runs `case` on a plain thread and on a coroutine; returns both error kinds.
fn hebra_both_ways(case: fn() -> ErrorKind) -> (ErrorKind, ErrorKind) {
    let plain = within("hebra on a plain thread", HANG_BOUND, case);
    let coroutine = run_with(2, case);
    (plain, coroutine)
}

fn assert_all_kinds(what: &str, expected: ErrorKind, std: ErrorKind, hebra: (ErrorKind, ErrorKind)) {
    assert_eq!(std, expected, "{what}: std itself gives {std:?} here");
    assert_eq!(hebra.0, std, "{what}: hebra on a plain thread differs from std");
    assert_eq!(hebra.1, std, "{what}: hebra on a coroutine differs from std");
}

#[test]
fn an_expired_read_timeout_is_would_block_as_in_std() {
    let std_kind = within("std", HANG_BOUND, || {
        let (client, _server) = std_pair();
        client.set_read_timeout(Some(TIMEOUT)).unwrap();
        (&client).read(&mut [0; 8]).unwrap_err().kind()
    });
    let hebra = hebra_both_ways(|| {
        let (client, mut server) = hebra_pair();
        client.set_read_timeout(Some(TIMEOUT)).unwrap();
        assert_eq!(client.read_timeout().unwrap(), Some(TIMEOUT));
        let start = Instant::now();
        let kind = (&client).read(&mut [0; 8]).unwrap_err().kind();
        assert!(start.elapsed() >= TIMEOUT, "timed out after {:?}", start.elapsed());
        // The stream still works after a timeout.
        server.write_all(b"late").unwrap();
        let mut buf = [0; 4];
        (&client).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"late");
        kind
    });
    assert_all_kinds("read timeout", ErrorKind::WouldBlock, std_kind, hebra);
}

/// Writes to a peer that never reads until the write times out; returns its error.
fn fill_until_error(mut write: impl FnMut(&[u8]) -> io::Result<usize>) -> io::Error {
    let chunk = vec![0x5a; 64 * 1024];
    let mut total = 0usize;
    loop {
        match write(&chunk) {
            Ok(n) => total += n,
            Err(err) => return err,
        }
        assert!(total < 256 << 20, "256 MiB went into a peer that never reads");
    }
}

#[test]
fn an_expired_write_timeout_is_would_block_as_in_std() {
    let std_kind = within("std", HANG_BOUND, || {
        let (client, _server) = std_pair();
        set_send_buffer(&client, 16 * 1024);
        client.set_write_timeout(Some(TIMEOUT)).unwrap();
        fill_until_error(|b| (&client).write(b)).kind()
    });
    let hebra = hebra_both_ways(|| {
        let (client, _server) = hebra_pair();
        set_send_buffer(&client, 16 * 1024);
        client.set_write_timeout(Some(TIMEOUT)).unwrap();
        assert_eq!(client.write_timeout().unwrap(), Some(TIMEOUT));
        let start = Instant::now();
        let kind = fill_until_error(|b| (&client).write(b)).kind();
        assert!(start.elapsed() >= TIMEOUT);
        kind
    });
    assert_all_kinds("write timeout", ErrorKind::WouldBlock, std_kind, hebra);
}

#[test]
fn zero_timeouts_are_invalid_input_as_in_std() {
    let (std_client, _std_server) = std_pair();
    let std_kind = std_client.set_read_timeout(Some(Duration::ZERO)).unwrap_err().kind();
    assert_eq!(std_kind, ErrorKind::InvalidInput);
    let std_connect = net::TcpStream::connect_timeout(&std_client.local_addr().unwrap(), Duration::ZERO)
        .unwrap_err()
        .kind();
    assert_eq!(std_connect, ErrorKind::InvalidInput);

    run_with(1, move || {
        let (client, _server) = hebra_pair();
        let udp = UdpSocket::bind(LOCALHOST).unwrap();
        let (unix, _peer) = UnixStream::pair().unwrap();
        let results = [
            ("tcp read", client.set_read_timeout(Some(Duration::ZERO))),
            ("tcp write", client.set_write_timeout(Some(Duration::ZERO))),
            ("udp read", udp.set_read_timeout(Some(Duration::ZERO))),
            ("udp write", udp.set_write_timeout(Some(Duration::ZERO))),
            ("unix read", unix.set_read_timeout(Some(Duration::ZERO))),
            ("unix write", unix.set_write_timeout(Some(Duration::ZERO))),
        ];
        for (what, result) in results {
            assert_eq!(result.unwrap_err().kind(), std_kind, "{what}");
        }
        // None clears a timeout, as in std.
        client.set_read_timeout(Some(TIMEOUT)).unwrap();
        client.set_read_timeout(None).unwrap();
        assert_eq!(client.read_timeout().unwrap(), None);
        let addr = client.local_addr().unwrap();
        let err = TcpStream::connect_timeout(&addr, Duration::ZERO).unwrap_err();
        assert_eq!(err.kind(), std_connect, "connect_timeout(0)");
    });
}

/// A port on 127.0.0.1 with nothing listening (it was, a moment ago).
fn closed_port() -> SocketAddr {
    let listener = net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[test]
fn connecting_to_a_closed_port_is_connection_refused_as_in_std() {
    let addr = closed_port();
    let std_kind = net::TcpStream::connect(addr).unwrap_err().kind();
    let plain = TcpStream::connect(addr).unwrap_err().kind();
    let coroutine = run_with(2, move || {
        let timed = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap_err().kind();
        assert_eq!(timed, ErrorKind::ConnectionRefused, "connect_timeout");
        TcpStream::connect(addr).unwrap_err().kind()
    });
    assert_all_kinds("closed port", ErrorKind::ConnectionRefused, std_kind, (plain, coroutine));
}

/// A listener that never accepts, with every slot of its backlog taken: on Linux the
/// kernel drops further SYNs, so a connect only ever times out. Returns the listener,
/// its address and the connections that fill it (all must stay alive).
fn full_backlog() -> (net::TcpListener, SocketAddr, Vec<net::TcpStream>) {
    let listener = net::TcpListener::bind("127.0.0.1:0").unwrap();
    set_backlog(&listener, 0);
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    loop {
        match net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(stream) => fillers.push(stream),
            Err(err) => {
                assert_eq!(err.kind(), ErrorKind::TimedOut, "filling the backlog: {err}");
                break;
            }
        }
        assert!(fillers.len() < 64, "the backlog never filled up");
    }
    (listener, addr, fillers)
}

#[test]
fn connect_timeout_to_a_full_backlog_is_timed_out_as_in_std() {
    let (listener, addr, _fillers) = full_backlog();
    let std_kind = net::TcpStream::connect_timeout(&addr, TIMEOUT).unwrap_err().kind();
    let start = Instant::now();
    let plain = TcpStream::connect_timeout(&addr, TIMEOUT).unwrap_err().kind();
    assert!(start.elapsed() >= TIMEOUT);
    let coroutine = run_with(2, move || {
        let start = Instant::now();
        let kind = TcpStream::connect_timeout(&addr, TIMEOUT).unwrap_err().kind();
        assert!(start.elapsed() >= TIMEOUT, "gave up after {:?}", start.elapsed());
        kind
    });
    assert_all_kinds("full backlog", ErrorKind::TimedOut, std_kind, (plain, coroutine));

    // Once a slot frees up, a connect goes through.
    let (_accepted, _) = listener.accept().unwrap();
    run_with(1, move || {
        TcpStream::connect_timeout(&addr, HANG_BOUND).expect("connect after a slot freed up");
    });
}

/// Resets the connection from `server`'s side: SO_LINGER 0, then close.
fn reset(server: impl std::os::fd::AsRawFd) {
    set_linger_zero(&server);
    drop(server);
}

#[test]
fn reading_after_the_peer_reset_is_connection_reset_as_in_std() {
    let std_kind = {
        let (mut client, server) = std_pair();
        reset(server);
        thread::sleep(Duration::from_millis(20));
        client.read(&mut [0; 8]).unwrap_err().kind()
    };
    let hebra = hebra_both_ways(|| {
        let (mut client, server) = hebra_pair();
        reset(server);
        hebra::sleep(Duration::from_millis(20));
        client.read(&mut [0; 8]).unwrap_err().kind()
    });
    assert_all_kinds("read after reset", ErrorKind::ConnectionReset, std_kind, hebra);
}

#[test]
fn a_read_parked_when_the_peer_resets_is_connection_reset_as_in_std() {
    let std_kind = within("std", HANG_BOUND, || {
        let (mut client, server) = std_pair();
        let resetter = thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            reset(server);
        });
        let kind = client.read(&mut [0; 8]).unwrap_err().kind();
        resetter.join().unwrap();
        kind
    });
    let coroutine = run_with(2, || {
        let (mut client, server) = hebra_pair();
        let resetter = hebra::spawn(move || {
            hebra::sleep(Duration::from_millis(50));
            reset(server);
        });
        let kind = client.read(&mut [0; 8]).unwrap_err().kind();
        resetter.join().unwrap();
        kind
    });
    assert_eq!(std_kind, ErrorKind::ConnectionReset);
    assert_eq!(coroutine, std_kind);
}

#[test]
fn a_write_parked_on_a_full_buffer_fails_when_the_peer_resets() {
    let std_kind = within("std", HANG_BOUND, || {
        let (client, server) = std_pair();
        set_send_buffer(&client, 16 * 1024);
        let resetter = thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            reset(server);
        });
        let kind = fill_until_error(|b| (&client).write(b)).kind();
        resetter.join().unwrap();
        kind
    });
    let coroutine = run_with(2, || {
        let (client, server) = hebra_pair();
        set_send_buffer(&client, 16 * 1024);
        let resetter = hebra::spawn(move || {
            hebra::sleep(Duration::from_millis(100));
            reset(server);
        });
        let kind = fill_until_error(|b| (&client).write(b)).kind();
        resetter.join().unwrap();
        kind
    });
    assert!(matches!(std_kind, ErrorKind::ConnectionReset | ErrorKind::BrokenPipe), "std gave {std_kind:?}");
    assert_eq!(coroutine, std_kind, "hebra differs from std");
}

#[test]
fn a_read_parked_when_the_peer_closes_returns_end_of_file() {
    run_with(2, || {
        let (mut client, mut server) = hebra_pair();
        let closer = hebra::spawn(move || {
            hebra::sleep(Duration::from_millis(20));
            server.write_all(b"bye").unwrap();
            drop(server);
        });
        let mut all = Vec::new();
        client.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"bye");
        assert_eq!(client.read(&mut [0; 8]).unwrap(), 0, "EOF is sticky");
        closer.join().unwrap();
    });
}

#[test]
fn data_and_end_of_file_arriving_together_are_both_read() {
    run_with(1, || {
        let (mut client, mut server) = hebra_pair();
        let reader = hebra::spawn(move || {
            let mut all = Vec::new();
            client.read_to_end(&mut all).unwrap();
            all
        });
        // Let the reader park. Then, without a scheduling point in between (one worker,
        // which we hold), the data and the FIN arrive: the poller sees them as one event.
        hebra::sleep(Duration::from_millis(20));
        server.write_all(b"last words").unwrap();
        drop(server);
        assert_eq!(reader.join().unwrap(), b"last words");
    });
}

#[test]
fn nonblocking_mode_returns_would_block_instead_of_parking() {
    fn case() -> ErrorKind {
        let (client, mut server) = hebra_pair();
        client.set_nonblocking(true).unwrap();
        let kind = (&client).read(&mut [0; 8]).unwrap_err().kind();
        server.write_all(b"x").unwrap();
        // Without parking, poll until the byte is there.
        let deadline = Instant::now() + HANG_BOUND;
        loop {
            match (&client).read(&mut [0; 8]) {
                Ok(n) => {
                    assert_eq!(n, 1);
                    break;
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "the byte never arrived");
                    hebra::yield_now();
                }
                Err(err) => panic!("{err}"),
            }
        }
        client.set_nonblocking(false).unwrap();
        kind
    }
    let std_kind = {
        let (client, _server) = std_pair();
        client.set_nonblocking(true).unwrap();
        (&client).read(&mut [0; 8]).unwrap_err().kind()
    };
    assert_all_kinds("nonblocking read", ErrorKind::WouldBlock, std_kind, hebra_both_ways(case));
}
