//! `coroutine::park`/`unpark` follow `std::thread::park`'s token contract: an unpark
//! before a park makes it return at once, there is one token only, unparks work from any
//! worker and from plain threads, and the runtime's own waits (`sleep`, `join`,
//! `unblock`, socket reads) neither consume the token nor end early because of it.

mod common;

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::run_with;
use hebra::coroutine::{self, Builder};

/// Longer than any park that must return at once can take on a loaded machine; a park
/// that runs into it has ignored a token.
const TOKEN_BOUND: Duration = Duration::from_secs(10);

/// Parks with a bound and asserts the park returned because of a token.
fn assert_park_returns_at_once(what: &str) {
    let start = Instant::now();
    coroutine::park_timeout(TOKEN_BOUND);
    assert!(start.elapsed() < TOKEN_BOUND, "{what}: park ignored an available token");
}

/// Parks for `timeout` and asserts nothing ended the park early.
fn assert_park_times_out(what: &str, timeout: Duration) {
    let start = Instant::now();
    coroutine::park_timeout(timeout);
    assert!(start.elapsed() >= timeout, "{what}: park returned after {:?} without a token", start.elapsed());
}

#[test]
fn unpark_before_park_makes_the_next_park_return() {
    run_with(2, || {
        coroutine::current().unpark();
        assert_park_returns_at_once("own unpark before park");
        let me = coroutine::current();
        hebra::spawn(move || me.unpark()).join().unwrap();
        assert_park_returns_at_once("another coroutine's unpark before park");
    });
}

#[test]
fn unpark_before_the_coroutine_started_is_kept_for_its_first_park() {
    run_with(1, || {
        // One worker, busy with us: the child cannot start before we unpark it.
        let child = hebra::spawn(|| {
            let start = Instant::now();
            coroutine::park_timeout(TOKEN_BOUND);
            start.elapsed() < TOKEN_BOUND
        });
        child.coroutine().unpark();
        assert!(child.join().unwrap(), "the token given before the start was lost");
    });
}

#[test]
fn there_is_one_token_only() {
    run_with(2, || {
        let me = coroutine::current();
        me.unpark();
        me.unpark();
        assert_park_returns_at_once("first park after two unparks");
        assert_park_times_out("second park after two unparks", Duration::from_millis(200));
        // The timed-out park left no token behind either.
        assert_park_times_out("park after a timeout", Duration::from_millis(50));
        // A later unpark still ends a park in progress.
        let waker = hebra::spawn(move || {
            hebra::sleep(Duration::from_millis(20));
            me.unpark();
        });
        assert_park_returns_at_once("park ended by a later unpark");
        waker.join().unwrap();
    });
}

#[test]
fn unpark_from_the_other_worker_wakes_a_parked_coroutine() {
    run_with(2, || {
        const ROUNDS: usize = 500;
        let turn = Arc::new(AtomicUsize::new(0));
        let parked_on_0 = {
            let turn = turn.clone();
            Builder::new()
                .worker(0)
                .spawn(move || {
                    let home = thread::current().id();
                    for round in 0..ROUNDS {
                        while turn.load(Ordering::Acquire) != 2 * round + 1 {
                            coroutine::park();
                        }
                        turn.store(2 * round + 2, Ordering::Release);
                    }
                    home
                })
                .unwrap()
        };
        let target = parked_on_0.coroutine().clone();
        let unparker_on_1 = {
            let turn = turn.clone();
            Builder::new()
                .worker(1)
                .spawn(move || {
                    for round in 0..ROUNDS {
                        while turn.load(Ordering::Acquire) != 2 * round {
                            hebra::yield_now();
                        }
                        turn.store(2 * round + 1, Ordering::Release);
                        target.unpark();
                    }
                    thread::current().id()
                })
                .unwrap()
        };
        let (a, b) = (parked_on_0.join().unwrap(), unparker_on_1.join().unwrap());
        assert_ne!(a, b, "the two coroutines shared a worker");
    });
}

#[test]
fn unpark_from_a_plain_thread_wakes_a_parked_coroutine() {
    run_with(2, || {
        const ROUNDS: usize = 200;
        let turn = Arc::new(AtomicUsize::new(0));
        let me = coroutine::current();
        let plain = {
            let turn = turn.clone();
            thread::spawn(move || {
                for round in 0..ROUNDS {
                    while turn.load(Ordering::Acquire) != 2 * round {
                        thread::yield_now();
                    }
                    turn.store(2 * round + 1, Ordering::Release);
                    me.unpark();
                }
            })
        };
        for round in 0..ROUNDS {
            while turn.load(Ordering::Acquire) != 2 * round + 1 {
                coroutine::park();
            }
            turn.store(2 * round + 2, Ordering::Release);
        }
        plain.join().unwrap();
    });
}

#[test]
fn sleep_keeps_the_token_and_is_not_ended_by_unpark() {
    run_with(2, || {
        coroutine::current().unpark();
        hebra::sleep(Duration::from_millis(10));
        assert_park_returns_at_once("park after sleep");

        // Unparks during a sleep neither shorten it nor get lost.
        let me = coroutine::current();
        let stop = Arc::new(AtomicBool::new(false));
        let pest = {
            let stop = stop.clone();
            hebra::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    me.unpark();
                    hebra::sleep(Duration::from_millis(2));
                }
            })
        };
        let nap = Duration::from_millis(150);
        let start = Instant::now();
        hebra::sleep(nap);
        assert!(start.elapsed() >= nap, "unpark cut a sleep short");
        stop.store(true, Ordering::Release);
        pest.join().unwrap();
        assert_park_returns_at_once("park after unparks during a sleep");
    });
}

#[test]
fn the_runtimes_own_waits_leave_the_token_alone() {
    run_with(2, || {
        coroutine::current().unpark();
        hebra::spawn(|| hebra::sleep(Duration::from_millis(10))).join().unwrap();
        assert_park_returns_at_once("park after join");

        coroutine::current().unpark();
        hebra::unblock(|| thread::sleep(Duration::from_millis(10)));
        assert_park_returns_at_once("park after unblock");

        coroutine::current().unpark();
        let (mut a, mut b) = hebra::net::UnixStream::pair().unwrap();
        let writer = hebra::spawn(move || {
            hebra::sleep(Duration::from_millis(10));
            b.write_all(b"x").unwrap();
            b
        });
        let mut byte = [0; 1];
        a.read_exact(&mut byte).unwrap();
        writer.join().unwrap();
        assert_park_returns_at_once("park after a socket read");
    });
}

#[test]
fn park_on_a_plain_thread_is_std_park() {
    // Outside a coroutine park is std's: std's unpark token works with it.
    thread::current().unpark();
    let start = Instant::now();
    coroutine::park_timeout(TOKEN_BOUND);
    assert!(start.elapsed() < TOKEN_BOUND, "park ignored std's token");
}
