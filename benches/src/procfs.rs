//! What the kernel says about processes: resident memory, threads, memory maps, CPU time,
//! and which processes make up a server (nginx's master and its workers).
//!
//! Everything comes from `/proc/PID/stat` and `/proc/PID/status`; a process's figures
//! cover all its threads, those that already exited included.

use std::fs;
use std::io;
use std::time::Duration;

/// Clock ticks per second of `/proc/PID/stat` times: `USER_HZ`, 100 on every Linux
/// architecture this benchmark runs on (x86-64, aarch64), whatever the kernel's `HZ`.
const USER_HZ: u64 = 100;

/// A process, as `/proc` names it.
#[derive(Clone, Copy, Debug)]
pub enum Pid {
    Current,
    Other(u32),
}

impl Pid {
    fn path(self, file: &str) -> String {
        match self {
            Pid::Current => format!("/proc/self/{file}"),
            Pid::Other(pid) => format!("/proc/{pid}/{file}"),
        }
    }
}

/// A snapshot of a process's memory and threads.
#[derive(Clone, Copy, Debug, Default)]
pub struct Snapshot {
    /// Resident memory now (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// Peak resident memory so far (`VmHWM`), KiB.
    pub peak_rss_kib: u64,
    pub threads: u64,
    /// Memory maps (lines of `/proc/PID/maps`); Linux allows `vm.max_map_count`.
    pub maps: usize,
}

pub fn snapshot(pid: Pid) -> io::Result<Snapshot> {
    let memory = memory(pid)?;
    let status = fs::read_to_string(pid.path("status"))?;
    Ok(Snapshot {
        rss_kib: memory.rss_kib,
        peak_rss_kib: memory.peak_rss_kib,
        threads: status_field(&status, "Threads", pid)?,
        maps: fs::read_to_string(pid.path("maps"))?.lines().count(),
    })
}

/// Resident memory of a process, KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// Now (`VmRSS`).
    pub rss_kib: u64,
    /// The peak so far (`VmHWM`).
    pub peak_rss_kib: u64,
}

impl std::ops::Add for Memory {
    type Output = Memory;

    fn add(self, other: Memory) -> Memory {
        Memory { rss_kib: self.rss_kib + other.rss_kib, peak_rss_kib: self.peak_rss_kib + other.peak_rss_kib }
    }
}

/// [`Memory`] alone: cheaper than a [`snapshot`], which also counts the memory maps.
pub fn memory(pid: Pid) -> io::Result<Memory> {
    let status = fs::read_to_string(pid.path("status"))?;
    Ok(Memory {
        rss_kib: status_field(&status, "VmRSS", pid)?,
        peak_rss_kib: status_field(&status, "VmHWM", pid)?,
    })
}

fn status_field(status: &str, name: &str, pid: Pid) -> io::Result<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| io::Error::other(format!("no {name} in {}", pid.path("status"))))
}

/// The fields of `/proc/PID/stat` from field 3 (the state) on, so that field `n` (as
/// `man 5 proc` numbers them) is at index `n - 3`. The command name (field 2) is in
/// parentheses and may contain spaces and parentheses: everything up to the last `)`
/// is skipped.
fn stat_fields(pid: Pid) -> io::Result<Vec<u64>> {
    let stat = fs::read_to_string(pid.path("stat"))?;
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| io::Error::other(format!("malformed {}", pid.path("stat"))))?;
    // The state (field 3) is a letter; it parses as 0, which nobody reads.
    Ok(after_name.split_whitespace().map(|field| field.parse().unwrap_or(0)).collect())
}

fn stat_field(fields: &[u64], number: usize, pid: Pid) -> io::Result<u64> {
    fields.get(number - 3).copied().ok_or_else(|| io::Error::other(format!("short {}", pid.path("stat"))))
}

/// User plus system CPU time the process has used so far (all its threads).
pub fn cpu_time(pid: Pid) -> io::Result<Duration> {
    let fields = stat_fields(pid)?;
    // utime is field 14, stime field 15.
    let ticks = stat_field(&fields, 14, pid)? + stat_field(&fields, 15, pid)?;
    Ok(Duration::from_millis(ticks * 1000 / USER_HZ))
}

/// Bytes the process (all its threads) made the kernel read from storage so far
/// (`read_bytes` of `/proc/PID/io`): page cache misses, not reads served from the cache.
pub fn storage_read_bytes(pid: Pid) -> io::Result<u64> {
    let text = fs::read_to_string(pid.path("io"))?;
    text.lines()
        .find_map(|line| line.strip_prefix("read_bytes:")?.trim().parse().ok())
        .ok_or_else(|| io::Error::other(format!("no read_bytes in {}", pid.path("io"))))
}

/// The parent's pid (field 4).
pub fn parent(pid: u32) -> io::Result<u32> {
    let pid = Pid::Other(pid);
    Ok(stat_field(&stat_fields(pid)?, 4, pid)? as u32)
}

/// When the process started, in clock ticks since boot (field 22). With the pid it
/// names one process for good: a pid reused by a later process has a later start time.
pub fn start_time(pid: u32) -> io::Result<u64> {
    let pid = Pid::Other(pid);
    stat_field(&stat_fields(pid)?, 22, pid)
}

/// `root` and every live process descended from it (a server's master and workers),
/// found by reading the parent of every process in `/proc`. `root` comes first.
pub fn process_tree(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter_map(|pid| Some((pid, parent(pid).ok()?)))
        .collect();
    let mut tree = vec![root];
    let mut next = 0;
    while let Some(&parent) = tree.get(next) {
        tree.extend(parents.iter().filter(|&&(_, p)| p == parent).map(|&(pid, _)| pid));
        next += 1;
    }
    tree
}

/// `vm.max_map_count`, if readable.
pub fn max_map_count() -> Option<usize> {
    fs::read_to_string("/proc/sys/vm/max_map_count").ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_memory_cpu_and_a_start_time() {
        let me = std::process::id();
        let memory = memory(Pid::Other(me)).unwrap();
        assert!(memory.rss_kib > 0 && memory.peak_rss_kib >= memory.rss_kib);
        assert!(start_time(me).unwrap() > 0);
        assert_eq!(parent(me).unwrap(), std::os::unix::process::parent_id());
        cpu_time(Pid::Current).unwrap();
        storage_read_bytes(Pid::Current).unwrap();
    }

    #[test]
    fn the_tree_of_a_process_holds_its_children() {
        let mut child = std::process::Command::new("sleep").arg("10").spawn().unwrap();
        let tree = process_tree(std::process::id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(tree[0], std::process::id());
        assert!(tree.contains(&child.id()), "{tree:?} lacks {}", child.id());
    }
}
