//! `compare`: hebra's file server engines side by side with nginx and with tokio +
//! hyper + tower-http, serving the same files under the same wrk load, in one run:
//!
//! ```sh
//! cargo run --release -p hebra-benches --bin compare            # everything, ~10 min
//! cargo run --release -p hebra-benches --bin compare -- --rounds 3 --servers coroutine,nginx
//! cargo run --release -p hebra-benches --bin compare -- --quick # CI: proves it runs
//! ```
//!
//! For every scenario, round and server, in that nesting (the servers of one round run
//! back to back), it starts the server as a fresh child process, waits until it serves,
//! warms it up with the scenario's load, measures, records, and stops exactly the
//! processes it started. It prints Markdown tables and writes `compare.json` (machine,
//! tools, settings, every round) and `compare.svg` into `benches/results/` (or
//! `--output`).
//!
//! Fairness: one tree of files; the same worker count for every server; nginx tuned as
//! a static file server is (`sendfile`, `tcp_nopush`, no access log); the hyper server
//! as people write it; wrk with one thread pinned to its own CPU; server CPU time
//! summed over every process of a server. What it cannot make equal is said in the
//! tables' notes and in benches/README.md.
//!
//! Modules: `cli` (options), `servers` (starting, probing and stopping each server, and
//! the hidden server roles), `children` (every child is tracked and ends on Ctrl-C),
//! `tools` (finding or installing wrk and nginx), `tree` (the served files), `run` (one
//! measurement), `wrk` (load and its Lua script), `cold` (page cache eviction), `idle`
//! and `http` (the harness's own client), `machine`, `report` (summary, table, JSON,
//! SVG).

#![forbid(unsafe_code)]

mod children;
mod cli;
mod cold;
mod http;
mod idle;
mod machine;
mod report;
mod run;
mod scenarios;
mod servers;
mod tools;
mod tree;
mod wrk;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use rustix::process::{Resource, getrlimit, setrlimit};

use crate::cli::{Cli, Options, Role};
use crate::machine::Machine;
use crate::report::json::{self, Results, Settings, Skipped};
use crate::report::{summarize, svg, table};
use crate::run::{Outcome, Runner};
use crate::scenarios::{Load, Scenario};
use crate::servers::{Launch, Nginx, ServerKind};
use crate::tools::Installer;
use crate::tree::Tree;
use crate::wrk::Wrk;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.role {
        Some(Role::ServeHebra(args)) => servers::serve_hebra(args),
        Some(Role::ServeHyper(args)) => servers::serve_hyper(args),
        None => compare(cli.options.resolve()).unwrap_or_else(|err| {
            eprintln!("compare: {err}");
            ExitCode::FAILURE
        }),
    }
}

fn say(line: &str) {
    eprintln!("compare: {line}");
}

fn compare(options: Options) -> Result<ExitCode, String> {
    let date = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    children::end_on_signals().map_err(|err| format!("cannot watch for Ctrl-C: {err}"))?;
    raise_descriptor_limit(&options.scenarios);
    let mut skipped = Vec::new();
    let Some(peers) = find_peers(&options, &mut skipped)? else {
        return Ok(ExitCode::SUCCESS);
    };
    let scratch = tempfile::Builder::new()
        .prefix("hebra-compare-")
        .tempdir()
        .map_err(|err| format!("cannot make a scratch directory: {err}"))?;
    children::register_directory(scratch.path().to_owned());
    let mut tree =
        Tree::create(scratch.path()).map_err(|err| format!("cannot write the served files: {err}"))?;
    let scenarios = runnable_scenarios(&options, &mut tree, &mut skipped);
    let output = output_dir(&options)?;
    let exe = std::env::current_exe().map_err(|err| format!("cannot find this executable: {err}"))?;
    let launch = Launch {
        exe: &exe,
        root: tree.root(),
        scratch: scratch.path(),
        workers: options.workers(),
        max_connections: options.max_connections,
        nginx: peers.nginx.as_ref(),
    };
    let progress = progress_bar(&options, &peers.servers, &scenarios);
    let runner = Runner { options: &options, launch, wrk: &peers.wrk, tree: &tree, progress };
    let runs = runner.run_all(&peers.servers, &scenarios);
    runner.progress.finish_and_clear();

    let cells = summarize(&runs, &scenarios, &peers.servers);
    let notes = notes(&options, &peers.wrk, &scenarios, &skipped);
    print!("{}", table::tables(&scenarios, &peers.servers, &cells, &notes));
    let results = Results {
        machine: Machine::describe(),
        date,
        command_line: std::env::args().collect(),
        tools: peers.versions(),
        settings: settings(&options, &peers),
        scenarios,
        skipped,
        runs,
        summary: cells,
    };
    write_outputs(&output, &results, &peers.servers)?;
    let failed = results.runs.iter().filter(|run| matches!(run.outcome, Outcome::Failed { .. })).count();
    if failed == 0 {
        return Ok(ExitCode::SUCCESS);
    }
    say(&format!("{failed} of {} measurements failed; the tables show why", results.runs.len()));
    Ok(ExitCode::FAILURE)
}

