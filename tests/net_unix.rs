//! Unix stream sockets: echo with byte verification through `UnixListener` and
//! `UnixStream::connect`, and through `UnixStream::pair`; connects to a listener whose
//! backlog is full wait for room instead of failing.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{run_with, set_backlog};
use hebra::net::{UnixListener, UnixStream};
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};

const CLIENTS: usize = 100;
const ROUND_TRIPS: usize = 50;
const MAX_PAYLOAD: usize = 64 * 1024;

/// A socket path unique to this process and test, removed on drop.
struct SocketPath(PathBuf);

impl SocketPath {
    fn new(test: &str) -> SocketPath {
        let path = std::env::temp_dir().join(format!("hebra-{test}-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        SocketPath(path)
    }
}

impl AsRef<Path> for SocketPath {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for SocketPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn echo(mut stream: UnixStream) -> usize {
    let mut buf = vec![0; 16 * 1024];
    let mut echoed = 0;
    loop {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            return echoed;
        }
        stream.write_all(&buf[..n]).unwrap();
        echoed += n;
    }
}

/// Round trips of random payloads over `stream`, writing from a second coroutine so that
/// neither side waits on a full buffer; returns the bytes sent.
fn round_trips(stream: UnixStream, seed: u64) -> usize {
    let stream = Arc::new(stream);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut sent = 0;
    for round in 0..ROUND_TRIPS {
        let len = rng.random_range(1..=MAX_PAYLOAD);
        let mut payload = vec![0; len];
        rng.fill_bytes(&mut payload);
        let payload = Arc::new(payload);
        let writer = {
            let (stream, payload) = (stream.clone(), payload.clone());
            hebra::spawn(move || (&*stream).write_all(&payload).unwrap())
        };
        let mut echo = vec![0; len];
        (&*stream).read_exact(&mut echo).unwrap();
        assert!(echo == *payload, "round {round}: the echo differs (seed {seed})");
        writer.join().unwrap();
        sent += len;
    }
    sent
}

#[test]
fn unix_listener_echo_verifies_every_byte() {
    let seed: u64 = rand::random();
    let (sent, echoed) = run_with(2, move || {
        let path = SocketPath::new("echo");
        let listener = UnixListener::bind(&path).unwrap();
        let acceptor = hebra::spawn(move || {
            (0..CLIENTS)
                .map(|_| {
                    let (stream, _) = listener.accept().unwrap();
                    hebra::spawn(move || echo(stream))
                })
                .collect::<Vec<_>>()
        });
        let path = Arc::new(path);
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let path = path.clone();
                hebra::spawn(move || round_trips(UnixStream::connect(&*path).unwrap(), seed ^ i as u64))
            })
            .collect();
        let sent: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
        let echoed: usize = acceptor.join().unwrap().into_iter().map(|s| s.join().unwrap()).sum();
        (sent, echoed)
    });
    assert_eq!(sent, echoed);
}

#[test]
fn unix_pair_echo_verifies_every_byte() {
    let seed: u64 = rand::random();
    run_with(2, move || {
        let handles: Vec<_> = (0..10)
            .map(|i| {
                let (client, server) = UnixStream::pair().unwrap();
                let server = hebra::spawn(move || echo(server));
                let client = hebra::spawn(move || round_trips(client, seed ^ i));
                (client, server)
            })
            .collect();
        for (client, server) in handles {
            let sent = client.join().unwrap();
            assert_eq!(server.join().unwrap(), sent);
        }
    });
}

#[test]
fn connects_to_a_full_backlog_wait_for_room() {
    const CLIENTS: usize = 64;
    run_with(2, || {
        let path = SocketPath::new("backlog");
        let listener = UnixListener::bind(&path).unwrap();
        set_backlog(&listener, 1);
        let path = Arc::new(path);
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let path = path.clone();
                hebra::spawn(move || {
                    let mut stream = UnixStream::connect(&*path).unwrap();
                    stream.write_all(&[i as u8]).unwrap();
                })
            })
            .collect();
        // Accept slowly, so that most connects find the backlog full.
        let mut seen = [false; CLIENTS];
        for _ in 0..CLIENTS {
            hebra::sleep(std::time::Duration::from_micros(500));
            let (mut stream, _) = listener.accept().unwrap();
            let mut byte = [0; 1];
            stream.read_exact(&mut byte).unwrap();
            assert!(!seen[byte[0] as usize], "client {} connected twice", byte[0]);
            seen[byte[0] as usize] = true;
        }
        for client in clients {
            client.join().expect("a client failed to connect");
        }
    });
}
