//! UDP: echo with byte verification through `bind`/`recv_from`/`send_to` on the server
//! and `connect`/`send`/`recv` on the clients, on both workers; peeking; read timeouts
//! as in std.

mod common;

use std::io::ErrorKind;
use std::net;
use std::time::{Duration, Instant};

use common::{HANG_BOUND, LOCALHOST, run_with, within};
use hebra::coroutine::Builder;
use hebra::net::UdpSocket;
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};

const PAIRS: usize = 50;
const ROUND_TRIPS: usize = 100;
const MAX_DATAGRAM: usize = 16 * 1024;

/// Echoes `ROUND_TRIPS` datagrams back to where they came from.
fn echo_server(socket: UdpSocket, client: net::SocketAddr) {
    let mut buf = vec![0; MAX_DATAGRAM];
    for _ in 0..ROUND_TRIPS {
        let (n, from) = socket.recv_from(&mut buf).unwrap();
        assert_eq!(from, client, "a datagram from a stranger");
        assert_eq!(socket.send_to(&buf[..n], from).unwrap(), n);
    }
}

#[test]
fn udp_echo_verifies_every_byte() {
    let seed: u64 = rand::random();
    run_with(2, move || {
        // One server socket per client keeps at most one datagram in flight per socket,
        // so nothing can overflow a receive buffer and be dropped.
        let pairs: Vec<_> = (0..PAIRS)
            .map(|i| {
                let server = UdpSocket::bind(LOCALHOST).unwrap();
                let client = UdpSocket::bind(LOCALHOST).unwrap();
                client.connect(server.local_addr().unwrap()).unwrap();
                assert_eq!(client.peer_addr().unwrap(), server.local_addr().unwrap());
                let client_addr = client.local_addr().unwrap();
                let server =
                    Builder::new().worker(i % 2).spawn(move || echo_server(server, client_addr)).unwrap();
                let client = Builder::new()
                    .worker((i + 1) % 2)
                    .spawn(move || {
                        let mut rng = SmallRng::seed_from_u64(seed ^ i as u64);
                        let mut sent = vec![0; MAX_DATAGRAM];
                        let mut received = vec![0; MAX_DATAGRAM + 1];
                        for round in 0..ROUND_TRIPS {
                            let len = rng.random_range(0..=MAX_DATAGRAM);
                            rng.fill_bytes(&mut sent[..len]);
                            assert_eq!(client.send(&sent[..len]).unwrap(), len);
                            let n = client.recv(&mut received).unwrap();
                            assert!(
                                received[..n] == sent[..len],
                                "pair {i}, round {round}: echo of {n} bytes differs from the \
                                 {len} sent (seed {seed})"
                            );
                        }
                    })
                    .unwrap();
                (server, client)
            })
            .collect();
        for (server, client) in pairs {
            client.join().expect("a client failed");
            server.join().expect("a server failed");
        }
    });
}

#[test]
fn peek_leaves_the_datagram_in_place() {
    run_with(2, || {
        let a = UdpSocket::bind(LOCALHOST).unwrap();
        let b = UdpSocket::bind(LOCALHOST).unwrap();
        let sender = {
            let to = b.local_addr().unwrap();
            hebra::spawn(move || {
                hebra::sleep(Duration::from_millis(10));
                a.send_to(b"peekaboo", to).unwrap();
                a.local_addr().unwrap()
            })
        };
        let mut buf = [0; 16];
        let (n, from) = b.peek_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"peekaboo");
        let (n2, from2) = b.recv_from(&mut buf).unwrap();
        assert_eq!((n2, from2), (n, from));
        assert_eq!(from, sender.join().unwrap());
    });
}

#[test]
fn an_expired_udp_read_timeout_is_would_block_as_in_std() {
    let timeout = Duration::from_millis(100);
    let std_kind = {
        let socket = net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(timeout)).unwrap();
        socket.recv_from(&mut [0; 8]).unwrap_err().kind()
    };
    assert_eq!(std_kind, ErrorKind::WouldBlock);
    let case = move || {
        let socket = UdpSocket::bind(LOCALHOST).unwrap();
        socket.set_read_timeout(Some(timeout)).unwrap();
        assert_eq!(socket.read_timeout().unwrap(), Some(timeout));
        let start = Instant::now();
        let kind = socket.recv_from(&mut [0; 8]).unwrap_err().kind();
        assert!(start.elapsed() >= timeout);
        kind
    };
    assert_eq!(within("plain thread", HANG_BOUND, case), std_kind);
    assert_eq!(run_with(2, case), std_kind);
}

/// A UDP port on 127.0.0.1 with nothing bound (it was, a moment ago).
fn closed_udp_port() -> std::net::SocketAddr {
    net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

#[test]
fn a_connected_socket_reports_the_refusal_once_then_waits_again_as_in_std() {
    let timeout = Duration::from_millis(100);
    let std_kinds = {
        let socket = net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.connect(closed_udp_port()).unwrap();
        socket.set_read_timeout(Some(timeout)).unwrap();
        socket.send(b"anyone?").unwrap();
        let first = socket.recv(&mut [0; 8]).unwrap_err().kind();
        let second = socket.recv(&mut [0; 8]).unwrap_err().kind();
        (first, second)
    };
    assert_eq!(std_kinds, (ErrorKind::ConnectionRefused, ErrorKind::WouldBlock));
    let case = move || {
        let socket = UdpSocket::bind(LOCALHOST).unwrap();
        socket.connect(closed_udp_port()).unwrap();
        socket.set_read_timeout(Some(timeout)).unwrap();
        socket.send(b"anyone?").unwrap();
        let first = socket.recv(&mut [0; 8]).unwrap_err().kind();
        let start = Instant::now();
        let second = socket.recv(&mut [0; 8]).unwrap_err().kind();
        assert!(start.elapsed() >= timeout);
        (first, second)
    };
    assert_eq!(within("plain thread", HANG_BOUND, case), std_kinds, "hebra on a plain thread");
    assert_eq!(run_with(2, case), std_kinds, "hebra on a coroutine");

    // Once reported, the error must not keep the socket "ready": the second wait parks
    // instead of spinning through the whole timeout on its worker.
    let spent = run_with(2, move || {
        let socket = UdpSocket::bind(LOCALHOST).unwrap();
        socket.connect(closed_udp_port()).unwrap();
        // A first wait registers the socket with the netpoller, so that the error then
        // arrives as a readiness event.
        socket.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
        assert_eq!(socket.recv(&mut [0; 8]).unwrap_err().kind(), ErrorKind::WouldBlock);
        socket.send(b"anyone?").unwrap();
        socket.set_read_timeout(None).unwrap();
        assert_eq!(socket.recv(&mut [0; 8]).unwrap_err().kind(), ErrorKind::ConnectionRefused);
        socket.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let before = thread_cpu_time();
        socket.recv(&mut [0; 8]).unwrap_err();
        thread_cpu_time() - before
    });
    assert!(spent < Duration::from_millis(150), "the worker spun for {spent:?} of a 300 ms wait");
}

/// CPU time used by the calling thread (here: the worker running the coroutine).
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec to the valid pointer we pass.
    let res = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(res, 0, "clock_gettime failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
