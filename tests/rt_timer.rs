//! Timers: `sleep`, `sleep_until` and `park_timeout` never wake before their deadline and
//! always wake, also in the thousands at once and on a worker kept busy by others.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::run_with;
use hebra::coroutine;
use rand::Rng;

/// How late a timer may be before we call it lost: generous, since the machine is shared.
const LATE_BOUND: Duration = Duration::from_secs(10);

#[test]
fn ten_thousand_random_sleeps_all_wake_and_none_early() {
    let late = run_with(2, || {
        let mut rng = rand::rng();
        let handles: Vec<_> = (0..10_000)
            .map(|i| {
                // Zero, sub-millisecond (rounded up, never down) and up to 200 ms.
                let nap = match i % 10 {
                    0 => Duration::ZERO,
                    1 => Duration::from_micros(rng.random_range(1..1000)),
                    _ => Duration::from_micros(rng.random_range(0..200_000)),
                };
                hebra::spawn(move || {
                    let start = Instant::now();
                    hebra::sleep(nap);
                    let slept = start.elapsed();
                    assert!(slept >= nap, "woke after {slept:?} of a {nap:?} sleep");
                    slept - nap
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a sleeper failed")).max().unwrap()
    });
    assert!(late < LATE_BOUND, "a timer fired {late:?} late");
}

#[test]
fn sleep_until_wakes_at_or_after_its_deadline() {
    run_with(2, || {
        let mut rng = rand::rng();
        let handles: Vec<_> = (0..1000)
            .map(|i| {
                let now = Instant::now();
                let deadline = if i % 5 == 0 {
                    // Deadlines in the past return at once.
                    now.checked_sub(Duration::from_millis(10)).unwrap_or(now)
                } else {
                    now + Duration::from_micros(rng.random_range(0..100_000))
                };
                hebra::spawn(move || {
                    hebra::sleep_until(deadline);
                    let now = Instant::now();
                    assert!(now >= deadline, "woke {:?} early", deadline - now);
                    now - deadline
                })
            })
            .collect();
        for handle in handles {
            assert!(handle.join().unwrap() < LATE_BOUND);
        }
    });
}

#[test]
fn park_timeout_returns_after_its_timeout() {
    run_with(2, || {
        for timeout in [1, 20, 100].map(Duration::from_millis) {
            let start = Instant::now();
            coroutine::park_timeout(timeout);
            let parked = start.elapsed();
            assert!(parked >= timeout, "returned after {parked:?} of {timeout:?}");
            assert!(parked < timeout + LATE_BOUND, "returned {parked:?} late");
        }
    });
}

#[test]
fn timers_fire_on_a_worker_kept_busy_by_a_yielding_coroutine() {
    run_with(1, || {
        let stop = Arc::new(AtomicBool::new(false));
        let busy = {
            let stop = stop.clone();
            hebra::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    hebra::yield_now();
                }
            })
        };
        for _ in 0..20 {
            let start = Instant::now();
            hebra::sleep(Duration::from_millis(5));
            assert!(start.elapsed() >= Duration::from_millis(5));
        }
        coroutine::park_timeout(Duration::from_millis(5));
        stop.store(true, Ordering::Relaxed);
        busy.join().unwrap();
    });
}

#[test]
fn sleep_outside_a_coroutine_is_thread_sleep() {
    let nap = Duration::from_millis(20);
    let start = Instant::now();
    hebra::sleep(nap);
    assert!(start.elapsed() >= nap);
    let deadline = Instant::now() + nap;
    hebra::sleep_until(deadline);
    assert!(Instant::now() >= deadline);
}
