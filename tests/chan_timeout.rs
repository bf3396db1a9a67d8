//! Timeouts and deadlines of sends and receives: they report `Timeout` (a send hands its
//! message back), they never fire early, a ready operation succeeds however short the
//! timeout, and the channel works as before afterwards, on coroutines and plain threads.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{DropCounter, HANG_BOUND, run_with, within};
use hebra::chan::{self, RecvTimeoutError, SendTimeoutError, TryRecvError, TrySendError};

const SHORT: Duration = Duration::from_millis(30);

/// Long enough for a party that would act to have acted (checks that something did *not*
/// happen; no test waits for it to pass in order to succeed).
const SETTLE: Duration = Duration::from_millis(100);

/// Asserts that `f` returns only once `timeout` has passed, and returns its result.
fn takes_at_least<T>(timeout: Duration, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let result = f();
    assert!(
        start.elapsed() >= timeout,
        "returned after {:?}, before its {timeout:?} timeout",
        start.elapsed()
    );
    result
}

/// Receive timeouts on empty channels of each kind, then the channel still works.
fn recv_timeout_then_use(cap: Option<usize>) {
    let (tx, rx) = match cap {
        Some(cap) => chan::bounded(cap),
        None => chan::unbounded(),
    };
    assert_eq!(takes_at_least(SHORT, || rx.recv_timeout(SHORT)), Err(RecvTimeoutError::Timeout));
    assert!(rx.recv_timeout(SHORT).unwrap_err().is_timeout());
    let deadline = Instant::now() + SHORT;
    assert_eq!(takes_at_least(SHORT, || rx.recv_deadline(deadline)), Err(RecvTimeoutError::Timeout));
    // Nothing of the timed-out receives is left behind to take a later message.
    assert_eq!(tx.try_send(1), if cap == Some(0) { Err(TrySendError::Full(1)) } else { Ok(()) });
    if cap == Some(0) {
        let sender = thread::spawn(move || {
            tx.send(2).unwrap();
            tx
        });
        assert_eq!(rx.recv_timeout(HANG_BOUND), Ok(2));
        drop(sender.join().unwrap());
    } else {
        assert_eq!(rx.recv_timeout(HANG_BOUND), Ok(1));
        drop(tx);
    }
    assert_eq!(
        rx.recv_timeout(SHORT),
        Err(RecvTimeoutError::Disconnected),
        "disconnection beats the timeout"
    );
}

/// Send timeouts on full channels hand the message back, leave nothing in the channel,
/// and the channel still works.
fn send_timeout_then_use(cap: usize) {
    let (tx, rx) = chan::bounded(cap);
    for i in 0..cap {
        tx.send(i).unwrap();
    }
    let err = takes_at_least(SHORT, || tx.send_timeout(100, SHORT)).unwrap_err();
    assert!(err.is_timeout() && !err.is_disconnected());
    assert_eq!(err.into_inner(), 100);
    let deadline = Instant::now() + SHORT;
    assert_eq!(
        takes_at_least(SHORT, || tx.send_deadline(101, deadline)),
        Err(SendTimeoutError::Timeout(101))
    );
    assert_eq!(rx.len(), cap, "a timed-out send left its message in the channel");
    for i in 0..cap {
        assert_eq!(rx.try_recv(), Ok(i));
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "a timed-out send was delivered after all");
    // A receiver now takes a new message, not one of the timed-out ones.
    let receiver = thread::spawn(move || rx.recv());
    assert_eq!(tx.send_timeout(102, HANG_BOUND), Ok(()));
    assert_eq!(receiver.join().unwrap(), Ok(102));
    assert_eq!(tx.send_timeout(103, SHORT), Err(SendTimeoutError::Disconnected(103)));
}

#[test]
fn recv_timeouts_on_coroutines() {
    run_with(2, || {
        for cap in [Some(0), Some(1), None] {
            recv_timeout_then_use(cap);
        }
    });
}

