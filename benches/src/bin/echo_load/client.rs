//! The client process: a tokio program, the same whichever server it talks to.
//!
//! It talks to its server process over stdin/stdout, one line at a time:
//!
//! 1. opens every connection (a bounded number in flight), prints `CONNECTED <secs>`;
//! 2. waits for `GO`, runs the round trips on all connections at once (each connection
//!    sends its next message when the previous echo is back, and checks the echo), prints
//!    `DONE key=value ...` (see `report.rs`);
//! 3. waits for `BYE` (or end of input), then closes the connections and exits.
//!
//! The server samples its memory and CPU between these steps. The time limit bounds both
//! phases: connecting fails past it, and round trips stop early at it.

use std::io::{self, BufRead};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::timeout_at;

use crate::Load;
use crate::report::ClientFigures;

pub fn run(addr: SocketAddr, load: &Load) -> io::Result<()> {
    let deadline = tokio::time::Instant::from_std(Instant::now() + load.time_limit());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(load.client_threads)
        .enable_all()
        .build()?;
    let start = Instant::now();
    let streams = runtime.block_on(connect_all(addr, load, deadline))?;
    println!("CONNECTED {:.3}", start.elapsed().as_secs_f64());
    expect_line("GO")?;
    let (figures, streams) = runtime.block_on(drive(streams, load, deadline));
    println!("{}", figures.to_line());
    // End of input is as good as BYE: the server is gone, nobody needs the connections.
    let _ = expect_line("BYE");
    drop(streams);
    Ok(())
}

/// Opens `load.connections` connections, at most `connect_concurrency` in flight.
async fn connect_all(
    addr: SocketAddr,
    load: &Load,
    deadline: tokio::time::Instant,
) -> io::Result<Vec<TcpStream>> {
    let permits = Arc::new(Semaphore::new(load.connect_concurrency));
    let mut connecting = JoinSet::new();
    for _ in 0..load.connections {
        let permits = permits.clone();
        connecting.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("never closed");
            let stream = timeout_at(deadline, TcpStream::connect(addr))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "time limit while connecting"))??;
            stream.set_nodelay(true)?;
            Ok::<_, io::Error>(stream)
        });
    }
    let mut streams = Vec::with_capacity(load.connections);
    while let Some(joined) = connecting.join_next().await {
        let stream = joined.map_err(io::Error::other)?.map_err(|err| {
            io::Error::new(err.kind(), format!("connection {} failed: {err}", streams.len() + 1))
        })?;
        streams.push(stream);
    }
    Ok(streams)
}

/// One connection's share of the round-trip phase.
struct Conversation {
    stream: TcpStream,
    latencies_ns: Vec<u64>,
    errors: u64,
}

/// Runs the round trips on every connection at once; returns the figures and the
/// connections (still open).
async fn drive(
    streams: Vec<TcpStream>,
    load: &Load,
    deadline: tokio::time::Instant,
) -> (ClientFigures, Vec<TcpStream>) {
    let start = Instant::now();
    let mut running = JoinSet::new();
    for (index, stream) in streams.into_iter().enumerate() {
        let (round_trips, size) = (load.round_trips, load.message_size);
        running.spawn(converse(stream, index, round_trips, size, deadline));
    }
    let mut latencies = Vec::with_capacity(load.connections * load.round_trips);
    let mut streams = Vec::with_capacity(load.connections);
    let mut errors = 0;
    while let Some(joined) = running.join_next().await {
        let conversation = joined.expect("a conversation panicked");
        latencies.extend_from_slice(&conversation.latencies_ns);
        errors += conversation.errors;
        streams.push(conversation.stream);
    }
    let secs = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let percentile_us = |p: f64| percentile(&latencies, p) as f64 / 1000.0;
    let figures = ClientFigures {
        round_trips: latencies.len() as u64,
        errors,
        secs,
        p50_us: percentile_us(0.50),
        p99_us: percentile_us(0.99),
        max_us: percentile_us(1.0),
    };
    (figures, streams)
}

/// Sends `round_trips` messages one after the other, checking each echo, until done, an
/// error, or the deadline.
async fn converse(
    mut stream: TcpStream,
    index: usize,
    round_trips: usize,
    size: usize,
    deadline: tokio::time::Instant,
) -> Conversation {
    let mut message = vec![0u8; size];
    let mut reply = vec![0u8; size];
    let mut latencies_ns = Vec::with_capacity(round_trips);
    let mut errors = 0;
    for n in 0..round_trips {
        // Distinct contents per connection and message, so a misrouted echo shows.
        for (i, byte) in message.iter_mut().enumerate() {
            *byte = (index.wrapping_mul(31) ^ n.wrapping_mul(7) ^ i) as u8;
        }
        let start = Instant::now();
        let exchange = hebra_benches::round_trip_async(&mut stream, &message, &mut reply);
        match timeout_at(deadline, exchange).await {
            Ok(Ok(())) if reply == message => {
                latencies_ns.push(start.elapsed().as_nanos() as u64);
            }
            Ok(Ok(())) => {
                eprintln!("client: connection {index}: wrong echo");
                errors += 1;
                break;
            }
            Ok(Err(err)) => {
                eprintln!("client: connection {index}: {err}");
                errors += 1;
                break;
            }
            Err(_) => break,
        }
    }
    Conversation { stream, latencies_ns, errors }
}

/// Nearest-rank percentile of sorted values (0 if there are none).
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Reads one line from stdin and checks it is `expected`.
fn expect_line(expected: &str) -> io::Result<()> {
    let mut line = String::new();
    if io::stdin().lock().read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the server went away before {expected}"),
        ));
    }
    if line.trim() != expected {
        return Err(io::Error::other(format!("expected {expected} from the server, got {line:?}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 0.50), 50);
        assert_eq!(percentile(&sorted, 0.99), 99);
        assert_eq!(percentile(&sorted, 1.0), 100);
        assert_eq!(percentile(&sorted, 0.0), 1);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}
