//! The server process: serves echo with one runtime, starts the client process, and
//! samples its own memory and CPU (and the client's CPU) between the client's phases.

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::process::{ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use hebra_benches::{echo, echo_async};

use crate::report::{ClientFigures, Report};
use crate::{Load, ServerKind};
use hebra_benches::procfs::{self, Pid};

/// Slack beyond the time limit for starting, sampling and shutting down.
const GRACE: Duration = Duration::from_secs(30);

/// Stack of a thread-per-connection server thread: hebra's default coroutine stack.
const THREAD_STACK: usize = hebra::DEFAULT_STACK_SIZE;

/// Pause after a failed accept (e.g. out of descriptors), so that it cannot spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Connection errors printed before they are only counted.
const PRINTED_ERRORS: u64 = 5;

pub fn run(kind: ServerKind, load: &Load) -> io::Result<()> {
    start_watchdog(load.time_limit() + GRACE);
    let listener = hebra_benches::loopback_listener()?;
    let addr = listener.local_addr()?;
    let counters = Arc::new(Counters::default());
    let server = Server::start(kind, listener, counters.clone())?;
    let idle = procfs::snapshot(Pid::Current)?;

    let mut child = Command::new(std::env::current_exe()?)
        .arg("--client")
        .arg(addr.to_string())
        .args(load.to_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let client_pid = Pid::Other(child.id());
    let mut to_client = child.stdin.take().expect("stdin is piped");
    let from_client = line_reader(child.stdout.take().expect("stdout is piped"));
    let deadline = Instant::now() + load.time_limit() + GRACE;

    let connect_secs: f64 = expect(&from_client, "CONNECTED ", deadline)?
        .trim()
        .parse()
        .map_err(|_| io::Error::other("malformed CONNECTED line"))?;
    counters.wait_accepted(load.connections, deadline)?;
    let connected = procfs::snapshot(Pid::Current)?;
    let (server_cpu, client_cpu) = (procfs::cpu_time(Pid::Current)?, procfs::cpu_time(client_pid)?);
    writeln!(to_client, "GO")?;
    let done = expect(&from_client, "DONE ", deadline)?;
    let server_cpu = procfs::cpu_time(Pid::Current)? - server_cpu;
    let client_cpu = procfs::cpu_time(client_pid)? - client_cpu;
    let end = procfs::snapshot(Pid::Current)?;
    writeln!(to_client, "BYE")?;
    drop(to_client);
    let status = child.wait()?;
    if !status.success() {
        return Err(io::Error::other(format!("the client process failed: {status}")));
    }

    let report = Report {
        server: kind.name().to_owned(),
        connections: counters.accepted.load(Ordering::Relaxed),
        connect_secs,
        client: ClientFigures::from_line(&format!("DONE {done}"))
            .ok_or_else(|| io::Error::other("malformed DONE line"))?,
        rss_idle_kib: idle.rss_kib,
        rss_connected_kib: connected.rss_kib,
        rss_end_kib: end.rss_kib,
        peak_rss_kib: end.peak_rss_kib,
        threads: connected.threads,
        maps: connected.maps.max(end.maps),
        server_errors: counters.errors.load(Ordering::Relaxed),
        server_cpu_ms: server_cpu.as_millis() as u64,
        client_cpu_ms: client_cpu.as_millis() as u64,
    };
    warn_about_maps(report.maps);
    println!("{}", report.summary());
    println!("{}", report.to_line());
    let stopping = Instant::now();
    server.stop();
    println!("  server stopped in {:.1} ms", stopping.elapsed().as_secs_f64() * 1e3);
    Ok(())
}

/// Accepted connections and failed ones, shared with the server's coroutines/threads.
#[derive(Default)]
struct Counters {
    accepted: AtomicUsize,
    errors: AtomicU64,
}

impl Counters {
    fn accepted(&self) {
        // Relaxed: a count read after the client's own confirmation, ordering nothing.
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a failed connection or accept, printing the first few.
    fn failed(&self, what: &str, err: &io::Error) {
        if self.errors.fetch_add(1, Ordering::Relaxed) < PRINTED_ERRORS {
            eprintln!("server: {what}: {err}");
        }
    }

    fn served(&self, result: io::Result<u64>) {
        if let Err(err) = result {
            self.failed("connection", &err);
        }
    }

    /// Waits until the server accepted `connections` (the client has seen them all
    /// connect, but some may still sit in the accept queue).
    fn wait_accepted(&self, connections: usize, deadline: Instant) -> io::Result<()> {
        while self.accepted.load(Ordering::Relaxed) < connections {
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the server accepted only {} of {connections} connections",
                        self.accepted.load(Ordering::Relaxed)
                    ),
                ));
            }
            thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }
}

/// A running echo server.
enum Server {
    Hebra(hebra::Runtime),
    Tokio(tokio::runtime::Runtime),
    May,
    Threads,
}

impl Server {
    /// Shuts down what can be shut down: the hebra and tokio runtimes (the acceptor is
    /// still waiting). may's scheduler and the threads end with the process.
    fn stop(self) {
        match self {
            Server::Hebra(runtime) => drop(runtime),
            Server::Tokio(runtime) => runtime.shutdown_timeout(GRACE),
            Server::May | Server::Threads => {}
        }
    }

