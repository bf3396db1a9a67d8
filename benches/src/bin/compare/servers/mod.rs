//! The servers under comparison, each started as a child process per measurement and
//! stopped after it.
//!
//! hebra's engines and the hyper peer run as this very executable started again with a
//! hidden subcommand (`serve-hebra`, `serve-hyper`), rather than as a `hebra-serve` that
//! the harness would have to build and find. One `cargo run --release` then builds
//! every Rust server with the same compiler, profile and allocator, nothing depends on
//! where `CARGO_TARGET_DIR` points, and `serve-hebra` configures `hebra_server::Server`
//! exactly as `hebra-serve`'s `main` does (see `hebra.rs`). nginx runs from its Debian
//! binary with a configuration generated in the scratch directory (`nginx.rs`).

mod hebra;
mod hyper_files;
mod nginx;

use std::fs::{self, File};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use hebra_benches::procfs::{self, Memory, Pid};
use hebra_server::Engine;
use rustix::process::Signal;

use crate::children::{self, Guard, Tracked};
use crate::http;
use crate::scenarios::File as TreeFile;

pub use hebra::serve as serve_hebra;
pub use hyper_files::serve as serve_hyper;
pub use nginx::Nginx;

/// Longest a server may take to answer its first request.
const READY_LIMIT: Duration = Duration::from_secs(15);
/// Longest a graceful stop may take before the server's processes are killed.
const STOP_LIMIT: Duration = Duration::from_secs(5);
/// Pause between readiness probes.
const PROBE_PAUSE: Duration = Duration::from_millis(50);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// hebra-server with one of its engines.
    Engine(Engine),
    Nginx,
    /// tokio (multi-thread) + hyper 1 + tower-http's `ServeDir`.
    Hyper,
}

impl ServerKind {
    /// Every server, in the order the tables list them.
    pub const ALL: [ServerKind; 6] = [
        ServerKind::Engine(Engine::Coroutine),
        ServerKind::Engine(Engine::Sped),
        ServerKind::Engine(Engine::Reactors),
        ServerKind::Engine(Engine::Threads),
        ServerKind::Nginx,
        ServerKind::Hyper,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Engine(engine) => engine.name(),
            ServerKind::Nginx => "nginx",
            ServerKind::Hyper => "hyper",
        }
    }

    pub fn parse(name: &str) -> Result<ServerKind, String> {
        ServerKind::ALL.into_iter().find(|kind| kind.name() == name).ok_or_else(|| {
            let names: Vec<&str> = ServerKind::ALL.iter().map(|kind| kind.name()).collect();
            format!("no server {name:?}; there are {}", names.join(", "))
        })
    }

    /// One line for the tables' legend.
    pub fn description(self) -> &'static str {
        match self {
            ServerKind::Engine(Engine::Coroutine) => {
                "hebra-server: a coroutine per connection, sequential code"
            }
            ServerKind::Engine(Engine::Sped) => "hebra-server: one thread, one epoll loop, state machines",
            ServerKind::Engine(Engine::Reactors) => "hebra-server: an epoll loop per worker (SO_REUSEPORT)",
            ServerKind::Engine(Engine::Threads) => "hebra-server: an OS thread per connection",
            ServerKind::Nginx => "nginx (Debian), sendfile, one process per worker",
            ServerKind::Hyper => "tokio multi-thread + hyper 1 + tower-http ServeDir",
        }
    }
}

/// What every server is started with.
#[derive(Debug)]
pub struct Launch<'a> {
    /// This executable, for the hidden `serve-*` subcommands.
    pub exe: &'a Path,
    /// The served tree.
    pub root: &'a Path,
    /// Where each server gets a directory for its logs (and nginx its prefix).
    pub scratch: &'a Path,
    pub workers: usize,
    pub max_connections: usize,
    pub nginx: Option<&'a Nginx>,
}

/// A server process (and its workers), stopped when dropped.
#[derive(Debug)]
pub struct RunningServer {
    kind: ServerKind,
    addr: SocketAddr,
    master: Guard,
    /// Its other processes (nginx's workers), registered for Ctrl-C.
    workers: Vec<Tracked>,
    logs: PathBuf,
}

