//! A TCP load balancer: each client is relayed to one of several backends, round robin,
//! by a coroutine per direction copying bytes with plain `io::copy`.
//!
//! `cargo run --example proxy` works on its own: with no `--backend` it starts three
//! demo backends in this process (each greets a connection with its number, then echoes
//! what it gets) and balances over them. Connect a few times with
//! `nc 127.0.0.1 8000` and watch the greetings take turns. In front of real servers:
//!
//! ```text
//! cargo run --release --example proxy -- --listen 127.0.0.1:8000 \
//!     --backend 127.0.0.1:9001 --backend 127.0.0.1:9002
//! ```
//!
//! A backend that refuses a connection (or does not answer within `CONNECT_TIMEOUT`)
//! is marked down and the client is tried on the next one, so it never notices. A
//! health-check coroutine per backend probes it while it is down and puts it back in
//! rotation once it accepts again. With every backend down, a client is closed at once
//! rather than left waiting.
//!
//! Both directions of a connection end on their own: when one side finishes sending
//! (EOF), the proxy shuts down the write half of the other side and keeps copying the
//! other way, so a client may send a request, half-close, and still read the whole
//! answer. An error in either direction tears down both.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use hebra::net::{TcpListener, TcpStream};

const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8000);
/// Demo backends started when no `--backend` is given.
const DEFAULT_DEMO_BACKENDS: usize = 3;
const MAX_DEMO_BACKENDS: usize = 64;
/// A backend that has not completed the handshake by then counts as down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a down backend is probed.
const HEALTH_INTERVAL: Duration = Duration::from_secs(2);

const USAGE: &str = "\
usage: proxy [--listen ADDR] [--backend ADDR]... [--demo N]

  --listen ADDR    where clients connect (default 127.0.0.1:8000; port 0 picks a free one)
  --backend ADDR   a server to relay clients to; repeat it for more
  --demo N         also start N demo backends in this process (3 when no --backend is given)

ADDR is IP:PORT, or a bare PORT for 127.0.0.1:PORT.";

fn main() -> ExitCode {
    let config = match Config::from_args(std::env::args().skip(1)) {
        Ok(Some(config)) => config,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            let synopsis = USAGE.lines().next().unwrap_or_default();
            eprintln!("proxy: {why}\n{synopsis}\n(--help for details)");
            return ExitCode::from(2);
        }
    };
    match hebra::run(move || serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("proxy: {err}");
            ExitCode::FAILURE
        }
    }
}

struct Config {
    listen: SocketAddr,
    backends: Vec<SocketAddr>,
    demo_backends: usize,
}

impl Config {
    /// The configuration, or `None` for `--help`.
    fn from_args(mut args: impl Iterator<Item = String>) -> Result<Option<Config>, String> {
        let (mut listen, mut backends, mut demo) = (DEFAULT_LISTEN, Vec::new(), None);
        while let Some(flag) = args.next() {
            if flag == "-h" || flag == "--help" {
                return Ok(None);
            }
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--listen" => listen = parse_addr(&value?)?,
                "--backend" => backends.push(parse_addr(&value?)?),
                "--demo" => demo = Some(parse_count(&value?)?),
                _ => return Err(format!("unknown argument '{flag}'")),
            }
        }
        let demo_backends = demo.unwrap_or(if backends.is_empty() { DEFAULT_DEMO_BACKENDS } else { 0 });
        if backends.is_empty() && demo_backends == 0 {
            return Err("no backends: give --backend ADDR or --demo N".into());
        }
        Ok(Some(Config { listen, backends, demo_backends }))
    }
}

/// `IP:PORT`, or a bare `PORT` on 127.0.0.1.
fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port));
    }
    text.parse().map_err(|_| format!("'{text}' is not an address (expected IP:PORT or PORT)"))
}

fn parse_count(text: &str) -> Result<usize, String> {
    match text.parse() {
        Ok(count) if count <= MAX_DEMO_BACKENDS => Ok(count),
        _ => Err(format!("--demo expects a number of backends from 0 to {MAX_DEMO_BACKENDS}, not '{text}'")),
    }
}

