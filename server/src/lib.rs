//! hebra-server: an HTTP/1.1 static file server, written once as sans-I/O HTTP and file
//! logic ([`http`], [`files`]) and driven by interchangeable [`engines`]: they differ
//! only in how they wait, never in what they compute.
//!
//! Embedding it takes a [`Config`] and an address (or listeners you bound yourself):
//!
//! ```no_run
//! use hebra_server::{Config, Server};
//!
//! let config = Config::new("./public");
//! let server = Server::bind("127.0.0.1:0", config).unwrap();
//! println!("serving on http://{}/", server.local_addr());
//! let shutdown = server.shutdown_handle();
//! let running = std::thread::spawn(move || server.run());
//! // ... later: finish in-flight responses, close idle connections, return.
//! shutdown.shutdown();
//! running.join().unwrap().unwrap();
//! ```

#![forbid(unsafe_code)]

pub mod access_log;
pub mod engines;
pub mod files;
pub mod http;
mod listen;
mod shutdown;

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

pub use access_log::LogTarget;
pub use engines::Engine;
pub use shutdown::ShutdownHandle;

/// Everything the server can be told. [`Config::new`] gives the defaults `hebra-serve`
/// uses: safe (no listings, no dotfiles, no symlinks out of the root) and bounded
/// (timeouts on, a connection cap).
#[derive(Clone, Debug)]
pub struct Config {
    /// The directory served.
    pub root: PathBuf,
    pub files: files::FileConfig,
    pub limits: http::Limits,
    pub engine: Engine,
    /// Worker threads; 0 means one per available CPU.
    pub workers: usize,
    /// Longest time from the first byte of a request head to its end (slowloris).
    pub header_timeout: Duration,
    /// Longest time a keep-alive connection may sit between requests.
    pub idle_timeout: Duration,
    /// Longest time a send may make no progress (a client that stopped reading).
    pub send_timeout: Duration,
    /// Connections served at once; further clients wait in the kernel's accept queue.
    pub max_connections: usize,
    /// How long a graceful shutdown waits for in-flight responses.
    pub shutdown_timeout: Duration,
    /// Where to write the access log (combined log format), if anywhere.
    pub access_log: Option<LogTarget>,
}

impl Config {
    pub fn new(root: impl Into<PathBuf>) -> Config {
        Config {
            root: root.into(),
            files: files::FileConfig::default(),
            limits: http::Limits::default(),
            engine: Engine::Coroutine,
            workers: 0,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            shutdown_timeout: Duration::from_secs(10),
            access_log: None,
        }
    }

    /// `workers`, with 0 resolved to the number of available CPUs.
    pub fn worker_count(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

/// A server bound to its address, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    config: Config,
    listeners: Vec<TcpListener>,
    local_addr: SocketAddr,
    shutdown: ShutdownHandle,
}

impl Server {
    /// Binds `addr` for `config.engine`: one `SO_REUSEPORT` listener per worker where
    /// the engine accepts on every worker, so the kernel spreads connections and no
    /// accept wakes more than one thread. Port 0 picks a free port.
    pub fn bind(addr: impl ToSocketAddrs, config: Config) -> io::Result<Server> {
        let addr = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind"))?;
        let count = config.engine.listeners(config.worker_count());
        let listeners = listen::bind_reuseport(addr, count)?;
        Server::from_listeners(listeners, config)
    }

    /// Serves connections from `listener`, bound by the caller (one acceptor hands
    /// connections to the workers).
    pub fn from_listener(listener: TcpListener, config: Config) -> io::Result<Server> {
        Server::from_listeners(vec![listener], config)
    }

    fn from_listeners(listeners: Vec<TcpListener>, config: Config) -> io::Result<Server> {
        let local_addr = listeners[0].local_addr()?;
        let metadata = std::fs::metadata(&config.root)
            .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", config.root.display())))?;
        if !metadata.is_dir() {
            let message = format!("{} is not a directory", config.root.display());
            return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
        }
        Ok(Server { config, listeners, local_addr, shutdown: ShutdownHandle::new() })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that starts a graceful shutdown from any thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Serves until a shutdown is requested through a [`ShutdownHandle`], then stops
    /// accepting, lets in-flight responses finish (up to `shutdown_timeout`), closes
    /// the remaining connections and returns.
    pub fn run(self) -> io::Result<()> {
        engines::run(self.config, self.listeners, self.shutdown)
    }
}
