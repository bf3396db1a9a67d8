//! Channels when a runtime shuts down: the coroutines parked on them are unwound from
//! inside their wait, and the channels, which may outlive the runtime, must not keep
//! anything of theirs: no entry that a later operation would serve, no message handed to
//! a receiver that is gone.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use common::{HANG_BOUND, within};
use hebra::chan::{self, SendError, TryRecvError};

/// Long enough for coroutines to reach their wait on a loaded machine (only used to let
/// something happen before shutdown; no assertion depends on it passing).
const SETTLE: Duration = Duration::from_millis(100);

/// A generous bound for something that must happen soon.
const SOON: Duration = Duration::from_secs(10);

/// Starts a 1-worker runtime, lets `count` coroutines made by `spawn` reach their wait
/// on the channels, then shuts the runtime down (unwinding them).
fn unwind_waiting(count: usize, spawn: impl Fn(&hebra::Runtime, Arc<AtomicUsize>)) {
    let runtime = hebra::Builder::new().workers(1).build().unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    for _ in 0..count {
        spawn(&runtime, started.clone());
    }
    while started.load(Ordering::Acquire) < count {
        thread::yield_now();
    }
    thread::sleep(SETTLE);
    drop(runtime);
}

/// At shutdown the runtime unwinds coroutines still waiting on channels: dropping the
/// runtime returns, and a destructor that sends on a full channel fails instead of
/// waiting.
#[test]
fn shutdown_unwinds_coroutines_waiting_on_channels() {
    /// Where the destructor leaves the outcome of its send.
    type Outcome = Arc<std::sync::Mutex<Option<Result<(), SendError<u8>>>>>;
    struct SendOnDrop {
        tx: chan::Sender<u8>,
        result: Outcome,
    }
    impl Drop for SendOnDrop {
        fn drop(&mut self) {
            *self.result.lock().unwrap() = Some(self.tx.send(2));
        }
    }

    let result = Arc::new(std::sync::Mutex::new(None));
    let (tx, rx, idle_tx) = within("shutdown with waiting coroutines", HANG_BOUND, {
        let result = result.clone();
        move || {
            let runtime = hebra::Builder::new().workers(2).build().unwrap();
            let (tx, rx) = chan::bounded::<u8>(1);
            let (idle_tx, idle_rx) = chan::bounded::<u8>(0);
            tx.send(1).unwrap();
            let started = Arc::new(AtomicUsize::new(0));
            for _ in 0..4 {
                let (idle_rx, started) = (idle_rx.clone(), started.clone());
                runtime.spawn(move || {
                    started.fetch_add(1, Ordering::AcqRel);
                    idle_rx.recv()
                });
            }
            {
                let (tx, started) = (tx.clone(), started.clone());
                runtime.spawn(move || {
                    let guard = SendOnDrop { tx: tx.clone(), result };
                    started.fetch_add(1, Ordering::AcqRel);
                    let _ = tx.send(3); // waits: the channel is full
                    drop(guard);
                });
            }
            while started.load(Ordering::Acquire) < 5 {
                thread::yield_now();
            }
            thread::sleep(SETTLE);
            drop(runtime);
            (tx, rx, idle_tx)
        }
    });
    let outcome = result.lock().unwrap().take();
    assert_eq!(outcome, Some(Err(SendError(2))), "the destructor's send did not fail at once");
    assert_eq!(rx.try_recv(), Ok(1), "the unwound sends added nothing");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    drop((tx, idle_tx));
}

#[test]
fn an_unwound_receiver_does_not_swallow_a_later_message() {
    for cap in [0, 1, 4] {
        within("unwound receivers and a later send", HANG_BOUND, move || {
            let (tx, rx) = chan::bounded::<u8>(cap);
            unwind_waiting(3, |runtime, started| {
                let rx = rx.clone();
                runtime.spawn(move || {
                    started.fetch_add(1, Ordering::AcqRel);
                    rx.recv()
                });
            });
            // The dead receivers' entries are gone: the message reaches this live one.
            let receiver = thread::spawn(move || rx.recv_timeout(SOON));
            assert_eq!(tx.send_timeout(7, SOON), Ok(()), "bounded({cap})");
            assert_eq!(
                receiver.join().unwrap(),
                Ok(7),
                "bounded({cap}): the message went to a dead receiver"
            );
        });
    }
}

#[test]
fn an_unwound_sender_neither_delivers_nor_blocks_the_slot() {
    for cap in [0, 1] {
        within("unwound senders and a later receive", HANG_BOUND, move || {
            let (tx, rx) = chan::bounded::<u8>(cap);
            if cap > 0 {
                tx.send(1).unwrap(); // fills the buffer, so the senders below wait
            }
            unwind_waiting(3, |runtime, started| {
                let tx = tx.clone();
                runtime.spawn(move || {
                    started.fetch_add(1, Ordering::AcqRel);
                    tx.send(9)
                });
            });
            if cap > 0 {
                assert_eq!(rx.try_recv(), Ok(1));
            }
            assert_eq!(
                rx.try_recv(),
                Err(TryRecvError::Empty),
                "bounded({cap}): an unwound send was delivered"
            );
            let sender = thread::spawn(move || tx.send_timeout(2, SOON));
            assert_eq!(rx.recv_timeout(SOON), Ok(2), "bounded({cap}): a slot went to a dead sender");
            assert_eq!(sender.join().unwrap(), Ok(()));
        });
    }
}

#[test]
fn an_unwound_select_leaves_every_channel() {
    within("unwound selects", HANG_BOUND, || {
        let (tx_a, rx_a) = chan::bounded::<u8>(0);
        let (tx_b, rx_b) = chan::bounded::<u8>(1);
        unwind_waiting(2, |runtime, started| {
            let (rx_a, rx_b) = (rx_a.clone(), rx_b.clone());
            runtime.spawn(move || {
                started.fetch_add(1, Ordering::AcqRel);
                hebra::select! {
                    recv(rx_a) -> msg => msg.ok(),
                    recv(rx_b) -> msg => msg.ok(),
                }
            });
        });
        let receiver = thread::spawn(move || (rx_a.recv_timeout(SOON), rx_b.recv_timeout(SOON)));
        assert_eq!(tx_a.send_timeout(1, SOON), Ok(()));
        assert_eq!(tx_b.send_timeout(2, SOON), Ok(()));
        assert_eq!(receiver.join().unwrap(), (Ok(1), Ok(2)), "a message went to an unwound select");
    });
}
