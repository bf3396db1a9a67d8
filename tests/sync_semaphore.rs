//! `hebra::sync::Semaphore`: never more holders than permits (coroutines on both
//! workers and plain threads), waiters are served, and `try_acquire` never waits.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use common::{join_thread, run_with, spawn_on};
use hebra::sync::Semaphore;

#[test]
fn holders_never_outnumber_the_permits() {
    const PERMITS: usize = 3;
    const COROUTINES: usize = 16;
    const THREADS: usize = 4;
    const ROUNDS: usize = 20;
    let most = run_with(2, || {
        let semaphore = Arc::new(Semaphore::new(PERMITS));
        let holding = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let user = {
            let (semaphore, holding, most) = (semaphore.clone(), holding.clone(), most.clone());
            move || {
                for _ in 0..ROUNDS {
                    let _permit = semaphore.acquire();
                    let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    hebra::sleep(Duration::from_micros(200)); // parks (or sleeps) holding it
                    holding.fetch_sub(1, Ordering::SeqCst);
                }
            }
        };
        let coroutines: Vec<_> = (0..COROUTINES).map(|i| spawn_on(i % 2, user.clone())).collect();
        let threads: Vec<_> = (0..THREADS).map(|_| thread::spawn(user.clone())).collect();
        coroutines.into_iter().for_each(|c| c.join().unwrap());
        threads.into_iter().for_each(join_thread);
        assert_eq!(semaphore.available_permits(), PERMITS, "every permit came back");
        most.load(Ordering::SeqCst)
    });
    assert_eq!(most, PERMITS, "at most (and, with 20 contenders, at some point exactly) {PERMITS} holders");
}

#[test]
fn try_acquire_fails_when_none_is_free_and_a_release_serves_a_waiter() {
    run_with(2, || {
        let semaphore = Arc::new(Semaphore::new(1));
        let permit = semaphore.acquire();
        assert!(semaphore.try_acquire().is_none());
        assert_eq!(semaphore.available_permits(), 0);
        let waiter = {
            let semaphore = semaphore.clone();
            spawn_on(1, move || drop(semaphore.acquire()))
        };
        let thread_waiter = {
            let semaphore = semaphore.clone();
            thread::spawn(move || drop(semaphore.acquire()))
        };
        hebra::sleep(Duration::from_millis(10));
        assert!(!waiter.is_finished(), "acquired a permit that was not free");
        drop(permit);
        waiter.join().unwrap();
        join_thread(thread_waiter);
        assert!(semaphore.try_acquire().is_some());
    });
}
