//! The cold-cache scenario's evicter: a thread that drops the cold files' pages from the
//! page cache (`POSIX_FADV_DONTNEED`) once before the measured interval and again every
//! [`PERIOD`] during it, so that most requests find their file on the disk only. The
//! thread runs on wrk's CPU: it is part of the load, and should take no more CPU from
//! the servers than wrk does.

use std::fs::File;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rustix::thread::{CpuSet, sched_setaffinity};

/// Between two eviction passes.
pub const PERIOD: Duration = Duration::from_millis(150);

/// Evicts while it lives; stops (and joins its thread) when dropped.
#[derive(Debug)]
pub struct Evicter {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl Evicter {
    /// Evicts `files` once now, then starts the periodic passes on `cpu` (if given).
    pub fn start(files: Vec<File>, cpu: Option<usize>) -> Evicter {
        evict(&files);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = thread::spawn(move || {
            if let Some(cpu) = cpu {
                let mut set = CpuSet::new();
                set.set(cpu);
                // Unpinned is still correct, only less fair: ignore a refusal.
                let _ = sched_setaffinity(None, &set);
            }
            let mut passes = 1;
            // Relaxed: the flag orders nothing, it only ends the loop.
            while !stopping.load(Ordering::Relaxed) {
                thread::sleep(PERIOD);
                evict(&files);
                passes += 1;
            }
            passes
        });
        Evicter { stop, thread: Some(thread) }
    }

    /// Stops the passes; returns how many there were.
    pub fn stop(mut self) -> u64 {
        self.finish()
    }

    fn finish(&mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().map_or(0, |thread| thread.join().unwrap_or(0))
    }
}

impl Drop for Evicter {
    fn drop(&mut self) {
        self.finish();
    }
}

fn evict(files: &[File]) {
    for file in files {
        // Advice may fail only for a bad descriptor, which an open `File` is not.
        let _ = hebra::sys::fadvise_dontneed(file.as_fd(), 0, 0);
    }
}
