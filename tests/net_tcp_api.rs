//! The rest of the std-shaped TCP API on coroutines: `peek`, vectored I/O, half-close,
//! `incoming`, listener `try_clone`, non-blocking listeners, and socket options.

mod common;

use std::io::{ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use common::{LOCALHOST, run_with};
use hebra::net::{TcpListener, TcpStream};

fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind(LOCALHOST).unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, peer) = listener.accept().unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    assert_eq!(server.peer_addr().unwrap(), client.local_addr().unwrap());
    assert_eq!(client.peer_addr().unwrap(), server.local_addr().unwrap());
    (client, server)
}

#[test]
fn peek_parks_until_data_and_leaves_it_in_place() {
    run_with(2, || {
        let (client, mut server) = pair();
        let writer = hebra::spawn(move || {
            hebra::sleep(Duration::from_millis(10));
            server.write_all(b"peek me").unwrap();
            server
        });
        let mut buf = [0; 16];
        let n = client.peek(&mut buf).unwrap();
        assert_eq!(&buf[..n], &b"peek me"[..n]);
        let mut all = [0; 7];
        (&client).read_exact(&mut all).unwrap();
        assert_eq!(&all, b"peek me");
        writer.join().unwrap();
    });
}

#[test]
fn readable_parks_until_data_without_consuming_it() {
    run_with(2, || {
        let (client, mut server) = pair();
        let writer = hebra::spawn(move || {
            hebra::sleep(Duration::from_millis(10));
            server.write_all(b"ready").unwrap();
            server
        });
        client.readable().unwrap();
        let mut all = [0; 5];
        (&client).read_exact(&mut all).unwrap();
        assert_eq!(&all, b"ready");
        // Drained: the next wait is a real one again, and ends at the peer's close.
        let server = writer.join().unwrap();
        let closer = hebra::spawn(move || {
            hebra::sleep(Duration::from_millis(10));
            drop(server);
        });
        client.readable().unwrap();
        assert_eq!((&client).read(&mut all).unwrap(), 0, "readable at end of stream");
        closer.join().unwrap();
    });
}

#[test]
fn readable_honours_the_read_timeout_and_the_nonblocking_mode() {
    run_with(1, || {
        let (client, _server) = pair();
        client.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let started = std::time::Instant::now();
        let err = client.readable().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldBlock, "{err}");
        assert!(started.elapsed() >= Duration::from_millis(20));
        client.set_nonblocking(true).unwrap();
        assert_eq!(client.readable().unwrap_err().kind(), ErrorKind::WouldBlock);
    });
}

#[test]
fn readable_works_on_a_plain_thread() {
    let listener = std::net::TcpListener::bind(LOCALHOST).unwrap();
    let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (accepted, _) = listener.accept().unwrap();
    let stream = TcpStream::from(accepted);
    stream.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    assert_eq!(stream.readable().unwrap_err().kind(), ErrorKind::WouldBlock);
    peer.write_all(b"x").unwrap();
    stream.set_read_timeout(None).unwrap();
    stream.readable().unwrap();
}

#[test]
fn vectored_reads_and_writes_move_every_byte() {
    run_with(2, || {
        let (mut client, mut server) = pair();
        let parts: [&[u8]; 3] = [b"first ", b"second ", b"third"];
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let writer = hebra::spawn(move || {
            let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
            let n = client.write_vectored(&slices).unwrap();
            // A short vectored write is legal; finish with write_all.
            let flat = parts.concat();
            client.write_all(&flat[n..]).unwrap();
            client
        });
        let (mut a, mut b) = ([0u8; 6], [0u8; 12]);
        let mut got = 0;
        while got < total {
            let mut bufs = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
            let n = server.read_vectored(&mut bufs).unwrap();
            assert!(n > 0);
            // Each call refills from the start; check the bytes of this call only.
            let mut seen = a.to_vec();
            seen.extend_from_slice(&b);
            assert_eq!(&seen[..n], &parts.concat()[got..got + n]);
            got += n;
        }
        writer.join().unwrap();
    });
}

#[test]
fn shutdown_write_gives_the_peer_end_of_file_and_keeps_reading_open() {
    run_with(2, || {
        let (mut client, mut server) = pair();
        client.write_all(b"request").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut request = Vec::new();
        server.read_to_end(&mut request).unwrap();
        assert_eq!(request, b"request");
        server.write_all(b"response").unwrap();
        drop(server);
        let mut response = Vec::new();
        client.read_to_end(&mut response).unwrap();
        assert_eq!(response, b"response");
    });
}

#[test]
fn incoming_and_a_cloned_listener_accept_alike() {
    run_with(2, || {
        let listener = TcpListener::bind(LOCALHOST).unwrap();
        let addr = listener.local_addr().unwrap();
        let clone = listener.try_clone().unwrap();
        assert_eq!(clone.local_addr().unwrap(), addr);
        let acceptor = hebra::spawn(move || {
            let mut from_incoming = listener.incoming().take(3).map(|s| s.unwrap()).collect::<Vec<_>>();
            from_incoming.push(clone.accept().unwrap().0);
            from_incoming
        });
        let clients: Vec<_> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let accepted = acceptor.join().unwrap();
        let mut ours: Vec<_> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
        let mut theirs: Vec<_> = accepted.iter().map(|s| s.peer_addr().unwrap()).collect();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs);
    });
}

#[test]
fn a_nonblocking_listener_returns_would_block() {
    run_with(1, || {
        let listener = TcpListener::bind(LOCALHOST).unwrap();
        listener.set_nonblocking(true).unwrap();
        assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        listener.set_nonblocking(false).unwrap();
        listener.accept().expect("a blocking accept after the connect");
    });
}

#[test]
fn socket_options_read_back_what_was_set() {
    run_with(1, || {
        let (client, _server) = pair();
        client.set_nodelay(true).unwrap();
        assert!(client.nodelay().unwrap());
        client.set_nodelay(false).unwrap();
        assert!(!client.nodelay().unwrap());
        client.set_ttl(42).unwrap();
        assert_eq!(client.ttl().unwrap(), 42);
        assert!(client.take_error().unwrap().is_none());
        let listener = TcpListener::bind(LOCALHOST).unwrap();
        listener.set_ttl(17).unwrap();
        assert_eq!(listener.ttl().unwrap(), 17);
    });
}
