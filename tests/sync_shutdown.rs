//! Shutdown with coroutines parked on hebra's locks: the runtime unwinds them from
//! inside their wait, and what an unlock handed to them (the lock, a permit, a turn) is
//! passed on, so plain threads sharing the lock with them are served afterwards
//! instead of waiting forever.

mod common;

use std::sync::{Arc, TryLockError};
use std::thread;
use std::time::Duration;

use common::{HANG_BOUND, run_with, spawn_on, within};
use hebra::sync::{Mutex, RwLock, Semaphore};

/// Runs a runtime whose main coroutine starts `holder` (it takes the resource and parks
/// for an hour) and `waiters` coroutines per worker that wait for the resource, then
/// returns after they have all queued (and waited past the mutex's hand-over
/// threshold): the shutdown unwinds them all.
fn shut_down_with_parked_waiters(
    holder: impl FnOnce() + Send + 'static,
    waiter: impl Fn() + Clone + Send + 'static,
) {
    run_with(2, move || {
        spawn_on(0, holder);
        hebra::sleep(Duration::from_millis(5));
        for worker in [0, 1, 0, 1] {
            spawn_on(worker, waiter.clone());
        }
        hebra::sleep(Duration::from_millis(20));
    });
}

#[test]
fn a_plain_thread_gets_a_mutex_whose_holder_and_waiters_were_unwound() {
    let mutex = Arc::new(Mutex::new(0));
    let thread = {
        let mutex = mutex.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(10)); // queue behind the holder
            *mutex.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        })
    };
    let (holder, waiter) = (mutex.clone(), mutex.clone());
    shut_down_with_parked_waiters(
        move || {
            let _guard = holder.lock().unwrap();
            hebra::sleep(Duration::from_secs(3600));
        },
        move || *waiter.lock().unwrap_or_else(|e| e.into_inner()) += 10,
    );
    within("the plain thread's lock", HANG_BOUND, move || thread.join().unwrap());
    // The holder's section was cut short by the unwind: the mutex says so.
    assert!(mutex.is_poisoned());
    assert_eq!(*mutex.lock().unwrap_or_else(|e| e.into_inner()), 1, "no unwound waiter got the lock");
}

#[test]
fn a_plain_thread_gets_a_permit_whose_holder_and_waiters_were_unwound() {
    let semaphore = Arc::new(Semaphore::new(1));
    let thread = {
        let semaphore = semaphore.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(10));
            drop(semaphore.acquire());
        })
    };
    let (holder, waiter) = (semaphore.clone(), semaphore.clone());
    shut_down_with_parked_waiters(
        move || {
            let _permit = holder.acquire();
            hebra::sleep(Duration::from_secs(3600));
        },
        move || drop(waiter.acquire()),
    );
    within("the plain thread's acquire", HANG_BOUND, move || thread.join().unwrap());
    assert_eq!(semaphore.available_permits(), 1, "the permit came back");
}

#[test]
fn a_plain_thread_gets_a_rwlock_whose_writer_and_waiters_were_unwound() {
    let lock = Arc::new(RwLock::new(0));
    let thread = {
        let lock = lock.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(10));
            *lock.write().unwrap_or_else(|e| e.into_inner()) += 1;
        })
    };
    let (writer, waiter) = (lock.clone(), lock.clone());
    shut_down_with_parked_waiters(
        move || {
            let _guard = writer.write().unwrap();
            hebra::sleep(Duration::from_secs(3600));
        },
        move || drop(waiter.read()),
    );
    within("the plain thread's write lock", HANG_BOUND, move || thread.join().unwrap());
    assert!(!matches!(lock.try_write(), Err(TryLockError::WouldBlock)), "nobody holds it any more");
}

/// Removes itself from a shared registry when dropped: the common shape of a destructor
/// that locks.
struct Registered {
    registry: Arc<Mutex<Vec<u32>>>,
    id: u32,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.lock().unwrap_or_else(|e| e.into_inner()).retain(|&id| id != self.id);
    }
}

/// Blocks its thread for a while when dropped.
struct SlowDrop;

impl Drop for SlowDrop {
    fn drop(&mut self) {
        thread::sleep(Duration::from_millis(100));
    }
}

