//! Locks: `hebra::sync::Mutex` side by side with `std::sync::Mutex` and
//! `tokio::sync::Mutex`. One iteration is a lock, an increment of the counter it guards,
//! and an unlock.
//!
//! - `mutex/uncontended`: one coroutine (task, thread) alone, in a loop.
//! - `mutex/contended`: [`LOCKERS`] coroutines (tasks, threads) on the 2-worker runtimes
//!   share one counter and the `iters` increments. hebra pins the lockers to workers 0
//!   and 1 in turn, so that the lock really passes between threads; tokio places its
//!   tasks itself; std runs one thread per locker. The time includes spawning the
//!   lockers (under a microsecond for coroutines and tasks, tens of microseconds per
//!   thread, against milliseconds per sample). The benchmark prints on how many runs the
//!   lockers ended on more than one thread.

use std::collections::HashSet;
use std::sync::Arc;
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use hebra_benches::{MEASUREMENT_TIME, SAMPLE_SIZE, WARM_UP_TIME, WORKERS, share};

/// Coroutines (tasks, threads) sharing the lock in `mutex/contended`.
const LOCKERS: u64 = 4;

fn uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("mutex/uncontended");

    let hebra = &hebra_benches::runtimes().hebra;
    group.bench_function("hebra", |b| {
        b.iter_custom(|iters| {
            hebra.block_on(move || {
                let counter = hebra::sync::Mutex::new(0);
                let elapsed = hebra_benches::timed(iters, || *counter.lock().expect("never poisoned") += 1);
                assert_eq!(counter.into_inner().expect("never poisoned"), iters);
                elapsed
            })
        })
    });

    let tokio = &hebra_benches::runtimes().tokio;
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            // Spawned, so that the loop runs on a worker (block_on's future would not).
            let task = tokio.spawn(async move {
                let counter = tokio::sync::Mutex::new(0);
                let start = Instant::now();
                for _ in 0..iters {
                    *counter.lock().await += 1;
                }
                let elapsed = start.elapsed();
                assert_eq!(counter.into_inner(), iters);
                elapsed
            });
            tokio.block_on(task).expect("the locking task panicked")
        })
    });

    group.bench_function("std_thread", |b| {
        b.iter_custom(|iters| {
            let counter = std::sync::Mutex::new(0);
            let elapsed = hebra_benches::timed(iters, || *counter.lock().expect("never poisoned") += 1);
            assert_eq!(counter.into_inner().expect("never poisoned"), iters);
            elapsed
        })
    });

    group.finish();
}

fn contended(c: &mut Criterion) {
    let mut group = c.benchmark_group("mutex/contended");

    let hebra = &hebra_benches::runtimes().hebra;
    let placement = Placement::new("hebra");
    group.bench_function("hebra", |b| {
        b.iter_custom(|iters| placement.record(hebra.block_on(move || hebra_contended(iters))))
    });
    drop(placement);

    let tokio = &hebra_benches::runtimes().tokio;
    let placement = Placement::new("tokio");
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            // Spawned, so that the lockers are spawned from a worker, like hebra's.
            placement.record(tokio.block_on(tokio.spawn(tokio_contended(iters))).expect("a locker panicked"))
        })
    });
    drop(placement);

    let placement = Placement::new("std_thread");
    group.bench_function("std_thread", |b| b.iter_custom(|iters| placement.record(std_contended(iters))));
    drop(placement);

    group.finish();
}

/// How a contended run went: its time and the threads its lockers ended on.
struct Run {
    elapsed: Duration,
    threads: HashSet<ThreadId>,
}

fn hebra_contended(iters: u64) -> Run {
    let counter = Arc::new(hebra::sync::Mutex::new(0));
    let start = Instant::now();
    let lockers: Vec<_> = (0..LOCKERS)
        .map(|locker| {
            let counter = counter.clone();
            let worker = locker as usize % WORKERS;
            hebra::coroutine::Builder::new()
                .worker(worker)
                .spawn(move || {
                    for _ in 0..share(iters, LOCKERS, locker) {
                        *counter.lock().expect("never poisoned") += 1;
                    }
                    thread::current().id()
                })
                .expect("worker index in range")
        })
        .collect();
    let threads = lockers.into_iter().map(|locker| locker.join().expect("a locker panicked")).collect();
    let elapsed = start.elapsed();
    assert_eq!(*counter.lock().expect("never poisoned"), iters);
    Run { elapsed, threads }
}

async fn tokio_contended(iters: u64) -> Run {
    let counter = Arc::new(tokio::sync::Mutex::new(0));
    let start = Instant::now();
    let lockers: Vec<_> = (0..LOCKERS)
        .map(|locker| {
            let counter = counter.clone();
            tokio::spawn(async move {
                for _ in 0..share(iters, LOCKERS, locker) {
                    *counter.lock().await += 1;
                }
                thread::current().id()
            })
        })
        .collect();
    let mut threads = HashSet::new();
    for locker in lockers {
        threads.insert(locker.await.expect("a locker panicked"));
    }
    let elapsed = start.elapsed();
    assert_eq!(*counter.lock().await, iters);
    Run { elapsed, threads }
}

fn std_contended(iters: u64) -> Run {
    let counter = Arc::new(std::sync::Mutex::new(0));
    let start = Instant::now();
    let lockers: Vec<_> = (0..LOCKERS)
        .map(|locker| {
            let counter = counter.clone();
            thread::spawn(move || {
                for _ in 0..share(iters, LOCKERS, locker) {
                    *counter.lock().expect("never poisoned") += 1;
                }
                thread::current().id()
            })
        })
        .collect();
    let threads = lockers.into_iter().map(|locker| locker.join().expect("a locker panicked")).collect();
    let elapsed = start.elapsed();
    assert_eq!(*counter.lock().expect("never poisoned"), iters);
    Run { elapsed, threads }
}

/// Per benchmark function: on how many runs the lockers ended on more than one thread,
/// printed when it is dropped, after the function's last run.
struct Placement {
    name: &'static str,
    counts: std::sync::Mutex<(u32, u32)>,
}

impl Placement {
    fn new(name: &'static str) -> Placement {
        Placement { name, counts: std::sync::Mutex::new((0, 0)) }
    }

    fn record(&self, run: Run) -> Duration {
        let mut counts = self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        counts.0 += u32::from(run.threads.len() > 1);
        counts.1 += 1;
        run.elapsed
    }
}

impl Drop for Placement {
    fn drop(&mut self) {
        let (spread, runs) = *self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if runs > 0 {
            eprintln!(
                "mutex/contended/{}: the lockers ended on more than one thread in {spread} of {runs} runs",
                self.name
            );
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(WARM_UP_TIME)
        .measurement_time(MEASUREMENT_TIME)
        .sample_size(SAMPLE_SIZE);
    targets = uncontended, contended
}
criterion_main!(benches);