/// What the run measures with: wrk, nginx if it was asked for and is there, and the
/// servers that can run.
struct Peers {
    wrk: Wrk,
    nginx: Option<Nginx>,
    servers: Vec<ServerKind>,
}

impl Peers {
    fn versions(&self) -> BTreeMap<&'static str, String> {
        let mut versions = machine::rust_versions();
        versions.insert("wrk", self.wrk.version.clone());
        if let Some(nginx) = &self.nginx {
            versions.insert("nginx", nginx.version.clone());
        }
        versions
    }
}

/// Finds (or installs) wrk and nginx. `None`: no wrk in quick mode, which skips the
/// whole comparison (an error otherwise). Without nginx, its rows are skipped.
fn find_peers(options: &Options, skipped: &mut Vec<Skipped>) -> Result<Option<Peers>, String> {
    let mut installer = Installer::new(!options.no_install);
    let wrk = match installer.ensure("wrk", &["wrk"], &say) {
        Ok(path) => Wrk::new(path, tools::find("taskset")),
        Err(err) if options.quick => {
            say(&format!("skipped: {err}"));
            return Ok(None);
        }
        Err(err) => return Err(format!("cannot measure without wrk: {err}")),
    };
    let mut servers = options.servers.clone();
    let mut nginx = None;
    if servers.contains(&ServerKind::Nginx) {
        match installer.ensure("nginx", &["nginx-light", "nginx"], &say) {
            Ok(path) => nginx = Some(Nginx::probe(path)),
            Err(reason) => {
                say(&format!("skipping nginx: {reason}"));
                servers.retain(|&server| server != ServerKind::Nginx);
                skipped.push(Skipped { what: "nginx".into(), reason });
            }
        }
    }
    Ok(Some(Peers { wrk, nginx, servers }))
}

/// The scenarios asked for, less the cold one where this file system cannot evict.
fn runnable_scenarios(options: &Options, tree: &mut Tree, skipped: &mut Vec<Skipped>) -> Vec<Scenario> {
    let mut scenarios = options.scenarios.clone();
    if scenarios.iter().any(|scenario| scenario.load == Load::Cold)
        && let Err(reason) = prepare_cold(tree, options.cold_files)
    {
        say(&format!("skipping the cold-cache scenario: {reason}"));
        scenarios.retain(|scenario| scenario.load != Load::Cold);
        skipped.push(Skipped { what: "4k-cold-c100".into(), reason });
    }
    scenarios
}

fn write_outputs(dir: &Path, results: &Results, servers: &[ServerKind]) -> Result<(), String> {
    let (json_path, svg_path) = (dir.join("compare.json"), dir.join("compare.svg"));
    json::write(&json_path, results).map_err(|err| format!("cannot write {}: {err}", json_path.display()))?;
    let (machine, settings) = (&results.machine, &results.settings);
    let subtitle = format!(
        "{} CPUs ({}), Linux {}; {} workers per server; wrk: 1 thread{}; {} s x {} round(s); {}",
        machine.cpus,
        machine.cpu_model,
        machine.kernel,
        settings.workers,
        settings.wrk_cpu.map_or(String::new(), |cpu| format!(" on CPU {cpu}")),
        settings.duration_secs,
        settings.rounds,
        results.date,
    );
    svg::write(&svg_path, &results.scenarios, servers, &results.summary, &subtitle)?;
    say(&format!("wrote {} and {}", json_path.display(), svg_path.display()));
    Ok(())
}

/// Servers and wrk inherit the limit: lift the soft limit on descriptors to the hard
/// one, and warn when even that is short of the largest scenario.
fn raise_descriptor_limit(scenarios: &[Scenario]) {
    let limit = getrlimit(Resource::Nofile);
    if let (Some(current), Some(maximum)) = (limit.current, limit.maximum)
        && current < maximum
        && let Err(err) =
            setrlimit(Resource::Nofile, rustix::process::Rlimit { current: limit.maximum, ..limit })
    {
        say(&format!("cannot raise the descriptor limit from {current} to {maximum}: {err}"));
    }
    let needed = scenarios.iter().map(|scenario| scenario.connections).max().unwrap_or(0) as u64 + 1000;
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    if now < needed {
        say(&format!(
            "warning: {now} descriptors per process are fewer than the {needed} the largest scenario needs"
        ));
    }
}

