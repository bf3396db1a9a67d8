//! `hebra::sync::RwLock`: readers share it (coroutines and plain threads at once),
//! writers exclude everybody, a writer is not starved by a stream of overlapping
//! readers, and the `try_` variants and poisoning follow std.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, TryLockError};
use std::thread;
use std::time::Duration;

use common::{join_thread, run_with, spawn_on};
use hebra::sync::{Barrier, RwLock};

#[test]
fn readers_hold_the_lock_together() {
    // Every reader waits at a barrier *inside* its read section: if readers excluded
    // each other, the barrier would never fill (and the hang bound would trip).
    const COROUTINES: usize = 4;
    const THREADS: usize = 2;
    run_with(2, || {
        let lock = Arc::new(RwLock::new(7));
        let barrier = Arc::new(Barrier::new(COROUTINES + THREADS));
        let read = {
            let (lock, barrier) = (lock.clone(), barrier.clone());
            move || {
                let value = lock.read().unwrap();
                barrier.wait();
                *value
            }
        };
        let coroutines: Vec<_> = (0..COROUTINES).map(|i| spawn_on(i % 2, read.clone())).collect();
        let threads: Vec<_> = (0..THREADS).map(|_| thread::spawn(read.clone())).collect();
        assert!(coroutines.into_iter().all(|c| c.join().unwrap() == 7));
        assert!(threads.into_iter().all(|t| join_thread(t) == 7));
    });
}

#[test]
fn writers_exclude_readers_and_each_other() {
    const ROUNDS: usize = 500;
    let (value, reads) = run_with(2, || {
        let lock = Arc::new(RwLock::new((0u64, 0u64)));
        let reads = Arc::new(AtomicUsize::new(0));
        // A writer keeps both halves equal; a reader that saw them differ saw a write
        // in progress.
        let write = {
            let lock = lock.clone();
            move || {
                for n in 0..ROUNDS {
                    let mut pair = lock.write().unwrap();
                    pair.0 += 1;
                    if n % 10 == 0 {
                        hebra::yield_now(); // parks holding the write lock
                    }
                    pair.1 += 1;
                }
            }
        };
        let read = {
            let (lock, reads) = (lock.clone(), reads.clone());
            move || {
                for _ in 0..ROUNDS {
                    let pair = lock.read().unwrap();
                    assert_eq!(pair.0, pair.1, "a reader saw a write in progress");
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            }
        };
        let coroutines = [spawn_on(0, write.clone()), spawn_on(1, write.clone()), spawn_on(0, read.clone())];
        let threads = [thread::spawn(write), thread::spawn(read)];
        coroutines.into_iter().for_each(|c| c.join().unwrap());
        threads.into_iter().for_each(join_thread);
        let value = *lock.read().unwrap();
        (value, reads.load(Ordering::Relaxed))
    });
    assert_eq!(value, (3 * ROUNDS as u64, 3 * ROUNDS as u64));
    assert_eq!(reads, 2 * ROUNDS);
}

/// Read sections that may start while one writer waits before we call it starved.
/// Fair, it waits only for the sections already running (one per reader); readers that
/// may join a held read lock would go on until they stop at [`READ_LIMIT`].
const STARVED: u64 = 100;
const READ_LIMIT: u64 = 20 * STARVED;

#[test]
fn a_writer_is_not_starved_by_overlapping_readers() {
    // Four readers take turns so that the lock is never free of readers.
    const READERS: usize = 4;
    let overtaken = run_with(2, || {
        let lock = Arc::new(RwLock::new(0u64));
        let reads = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..READERS)
            .map(|i| {
                let (lock, reads, stop) = (lock.clone(), reads.clone(), stop.clone());
                spawn_on(i % 2, move || {
                    while !stop.load(Ordering::Relaxed) && reads.load(Ordering::SeqCst) < READ_LIMIT {
                        let _value = lock.read().unwrap();
                        reads.fetch_add(1, Ordering::SeqCst);
                        hebra::sleep(Duration::from_micros(500));
                    }
                })
            })
            .collect();
        hebra::sleep(Duration::from_millis(20));
        let writer = {
            let (lock, reads) = (lock.clone(), reads.clone());
            spawn_on(1, move || {
                let before = reads.load(Ordering::SeqCst);
                *lock.write().unwrap() = 1;
                reads.load(Ordering::SeqCst) - before
            })
        };
        let overtaken = writer.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        readers.into_iter().for_each(|r| r.join().unwrap());
        assert_eq!(*lock.read().unwrap(), 1);
        overtaken
    });
    assert!(overtaken < STARVED, "the writer starved: {overtaken} read sections started while it waited");
}

#[test]
fn try_variants_and_poisoning_follow_std() {
    run_with(2, || {
        let lock = Arc::new(RwLock::new(vec![1]));
        let reader = lock.read().unwrap();
        assert!(lock.try_read().is_ok(), "readers share");
        let other = lock.clone();
        assert!(
            spawn_on(1, move || matches!(other.try_write(), Err(TryLockError::WouldBlock))).join().unwrap()
        );
        drop(reader);
        let other = lock.clone();
        let result = spawn_on(1, move || {
            let mut value = other.write().unwrap();
            value.push(2);
            panic!("holding the write lock");
        })
        .join();
        assert!(result.is_err());
        assert!(lock.is_poisoned());
        assert_eq!(*lock.read().unwrap_err().into_inner(), [1, 2]);
        lock.clear_poison();
        assert!(lock.try_write().is_ok());
    });
}
