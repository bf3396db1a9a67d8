//! Spawning and joining: results, `JoinHandle::is_finished`, coroutine names and ids,
//! `coroutine::Builder::worker`, `hebra::workers`, and `Runtime::spawn` from a plain
//! thread.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{HANG_BOUND, run_with, within};
use hebra::coroutine::{self, Builder};

#[test]
fn join_returns_each_coroutines_result() {
    let sum = run_with(2, || {
        let handles: Vec<_> = (0..100u64).map(|i| hebra::spawn(move || i * i)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(sum, (0..100u64).map(|i| i * i).sum());
}

#[test]
fn nested_spawns_are_joined_from_coroutines() {
    let total = run_with(2, || {
        let outer: Vec<_> = (0..10u32)
            .map(|i| {
                hebra::spawn(move || {
                    let inner: Vec<_> = (0..10u32).map(|j| hebra::spawn(move || i * 10 + j)).collect();
                    inner.into_iter().map(|h| h.join().unwrap()).sum::<u32>()
                })
            })
            .collect();
        outer.into_iter().map(|h| h.join().unwrap()).sum::<u32>()
    });
    assert_eq!(total, (0..100).sum());
}

#[test]
fn is_finished_turns_true_only_when_the_coroutine_returns() {
    run_with(2, || {
        let release = Arc::new(AtomicBool::new(false));
        let handle = {
            let release = release.clone();
            hebra::spawn(move || {
                while !release.load(Ordering::Acquire) {
                    coroutine::park();
                }
                7
            })
        };
        hebra::sleep(Duration::from_millis(20));
        assert!(!handle.is_finished(), "a parked coroutine is not finished");
        release.store(true, Ordering::Release);
        handle.coroutine().unpark();
        let deadline = Instant::now() + HANG_BOUND;
        while !handle.is_finished() {
            assert!(Instant::now() < deadline, "is_finished never became true");
            hebra::sleep(Duration::from_millis(1));
        }
        assert_eq!(handle.join().unwrap(), 7);
    });
}

#[test]
fn builder_names_the_coroutine() {
    run_with(2, || {
        let named = Builder::new()
            .name("worker-bee".into())
            .spawn(|| coroutine::current().name().map(str::to_owned))
            .unwrap();
        assert_eq!(named.coroutine().name(), Some("worker-bee"));
        assert_eq!(named.join().unwrap().as_deref(), Some("worker-bee"));
        let unnamed = hebra::spawn(|| coroutine::current().name().map(str::to_owned));
        assert_eq!(unnamed.coroutine().name(), None);
        assert_eq!(unnamed.join().unwrap(), None);
    });
}

#[test]
fn coroutine_ids_are_unique_and_match_their_handles() {
    run_with(2, || {
        let handles: Vec<_> = (0..1000).map(|_| hebra::spawn(|| coroutine::current().id())).collect();
        let mut seen = HashSet::new();
        for handle in handles {
            let expected = handle.coroutine().id();
            let id = handle.join().unwrap();
            assert_eq!(id, expected, "current().id() differs from the handle's id");
            assert!(seen.insert(id), "id {id:?} given to two coroutines");
        }
        assert!(!seen.contains(&coroutine::current().id()), "a child has its parent's id");
    });
}

#[test]
fn workers_reports_the_configured_count() {
    for workers in [1, 2, 3] {
        assert_eq!(run_with(workers, hebra::workers), workers);
        let runtime = hebra::Builder::new().workers(workers).build().unwrap();
        assert_eq!(runtime.workers(), workers);
    }
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(within("hebra::run", HANG_BOUND, || hebra::run(hebra::workers)), cores);
}

#[test]
fn builder_worker_runs_on_that_worker_every_time() {
    let by_worker = run_with(2, || {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let worker = i % 2;
                let handle = Builder::new()
                    .worker(worker)
                    .spawn(move || {
                        let first = thread::current().id();
                        // A park and a sleep in between: a pinned coroutine must come back
                        // to the same thread as well.
                        hebra::sleep(Duration::from_millis(1));
                        hebra::yield_now();
                        assert_eq!(thread::current().id(), first, "moved to another thread");
                        first
                    })
                    .unwrap();
                (worker, handle)
            })
            .collect();
        let mut by_worker = [HashSet::new(), HashSet::new()];
        for (worker, handle) in handles {
            by_worker[worker].insert(handle.join().unwrap());
        }
        by_worker
    });
    assert_eq!(by_worker[0].len(), 1, "worker(0) ran on several threads");
    assert_eq!(by_worker[1].len(), 1, "worker(1) ran on several threads");
    assert!(by_worker[0].is_disjoint(&by_worker[1]), "worker(0) and worker(1) are the same thread");
}

#[test]
fn runtime_spawn_from_a_plain_thread_and_join_there() {
    within("Runtime::spawn", HANG_BOUND, || {
        let runtime = hebra::Builder::new().workers(2).build().unwrap();
        let me = thread::current().id();
        let handles: Vec<_> = (0..50u32)
            .map(|i| {
                runtime.spawn(move || {
                    assert_ne!(thread::current().id(), me, "ran on the spawning thread");
                    hebra::sleep(Duration::from_millis(1));
                    i + 1
                })
            })
            .collect();
        let sum: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, (1..=50).sum());
        // Spawning from another plain thread while the first one joins.
        let runtime = Arc::new(runtime);
        let remote = {
            let runtime = runtime.clone();
            thread::spawn(move || runtime.spawn(|| "from another thread").join().unwrap())
        };
        assert_eq!(remote.join().unwrap(), "from another thread");
    });
}

#[test]
fn dropping_a_join_handle_detaches_the_coroutine() {
    let ran = run_with(2, || {
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let me = coroutine::current();
        drop(hebra::spawn(move || {
            hebra::sleep(Duration::from_millis(5));
            flag.store(true, Ordering::Release);
            me.unpark();
        }));
        while !ran.load(Ordering::Acquire) {
            coroutine::park();
        }
        ran.load(Ordering::Acquire)
    });
    assert!(ran);
}

#[test]
fn block_on_from_several_plain_threads_at_once() {
    within("concurrent block_on", HANG_BOUND, || {
        let runtime = Arc::new(hebra::Builder::new().workers(2).build().unwrap());
        let threads: Vec<_> = (0..4u64)
            .map(|i| {
                let runtime = runtime.clone();
                thread::spawn(move || {
                    runtime.block_on(move || {
                        hebra::sleep(Duration::from_millis(10));
                        hebra::spawn(move || i * 10).join().unwrap()
                    })
                })
            })
            .collect();
        let results: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(results, [0, 10, 20, 30]);
    });
}
