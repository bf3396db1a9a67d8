//! Scheduling: fresh coroutines are stolen by an idle worker, a worker blocked by its
//! coroutine does not hold back coroutines that have not started, and on one worker
//! neither a yielding coroutine nor one whose I/O always succeeds starves the others.
//!
//! These are hang detectors: each waits for the behaviour under a generous bound.

mod common;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use common::{HANG_BOUND, run_with, within};

/// Spins (without ever yielding) until two distinct threads have registered in `seen`.
///
/// Not yielding is what proves stealing: the first of these coroutines that starts keeps
/// its worker busy for good, so the others can only run if the other worker steals
/// them. Were they to yield, one worker could start all 64 in turn, after which none is
/// stealable any more and the test would prove nothing (or hang on a correct runtime).
fn spin_until_two_threads(seen: &Mutex<Vec<ThreadId>>) -> ThreadId {
    let me = thread::current().id();
    {
        let mut seen = seen.lock().unwrap();
        if !seen.contains(&me) {
            seen.push(me);
        }
    }
    while seen.lock().unwrap().len() < 2 {
        std::hint::spin_loop();
    }
    me
}

/// How the main coroutine of a test gets going.
#[derive(Clone, Copy)]
enum Start {
    /// The runtime has settled: the main coroutine slept once, so it runs on a worker
    /// that came back to it for its own timer, not on one that was woken to search.
    Settled,
    /// Every worker was asleep when the main coroutine arrived from outside (a program
    /// that builds its runtime, does some setup, then calls `block_on`), so the main
    /// coroutine runs on a worker that was woken to search for it.
    FromIdle,
}

/// Runs `f` as the main coroutine of a 2-worker runtime started as `start` says.
fn run_two_workers<T, F>(start: Start, f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    within("runtime body", HANG_BOUND, move || {
        let runtime = hebra::Builder::new().workers(2).build().unwrap();
        match start {
            Start::Settled => runtime.block_on(move || {
                hebra::sleep(Duration::from_millis(20));
                f()
            }),
            Start::FromIdle => {
                // Far longer than a worker searches before it sleeps in epoll_wait.
                thread::sleep(Duration::from_millis(100));
                runtime.block_on(f)
            }
        }
    })
}

fn spawned_coroutines_reach_both_workers(start: Start) {
    let threads = run_two_workers(start, || {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handles: Vec<_> = (0..64)
            .map(|_| {
                let seen = seen.clone();
                hebra::spawn(move || spin_until_two_threads(&seen))
            })
            .collect();
        let mut threads: Vec<ThreadId> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        threads.sort_by_key(|id| format!("{id:?}"));
        threads.dedup();
        threads
    });
    assert_eq!(threads.len(), 2, "all 64 ran on one worker");
}

#[test]
fn coroutines_spawned_by_one_coroutine_are_stolen_by_the_other_worker() {
    spawned_coroutines_reach_both_workers(Start::Settled);
}

#[test]
fn coroutines_spawned_by_a_main_coroutine_that_woke_the_runtime_are_stolen() {
    spawned_coroutines_reach_both_workers(Start::FromIdle);
}

#[test]
fn coroutines_spawned_from_a_plain_thread_into_an_idle_runtime_reach_both_workers() {
    within("spawn from outside", HANG_BOUND, || {
        let runtime = hebra::Builder::new().workers(2).build().unwrap();
        // Every worker is asleep when the spawns arrive.
        thread::sleep(Duration::from_millis(100));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handles: Vec<_> = (0..64)
            .map(|_| {
                let seen = seen.clone();
                runtime.spawn(move || spin_until_two_threads(&seen))
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(seen.lock().unwrap().len(), 2);
    });
}

/// Spawns B, then blocks the worker with `block` until B has run; returns B's thread
/// and the blocker's.
fn blocked_spawner_lets_fresh_coroutine_run(start: Start, block: fn()) -> (ThreadId, ThreadId) {
    run_two_workers(start, move || {
        hebra::spawn(move || {
            let ran = Arc::new(AtomicBool::new(false));
            let b = {
                let ran = ran.clone();
                hebra::spawn(move || {
                    ran.store(true, Ordering::Release);
                    thread::current().id()
                })
            };
            let deadline = Instant::now() + HANG_BOUND;
            while !ran.load(Ordering::Acquire) {
                assert!(
                    Instant::now() < deadline,
                    "a fresh coroutine never ran while its spawner blocked a worker"
                );
                block();
            }
            (b.join().unwrap(), thread::current().id())
        })
        .join()
        .unwrap()
    })
}

fn spin() {
    std::hint::spin_loop();
}

fn thread_sleep() {
    thread::sleep(Duration::from_millis(1));
}

#[test]
fn a_spinning_coroutine_does_not_hold_back_a_fresh_one() {
    let (b, a) = blocked_spawner_lets_fresh_coroutine_run(Start::Settled, spin);
    assert_ne!(a, b, "B ran on the blocked worker");
}

#[test]
fn a_coroutine_in_thread_sleep_does_not_hold_back_a_fresh_one() {
    let (b, a) = blocked_spawner_lets_fresh_coroutine_run(Start::Settled, thread_sleep);
    assert_ne!(a, b, "B ran on the blocked worker");
}

#[test]
fn a_blocked_worker_does_not_hold_back_a_fresh_one_right_after_the_runtime_woke_up() {
    let (b, a) = blocked_spawner_lets_fresh_coroutine_run(Start::FromIdle, thread_sleep);
    assert_ne!(a, b, "B ran on the blocked worker");
}

#[test]
fn a_yielding_coroutine_does_not_starve_a_fresh_one_on_one_worker() {
    run_with(1, || {
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let _b = hebra::spawn(move || flag.store(true, Ordering::Release));
        while !ran.load(Ordering::Acquire) {
            hebra::yield_now();
        }
    });
}

#[test]
fn a_coroutine_whose_reads_always_succeed_yields_to_others() {
    run_with(1, || {
        const PREFILLED: usize = 64 * 1024;
        let (mut reader, mut writer) = hebra::net::UnixStream::pair().unwrap();
        writer.write_all(&vec![7u8; PREFILLED]).unwrap();
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let _other = hebra::spawn(move || flag.store(true, Ordering::Release));
        // Every read finds data and never parks; only the I/O budget lets `other` run.
        let mut byte = [0u8; 1];
        let mut consumed = 0;
        while !ran.load(Ordering::Acquire) {
            assert_eq!(reader.read(&mut byte).unwrap(), 1);
            consumed += 1;
            assert!(
                consumed < PREFILLED,
                "{consumed} successful reads in a row never let another coroutine run"
            );
        }
        drop(writer);
    });
}