    fn start(kind: ServerKind, listener: TcpListener, counters: Arc<Counters>) -> io::Result<Server> {
        match kind {
            ServerKind::Hebra => Ok(Server::Hebra(start_hebra(listener, counters))),
            ServerKind::Tokio => start_tokio(listener, counters).map(Server::Tokio),
            ServerKind::May => start_may(listener, counters).map(|()| Server::May),
            ServerKind::Threads => start_threads(listener, counters).map(|()| Server::Threads),
        }
    }
}

/// One coroutine accepts; one coroutine per connection echoes.
fn start_hebra(listener: TcpListener, counters: Arc<Counters>) -> hebra::Runtime {
    let runtime = hebra_benches::hebra_runtime();
    let listener = hebra::net::TcpListener::from(listener);
    runtime.spawn(move || {
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    counters.accepted();
                    let _ = stream.set_nodelay(true);
                    let counters = counters.clone();
                    hebra::spawn(move || counters.served(echo(stream)));
                }
                Err(err) => {
                    counters.failed("accept", &err);
                    hebra::sleep(ACCEPT_BACKOFF);
                }
            }
        }
    });
    runtime
}

/// One task accepts; one task per connection echoes.
fn start_tokio(listener: TcpListener, counters: Arc<Counters>) -> io::Result<tokio::runtime::Runtime> {
    let runtime = hebra_benches::tokio_runtime();
    listener.set_nonblocking(true)?;
    let listener = {
        let _context = runtime.enter();
        tokio::net::TcpListener::from_std(listener)?
    };
    runtime.spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    counters.accepted();
                    let _ = stream.set_nodelay(true);
                    let counters = counters.clone();
                    tokio::spawn(async move { counters.served(echo_async(stream).await) });
                }
                Err(err) => {
                    counters.failed("accept", &err);
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    });
    Ok(runtime)
}

/// One coroutine accepts; one coroutine per connection echoes.
fn start_may(listener: TcpListener, counters: Arc<Counters>) -> io::Result<()> {
    hebra_benches::init_may();
    // SAFETY: `into_raw_fd` hands over sole ownership of an open listening socket, which
    // the may listener takes (and closes when dropped).
    let listener = unsafe { may::net::TcpListener::from_raw_fd(listener.into_raw_fd()) };
    let acceptor = move || {
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    counters.accepted();
                    let _ = stream.set_nodelay(true);
                    let counters = counters.clone();
                    let connection = move || counters.served(echo(stream));
                    // SAFETY: the echo loop touches no thread-local storage and needs
                    // about 5 KiB of may's 32 KiB default stack.
                    unsafe { may::coroutine::spawn(connection) };
                }
                Err(err) => {
                    counters.failed("accept", &err);
                    may::coroutine::sleep(ACCEPT_BACKOFF);
                }
            }
        }
    };
    // SAFETY: as above; the acceptor needs even less.
    unsafe { may::coroutine::Builder::new().spawn(acceptor) }.map(drop)
}

/// One thread accepts; one thread per connection echoes.
fn start_threads(listener: TcpListener, counters: Arc<Counters>) -> io::Result<()> {
    let acceptor = move || {
        for stream in listener.incoming() {
            match stream {
                Ok(stream) => {
                    counters.accepted();
                    let _ = stream.set_nodelay(true);
                    let connection = counters.clone();
                    let spawned = thread::Builder::new()
                        .stack_size(THREAD_STACK)
                        .spawn(move || connection.served(echo(stream)));
                    if let Err(err) = spawned {
                        counters.failed("thread spawn", &err);
                    }
                }
                Err(err) => {
                    counters.failed("accept", &err);
                    thread::sleep(ACCEPT_BACKOFF);
                }
            }
        }
    };
    thread::Builder::new().name("acceptor".into()).spawn(acceptor).map(drop)
}

/// Ends the process if a run outlives its bound (the client stops on its own: it has the
/// same time limit and exits when its input closes).
fn start_watchdog(limit: Duration) {
    thread::spawn(move || {
        thread::sleep(limit);
        eprintln!("echo_load: the run took longer than {limit:?}; giving up");
        std::process::exit(2);
    });
}

/// Forwards the client's stdout lines to a channel, so that waits can time out.
fn line_reader(stdout: ChildStdout) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Waits for the client's line starting with `prefix`; returns the rest of it.
fn expect(lines: &Receiver<String>, prefix: &str, deadline: Instant) -> io::Result<String> {
    let left = deadline.saturating_duration_since(Instant::now());
    match lines.recv_timeout(left) {
        Ok(line) => line
            .strip_prefix(prefix)
            .map(str::to_owned)
            .ok_or_else(|| io::Error::other(format!("expected {prefix}... from the client, got {line:?}"))),
        Err(RecvTimeoutError::Timeout) => {
            Err(io::Error::new(io::ErrorKind::TimedOut, format!("no {prefix}line from the client in time")))
        }
        Err(RecvTimeoutError::Disconnected) => {
            Err(io::Error::other(format!("the client process ended before {prefix}")))
        }
    }
}

fn warn_about_maps(maps: usize) {
    if let Some(limit) = procfs::max_map_count()
        && maps * 10 >= limit * 8
    {
        eprintln!("warning: the server used {maps} memory maps of vm.max_map_count = {limit}");
    }
}
