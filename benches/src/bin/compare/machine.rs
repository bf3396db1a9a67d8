//! What the results were measured on: the machine, and the versions of everything
//! that served or loaded.

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

use crate::children;

#[derive(Debug, Serialize)]
pub struct Machine {
    pub cpu_model: String,
    /// CPUs this process may use.
    pub cpus: usize,
    pub kernel: String,
    pub memory_gib: f64,
}

impl Machine {
    pub fn describe() -> Machine {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|line| {
                line.strip_prefix("model name")?.split_once(':').map(|(_, name)| name.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: f64 = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:")?.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        Machine {
            cpu_model,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel: fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned(),
            memory_gib: (memory_kib / (1024.0 * 1024.0) * 10.0).round() / 10.0,
        }
    }
}

/// The workspace's lock file as of this build: the exact versions of the peer crates.
const CARGO_LOCK: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"));

/// Versions of the Rust side: the peer crates (from the lock file this binary was
/// built with) and hebra's commit.
pub fn rust_versions() -> BTreeMap<&'static str, String> {
    let mut versions = BTreeMap::new();
    for name in ["hyper", "tokio", "tower-http"] {
        versions.insert(name, locked_version(CARGO_LOCK, name).unwrap_or("unknown").to_owned());
    }
    versions.insert("hebra", git_revision());
    versions
}

fn locked_version<'a>(lock: &'a str, name: &str) -> Option<&'a str> {
    let header = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    lines.by_ref().find(|line| *line == header)?;
    lines.next()?.strip_prefix("version = \"")?.strip_suffix('"')
}

/// `git describe --always --dirty` of the checkout this binary was built from.
fn git_revision() -> String {
    let mut git = Command::new("git");
    git.args(["-C", env!("CARGO_MANIFEST_DIR"), "describe", "--always", "--dirty"]);
    match children::run_bounded(&mut git, Duration::from_secs(10)) {
        Ok(done) if done.status.success() => done.stdout.trim().to_owned(),
        _ => format!("{} (no git)", env!("CARGO_PKG_VERSION")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_versions_are_found() {
        let lock = "[[package]]\nname = \"hyper\"\nversion = \"1.7.0\"\n";
        assert_eq!(locked_version(lock, "hyper"), Some("1.7.0"));
        assert_eq!(locked_version(lock, "tokio"), None);
        assert!(locked_version(CARGO_LOCK, "tokio").is_some());
    }

    #[test]
    fn the_machine_describes_itself() {
        let machine = Machine::describe();
        assert!(machine.cpus >= 1 && machine.memory_gib > 0.0 && !machine.kernel.is_empty());
    }
}
