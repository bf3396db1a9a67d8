//! What the kernel says about a process: resident memory, threads, memory maps, CPU time.

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
    let status = fs::read_to_string(pid.path("status"))?;
    let field = |name: &str| -> io::Result<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|value| value.split_whitespace().next()?.parse().ok())
            .ok_or_else(|| io::Error::other(format!("no {name} in {}", pid.path("status"))))
    };
    Ok(Snapshot {
        rss_kib: field("VmRSS")?,
        peak_rss_kib: field("VmHWM")?,
        threads: field("Threads")?,
        maps: fs::read_to_string(pid.path("maps"))?.lines().count(),
    })
}

/// User plus system CPU time the process has used so far (all its threads).
pub fn cpu_time(pid: Pid) -> io::Result<Duration> {
    let stat = fs::read_to_string(pid.path("stat"))?;
    // The command name (field 2) is in parentheses and may contain spaces: count the
    // fields after its closing parenthesis, where field 3 (the state) is index 0.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| io::Error::other("malformed /proc/PID/stat"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| -> io::Result<u64> {
        fields
            .get(index)
            .and_then(|value| value.parse().ok())
            .ok_or_else(|| io::Error::other("malformed /proc/PID/stat"))
    };
    // utime is field 14, stime field 15.
    let total = ticks(14 - 3)? + ticks(15 - 3)?;
    Ok(Duration::from_millis(total * 1000 / USER_HZ))
}

/// `vm.max_map_count`, if readable.
pub fn max_map_count() -> Option<usize> {
    fs::read_to_string("/proc/sys/vm/max_map_count").ok()?.trim().parse().ok()
}