#[test]
fn recv_timeouts_on_plain_threads() {
    within("recv timeouts on a plain thread", HANG_BOUND, || {
        for cap in [Some(0), Some(1), None] {
            recv_timeout_then_use(cap);
        }
    });
}

#[test]
fn send_timeouts_on_coroutines() {
    run_with(2, || {
        for cap in [0, 1, 3] {
            send_timeout_then_use(cap);
        }
    });
}

#[test]
fn send_timeouts_on_plain_threads() {
    within("send timeouts on a plain thread", HANG_BOUND, || {
        for cap in [0, 1, 3] {
            send_timeout_then_use(cap);
        }
    });
}

/// A timed-out rendezvous send is really withdrawn: a receiver arriving later does not
/// get it, and the message is handed back, not dropped.
#[test]
fn a_timed_out_rendezvous_send_is_withdrawn() {
    run_with(2, || {
        let counter = DropCounter::new();
        let (tx, rx) = chan::bounded(0);
        let back = tx.send_timeout(counter.token(), SHORT).unwrap_err().into_inner();
        assert_eq!(counter.drops(), 0, "the message came back whole");
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
        assert!(matches!(rx.recv_timeout(SHORT), Err(RecvTimeoutError::Timeout)));
        drop(back);
        assert_eq!(counter.drops(), 1);
    });
}

/// With a zero timeout (or a deadline already past), an operation that is ready
/// succeeds and one that is not times out at once.
#[test]
fn zero_timeouts_and_past_deadlines() {
    run_with(2, || {
        let past = Instant::now() - Duration::from_millis(1);
        let (tx, rx) = chan::bounded(1);
        assert_eq!(rx.recv_timeout(Duration::ZERO), Err(RecvTimeoutError::Timeout));
        assert_eq!(rx.recv_deadline(past), Err(RecvTimeoutError::Timeout));
        assert_eq!(tx.send_timeout(1, Duration::ZERO), Ok(()), "room: the send succeeds");
        assert_eq!(tx.send_timeout(2, Duration::ZERO), Err(SendTimeoutError::Timeout(2)));
        assert_eq!(tx.send_deadline(3, past), Err(SendTimeoutError::Timeout(3)));
        assert_eq!(rx.recv_deadline(past), Ok(1), "a message: the receive succeeds");
        assert_eq!(tx.send_deadline(4, past), Ok(()));
        assert_eq!(rx.recv_timeout(Duration::ZERO), Ok(4));

        // Rendezvous: a zero-timeout send meets a receiver that is already waiting.
        let (tx, rx) = chan::bounded(0);
        let receiver = hebra::spawn(move || rx.recv());
        let mut attempts = 0;
        let start = Instant::now();
        // The receiver may not be waiting yet: retry until it is.
        while let Err(err) = tx.send_timeout(5, Duration::ZERO) {
            assert!(err.is_timeout());
            assert!(start.elapsed() < HANG_BOUND, "the receiver never started waiting");
            attempts += 1;
            hebra::sleep(Duration::from_millis(1));
        }
        assert_eq!(receiver.join().unwrap(), Ok(5), "after {attempts} attempts");

        // And a zero-timeout receive meets a sender that is already waiting.
        let (tx, rx) = chan::bounded(0);
        let sender = hebra::spawn(move || tx.send(6));
        let got = loop {
            match rx.recv_timeout(Duration::ZERO) {
                Ok(msg) => break msg,
                Err(err) => assert!(err.is_timeout()),
            }
            assert!(start.elapsed() < HANG_BOUND, "the sender never started waiting");
            hebra::sleep(Duration::from_millis(1));
        };
        assert_eq!(got, 6);
        sender.join().unwrap().unwrap();
    });
}

