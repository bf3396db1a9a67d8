//! `hebra::unblock`: blocking closures run on helper threads, concurrently, while the
//! workers keep serving other coroutines; a panic in one is re-raised in its caller.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{panic_message, run_with};

const JOBS: usize = 100;
const JOB_SLEEP: Duration = Duration::from_millis(100);
/// Far less than the 10 s the jobs take one after another, far more than the ~0.1 s they
/// take side by side.
const CONCURRENT_BOUND: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Counters {
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    ticks_during_jobs: AtomicUsize,
}

fn hundred_blocking_sleeps(workers: usize) {
    let counters = Arc::new(Counters::default());
    let elapsed = {
        let counters = counters.clone();
        run_with(workers, move || {
            let stop = Arc::new(AtomicBool::new(false));
            let ticker = {
                let (stop, counters) = (stop.clone(), counters.clone());
                hebra::spawn(move || {
                    while !stop.load(Ordering::Acquire) {
                        hebra::sleep(Duration::from_millis(1));
                        if counters.in_flight.load(Ordering::SeqCst) > 0 {
                            counters.ticks_during_jobs.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            };
            let start = Instant::now();
            let handles: Vec<_> = (0..JOBS)
                .map(|i| {
                    let counters = counters.clone();
                    hebra::spawn(move || {
                        let caller = thread::current().id();
                        let helper = hebra::unblock(move || {
                            let now = counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                            counters.max_in_flight.fetch_max(now, Ordering::SeqCst);
                            thread::sleep(JOB_SLEEP);
                            counters.in_flight.fetch_sub(1, Ordering::SeqCst);
                            (i, thread::current().id())
                        });
                        assert_eq!(helper.0, i, "got another job's result");
                        assert_ne!(helper.1, caller, "the job ran on the worker");
                    })
                })
                .collect();
            for handle in handles {
                handle.join().expect("an unblock caller failed");
            }
            let elapsed = start.elapsed();
            stop.store(true, Ordering::Release);
            ticker.join().unwrap();
            elapsed
        })
    };
    assert!(
        elapsed < CONCURRENT_BOUND,
        "{JOBS} jobs of {JOB_SLEEP:?} took {elapsed:?}: they did not run side by side"
    );
    assert!(counters.max_in_flight.load(Ordering::SeqCst) > 1, "the jobs ran one at a time");
    assert!(
        counters.ticks_during_jobs.load(Ordering::SeqCst) > 0,
        "the ticker never ran while jobs were in flight: unblock held the worker"
    );
}

#[test]
fn a_hundred_blocking_sleeps_run_side_by_side_on_one_worker() {
    hundred_blocking_sleeps(1);
}

#[test]
fn a_hundred_blocking_sleeps_run_side_by_side_on_two_workers() {
    hundred_blocking_sleeps(2);
}

#[test]
fn a_panic_in_unblock_is_reraised_in_the_caller() {
    run_with(2, || {
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            hebra::unblock(|| -> u8 { panic!("helper failed: {}", 17) })
        }));
        assert_eq!(panic_message(&*caught.unwrap_err()), "helper failed: 17");

        let joined = hebra::spawn(|| hebra::unblock(|| panic!("uncaught in helper"))).join();
        assert_eq!(panic_message(&*joined.unwrap_err()), "uncaught in helper");

        // Helpers and runtime keep working.
        assert_eq!(hebra::unblock(|| 5), 5);
    });
}

#[test]
fn unblock_on_a_plain_thread_runs_inline() {
    let me = thread::current().id();
    assert_eq!(hebra::unblock(move || thread::current().id()), me);
}

#[test]
fn back_to_back_unblocks_never_lose_a_wakeup() {
    run_with(2, || {
        for i in 0..5_000u32 {
            // A job that is done before its caller looks, then one that is not: the late
            // wake of the first must not end the wait for the second.
            assert_eq!(hebra::unblock(move || i), i);
            hebra::unblock(|| thread::sleep(Duration::from_micros(100)));
        }
    });
}

#[test]
fn max_blocking_threads_caps_the_helpers() {
    const TEST: &str = "max_blocking_threads_caps_the_helpers";
    // The helper pool is process-wide and only its growth is capped: a fresh process
    // keeps the threads other tests started out of the count.
    if !common::is_child(TEST) {
        common::assert_child_passed(&common::output_within(common::child(TEST), common::HANG_BOUND));
        return;
    }
    let counters = Arc::new(Counters::default());
    let runtime = hebra::Builder::new().workers(2).max_blocking_threads(2).build().unwrap();
    let c = counters.clone();
    runtime.block_on(move || {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let c = c.clone();
                hebra::spawn(move || {
                    hebra::unblock(move || {
                        let now = c.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        c.max_in_flight.fetch_max(now, Ordering::SeqCst);
                        thread::sleep(Duration::from_millis(20));
                        c.in_flight.fetch_sub(1, Ordering::SeqCst);
                    })
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
    });
    let max = counters.max_in_flight.load(Ordering::SeqCst);
    assert!((1..=2).contains(&max), "{max} jobs ran at once with a cap of 2 helpers");
}
