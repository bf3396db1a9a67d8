//! The idle-connections scenario: how much resident memory a server spends on a
//! keep-alive connection that sits idle after one request.
//!
//! The harness is the client here (wrk cannot hold connections idle): after a warm-up
//! that serves a few requests on every worker (so that state a server creates lazily
//! is not counted), it measures the server's RSS, then opens the connections one after
//! the other, sends one GET of the 4 KiB file on each and reads the whole response,
//! holds them all idle, and measures again.

use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::http;
use crate::scenarios::File;
use crate::servers::RunningServer;

/// Connect, read and write timeout of every connection.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest the opening of all connections may take; the rest count as errors.
const OPEN_LIMIT: Duration = Duration::from_secs(120);
/// Warm-up: connections per worker, and requests on each.
const WARM_UP_CONNECTIONS_PER_WORKER: usize = 4;
const WARM_UP_REQUESTS: usize = 8;
/// Pause after the warm-up's connections close, before the first measurement.
const SETTLE: Duration = Duration::from_millis(500);

#[derive(Clone, Debug, Serialize)]
pub struct IdleFigures {
    /// Connections open and answered 200 with the whole file.
    pub connections: usize,
    /// Connections that failed to open or to get that answer.
    pub errors: u64,
    /// The first failure, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// Server RSS (all its processes) before opening the connections and once they were
    /// all idle, and its peak; KiB.
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub peak_rss_kib: u64,
}

impl IdleFigures {
    /// (after - before) / open connections. Negative if the server returned memory.
    pub fn kib_per_connection(&self) -> f64 {
        (self.rss_after_kib as f64 - self.rss_before_kib as f64) / self.connections.max(1) as f64
    }
}

pub fn run(
    server: &RunningServer,
    connections: usize,
    workers: usize,
    hold: Duration,
) -> Result<IdleFigures, String> {
    warm_up(server.addr(), workers).map_err(|err| format!("warm-up: {err}"))?;
    thread::sleep(SETTLE);
    let before = server.memory();
    let deadline = Instant::now() + OPEN_LIMIT;
    let mut open = Vec::with_capacity(connections);
    let mut first_error = None;
    for _ in 0..connections {
        if Instant::now() >= deadline {
            first_error.get_or_insert_with(|| format!("opening took longer than {OPEN_LIMIT:?}"));
            break;
        }
        match open_one(server.addr()) {
            Ok(stream) => open.push(stream),
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    thread::sleep(hold);
    let after = server.memory();
    let figures = IdleFigures {
        connections: open.len(),
        errors: (connections - open.len()) as u64,
        first_error,
        rss_before_kib: before.rss_kib,
        rss_after_kib: after.rss_kib,
        peak_rss_kib: after.peak_rss_kib,
    };
    drop(open);
    Ok(figures)
}

/// A connection that got the 4 KiB file, kept open.
fn open_one(addr: SocketAddr) -> Result<TcpStream, String> {
    let mut stream = http::connect(addr, IO_TIMEOUT).map_err(|err| format!("connect: {err}"))?;
    let response = http::get(&mut stream, File::Small.path()).map_err(|err| format!("GET: {err}"))?;
    if response.status != 200 || response.body_len != File::Small.len() {
        return Err(format!("answered {} with {} bytes", response.status, response.body_len));
    }
    Ok(stream)
}

/// A few requests on a few connections per worker, then closed: `SO_REUSEPORT` spreads
/// the connections, so every worker most likely serves some.
fn warm_up(addr: SocketAddr, workers: usize) -> Result<(), String> {
    let mut streams = Vec::new();
    for _ in 0..workers * WARM_UP_CONNECTIONS_PER_WORKER {
        streams.push(open_one(addr)?);
    }
    for stream in &mut streams {
        for _ in 1..WARM_UP_REQUESTS {
            http::get(stream, File::Small.path()).map_err(|err| err.to_string())?;
        }
    }
    Ok(())
}