/// A destructor that locks a mutex held across a park by a coroutine of the other
/// worker: at shutdown it cannot park, so it waits (blocking its thread) for that
/// worker's unwind to release the lock, instead of aborting the process with a panic in
/// a destructor. Runs in a child process, since an abort would take the test binary
/// down with it.
#[test]
fn a_destructor_at_shutdown_gets_a_mutex_the_other_worker_releases() {
    const TEST: &str = "a_destructor_at_shutdown_gets_a_mutex_the_other_worker_releases";
    if common::is_child(TEST) {
        let registry = Arc::new(Mutex::new(vec![1, 2]));
        run_with(2, {
            let registry = registry.clone();
            move || {
                let holder = registry.clone();
                spawn_on(1, move || {
                    let _guard = holder.lock().unwrap();
                    // Dropped before the guard, so the lock stays held while worker 0
                    // unwinds the members, whichever worker starts first.
                    let _slow = SlowDrop;
                    hebra::sleep(Duration::from_secs(3600)); // holds it across a park
                });
                hebra::sleep(Duration::from_millis(10));
                for id in [1, 2] {
                    let member = Registered { registry: registry.clone(), id };
                    spawn_on(0, move || {
                        let _member = member;
                        hebra::sleep(Duration::from_secs(3600));
                    });
                }
                hebra::sleep(Duration::from_millis(10));
            }
        });
        let left = registry.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert!(left.is_empty(), "every member removed itself, got {left:?}");
        return;
    }
    let output = common::output_within(common::child(TEST), HANG_BOUND);
    common::assert_child_passed(&output);
}

/// Sets the flag and notifies the condvar when dropped.
struct Announce(Arc<(Mutex<bool>, hebra::sync::Condvar)>);

impl Drop for Announce {
    fn drop(&mut self) {
        let (flag, condvar) = &*self.0;
        *flag.lock().unwrap_or_else(|e| e.into_inner()) = true;
        condvar.notify_all();
    }
}

/// Waits in its destructor until the flag is set.
struct AwaitFlag(Arc<(Mutex<bool>, hebra::sync::Condvar)>);

impl Drop for AwaitFlag {
    fn drop(&mut self) {
        let (flag, condvar) = &*self.0;
        let guard = flag.lock().unwrap_or_else(|e| e.into_inner());
        let _guard = condvar.wait_while(guard, |set| !*set).unwrap_or_else(|e| e.into_inner());
    }
}

/// Starts a 2-worker runtime whose worker 0 runs a coroutine parked with an
/// [`AwaitFlag`], and (if `announce`) worker 1 one parked with an [`Announce`]; then
/// shuts it down, unwinding both.
fn shut_down_waiting_for_a_flag(announce: bool) {
    let shared = Arc::new((Mutex::new(false), hebra::sync::Condvar::new()));
    run_with(2, move || {
        if announce {
            let announcer = Announce(shared.clone());
            spawn_on(1, move || {
                let _announcer = announcer;
                let _slow = SlowDrop; // the waiter is already waiting when the flag is set
                hebra::sleep(Duration::from_secs(3600));
            });
        }
        let waiter = AwaitFlag(shared);
        spawn_on(0, move || {
            let _waiter = waiter;
            hebra::sleep(Duration::from_secs(3600));
        });
        hebra::sleep(Duration::from_millis(10));
    });
}

/// A destructor's `wait_while` at shutdown sees the condition that another worker's
/// unwinding makes true.
#[test]
fn a_destructor_at_shutdown_waits_for_a_condition_the_other_worker_sets() {
    const TEST: &str = "a_destructor_at_shutdown_waits_for_a_condition_the_other_worker_sets";
    if common::is_child(TEST) {
        shut_down_waiting_for_a_flag(true);
        return;
    }
    let output = common::output_within(common::child(TEST), HANG_BOUND);
    common::assert_child_passed(&output);
}

/// A destructor's `wait_while` at shutdown whose condition nobody will change must not
/// hang the shutdown: after a second it gives up with a message (a panic in a
/// destructor, so the process aborts).
#[test]
fn a_destructor_at_shutdown_does_not_wait_forever_for_a_condition() {
    const TEST: &str = "a_destructor_at_shutdown_does_not_wait_forever_for_a_condition";
    if common::is_child(TEST) {
        shut_down_waiting_for_a_flag(false);
        return;
    }
    let output = common::output_within(common::child(TEST), HANG_BOUND);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the shutdown cannot have completed the wait");
    assert!(stderr.contains("for a condition nobody changed"), "no message naming the wait:\n{stderr}");
}