/// A timeout too large for `Instant` means no timeout.
#[test]
fn huge_timeouts_mean_waiting_for_ever() {
    run_with(2, || {
        let (tx, rx) = chan::bounded::<u8>(0);
        let receiver = {
            let rx = rx.clone();
            hebra::spawn(move || rx.recv_timeout(Duration::MAX))
        };
        hebra::sleep(Duration::from_millis(10));
        assert_eq!(tx.send_timeout(7, Duration::MAX), Ok(()));
        assert_eq!(receiver.join().unwrap(), Ok(7));
        let plain = thread::spawn(move || tx.send_deadline(8, Instant::now() + Duration::from_secs(1 << 40)));
        hebra::sleep(Duration::from_millis(10));
        assert_eq!(rx.recv_timeout(Duration::MAX), Ok(8));
        assert_eq!(hebra::unblock(move || plain.join().unwrap()), Ok(()));
    });
}

/// A message that arrives before the deadline is received, by coroutines and threads.
#[test]
fn a_message_before_the_deadline_is_received() {
    run_with(2, || {
        let (tx, rx) = chan::bounded::<u32>(0);
        let coroutine = {
            let rx = rx.clone();
            hebra::spawn(move || rx.recv_timeout(HANG_BOUND))
        };
        let plain = thread::spawn(move || rx.recv_deadline(Instant::now() + HANG_BOUND));
        hebra::sleep(Duration::from_millis(10));
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        let mut got =
            [coroutine.join().unwrap().unwrap(), hebra::unblock(move || plain.join().unwrap()).unwrap()];
        got.sort();
        assert_eq!(got, [1, 2]);

        let (tx, rx) = chan::bounded::<u32>(1);
        tx.send(0).unwrap();
        let coroutine = {
            let tx = tx.clone();
            hebra::spawn(move || tx.send_timeout(1, HANG_BOUND))
        };
        let plain = thread::spawn(move || tx.send_deadline(2, Instant::now() + HANG_BOUND));
        hebra::sleep(Duration::from_millis(10));
        let mut got: Vec<u32> = (0..3).map(|_| rx.recv().unwrap()).collect();
        assert_eq!(coroutine.join().unwrap(), Ok(()));
        assert_eq!(hebra::unblock(move || plain.join().unwrap()), Ok(()));
        got.sort();
        assert_eq!(got, [0, 1, 2]);
    });
}

/// A coroutine waiting with a timeout parks: on a single worker the others run, and
/// the timeout still fires.
#[test]
fn a_coroutine_waiting_with_a_timeout_does_not_block_its_worker() {
    run_with(1, || {
        let (_tx, rx) = chan::bounded::<u8>(0);
        let timed_out = Arc::new(AtomicBool::new(false));
        let waiter = {
            let timed_out = timed_out.clone();
            hebra::spawn(move || {
                let outcome = rx.recv_timeout(Duration::from_millis(200));
                timed_out.store(true, Ordering::Release);
                outcome
            })
        };
        hebra::yield_now();
        let other = hebra::spawn(|| 42);
        assert_eq!(other.join().unwrap(), 42, "the waiting coroutine held the worker");
        assert_eq!(waiter.join().unwrap(), Err(RecvTimeoutError::Timeout));
        assert!(timed_out.load(Ordering::Acquire));
    });
}

/// Many timed-out waits in a row leave nothing behind: no registration piles up, and a
/// coroutine's later waits are not ended by stale wakes (its sleep lasts as long as asked).
#[test]
fn repeated_timeouts_leave_no_trace() {
    run_with(2, || {
        let (tx, rx) = chan::bounded::<u32>(0);
        for _ in 0..200 {
            assert_eq!(rx.recv_timeout(Duration::from_micros(50)), Err(RecvTimeoutError::Timeout));
            assert!(tx.send_timeout(0, Duration::from_micros(50)).unwrap_err().is_timeout());
        }
        assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)), "a timed-out receiver is still registered");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "a timed-out sender is still registered");
        takes_at_least(SETTLE, || hebra::sleep(SETTLE));
    });
}
