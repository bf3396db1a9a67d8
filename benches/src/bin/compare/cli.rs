//! The command line: what to compare and how long, and the hidden server roles the
//! harness starts itself as.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use hebra_server::Engine;

use crate::scenarios::{self, Scenario};
use crate::servers::ServerKind;

/// hebra's file server engines, nginx and tokio + hyper + tower-http side by side:
/// the same files, the same wrk load, one run. Prints Markdown tables and writes
/// compare.json and compare.svg.
#[derive(Parser, Debug)]
#[command(version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub role: Option<Role>,
    #[command(flatten)]
    pub options: Options,
}

/// The server processes the harness starts: itself again, in one of these roles.
#[derive(Subcommand, Debug)]
pub enum Role {
    /// Serve DIR with hebra-server, configured as `hebra-serve` configures it.
    #[command(hide = true)]
    ServeHebra(ServeArgs),
    /// Serve DIR with tokio, hyper and tower-http's ServeDir.
    #[command(hide = true)]
    ServeHyper(ServeArgs),
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    pub dir: PathBuf,
    #[arg(long)]
    pub addr: SocketAddr,
    #[arg(long)]
    pub workers: usize,
    #[arg(long)]
    pub max_connections: usize,
    #[arg(long, value_enum, default_value_t = Engine::Coroutine)]
    pub engine: Engine,
}

#[derive(Args, Debug, Clone)]
pub struct Options {
    /// Servers to compare, in this order: coroutine, sped, reactors, threads (hebra's
    /// engines), nginx, hyper [default: all; with --quick: coroutine,reactors].
    #[arg(long, value_delimiter = ',', value_parser = ServerKind::parse)]
    pub servers: Vec<ServerKind>,

    /// Scenarios to run, by name [default: all]: 4k-c100, 4k-c1000, 1m-c16, 4k-c10k,
    /// 4k-close, idle-10k, 4k-cold-c100.
    #[arg(long, value_delimiter = ',', value_parser = scenarios::parse)]
    pub scenarios: Vec<Scenario>,

    /// Seconds of measured load per server and scenario.
    #[arg(long, value_name = "SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub duration: u64,

    /// Seconds of the same load before each measurement, not measured.
    #[arg(long, value_name = "SECS", default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub warmup: u64,

    /// Rounds of every server and scenario; the tables show the median and the
    /// min-max spread.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rounds: u32,

    /// Connections of a scenario instead of its default, as SCENARIO=N
    /// (e.g. 4k-c10k=5000,idle-10k=2000).
    #[arg(long, value_name = "SCENARIO=N", value_delimiter = ',', value_parser = parse_override)]
    pub connections: Vec<(Scenario, usize)>,

    /// Worker threads (processes) of every server [default: available CPUs].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: Option<u16>,

    /// Connections each server may hold at once (hebra's --max-connections, nginx's
    /// worker_connections).
    #[arg(long, default_value_t = 16_384)]
    pub max_connections: usize,

    /// Distinct 4 KiB files of the cold-cache scenario.
    #[arg(long, value_name = "N", default_value_t = 5_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub cold_files: u32,

    /// Directory for compare.json and compare.svg [default: benches/results; with
    /// --quick: a new temporary directory].
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,

    /// Never install wrk or nginx with apt-get; skip what is missing.
    #[arg(long)]
    pub no_install: bool,

    /// For CI: coroutine and reactors only, every scenario for about a second with at
    /// most 200 connections, one round, results in a temporary directory.
    #[arg(long)]
    pub quick: bool,
}

/// Most connections a scenario of `--quick` opens.
const QUICK_CONNECTIONS: usize = 200;
const QUICK_COLD_FILES: u32 = 500;

impl Options {
    /// Applies `--quick` to what the user did not set, and the defaults.
    pub fn resolve(mut self) -> Options {
        if self.servers.is_empty() {
            self.servers = if self.quick {
                vec![ServerKind::Engine(Engine::Coroutine), ServerKind::Engine(Engine::Reactors)]
            } else {
                ServerKind::ALL.to_vec()
            };
        }
        if self.scenarios.is_empty() {
            self.scenarios = scenarios::ALL.to_vec();
        }
        first_of_each(&mut self.servers);
        first_of_each(&mut self.scenarios);
        if self.quick {
            self.duration = 1;
            self.warmup = self.warmup.min(1);
            self.rounds = 1;
            self.cold_files = self.cold_files.min(QUICK_COLD_FILES);
            for scenario in &mut self.scenarios {
                scenario.connections = scenario.connections.min(QUICK_CONNECTIONS);
            }
        }
        for (target, connections) in &self.connections {
            for scenario in self.scenarios.iter_mut().filter(|s| s.name == target.name) {
                scenario.connections = *connections;
            }
        }
        self
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.duration)
    }

    pub fn warmup(&self) -> Duration {
        Duration::from_secs(self.warmup)
    }

    pub fn workers(&self) -> usize {
        match self.workers {
            Some(n) => n.into(),
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// The idle scenario keeps its connections this long before measuring.
    pub fn idle_hold(&self) -> Duration {
        Duration::from_secs(if self.quick { 1 } else { 3 })
    }
}

/// Drops repeated items, keeping the first of each in its place.
fn first_of_each<T: PartialEq>(items: &mut Vec<T>) {
    let mut kept = Vec::with_capacity(items.len());
    for item in items.drain(..) {
        if !kept.contains(&item) {
            kept.push(item);
        }
    }
    *items = kept;
}

fn parse_override(value: &str) -> Result<(Scenario, usize), String> {
    let (name, count) = value.split_once('=').ok_or("expected SCENARIO=N")?;
    let count: usize = count.parse().map_err(|_| format!("not a number of connections: {count:?}"))?;
    if count == 0 || count > scenarios::MAX_CONNECTIONS {
        return Err(format!("connections must be 1 to {}", scenarios::MAX_CONNECTIONS));
    }
    Ok((scenarios::parse(name)?, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(args: &[&str]) -> Options {
        let mut argv = vec!["compare"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).expect("valid arguments").options.resolve()
    }

    #[test]
    fn quick_mode_is_small_and_keeps_explicit_choices() {
        let quick = options(&["--quick"]);
        assert_eq!(quick.servers.len(), 2);
        assert_eq!(quick.scenarios.len(), scenarios::ALL.len());
        assert!(quick.scenarios.iter().all(|s| s.connections <= QUICK_CONNECTIONS));
        assert_eq!((quick.duration, quick.rounds), (1, 1));
        let nginx = options(&["--quick", "--servers", "nginx,hyper,nginx"]);
        assert_eq!(nginx.servers, vec![ServerKind::Nginx, ServerKind::Hyper]);
    }

    #[test]
    fn connection_overrides_apply_by_name() {
        let chosen = options(&["--scenarios", "4k-c10k,idle-10k", "--connections", "idle-10k=300"]);
        let counts: Vec<usize> = chosen.scenarios.iter().map(|s| s.connections).collect();
        assert_eq!(counts, vec![10_000, 300]);
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(Cli::try_parse_from(["compare", "--servers", "apache"]).is_err());
        assert!(Cli::try_parse_from(["compare", "--scenarios", "4k-c7"]).is_err());
        assert!(Cli::try_parse_from(["compare", "--connections", "4k-c100"]).is_err());
        assert!(Cli::try_parse_from(["compare", "--connections", "4k-c100=0"]).is_err());
    }
}
