//! 1-byte TCP echo round trip over loopback, through each runtime's netpoller.
//!
//! - `tcp_echo`: client and server both run in the runtime under test (std: a server
//!   thread and a client thread, blocking sockets).
//! - `tcp_echo_std_client`: the server runs in the runtime under test; the client is the
//!   benchmark thread with a blocking std socket, so only the server side differs.
//!
//! Each sample opens a fresh connection (with `TCP_NODELAY` on both ends) and warms it
//! up with a few round trips before the timed ones.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use hebra_benches::{MEASUREMENT_TIME, SAMPLE_SIZE, WARM_UP_TIME, echo, echo_async};

/// Untimed round trips at the start of each connection (registration, first wake-ups).
const WARM_ROUND_TRIPS: u64 = 16;

const LOOPBACK: &str = "127.0.0.1:0";

fn tcp_echo(c: &mut Criterion) {
    let mut group = c.benchmark_group("tcp_echo");

    let hebra = &hebra_benches::runtimes().hebra;
    group.bench_function("hebra", |b| {
        b.iter_custom(|iters| {
            hebra.block_on(move || {
                let listener = hebra::net::TcpListener::bind(LOOPBACK).expect("bind");
                let addr = listener.local_addr().expect("local address");
                let server = hebra::spawn(move || {
                    let (stream, _) = listener.accept().expect("accept");
                    stream.set_nodelay(true).expect("nodelay");
                    echo(stream).expect("server side")
                });
                let mut client = hebra::net::TcpStream::connect(addr).expect("connect");
                client.set_nodelay(true).expect("nodelay");
                let elapsed = round_trips(&mut client, iters);
                drop(client);
                check_echoed(server.join().expect("server panicked"), iters);
                elapsed
            })
        })
    });

    let tokio = &hebra_benches::runtimes().tokio;
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            let task = tokio.spawn(async move {
                let listener = tokio::net::TcpListener::bind(LOOPBACK).await.expect("bind");
                let addr = listener.local_addr().expect("local address");
                let server = tokio::spawn(async move {
                    let (stream, _) = listener.accept().await.expect("accept");
                    stream.set_nodelay(true).expect("nodelay");
                    echo_async(stream).await.expect("server side")
                });
                let mut client = tokio::net::TcpStream::connect(addr).await.expect("connect");
                client.set_nodelay(true).expect("nodelay");
                let elapsed = round_trips_async(&mut client, iters).await;
                drop(client);
                check_echoed(server.await.expect("server panicked"), iters);
                elapsed
            });
            tokio.block_on(task).expect("client panicked")
        })
    });

    group.bench_function("may", |b| {
        b.iter_custom(|iters| {
            let client = move || {
                let listener = may::net::TcpListener::bind(LOOPBACK).expect("bind");
                let addr = listener.local_addr().expect("local address");
                let server = may_server(listener);
                let mut client = may::net::TcpStream::connect(addr).expect("connect");
                client.set_nodelay(true).expect("nodelay");
                let elapsed = round_trips(&mut client, iters);
                drop(client);
                check_echoed(server.join().expect("server panicked"), iters);
                elapsed
            };
            // SAFETY: the client touches no thread-local storage across a park and needs
            // a few hundred bytes of stack.
            let client = unsafe { may::coroutine::spawn(client) };
            client.join().expect("client panicked")
        })
    });

    group.bench_function("std_thread", |b| {
        b.iter_custom(|iters| {
            let (addr, server) = std_server();
            std_client(addr, iters, server)
        })
    });

    group.finish();
}