impl RunningServer {
    /// Starts `kind` on a free port of 127.0.0.1 and waits until it serves `/4k.bin`.
    pub fn start(kind: ServerKind, launch: &Launch) -> Result<RunningServer, String> {
        let addr = free_port().map_err(|err| format!("no free port: {err}"))?;
        let logs = launch.scratch.join(kind.name());
        let mut command =
            command(kind, launch, addr, &logs).map_err(|err| format!("cannot prepare: {err}"))?;
        let master = spawn_logged(&mut command, &logs).map_err(|err| format!("cannot start: {err}"))?;
        let mut server = RunningServer { kind, addr, master, workers: Vec::new(), logs };
        server.wait_ready()?;
        server.workers =
            procfs::process_tree(server.master.id()).into_iter().skip(1).filter_map(Tracked::new).collect();
        server.workers.iter().copied().for_each(children::register);
        Ok(server)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's processes now: the one started and its descendants (none once it
    /// was reaped: its pid may then name someone else's process).
    pub fn processes(&self) -> Vec<u32> {
        if self.master.is_reaped() { Vec::new() } else { procfs::process_tree(self.master.id()) }
    }

    /// utime + stime over all the server's processes (all their threads included).
    pub fn cpu_time(&self) -> Duration {
        self.processes().into_iter().filter_map(|pid| procfs::cpu_time(Pid::Other(pid)).ok()).sum()
    }

    /// Bytes all the server's processes read from storage so far (page cache misses).
    pub fn storage_read_bytes(&self) -> u64 {
        self.processes().into_iter().filter_map(|pid| procfs::storage_read_bytes(Pid::Other(pid)).ok()).sum()
    }

    /// Resident memory summed over all the server's processes.
    pub fn memory(&self) -> Memory {
        let each = self.processes().into_iter().filter_map(|pid| procfs::memory(Pid::Other(pid)).ok());
        each.fold(Memory::default(), |total, memory| total + memory)
    }

    /// Whether the server process is still running (a crash under load shows here).
    pub fn check_alive(&mut self) -> Result<(), String> {
        match self.master.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("{} exited ({status}): {}", self.kind.name(), self.log_tail())),
            Err(err) => Err(format!("cannot check on {}: {err}", self.kind.name())),
        }
    }

    /// Asks the server to stop (SIGTERM), and kills what is left after [`STOP_LIMIT`].
    pub fn stop(mut self) -> Result<(), String> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> Result<(), String> {
        let late_workers = self.processes().into_iter().skip(1).filter_map(Tracked::new);
        let workers: Vec<Tracked> = self.workers.drain(..).chain(late_workers).collect();
        self.master.signal(Signal::TERM);
        let stopped = self.master.wait_for(STOP_LIMIT).map_err(|err| err.to_string())?;
        if stopped.is_none() {
            self.master.kill();
        }
        for worker in workers {
            worker.signal(Signal::KILL);
            children::unregister(worker);
        }
        match stopped {
            Some(_) => Ok(()),
            None => Err(format!("{} did not stop within {STOP_LIMIT:?}; killed", self.kind.name())),
        }
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_LIMIT;
        let small = TreeFile::Small;
        loop {
            self.check_alive()?;
            let answer = http::connect(self.addr, Duration::from_secs(1))
                .and_then(|mut stream| http::get(&mut stream, small.path()));
            match answer {
                Ok(response) if response.status == 200 && response.body_len == small.len() => return Ok(()),
                Ok(response) => {
                    return Err(format!(
                        "answered {} with {} bytes to GET {}, not 200 with {} (can it read the tree?); {}",
                        response.status,
                        response.body_len,
                        small.path(),
                        small.len(),
                        self.log_tail()
                    ));
                }
                Err(err) if Instant::now() >= deadline => {
                    return Err(format!("no answer within {READY_LIMIT:?} ({err}); {}", self.log_tail()));
                }
                Err(_) => thread::sleep(PROBE_PAUSE),
            }
        }
    }

    /// The last lines the server wrote to stderr (and nginx to its error log).
    fn log_tail(&self) -> String {
        let read = |name: &str| fs::read_to_string(self.logs.join(name)).unwrap_or_default();
        let text = format!("{}\n{}", read("stderr.log"), read("error.log"));
        match children::tail(&text, 3) {
            tail if tail.is_empty() => "it printed nothing".into(),
            tail => format!("it said: {tail}"),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        // Errors were reported by an explicit stop; here only the cleanup matters.
        let _ = self.shut_down();
    }
}

fn command(kind: ServerKind, launch: &Launch, addr: SocketAddr, logs: &Path) -> io::Result<Command> {
    fs::create_dir_all(logs)?;
    match kind {
        ServerKind::Engine(engine) => Ok(own_role(launch, "serve-hebra", addr, &["--engine", engine.name()])),
        ServerKind::Hyper => Ok(own_role(launch, "serve-hyper", addr, &[])),
        ServerKind::Nginx => {
            let nginx =
                launch.nginx.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "nginx is missing"))?;
            nginx::command(nginx, launch, addr, logs)
        }
    }
}

/// This executable in one of its server roles.
fn own_role(launch: &Launch, role: &str, addr: SocketAddr, extra: &[&str]) -> Command {
    let mut command = Command::new(launch.exe);
    command
        .arg(role)
        .arg(launch.root)
        .arg("--addr")
        .arg(addr.to_string())
        .arg("--workers")
        .arg(launch.workers.to_string())
        .arg("--max-connections")
        .arg(launch.max_connections.to_string())
        .args(extra);
    command
}

fn spawn_logged(command: &mut Command, logs: &Path) -> io::Result<Guard> {
    command.stdout(File::create(logs.join("stdout.log"))?).stderr(File::create(logs.join("stderr.log"))?);
    Guard::spawn(command)
}

/// A port of 127.0.0.1 that was free a moment ago. (Another program could take it
/// before the server binds it; the server then fails to start, with that message.)
fn free_port() -> io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_server_parses_back_from_its_name() {
        for kind in ServerKind::ALL {
            assert_eq!(ServerKind::parse(kind.name()), Ok(kind));
        }
        assert!(ServerKind::parse("apache").unwrap_err().contains("coroutine"));
    }
}
