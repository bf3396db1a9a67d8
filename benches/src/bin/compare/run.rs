//! One measurement per server, scenario and round, in that nesting from the inside out:
//! the servers of one round of one scenario run back to back, so that they see the
//! machine in the same state, and each gets a fresh process.
//!
//! A measurement: start the server, wait until it answers, warm up with the same load,
//! run the measured load while reading the server's CPU time before and after, read its
//! memory, check that it is still alive, stop it. Any failure becomes that
//! measurement's outcome, and the next one starts.

use std::fs;
use std::path::Path;
use std::time::Duration;

use indicatif::ProgressBar;
use serde::Serialize;

use crate::cli::Options;
use crate::cold::Evicter;
use crate::idle::{self, IdleFigures};
use crate::scenarios::{Load, Scenario};
use crate::servers::{Launch, RunningServer, ServerKind};
use crate::tree::Tree;
use crate::wrk::{self, Wrk, WrkFigures};

/// What one measurement found.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    Load(LoadFigures),
    Idle(IdleFigures),
    Failed { error: String },
}

/// One measurement, as the JSON file lists it.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    pub scenario: &'static str,
    pub server: &'static str,
    pub round: u32,
    pub connections: usize,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// A load scenario's figures: wrk's, and the server's CPU and memory.
#[derive(Clone, Debug, Serialize)]
pub struct LoadFigures {
    pub wrk: WrkFigures,
    /// utime + stime of all the server's processes over the measured interval.
    pub server_cpu_ms: f64,
    /// Sum of `VmHWM` over the server's processes at the end.
    pub peak_rss_kib: u64,
    /// Bytes the server read from storage over the measured interval: page cache
    /// misses, which the cold scenario is about.
    pub storage_read_kib: u64,
    /// Eviction passes of the cold scenario.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eviction_passes: Option<u64>,
}

impl LoadFigures {
    fn secs(&self) -> f64 {
        (self.wrk.duration_us as f64 / 1e6).max(f64::MIN_POSITIVE)
    }

    pub fn requests_per_sec(&self) -> f64 {
        self.wrk.requests as f64 / self.secs()
    }

    /// Response bytes (headers included) per second, in MB (10^6 bytes).
    pub fn mb_per_sec(&self) -> f64 {
        self.wrk.bytes as f64 / 1e6 / self.secs()
    }

    pub fn cpu_us_per_request(&self) -> f64 {
        self.server_cpu_ms * 1000.0 / self.wrk.requests.max(1) as f64
    }
}

/// Everything a measurement needs.
#[derive(Debug)]
pub struct Runner<'a> {
    pub options: &'a Options,
    pub launch: Launch<'a>,
    pub wrk: &'a Wrk,
    pub tree: &'a Tree,
    pub progress: ProgressBar,
}

impl Runner<'_> {
    /// Every round of every server in every scenario.
    pub fn run_all(&self, servers: &[ServerKind], scenarios: &[Scenario]) -> Vec<Run> {
        let mut runs = Vec::new();
        for scenario in scenarios {
            for round in 1..=self.options.rounds {
                for &server in servers {
                    let step = format!(
                        "{} · {} · round {round}/{}",
                        scenario.name,
                        server.name(),
                        self.options.rounds
                    );
                    self.progress.set_message(step.clone());
                    if self.progress.is_hidden() {
                        eprintln!("compare: {step}");
                    }
                    let outcome = self.measure(server, scenario).unwrap_or_else(|error| {
                        self.say(&format!("{step}: {error}"));
                        Outcome::Failed { error }
                    });
                    runs.push(Run {
                        scenario: scenario.name,
                        server: server.name(),
                        round,
                        connections: scenario.connections,
                        outcome,
                    });
                    self.progress.inc(1);
                }
            }
        }
        runs
    }

    /// A line above the progress bar (or on stderr when there is no bar).
    pub fn say(&self, line: &str) {
        self.progress.suspend(|| eprintln!("compare: {line}"));
    }

    fn measure(&self, kind: ServerKind, scenario: &Scenario) -> Result<Outcome, String> {
        let mut server =
            RunningServer::start(kind, &self.launch).map_err(|err| format!("failed to start: {err}"))?;
        let outcome = match scenario.load {
            Load::Idle => {
                let (workers, hold) = (self.launch.workers, self.options.idle_hold());
                Outcome::Idle(idle::run(&server, scenario.connections, workers, hold)?)
            }
            _ => Outcome::Load(self.load(&server, scenario)?),
        };
        server.check_alive()?;
        if let Err(err) = server.stop() {
            self.say(&format!("warning: {err}"));
        }
        Ok(outcome)
    }

    fn load(&self, server: &RunningServer, scenario: &Scenario) -> Result<LoadFigures, String> {
        let script = self.launch.scratch.join(format!("{}.lua", scenario.name));
        write_script(&script, scenario, self.tree.cold_files())?;
        let (addr, connections) = (server.addr(), scenario.connections);
        if self.options.warmup > 0 {
            self.wrk
                .run(addr, connections, self.options.warmup(), &script)
                .map_err(|err| format!("warm-up: {err}"))?;
        }
        let evicter = match scenario.load {
            Load::Cold => {
                let files = self.tree.open_cold_files().map_err(|err| format!("cold files: {err}"))?;
                Some(Evicter::start(files, self.wrk.cpu()))
            }
            _ => None,
        };
        let (cpu_before, read_before) = (server.cpu_time(), server.storage_read_bytes());
        let measured = self.wrk.run(addr, connections, self.options.duration(), &script)?;
        let cpu = server.cpu_time().saturating_sub(cpu_before);
        let read = server.storage_read_bytes().saturating_sub(read_before);
        Ok(LoadFigures {
            wrk: measured,
            server_cpu_ms: cpu.as_secs_f64() * 1000.0,
            storage_read_kib: read / 1024,
            peak_rss_kib: server.memory().peak_rss_kib,
            eviction_passes: evicter.map(Evicter::stop),
        })
    }
}

fn write_script(path: &Path, scenario: &Scenario, cold_files: u32) -> Result<(), String> {
    fs::write(path, wrk::script(scenario, cold_files))
        .map_err(|err| format!("cannot write {}: {err}", path.display()))
}

/// The time one measurement of `scenario` takes at least, for the user's estimate.
pub fn least_time(options: &Options, scenario: &Scenario) -> Duration {
    match scenario.load {
        Load::Idle => options.idle_hold() + Duration::from_secs(1),
        _ => options.warmup() + options.duration(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_wrk_and_the_cpu_time() {
        let figures = LoadFigures {
            wrk: WrkFigures {
                requests: 50_000,
                bytes: 200_000_000,
                duration_us: 2_000_000,
                ..WrkFigures::default()
            },
            server_cpu_ms: 500.0,
            storage_read_kib: 0,
            peak_rss_kib: 1,
            eviction_passes: None,
        };
        assert_eq!(figures.requests_per_sec(), 25_000.0);
        assert_eq!(figures.mb_per_sec(), 100.0);
        assert_eq!(figures.cpu_us_per_request(), 10.0);
    }
}
