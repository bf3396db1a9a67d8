//! `compare.json`: the machine, the tools, the settings, every round of every
//! measurement as measured, and the summary the tables and the chart show.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use serde::Serialize;

use super::Cell;
use crate::machine::Machine;
use crate::run::Run;
use crate::scenarios::Scenario;

#[derive(Debug, Serialize)]
pub struct Results {
    pub machine: Machine,
    /// When the run started (UTC, RFC 3339).
    pub date: String,
    /// The harness's command line, exactly.
    pub command_line: Vec<String>,
    /// Versions of wrk, nginx, the peer crates and hebra's commit.
    pub tools: BTreeMap<&'static str, String>,
    pub settings: Settings,
    pub scenarios: Vec<Scenario>,
    /// Servers and scenarios that were asked for but could not run, and why.
    pub skipped: Vec<Skipped>,
    pub runs: Vec<Run>,
    pub summary: Vec<Cell>,
}

#[derive(Debug, Serialize)]
pub struct Settings {
    pub servers: Vec<&'static str>,
    pub workers: usize,
    pub max_connections: usize,
    pub rounds: u32,
    pub duration_secs: u64,
    pub warmup_secs: u64,
    pub idle_hold_secs: u64,
    pub wrk_threads: u32,
    pub wrk_timeout_secs: u64,
    /// The CPU wrk is pinned to, if any (the servers may use every CPU).
    pub wrk_cpu: Option<usize>,
    pub cold_files: u32,
    pub cold_eviction_period_ms: u64,
    pub quick: bool,
}

#[derive(Debug, Serialize)]
pub struct Skipped {
    pub what: String,
    pub reason: String,
}

pub fn write(path: &Path, results: &Results) -> io::Result<()> {
    let text = serde_json::to_string_pretty(results).map_err(io::Error::other)?;
    std::fs::write(path, text + "\n")
}