fn tcp_echo_std_client(c: &mut Criterion) {
    let mut group = c.benchmark_group("tcp_echo_std_client");

    let hebra = &hebra_benches::runtimes().hebra;
    group.bench_function("hebra", |b| {
        b.iter_custom(|iters| {
            let listener = hebra::net::TcpListener::bind(LOOPBACK).expect("bind");
            let addr = listener.local_addr().expect("local address");
            let server = hebra.spawn(move || {
                let (stream, _) = listener.accept().expect("accept");
                stream.set_nodelay(true).expect("nodelay");
                echo(stream).expect("server side")
            });
            std_client(addr, iters, || server.join().expect("server panicked"))
        })
    });

    let tokio = &hebra_benches::runtimes().tokio;
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            let listener = tokio.block_on(tokio::net::TcpListener::bind(LOOPBACK)).expect("bind");
            let addr = listener.local_addr().expect("local address");
            let server = tokio.spawn(async move {
                let (stream, _) = listener.accept().await.expect("accept");
                stream.set_nodelay(true).expect("nodelay");
                echo_async(stream).await.expect("server side")
            });
            std_client(addr, iters, || tokio.block_on(server).expect("server panicked"))
        })
    });

    group.bench_function("may", |b| {
        b.iter_custom(|iters| {
            let listener = may::net::TcpListener::bind(LOOPBACK).expect("bind");
            let addr = listener.local_addr().expect("local address");
            let server = may_server(listener);
            std_client(addr, iters, || server.join().expect("server panicked"))
        })
    });

    group.bench_function("std_thread", |b| {
        b.iter_custom(|iters| {
            let (addr, server) = std_server();
            std_client(addr, iters, server)
        })
    });

    group.finish();
}

/// A may coroutine serving one connection.
fn may_server(listener: may::net::TcpListener) -> may::coroutine::JoinHandle<u64> {
    let server = move || {
        let (stream, _) = listener.accept().expect("accept");
        stream.set_nodelay(true).expect("nodelay");
        echo(stream).expect("server side")
    };
    // SAFETY: the echo loop touches no thread-local storage across a park and needs about
    // 5 KiB of may's 32 KiB default stack (its 4 KiB buffer).
    unsafe { may::coroutine::spawn(server) }
}

/// A server thread for one connection; returns its address and how to wait for it.
fn std_server() -> (SocketAddr, impl FnOnce() -> u64) {
    let listener = std::net::TcpListener::bind(LOOPBACK).expect("bind");
    let addr = listener.local_addr().expect("local address");
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        stream.set_nodelay(true).expect("nodelay");
        echo(stream).expect("server side")
    });
    (addr, move || server.join().expect("server panicked"))
}

/// Connects a blocking std client from this thread, times `iters` round trips, closes
/// the connection and waits for the server with `join_server`, which returns the bytes
/// it echoed.
fn std_client(addr: SocketAddr, iters: u64, join_server: impl FnOnce() -> u64) -> Duration {
    let mut client = std::net::TcpStream::connect(addr).expect("connect");
    client.set_nodelay(true).expect("nodelay");
    let elapsed = round_trips(&mut client, iters);
    drop(client);
    check_echoed(join_server(), iters);
    elapsed
}

/// Checks that the server echoed one byte per round trip, warm-up included.
fn check_echoed(bytes: u64, iters: u64) {
    assert_eq!(bytes, WARM_ROUND_TRIPS + iters, "the server echoed every byte once");
}

/// Warm-up round trips, then `iters` timed ones.
fn round_trips<S: Read + Write>(stream: &mut S, iters: u64) -> Duration {
    let mut byte = [0u8; 1];
    for _ in 0..WARM_ROUND_TRIPS {
        hebra_benches::round_trip(stream, b"w", &mut byte).expect("warm-up round trip");
    }
    let start = Instant::now();
    for _ in 0..iters {
        hebra_benches::round_trip(stream, b"x", &mut byte).expect("round trip");
    }
    start.elapsed()
}

async fn round_trips_async(stream: &mut tokio::net::TcpStream, iters: u64) -> Duration {
    let mut byte = [0u8; 1];
    for _ in 0..WARM_ROUND_TRIPS {
        hebra_benches::round_trip_async(stream, b"w", &mut byte).await.expect("warm-up round trip");
    }
    let start = Instant::now();
    for _ in 0..iters {
        hebra_benches::round_trip_async(stream, b"x", &mut byte).await.expect("round trip");
    }
    start.elapsed()
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(WARM_UP_TIME)
        .measurement_time(MEASUREMENT_TIME)
        .sample_size(SAMPLE_SIZE);
    targets = tcp_echo, tcp_echo_std_client
}
criterion_main!(benches);
