//! Many concurrent echo connections against one server, with the clients in another
//! process: round trips per second, latency percentiles, and the server's memory and CPU.
//!
//! One binary plays three roles:
//!
//! - **orchestrator** (`--server all`, the default): runs each server kind in turn, each
//!   in a fresh process, and prints a table of their results;
//! - **server** (`--server hebra|tokio|may|threads`): serves echo on 127.0.0.1 with that
//!   runtime, starts the client process and reports (`server.rs`);
//! - **client** (`--client ADDR`, started by the server): a tokio program that opens the
//!   connections and drives the round trips (`client.rs`).
//!
//! Everything is bounded: a fixed number of connections and round trips, a time limit
//! per run after which the client stops early, and a watchdog that ends a stuck run.

mod client;
mod report;
mod server;

use std::net::SocketAddr;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Concurrent TCP echo load test: hebra, tokio, may and thread-per-connection servers.
#[derive(Parser, Debug, Clone)]
#[command(version)]
struct Cli {
    /// Which server to run; `all` runs each one in its own process, in turn.
    #[arg(long, value_enum, default_value_t = Choice::All)]
    server: Choice,
    #[command(flatten)]
    load: Load,
    /// Small run that proves the whole pipeline works in a few seconds (200 connections,
    /// 200 round trips each, 30 s limit). Overrides the sizes above.
    #[arg(long)]
    quick: bool,
    /// Internal: be the client process, connecting to this address.
    #[arg(long, hide = true)]
    client: Option<SocketAddr>,
}

/// The size of one run; passed on unchanged to the server and client processes.
#[derive(clap::Args, Debug, Clone)]
pub struct Load {
    /// Concurrent connections (each server process may hold about 19,000 descriptors).
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// Round trips on each connection, each sent after the previous echo came back.
    #[arg(long, default_value_t = 100)]
    round_trips: usize,
    /// Bytes per message.
    #[arg(long, default_value_t = 32)]
    message_size: usize,
    /// Seconds a run may take (connecting plus round trips); the client stops early and
    /// reports what it completed when it runs out.
    #[arg(long, default_value_t = 60)]
    time_limit: u64,
    /// Worker threads of the (tokio) client process.
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
    /// Connection attempts the client keeps in flight while connecting.
    #[arg(long, default_value_t = 128)]
    connect_concurrency: usize,
}

impl Load {
    const QUICK_CONNECTIONS: usize = 200;
    const QUICK_ROUND_TRIPS: usize = 200;
    const QUICK_TIME_LIMIT: u64 = 30;

    fn time_limit(&self) -> Duration {
        Duration::from_secs(self.time_limit)
    }

    /// The same settings as command-line arguments, for a child process.
    fn to_args(&self) -> Vec<String> {
        [
            ("--connections", self.connections.to_string()),
            ("--round-trips", self.round_trips.to_string()),
            ("--message-size", self.message_size.to_string()),
            ("--time-limit", self.time_limit.to_string()),
            ("--client-threads", self.client_threads.to_string()),
            ("--connect-concurrency", self.connect_concurrency.to_string()),
        ]
        .into_iter()
        .flat_map(|(flag, value)| [flag.to_owned(), value])
        .collect()
    }

    fn validate(&self) -> Result<(), String> {
        if self.connections == 0 || self.round_trips == 0 || self.message_size == 0 {
            return Err("connections, round trips and message size must be at least 1".into());
        }
        if self.client_threads == 0 || self.connect_concurrency == 0 || self.time_limit == 0 {
            return Err("client threads, connect concurrency and time limit must be at least 1".into());
        }
        Ok(())
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Choice {
    All,
    Hebra,
    Tokio,
    May,
    Threads,
}

/// The server implementations under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    Hebra,
    Tokio,
    May,
    Threads,
}

impl ServerKind {
    const ALL: [ServerKind; 4] = [ServerKind::Hebra, ServerKind::Tokio, ServerKind::May, ServerKind::Threads];

    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Hebra => "hebra",
            ServerKind::Tokio => "tokio",
            ServerKind::May => "may",
            ServerKind::Threads => "threads",
        }
    }
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    if cli.quick {
        cli.load.connections = Load::QUICK_CONNECTIONS;
        cli.load.round_trips = Load::QUICK_ROUND_TRIPS;
        cli.load.time_limit = Load::QUICK_TIME_LIMIT;
    }
    if let Err(err) = cli.load.validate() {
        eprintln!("echo_load: {err}");
        return ExitCode::FAILURE;
    }
    let outcome = match (cli.client, cli.server) {
        (Some(addr), _) => client::run(addr, &cli.load).map_err(|err| err.to_string()),
        (None, Choice::All) => orchestrate(&cli.load),
        (None, one) => server::run(kind_of(one), &cli.load).map_err(|err| err.to_string()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("echo_load: {err}");
            ExitCode::FAILURE
        }
    }
}

fn kind_of(choice: Choice) -> ServerKind {
    match choice {
        Choice::Hebra => ServerKind::Hebra,
        Choice::Tokio => ServerKind::Tokio,
        Choice::May => ServerKind::May,
        Choice::Threads => ServerKind::Threads,
        Choice::All => unreachable!("`all` is the orchestrator, not a server"),
    }
}

/// Runs every server kind in its own process, so that each one's memory and CPU figures
/// start from a clean process, and prints a table of their results.
fn orchestrate(load: &Load) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|err| format!("cannot find myself: {err}"))?;
    let mut results = Vec::new();
    let mut failed = Vec::new();
    for kind in ServerKind::ALL {
        eprintln!("== {} server ==", kind.name());
        let output = Command::new(&exe)
            .arg("--server")
            .arg(kind.name())
            .args(load.to_args())
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|err| format!("cannot start the {} server: {err}", kind.name()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        print!("{stdout}");
        match report::Report::find_in(&stdout) {
            Some(result) if output.status.success() => results.push(result),
            _ => failed.push(format!("{} ({})", kind.name(), output.status)),
        }
    }
    println!();
    println!("{}", report::table(&results));
    if failed.is_empty() { Ok(()) } else { Err(format!("runs failed: {}", failed.join(", "))) }
}
