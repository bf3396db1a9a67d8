//! wrk, the load generator, pinned to one CPU when there are two or more. A generated
//! Lua script shapes the requests and, in `done()`, prints wrk's own figures as one
//! JSON line, so nothing here parses wrk's human-readable report.

use std::fmt::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::children;
use crate::scenarios::{Load, Scenario};

/// A request slower than this counts as a timeout error; long enough that the
/// 10,000-connection scenarios report their latency rather than timeouts.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Beyond its duration and timeout, how long wrk may take (connecting 10,000
/// connections, printing) before it is killed.
const SLACK: Duration = Duration::from_secs(30);

/// The line `done()` prints.
const MARKER: &str = "WRK_JSON ";

/// What wrk counted over one run; latencies in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WrkFigures {
    pub requests: u64,
    /// Response bytes, headers included.
    pub bytes: u64,
    pub duration_us: u64,
    pub connect_errors: u64,
    pub read_errors: u64,
    pub write_errors: u64,
    /// Responses with a status of 400 or more.
    pub status_errors: u64,
    pub timeout_errors: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

impl WrkFigures {
    pub fn errors(&self) -> u64 {
        self.connect_errors + self.read_errors + self.write_errors + self.status_errors + self.timeout_errors
    }

    fn from_output(stdout: &str) -> Option<WrkFigures> {
        let line = stdout.lines().find_map(|line| line.strip_prefix(MARKER))?;
        serde_json::from_str(line).ok()
    }
}

#[derive(Debug)]
pub struct Wrk {
    path: PathBuf,
    /// `taskset` and the CPU wrk is pinned to.
    pin: Option<(PathBuf, usize)>,
    pub version: String,
}

impl Wrk {
    /// wrk at `path`, pinned to the last CPU this process may use if it may use two or
    /// more and `taskset` exists.
    pub fn new(path: PathBuf, taskset: Option<PathBuf>) -> Wrk {
        let version = crate::tools::version(&path, "-v");
        let cpus = rustix::thread::sched_getaffinity(None).ok();
        let last_cpu = cpus
            .filter(|set| set.count() >= 2)
            .and_then(|set| (0..rustix::thread::CpuSet::MAX_CPU).rev().find(|&cpu| set.is_set(cpu)));
        Wrk { path, pin: taskset.zip(last_cpu), version }
    }

    /// The CPU wrk runs on, if pinned.
    pub fn cpu(&self) -> Option<usize> {
        self.pin.as_ref().map(|&(_, cpu)| cpu)
    }

    /// Runs wrk with one thread and `connections` connections against `addr` for
    /// `duration`, requests shaped by `script`.
    pub fn run(
        &self,
        addr: SocketAddr,
        connections: usize,
        duration: Duration,
        script: &Path,
    ) -> Result<WrkFigures, String> {
        let mut command = match &self.pin {
            Some((taskset, cpu)) => {
                let mut command = Command::new(taskset);
                command.arg("-c").arg(cpu.to_string()).arg(&self.path);
                command
            }
            None => Command::new(&self.path),
        };
        command
            .arg("-t1")
            .arg(format!("-c{connections}"))
            .arg(format!("-d{}s", duration.as_secs().max(1)))
            .arg(format!("--timeout={}s", TIMEOUT.as_secs()))
            .arg("-s")
            .arg(script)
            .arg(format!("http://{addr}/"));
        let done = children::run_bounded(&mut command, duration + TIMEOUT + SLACK)
            .map_err(|err| format!("wrk: {err}"))?;
        match WrkFigures::from_output(&done.stdout) {
            Some(figures) if done.status.success() => Ok(figures),
            _ => Err(format!(
                "wrk failed ({}): {}",
                done.status,
                children::tail(&(done.stdout + &done.stderr), 3)
            )),
        }
    }
}

/// The Lua script of a scenario's load. LuaJIT's `math.random` starts from the same
/// seed in every run, so every server gets the same sequence of cold files.
pub fn script(scenario: &Scenario, cold_files: u32) -> String {
    let mut lua = String::from("-- Written by hebra-benches' compare harness.\n");
    match scenario.load {
        Load::KeepAlive { file } => {
            let _ = writeln!(lua, "wrk.path = \"{}\"", file.path());
        }
        Load::Close { file } => {
            let _ = writeln!(lua, "wrk.path = \"{}\"\nwrk.headers[\"Connection\"] = \"close\"", file.path());
        }
        Load::Cold => {
            // The same names as `tree::cold_name`.
            let _ = write!(
                lua,
                "local files = {cold_files}\n\
                 request = function()\n  \
                   return wrk.format(nil, string.format(\"/cold/%05d.bin\", math.random(0, files - 1)))\n\
                 end\n"
            );
        }
        Load::Idle => unreachable!("the idle scenario does not use wrk"),
    }
    lua.push_str(DONE);
    lua
}

/// Prints wrk's summary as JSON (`%.0f`: exact for integers up to 2^53, where `%d`
/// may overflow in Lua).
const DONE: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%.0f,"bytes":%.0f,"duration_us":%.0f,"connect_errors":%.0f,' ..
    '"read_errors":%.0f,"write_errors":%.0f,"status_errors":%.0f,"timeout_errors":%.0f,' ..
    '"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,"max_us":%.0f,"mean_us":%.1f}\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios;

    #[test]
    fn the_done_line_parses() {
        let out = "Running 1s test\nWRK_JSON {\"requests\":10,\"bytes\":41960,\"duration_us\":1000000,\
                   \"connect_errors\":0,\"read_errors\":1,\"write_errors\":0,\"status_errors\":2,\
                   \"timeout_errors\":3,\"p50_us\":100,\"p90_us\":150,\"p99_us\":200,\"max_us\":300,\
                   \"mean_us\":110.5}\n";
        let figures = WrkFigures::from_output(out).unwrap();
        assert_eq!((figures.requests, figures.errors(), figures.p99_us), (10, 6, 200));
        assert!(WrkFigures::from_output("Running 1s test\n").is_none());
    }

    #[test]
    fn scripts_shape_the_requests() {
        let close = script(&scenarios::parse("4k-close").unwrap(), 0);
        assert!(close.contains("wrk.headers[\"Connection\"] = \"close\"") && close.contains("/4k.bin"));
        let cold = script(&scenarios::parse("4k-cold-c100").unwrap(), 500);
        assert!(cold.contains("local files = 500") && cold.contains("request = function()"));
        assert!(cold.contains("/cold/%05d.bin") && crate::tree::cold_name(42) == "00042.bin");
        assert!(script(&scenarios::parse("1m-c16").unwrap(), 0).contains("wrk.path = \"/1m.bin\""));
    }
}