/// Writes the cold files and checks that this file system really drops their pages.
fn prepare_cold(tree: &mut Tree, files: u32) -> Result<(), String> {
    tree.add_cold_files(files).map_err(|err| format!("cannot write the cold files: {err}"))?;
    match tree.eviction_works() {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!(
            "the file system under {} keeps pages that POSIX_FADV_DONTNEED should drop (tmpfs?); \
             set TMPDIR to a directory on a disk",
            tree.root().display()
        )),
        Err(err) => Err(format!("cannot check the page cache: {err}")),
    }
}

/// `--output`, else `benches/results` (a new temporary directory with `--quick`, so
/// that CI never overwrites the committed results).
fn output_dir(options: &Options) -> Result<PathBuf, String> {
    let dir = match (&options.output, options.quick) {
        (Some(dir), _) => dir.clone(),
        (None, true) => tempfile::Builder::new()
            .prefix("hebra-compare-quick-")
            .tempdir()
            .map_err(|err| format!("cannot make an output directory: {err}"))?
            .keep(),
        (None, false) => Path::new(env!("CARGO_MANIFEST_DIR")).join("results"),
    };
    std::fs::create_dir_all(&dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    Ok(dir)
}

fn progress_bar(options: &Options, servers: &[ServerKind], scenarios: &[Scenario]) -> ProgressBar {
    let per_server: Duration = scenarios.iter().map(|scenario| run::least_time(options, scenario)).sum();
    let total = per_server * servers.len() as u32 * options.rounds;
    say(&format!(
        "{} servers x {} scenarios x {} round(s): at least {} s of load",
        servers.len(),
        scenarios.len(),
        options.rounds,
        total.as_secs()
    ));
    let progress = ProgressBar::new((servers.len() * scenarios.len()) as u64 * u64::from(options.rounds));
    let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
        .expect("a valid template");
    progress.set_style(style);
    progress.enable_steady_tick(Duration::from_millis(200));
    progress
}

fn settings(options: &Options, peers: &Peers) -> Settings {
    let wrk = &peers.wrk;
    Settings {
        servers: peers.servers.iter().map(|server| server.name()).collect(),
        workers: options.workers(),
        max_connections: options.max_connections,
        rounds: options.rounds,
        duration_secs: options.duration,
        warmup_secs: options.warmup,
        idle_hold_secs: options.idle_hold().as_secs(),
        wrk_threads: 1,
        wrk_timeout_secs: wrk::TIMEOUT.as_secs(),
        wrk_cpu: wrk.cpu(),
        cold_files: options.cold_files,
        cold_eviction_period_ms: cold::PERIOD.as_millis() as u64,
        quick: options.quick,
    }
}

/// How the figures were taken, under the tables.
fn notes(options: &Options, wrk: &Wrk, scenarios: &[Scenario], skipped: &[Skipped]) -> Vec<String> {
    let workers = options.workers();
    let pinned = wrk.cpu().map_or("not pinned (one CPU)".into(), |cpu| format!("pinned to CPU {cpu}"));
    let mut notes = vec![
        format!(
            "{workers} workers per server, a fresh server process per measurement; {} s warm-up, {} s measured, \
             {} round(s): median (min-max).",
            options.warmup, options.duration, options.rounds
        ),
        format!(
            "Load: {} with 1 thread, {pinned} (the servers may use every CPU), timeout {} s; \
             errors = connect + read + write + timeout + status >= 400.",
            wrk.version,
            wrk::TIMEOUT.as_secs()
        ),
        "Server CPU: utime + stime of every process of the server (nginx: master and workers) over the \
         measured interval, per request. Peak RSS: sum of VmHWM. MB/s: response bytes with headers, 10^6."
            .into(),
    ];
    let has = |load: Load| scenarios.iter().any(|scenario| scenario.load == load);
    if has(Load::Idle) {
        notes.push(format!(
            "idle: (server RSS once every connection got one 4 KiB response and idled {} s - RSS before) / connections.",
            options.idle_hold().as_secs()
        ));
    }
    if has(Load::Cold) {
        notes.push(format!(
            "cold: {} distinct 4 KiB files, evicted with POSIX_FADV_DONTNEED before the measurement and every {} ms \
             during it (by a thread on wrk's CPU); disk KiB/request: the server's storage reads (/proc/PID/io), \
             4 if every request missed the page cache.",
            options.cold_files,
            cold::PERIOD.as_millis()
        ));
    }
    notes.extend(skipped.iter().map(|skip| format!("Skipped {}: {}", skip.what, skip.reason)));
    notes
}
