//! The processes the harness starts, and how it makes sure they end.
//!
//! Every process it starts (a server, its workers, wrk) is registered here until it is
//! known to be gone, as a [`Tracked`] pid plus start time, so that a pid the kernel
//! reused for someone else's process is never signalled. Three paths end them:
//!
//! - the normal one: the owner stops its process and unregisters it;
//! - a panic: the owners' `Drop` kills what they started;
//! - Ctrl-C, SIGTERM or SIGHUP: [`end_on_signals`]'s thread kills everything still
//!   registered, removes the registered scratch directories and exits.
//!
//! Processes are only ever signalled by pid, never looked up by name.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use hebra_benches::procfs;
use rustix::process::{Pid, Signal, kill_process};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// How often a wait for a process to end looks again.
const POLL: Duration = Duration::from_millis(20);

/// One process, named so that pid reuse cannot fool us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tracked {
    pub pid: u32,
    start_time: u64,
}

impl Tracked {
    /// Names the live process `pid`; `None` if it is already gone.
    pub fn new(pid: u32) -> Option<Tracked> {
        Some(Tracked { pid, start_time: procfs::start_time(pid).ok()? })
    }

    /// Whether this very process still exists (a zombie counts until reaped).
    pub fn is_alive(self) -> bool {
        procfs::start_time(self.pid).is_ok_and(|start| start == self.start_time)
    }

    /// Sends `signal` if the process still exists.
    pub fn signal(self, signal: Signal) {
        if let Some(pid) = Pid::from_raw(self.pid as i32)
            && self.is_alive()
        {
            // It may exit in between: an error then means "already gone", which is fine.
            let _ = kill_process(pid, signal);
        }
    }
}

#[derive(Default)]
struct Registry {
    processes: Vec<Tracked>,
    directories: Vec<PathBuf>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry { processes: Vec::new(), directories: Vec::new() });

fn registry() -> MutexGuard<'static, Registry> {
    // A panic while holding the lock leaves plain lists behind: still usable.
    REGISTRY.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn register(process: Tracked) {
    registry().processes.push(process);
}

pub fn unregister(process: Tracked) {
    registry().processes.retain(|&p| p != process);
}

/// A scratch directory removed on a signal (on normal exit its owner removes it).
pub fn register_directory(path: PathBuf) {
    registry().directories.push(path);
}

/// Starts the thread that, on Ctrl-C, SIGTERM or SIGHUP, kills every registered
/// process, removes the registered directories and exits with 128 + the signal.
pub fn end_on_signals() -> io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    thread::Builder::new().name("signals".into()).spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let registry = registry();
            for process in &registry.processes {
                process.signal(Signal::KILL);
            }
            for directory in &registry.directories {
                let _ = std::fs::remove_dir_all(directory);
            }
            eprintln!("\ncompare: interrupted; stopped {} processes", registry.processes.len());
            std::process::exit(128 + signal);
        }
    })?;
    Ok(())
}

/// A started child, killed (SIGKILL) and reaped on drop unless it was waited for.
#[derive(Debug)]
pub struct Guard {
    child: Child,
    tracked: Option<Tracked>,
}

impl Guard {
    /// Spawns `command` and registers the child.
    pub fn spawn(command: &mut Command) -> io::Result<Guard> {
        let child = command.stdin(Stdio::null()).spawn()?;
        let tracked = Tracked::new(child.id());
        if let Some(tracked) = tracked {
            register(tracked);
        }
        Ok(Guard { child, tracked })
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether the child exited and was reaped: its pid is no longer its own.
    pub fn is_reaped(&self) -> bool {
        self.tracked.is_none()
    }

    /// The exit status, if the child has exited (it is then reaped and unregistered).
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        let status = self.child.try_wait()?;
        if status.is_some() {
            self.forget();
        }
        Ok(status)
    }

    /// Waits at most `limit` for the child to exit.
    pub fn wait_for(&mut self, limit: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            thread::sleep(POLL);
        }
    }

    pub fn signal(&self, signal: Signal) {
        if let Some(tracked) = self.tracked {
            tracked.signal(signal);
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.forget();
    }

    fn forget(&mut self) {
        if let Some(tracked) = self.tracked.take() {
            unregister(tracked);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.tracked.is_some() {
            self.kill();
        }
    }
}

/// What a bounded run printed.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` to its end, killing it if it takes longer than `limit`. Its output
/// goes to anonymous files rather than pipes, so that no pipe can fill up and stall it.
pub fn run_bounded(command: &mut Command, limit: Duration) -> io::Result<Finished> {
    let (mut stdout, mut stderr) = (tempfile::tempfile()?, tempfile::tempfile()?);
    command.stdout(stdout.try_clone()?).stderr(stderr.try_clone()?);
    let mut child = Guard::spawn(command)?;
    let Some(status) = child.wait_for(limit)? else {
        child.kill();
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("still running after {limit:?}; killed"),
        ));
    };
    Ok(Finished { status, stdout: read_all(&mut stdout)?, stderr: read_all(&mut stderr)? })
}

fn read_all(file: &mut File) -> io::Result<String> {
    let mut text = String::new();
    file.rewind()?;
    file.read_to_string(&mut text)?;
    Ok(text)
}

/// The last `lines` lines of `text`, for error messages.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().filter(|line| !line.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_run_returns_its_output_or_is_killed() {
        let done =
            run_bounded(Command::new("sh").args(["-c", "echo out; echo err >&2"]), Duration::from_secs(10))
                .unwrap();
        assert!(done.status.success());
        assert_eq!((done.stdout.as_str(), done.stderr.as_str()), ("out\n", "err\n"));

        let started = Instant::now();
        let err = run_bounded(Command::new("sleep").arg("30"), Duration::from_millis(200)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_dropped_guard_kills_its_child() {
        let guard = Guard::spawn(Command::new("sleep").arg("30")).unwrap();
        let tracked = Tracked::new(guard.id()).unwrap();
        drop(guard);
        assert!(!tracked.is_alive());
        assert!(!registry().processes.contains(&tracked), "a reaped child stays registered");
    }

    #[test]
    fn tails_skip_blank_lines() {
        assert_eq!(tail("a\nb\n\nc\n", 2), "b | c");
        assert_eq!(tail("", 3), "");
    }
}
