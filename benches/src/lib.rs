//! Shared helpers of the hebra benchmarks: every runtime configured the same way, the
//! echo loops that the TCP benchmarks and the `echo_load` binary run on each of them, and
//! [`procfs`], what the load tools read about processes.
//!
//! The criterion benchmarks live in `benches/` (one target per scenario, one function per
//! runtime in each group); the many-connection load test is `src/bin/echo_load`, the
//! file server's comparison with nginx and hyper `src/bin/compare`. The README says what
//! each one measures and how to run it.

pub mod procfs;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Once, OnceLock};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Worker threads of every runtime under test: one per core of the 2-core machine the
/// README's figures come from, and the same for all of them.
pub const WORKERS: usize = 2;

/// Criterion settings shared by every group: short enough that the whole suite takes a
/// few minutes, long enough for a stable median on a quiet machine.
pub const WARM_UP_TIME: Duration = Duration::from_secs(1);
pub const MEASUREMENT_TIME: Duration = Duration::from_secs(3);
pub const SAMPLE_SIZE: usize = 30;

/// Times `iters` calls of `f`: one criterion iteration per call, for the groups whose
/// iteration is a single call.
pub fn timed(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = std::time::Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

/// Backlog of every benchmark listener: what `tokio::net::TcpListener::bind` and
/// `may::net::TcpListener::bind` use, so a burst of connects is treated alike.
pub const LISTEN_BACKLOG: i32 = 1024;

/// The runtimes under test, all started together once per process and kept until it
/// exits; the benchmarks take them from [`runtimes`].
///
/// Started together because order mattered otherwise: when each runtime was dropped
/// before the next one started, may's spawn+join measured 2-8 times slower after a
/// tokio runtime had been dropped than in a fresh process (and not with
/// `MALLOC_ARENA_MAX=1`: new threads inherit the malloc arenas of exited ones). Idle,
/// each costs next to nothing (may's workers wake every 10 ms, hebra's and tokio's
/// sleep).
#[derive(Debug)]
pub struct Runtimes {
    pub hebra: hebra::Runtime,
    pub tokio: tokio::runtime::Runtime,
}

/// The process's [`Runtimes`], started on first use (may's scheduler included).
pub fn runtimes() -> &'static Runtimes {
    static RUNTIMES: OnceLock<Runtimes> = OnceLock::new();
    RUNTIMES.get_or_init(|| {
        let runtimes = Runtimes { hebra: hebra_runtime(), tokio: tokio_runtime() };
        start_may();
        runtimes
    })
}

/// A hebra runtime with [`WORKERS`] workers and default stacks.
pub fn hebra_runtime() -> hebra::Runtime {
    hebra::Builder::new().workers(WORKERS).build().expect("cannot start a hebra runtime")
}

/// A multi-thread tokio runtime with [`WORKERS`] workers, I/O and timers enabled.
pub fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .expect("cannot start a tokio runtime")
}

/// Configures may's process-wide scheduler before its first use: [`WORKERS`] workers, not
/// pinned to cores (hebra and tokio do not pin either, and pinning made may's
/// spawn+join about 10 times slower here), default stack size and pool.
pub fn init_may() {
    static CONFIGURE: Once = Once::new();
    CONFIGURE.call_once(|| {
        may::config().set_workers(WORKERS);
        may::config().set_worker_pin(false);
    });
}

/// Configures may and starts its threads (they start with the first coroutine).
pub fn start_may() {
    init_may();
    // SAFETY: an empty closure touches no thread-local storage and needs no stack to
    // speak of.
    let first = unsafe { may::coroutine::spawn(|| {}) };
    first.join().expect("may's first coroutine panicked");
}

/// How many of `total` iterations part number `part` of `parts` runs (producers, lockers):
/// an even split, the first `total % parts` parts doing one more.
pub fn share(total: u64, parts: u64, part: u64) -> u64 {
    total / parts + u64::from(part < total % parts)
}

/// A blocking std listener on 127.0.0.1 (any port) with [`LISTEN_BACKLOG`], to hand to
/// whichever runtime serves it.
pub fn loopback_listener() -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// Size of the buffer every echo server reads into.
const ECHO_BUFFER: usize = 4096;

/// Echoes everything until the peer closes; returns the bytes echoed. Blocking style:
/// it parks a coroutine on hebra and may, and blocks the thread on std sockets.
pub fn echo<S: Read + Write>(mut stream: S) -> io::Result<u64> {
    let mut buf = [0u8; ECHO_BUFFER];
    let mut total = 0;
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        stream.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// [`echo`] for a tokio stream.
pub async fn echo_async(mut stream: tokio::net::TcpStream) -> io::Result<u64> {
    let mut buf = [0u8; ECHO_BUFFER];
    let mut total = 0;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        stream.write_all(&buf[..n]).await?;
        total += n as u64;
    }
}

/// One client round trip: sends `message` and reads the echo back into `reply`.
pub fn round_trip<S: Read + Write>(stream: &mut S, message: &[u8], reply: &mut [u8]) -> io::Result<()> {
    stream.write_all(message)?;
    stream.read_exact(&mut reply[..message.len()])
}

/// [`round_trip`] on a tokio stream.
pub async fn round_trip_async(
    stream: &mut tokio::net::TcpStream,
    message: &[u8],
    reply: &mut [u8],
) -> io::Result<()> {
    stream.write_all(message).await?;
    stream.read_exact(&mut reply[..message.len()]).await?;
    Ok(())
}
