//! `hebra::sync::Condvar` with hebra's `Mutex`: `notify_one` wakes exactly one waiter
//! that still waits, `notify_all` wakes all, timed waits time out (or not), `wait_while`
//! re-checks, and coroutines on both workers and plain threads wait on one condvar.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{join_thread, run_with, spawn_on};
use hebra::sync::{Condvar, Mutex};

/// A condvar, its mutex, and counts of the waiters that started waiting and of those
/// that came back from their one `wait`.
#[derive(Default)]
struct Waiters {
    mutex: Mutex<()>,
    condvar: Condvar,
    waiting: AtomicUsize,
    woken: AtomicUsize,
}

impl Waiters {
    /// Waits once (a plain `wait`: every return counts).
    fn wait_once(&self) {
        let guard = self.mutex.lock().unwrap();
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _guard = self.condvar.wait(guard).unwrap();
        self.woken.fetch_add(1, Ordering::SeqCst);
    }

    /// Sleeps (parking) until `f` holds, within a generous bound.
    fn eventually(&self, what: &str, f: impl Fn(&Waiters) -> bool) {
        let start = Instant::now();
        while !f(self) {
            assert!(start.elapsed() < Duration::from_secs(30), "never happened: {what}");
            hebra::sleep(Duration::from_millis(1));
        }
    }

    fn woken(&self) -> usize {
        self.woken.load(Ordering::SeqCst)
    }
}

#[test]
fn notify_one_wakes_exactly_one_waiter_and_notify_all_the_rest() {
    const WAITERS: usize = 6;
    run_with(2, || {
        let state = Arc::new(Waiters::default());
        let coroutines: Vec<_> = (0..WAITERS - 2)
            .map(|i| {
                let state = state.clone();
                spawn_on(i % 2, move || state.wait_once())
            })
            .collect();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let state = state.clone();
                thread::spawn(move || state.wait_once())
            })
            .collect();
        state.eventually("all counted", |s| s.waiting.load(Ordering::SeqCst) == WAITERS);
        // Each counted under the mutex and queued before releasing it: all queued now.
        drop(state.mutex.lock().unwrap());
        for woken in 1..=2 {
            state.condvar.notify_one();
            state.eventually("one more woken", |s| s.woken() == woken);
            hebra::sleep(Duration::from_millis(20));
            assert_eq!(state.woken(), woken, "notify_one woke more than one waiter");
        }
        state.condvar.notify_all();
        coroutines.into_iter().for_each(|c| c.join().unwrap());
        threads.into_iter().for_each(join_thread);
        assert_eq!(state.woken(), WAITERS);
    });
}

#[test]
fn wait_timeout_times_out_without_a_notification() {
    run_with(2, || {
        let (mutex, condvar) = (Mutex::new(()), Condvar::new());
        let timeout = Duration::from_millis(30);
        let start = Instant::now();
        let (_guard, result) = condvar.wait_timeout(mutex.lock().unwrap(), timeout).unwrap();
        assert!(result.timed_out());
        assert!(start.elapsed() >= timeout, "returned early: {:?}", start.elapsed());
        // Plain threads too.
        let thread = thread::spawn(move || {
            let (mutex, condvar) = (Mutex::new(0), Condvar::new());
            let guard = mutex.lock().unwrap();
            let (guard, result) = condvar.wait_timeout_while(guard, timeout, |n| *n == 0).unwrap();
            result.timed_out() && *guard == 0
        });
        assert!(join_thread(thread));
    });
}

#[test]
fn a_notified_timed_wait_does_not_time_out() {
    run_with(2, || {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let notifier = {
            let pair = pair.clone();
            spawn_on(1, move || {
                hebra::sleep(Duration::from_millis(10));
                *pair.0.lock().unwrap() = true;
                pair.1.notify_one();
            })
        };
        let (ready, condvar) = &*pair;
        let (ready, result) = condvar
            .wait_timeout_while(ready.lock().unwrap(), Duration::from_secs(60), |ready| !*ready)
            .unwrap();
        assert!(*ready && !result.timed_out());
        drop(ready);
        notifier.join().unwrap();
    });
}

#[test]
fn a_waiter_that_timed_out_does_not_take_a_later_notification() {
    run_with(2, || {
        let pair = Arc::new((Mutex::new(0), Condvar::new()));
        // This one gives up quickly and leaves.
        let quitter = {
            let pair = pair.clone();
            spawn_on(0, move || {
                let (_guard, result) =
                    pair.1.wait_timeout(pair.0.lock().unwrap(), Duration::from_millis(5)).unwrap();
                result.timed_out()
            })
        };
        assert!(quitter.join().unwrap());
        let stayer = {
            let pair = pair.clone();
            spawn_on(1, move || *pair.1.wait_while(pair.0.lock().unwrap(), |n| *n == 0).unwrap())
        };
        // One notification: spent on the quitter, it would leave the stayer waiting.
        hebra::sleep(Duration::from_millis(10));
        *pair.0.lock().unwrap() = 1;
        pair.1.notify_one();
        assert_eq!(stayer.join().unwrap(), 1);
    });
}

#[test]
fn a_producer_and_consumers_on_a_queue_lose_nothing() {
    const ITEMS: usize = 2_000;
    const CONSUMERS: usize = 4;
    run_with(2, || {
        let queue = Arc::new((Mutex::new((Vec::new(), false)), Condvar::new()));
        let consumed = Arc::new(AtomicUsize::new(0));
        let consumer = {
            let (queue, consumed) = (queue.clone(), consumed.clone());
            move || loop {
                let (items, condvar) = &*queue;
                let mut items =
                    condvar.wait_while(items.lock().unwrap(), |(v, done)| v.is_empty() && !*done).unwrap();
                match items.0.pop() {
                    Some(_) => consumed.fetch_add(1, Ordering::SeqCst),
                    None => return,
                };
            }
        };
        let consumers: Vec<_> = (0..CONSUMERS - 1).map(|i| spawn_on(i % 2, consumer.clone())).collect();
        let thread = thread::spawn(consumer);
        for n in 0..ITEMS {
            queue.0.lock().unwrap().0.push(n);
            queue.1.notify_one();
            if n % 100 == 0 {
                hebra::yield_now();
            }
        }
        queue.0.lock().unwrap().1 = true;
        queue.1.notify_all();
        consumers.into_iter().for_each(|c| c.join().unwrap());
        join_thread(thread);
        assert_eq!(consumed.load(Ordering::SeqCst), ITEMS);
    });
}
