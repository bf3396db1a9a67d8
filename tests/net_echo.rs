//! Echo under load: 1,000 concurrent client coroutines, each doing 100 round trips of a
//! random payload of up to 64 KiB with its own echo-server coroutine; every byte is
//! checked, on both workers, over real TCP on 127.0.0.1.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use common::{LOCALHOST, run_with, set_backlog};
use hebra::net::{TcpListener, TcpStream};
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};

const CLIENTS: usize = 1_000;
const ROUND_TRIPS: usize = 100;
const MAX_PAYLOAD: usize = 64 * 1024;
/// Smaller than most payloads, so that reads and writes come in pieces.
const CHUNK: usize = 16 * 1024;

/// Echoes until the client closes; returns the number of bytes echoed.
fn echo(mut stream: TcpStream) -> usize {
    let mut buf = vec![0; CHUNK];
    let mut echoed = 0;
    loop {
        let n = stream.read(&mut buf).expect("server read");
        if n == 0 {
            return echoed;
        }
        stream.write_all(&buf[..n]).expect("server write");
        echoed += n;
    }
}

/// `ROUND_TRIPS` round trips of random slices of `pool`; returns the bytes sent.
fn client(id: usize, seed: u64, addr: SocketAddr, pool: Arc<Vec<u8>>) -> usize {
    let mut rng = SmallRng::seed_from_u64(seed ^ id as u64);
    let stream = Arc::new(TcpStream::connect(addr).expect("connect"));
    let mut received = vec![0; CHUNK];
    let mut sent = 0;
    for round in 0..ROUND_TRIPS {
        let len = rng.random_range(1..=MAX_PAYLOAD);
        let start = rng.random_range(0..=pool.len() - len);
        // The payload goes out from a second coroutine while this one reads the echo:
        // one that wrote it all before reading could deadlock on full socket buffers.
        let writer = {
            let (stream, pool) = (stream.clone(), pool.clone());
            hebra::spawn(move || (&*stream).write_all(&pool[start..start + len]))
        };
        let expected = &pool[start..start + len];
        let mut got = 0;
        while got < len {
            let want = CHUNK.min(len - got);
            let n = (&*stream).read(&mut received[..want]).expect("client read");
            assert!(n > 0, "client {id}, round {round}: EOF after {got} of {len} bytes");
            assert!(
                received[..n] == expected[got..got + n],
                "client {id}, round {round}: wrong bytes at {got}..{} of {len} (seed {seed})",
                got + n
            );
            got += n;
        }
        writer.join().unwrap().expect("client write");
        sent += len;
    }
    sent
}

#[test]
fn a_thousand_clients_echo_random_payloads() {
    let seed: u64 = rand::random();
    let (sent, echoed) = run_with(2, move || {
        let mut pool = vec![0; 2 * MAX_PAYLOAD];
        SmallRng::seed_from_u64(seed).fill_bytes(&mut pool);
        let pool = Arc::new(pool);

        let listener = TcpListener::bind(LOCALHOST).unwrap();
        // All clients connect at once: std's backlog of 128 would make most of them wait
        // for SYN retransmissions.
        set_backlog(&listener, CLIENTS as libc::c_int);
        let addr = listener.local_addr().unwrap();
        let acceptor = hebra::spawn(move || {
            (0..CLIENTS)
                .map(|_| {
                    let (stream, _) = listener.accept().expect("accept");
                    hebra::spawn(move || echo(stream))
                })
                .collect::<Vec<_>>()
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|id| {
                let pool = pool.clone();
                hebra::spawn(move || client(id, seed, addr, pool))
            })
            .collect();
        let sent: usize = clients.into_iter().map(|c| c.join().expect("a client failed")).sum();
        let echoed: usize =
            acceptor.join().unwrap().into_iter().map(|s| s.join().expect("a server failed")).sum();
        (sent, echoed)
    });
    assert_eq!(sent, echoed, "the servers echoed a different number of bytes");
    assert!(sent >= CLIENTS * ROUND_TRIPS, "payloads went missing");
}
