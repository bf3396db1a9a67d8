//! The monitor: one thread per runtime that watches for workers stuck in one coroutine.
//!
//! A coroutine spawned on a worker is not announced to the other workers (the spawning
//! worker will run it as soon as the spawner parks, and a wake costs a peer 25-30 us).
//! If instead the spawner keeps its worker busy, or blocks it (`std::thread::sleep`, a
//! blocking syscall), the fresh coroutine would wait. The monitor sees that the worker
//! made no scheduling decision since its last look while its deque holds work, and wakes
//! an idle worker, which steals it (ARCHITECTURE.md, invariants 1 and 7).
//!
//! It also warns, once per episode, about a worker stuck for [`BLOCKED_WARNING`]: that
//! is a blocking call on a worker, which stalls every coroutine living there.
//!
//! It looks every millisecond while some worker is busy and backs off to
//! [`MAX_INTERVAL`] while all sleep, so an idle runtime costs next to nothing.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use std::sync::atomic::Ordering;

use super::Scheduler;

const MIN_INTERVAL: Duration = Duration::from_millis(1);
const MAX_INTERVAL: Duration = Duration::from_millis(20);
const BLOCKED_WARNING: Duration = Duration::from_millis(100);

/// Lets the runtime stop the monitor without waiting for its next look.
pub(crate) struct MonitorSignal {
    stopped: Mutex<bool>,
    condvar: Condvar,
}

impl MonitorSignal {
    pub(crate) fn new() -> MonitorSignal {
        MonitorSignal { stopped: Mutex::new(false), condvar: Condvar::new() }
    }

    pub(crate) fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.condvar.notify_all();
    }

    /// Sleeps up to `timeout`; returns `true` once stopped.
    fn wait(&self, timeout: Duration) -> bool {
        let stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        let (stopped, _) = self
            .condvar
            .wait_timeout_while(stopped, timeout, |stopped| !*stopped)
            .unwrap_or_else(|e| e.into_inner());
        *stopped
    }
}

struct Watch {
    progress: u64,
    since: Instant,
    warned: bool,
}

/// The monitor thread's body.
pub(crate) fn run(scheduler: Arc<Scheduler>) {
    let now = Instant::now();
    let mut watches: Vec<Watch> =
        scheduler.workers.iter().map(|_| Watch { progress: u64::MAX, since: now, warned: false }).collect();
    let mut interval = MIN_INTERVAL;
    while !scheduler.monitor.wait(interval) {
        let now = Instant::now();
        let mut busy = false;
        for (index, (worker, watch)) in scheduler.workers.iter().zip(&mut watches).enumerate() {
            let progress = worker.progress.load(Ordering::Relaxed);
            let sleeping = worker.sleeping.load(Ordering::Relaxed);
            if sleeping || progress != watch.progress {
                *watch = Watch { progress, since: now, warned: false };
                busy |= !sleeping;
                continue;
            }
            busy = true;
            if !worker.stealer.is_empty() {
                scheduler.idle.wake_one(&scheduler);
            }
            let stuck = now - watch.since;
            if stuck >= BLOCKED_WARNING && !watch.warned {
                watch.warned = true;
                tracing::warn!(
                    worker = index,
                    stuck_ms = stuck.as_millis() as u64,
                    "a coroutine has kept its worker for a long time without a scheduling point; \
                     a blocking call (std::thread::sleep, blocking I/O, a long computation) \
                     stalls every coroutine of that worker: move it to hebra::unblock"
                );
            }
        }
        interval = if busy { MIN_INTERVAL } else { (interval * 2).min(MAX_INTERVAL) };
    }
}
