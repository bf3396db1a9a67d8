//! One socket, several coroutines: a reader and a writer (through `try_clone` or a
//! shared `&TcpStream`) both progress; several coroutines parked in the same direction
//! on one socket or listener are all served, none is forgotten.

mod common;

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use common::{LOCALHOST, run_with};
use hebra::coroutine::Builder;
use hebra::net::{TcpListener, TcpStream};

fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind(LOCALHOST).unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    (client, listener.accept().unwrap().0)
}

fn echo(mut stream: TcpStream) {
    let mut buf = vec![0; 8 * 1024];
    loop {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            return;
        }
        stream.write_all(&buf[..n]).unwrap();
    }
}

/// 4 MiB, far more than the socket buffers hold: writing it all before reading the echo
/// would deadlock, so the reader and the writer must both make progress.
const STREAMED: usize = 4 << 20;

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

/// Streams through an echo server with a writer and a reader on `workers` (home worker
/// of writer, of reader); `split` gives the two handles of the client socket.
fn full_duplex<W, R>(workers: (usize, usize), split: fn(TcpStream) -> (W, R))
where
    W: Write + Send + 'static,
    R: Read + Send + 'static,
{
    run_with(2, move || {
        let (client, server) = pair();
        hebra::spawn(move || echo(server));
        let (mut w, mut r) = split(client);
        let writer = Builder::new()
            .worker(workers.0)
            .spawn(move || {
                let data: Vec<u8> = (0..STREAMED).map(pattern).collect();
                for chunk in data.chunks(10_000) {
                    w.write_all(chunk).unwrap();
                }
            })
            .unwrap();
        let reader = Builder::new()
            .worker(workers.1)
            .spawn(move || {
                let mut buf = vec![0; 7_000];
                let mut at = 0;
                while at < STREAMED {
                    let n = r.read(&mut buf).unwrap();
                    assert!(n > 0, "EOF at {at}");
                    for (i, &b) in buf[..n].iter().enumerate() {
                        assert_eq!(b, pattern(at + i), "wrong byte at {}", at + i);
                    }
                    at += n;
                }
            })
            .unwrap();
        writer.join().unwrap();
        reader.join().unwrap();
    });
}

fn through_try_clone(client: TcpStream) -> (TcpStream, TcpStream) {
    let clone = client.try_clone().unwrap();
    (clone, client)
}

/// `Read` and `Write` for a shared `TcpStream`, through `&TcpStream`.
struct Shared(Arc<TcpStream>);

impl Read for Shared {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        (&*self.0).write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        (&*self.0).flush()
    }
}

fn through_shared_reference(client: TcpStream) -> (Shared, Shared) {
    let shared = Arc::new(client);
    (Shared(shared.clone()), Shared(shared))
}

#[test]
fn reader_and_writer_through_try_clone_both_progress_on_different_workers() {
    full_duplex((0, 1), through_try_clone);
}

#[test]
fn reader_and_writer_through_try_clone_both_progress_on_one_worker() {
    full_duplex((1, 1), through_try_clone);
}

#[test]
fn reader_and_writer_through_a_shared_reference_both_progress() {
    full_duplex((1, 0), through_shared_reference);
    full_duplex((0, 0), through_shared_reference);
}

#[test]
fn several_readers_parked_on_one_socket_are_all_served() {
    const READERS: usize = 8;
    const EACH: usize = 50;
    run_with(2, || {
        let (client, mut server) = pair();
        let client = Arc::new(client);
        let readers: Vec<_> = (0..READERS)
            .map(|i| {
                let client = client.clone();
                Builder::new()
                    .worker(i % 2)
                    .spawn(move || {
                        let mut got = 0;
                        while got < EACH {
                            let n = (&*client).read(&mut [0; 1]).unwrap();
                            assert_eq!(n, 1, "EOF");
                            got += n;
                        }
                    })
                    .unwrap()
            })
            .collect();
        // Let every reader park, then trickle the bytes in so that each arrival finds
        // several of them waiting.
        hebra::sleep(Duration::from_millis(20));
        for i in 0..READERS * EACH {
            server.write_all(&[i as u8]).unwrap();
            if i % 7 == 0 {
                hebra::sleep(Duration::from_micros(200));
            }
        }
        for reader in readers {
            reader.join().expect("a reader failed");
        }
    });
}

#[test]
fn several_writers_parked_on_one_full_socket_are_all_served() {
    const WRITERS: usize = 6;
    const EACH: usize = 512 * 1024;
    run_with(2, || {
        let (client, mut server) = pair();
        common::set_send_buffer(&client, 16 * 1024);
        let client = Arc::new(client);
        let writers: Vec<_> = (0..WRITERS)
            .map(|i| {
                let client = client.clone();
                Builder::new()
                    .worker(i % 2)
                    .spawn(move || (&*client).write_all(&vec![i as u8; EACH]).unwrap())
                    .unwrap()
            })
            .collect();
        // A slow reader, so that the writers park on a full buffer again and again.
        hebra::sleep(Duration::from_millis(20));
        let mut counts = [0usize; WRITERS];
        let mut buf = vec![0; 4096];
        let mut total = 0;
        while total < WRITERS * EACH {
            let n = server.read(&mut buf).unwrap();
            assert!(n > 0, "EOF after {total} bytes");
            for &b in &buf[..n] {
                counts[b as usize] += 1;
            }
            total += n;
            if total % (64 * 1024) < n {
                hebra::sleep(Duration::from_micros(500));
            }
        }
        for writer in writers {
            writer.join().expect("a writer failed");
        }
        assert_eq!(counts, [EACH; WRITERS], "bytes lost or duplicated");
    });
}

#[test]
fn several_acceptors_on_one_listener_are_all_served() {
    const ACCEPTORS: usize = 4;
    const CLIENTS: usize = 200;
    run_with(2, || {
        let listener = Arc::new(TcpListener::bind(LOCALHOST).unwrap());
        let addr = listener.local_addr().unwrap();
        let acceptors: Vec<_> = (0..ACCEPTORS)
            .map(|i| {
                let listener = listener.clone();
                Builder::new()
                    .worker(i % 2)
                    .spawn(move || {
                        let mut served = 0;
                        loop {
                            let (mut stream, _) = listener.accept().unwrap();
                            let mut byte = [0; 1];
                            stream.read_exact(&mut byte).unwrap();
                            if &byte == b"q" {
                                return served;
                            }
                            stream.write_all(&byte).unwrap();
                            served += 1;
                        }
                    })
                    .unwrap()
            })
            .collect();
        hebra::sleep(Duration::from_millis(10));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                hebra::spawn(move || {
                    let mut stream = TcpStream::connect(addr).unwrap();
                    stream.write_all(&[(i % 100) as u8]).unwrap();
                    let mut echo = [0; 1];
                    stream.read_exact(&mut echo).unwrap();
                    assert_eq!(echo[0], (i % 100) as u8);
                })
            })
            .collect();
        for client in clients {
            client.join().unwrap();
        }
        // One stop request per acceptor; each stops after exactly one.
        for _ in 0..ACCEPTORS {
            TcpStream::connect(addr).unwrap().write_all(b"q").unwrap();
        }
        let served: usize = acceptors.into_iter().map(|a| a.join().unwrap()).sum();
        assert_eq!(served, CLIENTS);
    });
}
