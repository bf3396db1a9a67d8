//! hebra sockets used outside any runtime block the calling thread exactly as std
//! sockets would, and talk to sockets that live in a runtime.

mod common;

use std::io::{Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use common::{HANG_BOUND, LOCALHOST, within};
use hebra::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};

const DELAY: Duration = Duration::from_millis(50);

#[test]
fn tcp_accept_connect_read_and_write_block_on_plain_threads() {
    within("plain threads", HANG_BOUND, || {
        let listener = TcpListener::bind(LOCALHOST).unwrap();
        let addr = listener.local_addr().unwrap();
        // The client connects DELAY after `start`: an accept that returns sooner did not
        // wait for it.
        let start = Instant::now();
        let server = thread::spawn(move || {
            let (mut stream, peer) = listener.accept().unwrap();
            assert!(start.elapsed() >= DELAY, "accept did not wait for the client");
            let mut buf = [0; 5];
            stream.read_exact(&mut buf).unwrap();
            stream.write_all(&buf).unwrap();
            assert_eq!(stream.peer_addr().unwrap(), peer);
            let mut rest = Vec::new();
            stream.read_to_end(&mut rest).unwrap();
            rest
        });
        thread::sleep(DELAY);
        let mut client = TcpStream::connect(addr).unwrap();
        thread::sleep(DELAY);
        client.write_all(b"hello").unwrap();
        let mut echo = [0; 5];
        client.read_exact(&mut echo).unwrap();
        assert_eq!(&echo, b"hello");
        // The server's read_to_end blocks until the shutdown.
        thread::sleep(DELAY);
        client.write_all(b" and goodbye").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(server.join().unwrap(), b" and goodbye");
    });
}

#[test]
fn a_plain_thread_read_blocks_until_data_arrives() {
    within("plain thread read", HANG_BOUND, || {
        let listener = TcpListener::bind(LOCALHOST).unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let start = Instant::now();
        let writer = thread::spawn(move || {
            thread::sleep(DELAY);
            server.write_all(b"x").unwrap();
            server
        });
        let mut byte = [0; 1];
        assert_eq!(client.read(&mut byte).unwrap(), 1);
        assert!(start.elapsed() >= DELAY, "the read returned before the data was sent");
        writer.join().unwrap();
    });
}

#[test]
fn udp_and_unix_sockets_block_on_plain_threads() {
    within("plain threads", HANG_BOUND, || {
        let a = UdpSocket::bind(LOCALHOST).unwrap();
        let b = UdpSocket::bind(LOCALHOST).unwrap();
        let b_addr = b.local_addr().unwrap();
        let receiver = thread::spawn(move || {
            let mut buf = [0; 16];
            let (n, from) = b.recv_from(&mut buf).unwrap();
            (buf[..n].to_vec(), from)
        });
        thread::sleep(DELAY);
        a.send_to(b"datagram", b_addr).unwrap();
        let (data, from) = receiver.join().unwrap();
        assert_eq!((data.as_slice(), from), (&b"datagram"[..], a.local_addr().unwrap()));

        let path = std::env::temp_dir().join(format!("hebra-plain-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0; 4];
            stream.read_exact(&mut buf).unwrap();
            stream.write_all(&buf).unwrap();
        });
        thread::sleep(DELAY);
        let mut client = UnixStream::connect(&path).unwrap();
        client.write_all(b"unix").unwrap();
        let mut echo = [0; 4];
        client.read_exact(&mut echo).unwrap();
        assert_eq!(&echo, b"unix");
        server.join().unwrap();
        std::fs::remove_file(&path).unwrap();
    });
}

#[test]
fn a_plain_thread_client_talks_to_a_server_coroutine() {
    within("mixed", HANG_BOUND, || {
        let runtime = hebra::Builder::new().workers(2).build().unwrap();
        let listener = TcpListener::bind(LOCALHOST).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = runtime.spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = vec![0; 4096];
            let mut total = 0;
            loop {
                let n = stream.read(&mut buf).unwrap();
                if n == 0 {
                    return total;
                }
                stream.write_all(&buf[..n]).unwrap();
                total += n;
            }
        });
        let mut client = TcpStream::connect(addr).unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        let mut reader = client.try_clone().unwrap();
        let reading = thread::spawn(move || {
            let mut echo = vec![0; 200_000];
            reader.read_exact(&mut echo).unwrap();
            echo
        });
        client.write_all(&data).unwrap();
        assert!(reading.join().unwrap() == data, "the echo differs");
        drop(client);
        assert_eq!(server.join().unwrap(), data.len());
    });
}

/// Whether the descriptor has O_NONBLOCK set.
fn fd_nonblocking(fd: &impl std::os::fd::AsRawFd) -> bool {
    // SAFETY: F_GETFL on a borrowed, open descriptor reads its flags and nothing else.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    assert!(flags >= 0, "fcntl: {}", std::io::Error::last_os_error());
    flags & libc::O_NONBLOCK != 0
}

#[test]
fn conversions_to_and_from_std_keep_the_blocking_mode() {
    within("conversions", HANG_BOUND, || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let std_client = std::net::TcpStream::connect(addr).unwrap();
        let (std_server, _) = listener.accept().unwrap();

        // A blocking std stream becomes a hebra stream that waits...
        let client = TcpStream::from(std_client);
        let writer = thread::spawn(move || {
            thread::sleep(DELAY);
            (&std_server).write_all(b"x").unwrap();
            std_server
        });
        let mut byte = [0; 1];
        (&client).read_exact(&mut byte).unwrap();
        let std_server = writer.join().unwrap();
        // ...and goes back to std blocking.
        let std_client = client.into_std().unwrap();
        assert!(!fd_nonblocking(&std_client), "into_std returned a non-blocking stream");

        // A non-blocking std stream stays non-blocking: WouldBlock instead of a wait.
        std_client.set_nonblocking(true).unwrap();
        let client = TcpStream::from(std_client);
        let err = (&client).read(&mut byte).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
        assert!(fd_nonblocking(&client.into_std().unwrap()));
        drop(std_server);
    });
}