fn serve(config: Config) -> io::Result<()> {
    let mut backends = config.backends;
    backends.extend(start_demo_backends(config.demo_backends)?);
    let listen = config.listen;
    let listener = TcpListener::bind(listen)
        .map_err(|err| io::Error::new(err.kind(), format!("cannot listen on {listen}: {err}")))?;
    let local = listener.local_addr()?;
    let list: Vec<String> = backends.iter().map(SocketAddr::to_string).collect();
    println!("proxy listening on {local}, balancing over {}", list.join(", "));
    println!("try: nc {} {}", local.ip(), local.port());

    let pool = Arc::new(Pool::new(backends));
    for index in 0..pool.backends.len() {
        let pool = pool.clone();
        hebra::spawn(move || pool.backends[index].watch());
    }
    for client in listener.incoming() {
        match client {
            Ok(client) => {
                let pool = pool.clone();
                // A failed connection concerns its client alone; the proxy carries on.
                hebra::spawn(move || relay(client, &pool));
            }
            // Out of descriptors or a connection reset before accept: keep serving.
            Err(err) => {
                eprintln!("accept failed: {err}");
                hebra::sleep(Duration::from_millis(10));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Backends: round robin, down marks, health checks.

/// The backends and whose turn it is.
///
/// Shared by every connection coroutine and the health checkers through plain atomics:
/// each one is a hint read on its own, with no other memory published alongside, and a
/// stale value costs at most one refused connect or one skipped turn. Hence `Relaxed`.
struct Pool {
    backends: Vec<Backend>,
    next: AtomicUsize,
}

struct Backend {
    addr: SocketAddr,
    up: AtomicBool,
}

impl Pool {
    fn new(addrs: Vec<SocketAddr>) -> Pool {
        let backends = addrs.into_iter().map(|addr| Backend { addr, up: AtomicBool::new(true) }).collect();
        Pool { backends, next: AtomicUsize::new(0) }
    }

    /// A connection to the backend whose turn it is, or to the next one up after it;
    /// `None` when none is up. A backend that fails to connect is marked down.
    fn connect(&self) -> Option<TcpStream> {
        let count = self.backends.len();
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        (0..count)
            .map(|offset| &self.backends[first.wrapping_add(offset) % count])
            .filter(|backend| backend.is_up())
            .find_map(Backend::connect)
    }
}

impl Backend {
    fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    fn connect(&self) -> Option<TcpStream> {
        match TcpStream::connect_timeout(&self.addr, CONNECT_TIMEOUT) {
            Ok(stream) => Some(stream),
            Err(err) => {
                // Many connections may find it down at once: only the first one says so.
                if self.up.swap(false, Ordering::Relaxed) {
                    eprintln!("backend {} is down ({err}); skipping it", self.addr);
                }
                None
            }
        }
    }

    /// Probes this backend every [`HEALTH_INTERVAL`] while it is down, and puts it back
    /// in rotation once it accepts a connection. Runs for the life of the proxy.
    fn watch(&self) {
        loop {
            hebra::sleep(HEALTH_INTERVAL);
            if !self.is_up() && TcpStream::connect_timeout(&self.addr, CONNECT_TIMEOUT).is_ok() {
                self.up.store(true, Ordering::Relaxed);
                eprintln!("backend {} is back up", self.addr);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Relaying one connection.

/// Relays `client` to a backend until both directions are done.
fn relay(client: TcpStream, pool: &Pool) -> io::Result<()> {
    // No backend up: returning drops `client`, which closes it now instead of leaving
    // it waiting for a backend that may not come back.
    let Some(backend) = pool.connect() else { return Ok(()) };
    // Bytes are forwarded as they come: Nagle's delay would add up at each hop.
    client.set_nodelay(true)?;
    backend.set_nodelay(true)?;
    let upstream = {
        let (client, backend) = (client.try_clone()?, backend.try_clone()?);
        hebra::spawn(move || pipe(client, backend))
    };
    pipe(backend, client);
    let _ = upstream.join();
    Ok(())
}

/// Copies `from` into `to` until `from` says EOF, then shuts down the write half of
/// `to` so that its peer sees EOF too, while the other direction goes on. After an
/// error (a reset, say) the connection is of no use: both sockets are shut down whole,
/// which also ends the copy running the other way.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    match io::copy(&mut from, &mut to) {
        Ok(_) => {
            // ENOTCONN here only means the peer is gone already.
            let _ = to.shutdown(Shutdown::Write);
        }
        Err(_) => {
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Demo backends, so that the proxy has something to balance over out of the box.

/// Starts `count` demo backends on free ports of 127.0.0.1.
fn start_demo_backends(count: usize) -> io::Result<Vec<SocketAddr>> {
    (1..=count)
        .map(|number| {
            let listener = TcpListener::bind(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0))?;
            let addr = listener.local_addr()?;
            println!("demo backend {number} listening on {addr}");
            hebra::spawn(move || demo_backend(number, listener));
            Ok(addr)
        })
        .collect()
}

/// Greets each connection with this backend's number, then echoes what it receives.
fn demo_backend(number: usize, listener: TcpListener) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            hebra::sleep(Duration::from_millis(10));
            continue;
        };
        hebra::spawn(move || -> io::Result<u64> {
            // `&TcpStream` reads and writes too: one handle serves as both ends.
            let (mut reader, mut writer) = (&stream, &stream);
            writeln!(writer, "demo backend {number} here; send lines and they come back")?;
            io::copy(&mut reader, &mut writer)
        });
    }
}
