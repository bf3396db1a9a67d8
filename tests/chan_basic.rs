//! The channel API one call at a time: what each operation returns, when a channel counts
//! as disconnected, who drops the messages, and that channels work between coroutines,
//! between plain threads (no runtime at all) and across the two.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use common::{DropCounter, HANG_BOUND, run_with, within};
use hebra::chan::{self, RecvError, SendError, SendTimeoutError, TryRecvError, TrySendError};

/// Long enough that a party that should not move on would have moved on by then if it
/// were going to, on a loaded machine (used only to check that something did *not*
/// happen; nothing waits for it to pass to succeed).
const SETTLE: Duration = Duration::from_millis(100);

/// Runs `f` on a plain thread (no runtime anywhere) under the hang bound.
fn on_threads<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    within(what, HANG_BOUND, f)
}

/// Yields until `flag` is set (the other coroutine reached its wait, or is about to).
fn yield_until(flag: &AtomicBool) {
    while !flag.load(Ordering::Acquire) {
        hebra::yield_now();
    }
}

#[test]
fn try_send_reports_full_then_disconnected_with_the_message() {
    let (tx, rx) = chan::bounded(2);
    assert_eq!(tx.try_send(1), Ok(()));
    assert_eq!(tx.try_send(2), Ok(()));
    let err = tx.try_send(3).unwrap_err();
    assert!(err.is_full() && !err.is_disconnected());
    assert_eq!(err.into_inner(), 3);
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(tx.try_send(4), Ok(()), "a received message frees its slot");
    drop(rx);
    assert_eq!(tx.try_send(5), Err(TrySendError::Disconnected(5)));
    assert!(tx.try_send(6).unwrap_err().is_disconnected());
}

#[test]
fn try_send_on_rendezvous_is_full_without_a_waiting_receiver() {
    let (tx, rx) = chan::bounded::<u8>(0);
    assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "a failed try_send leaves nothing behind");
    drop(rx);
    assert_eq!(tx.try_send(2), Err(TrySendError::Disconnected(2)));
}

#[test]
fn try_recv_reports_empty_then_disconnected_after_draining() {
    let (tx, rx) = chan::unbounded();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert!(rx.try_recv().unwrap_err().is_empty());
    tx.send('a').unwrap();
    tx.send('b').unwrap();
    drop(tx);
    assert_eq!(rx.try_recv(), Ok('a'), "messages outlive their senders");
    assert_eq!(rx.try_recv(), Ok('b'));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    assert!(rx.try_recv().unwrap_err().is_disconnected());
    assert_eq!(rx.recv(), Err(RecvError));
}

#[test]
fn len_capacity_is_empty_and_is_full() {
    let (tx, rx) = chan::bounded(3);
    assert_eq!((tx.capacity(), rx.capacity()), (Some(3), Some(3)));
    assert!(tx.is_empty() && rx.is_empty() && !tx.is_full());
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    assert_eq!((tx.len(), rx.len()), (2, 2));
    assert!(!rx.is_empty() && !rx.is_full());
    tx.send(3).unwrap();
    assert!(tx.is_full() && rx.is_full());
    rx.recv().unwrap();
    assert_eq!(rx.len(), 2);
    assert!(!tx.is_full());

    let (tx, rx) = chan::unbounded();
    assert_eq!(tx.capacity(), None);
    for i in 0..10_000 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.len(), 10_000);
    assert!(!tx.is_full(), "an unbounded channel is never full");

    let (tx, rx) = chan::bounded::<()>(0);
    assert_eq!(rx.capacity(), Some(0));
    assert_eq!(tx.len(), 0);
    assert!(tx.is_empty() && tx.is_full(), "a rendezvous channel is both empty and full");
}

#[test]
fn same_channel_compares_channels_not_handles() {
    let (tx, rx) = chan::bounded::<i32>(1);
    let (other_tx, other_rx) = chan::bounded::<i32>(1);
    assert!(tx.same_channel(&tx.clone()));
    assert!(rx.same_channel(&rx.clone()));
    assert!(!tx.same_channel(&other_tx));
    assert!(!rx.same_channel(&other_rx));
}

#[test]
fn debug_output_names_the_type() {
    let (tx, rx) = chan::unbounded::<NotDebug>();
    assert_eq!(format!("{tx:?}"), "Sender { .. }");
    assert_eq!(format!("{rx:?}"), "Receiver { .. }");
    assert_eq!(format!("{:?}", SendError(NotDebug)), "SendError { .. }");
}

struct NotDebug;

#[test]
fn iter_waits_for_messages_and_ends_at_disconnection() {
    run_with(2, || {
        let (tx, rx) = chan::bounded(1);
        let producer = hebra::spawn(move || {
            for i in 0..100 {
                tx.send(i).unwrap();
                if i % 10 == 0 {
                    hebra::sleep(Duration::from_millis(1));
                }
            }
        });
        let received: Vec<i32> = rx.iter().collect();
        assert_eq!(received, (0..100).collect::<Vec<_>>());
        producer.join().unwrap();
        let mut by_ref = 0;
        for _ in &rx {
            by_ref += 1;
        }
        assert_eq!(by_ref, 0, "an iterator over a disconnected, empty channel ends at once");
    });
}

#[test]
fn try_iter_takes_only_what_is_ready() {
    let (tx, rx) = chan::unbounded();
    for i in 0..5 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    assert_eq!(rx.try_iter().count(), 0, "nothing is ready, and the sender is alive: no waiting");
    tx.send(5).unwrap();
    assert_eq!(rx.try_iter().next(), Some(5));
}

#[test]
fn into_iter_owns_the_receiver() {
    run_with(2, || {
        let (tx, rx) = chan::bounded(0);
        let consumer = hebra::spawn(move || rx.into_iter().sum::<u32>());
        for i in 1..=10 {
            tx.send(i).unwrap();
        }
        drop(tx);
        assert_eq!(consumer.join().unwrap(), 55);
    });
}

#[test]
fn the_channel_disconnects_only_when_the_last_clone_of_an_end_is_dropped() {
    let (tx, rx) = chan::unbounded::<u8>();
    let senders: Vec<_> = (0..3).map(|_| tx.clone()).collect();
    drop(tx);
    for sender in senders {
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "a clone of the sender is still alive");
        drop(sender);
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));

    let (tx, rx) = chan::unbounded::<u8>();
    let receivers: Vec<_> = (0..3).map(|_| rx.clone()).collect();
    drop(rx);
    for receiver in receivers {
        assert_eq!(tx.send(7), Ok(()), "a clone of the receiver is still alive");
        drop(receiver);
    }
    assert_eq!(tx.send(8), Err(SendError(8)));
}

#[test]
fn send_without_receivers_hands_the_message_back() {
    let (tx, rx) = chan::bounded(1);
    drop(rx);
    assert_eq!(tx.send(String::from("back")).unwrap_err().into_inner(), "back");
    assert_eq!(
        tx.send_timeout(1.to_string(), Duration::from_secs(1)),
        Err(SendTimeoutError::Disconnected("1".into()))
    );
    let (tx, rx) = chan::bounded(0);
    drop(rx);
    assert_eq!(
        tx.send(9),
        Err(SendError(9)),
        "a rendezvous send does not wait for receivers that cannot come"
    );
}

/// A sender waiting on a full (or rendezvous) channel learns of the last receiver's drop
/// and gets its message back, on a coroutine and on a plain thread.
#[test]
fn dropping_the_receivers_wakes_a_waiting_sender_with_its_message() {
    for cap in [0, 1] {
        run_with(2, move || {
            let (tx, rx) = chan::bounded(cap);
            for i in 0..cap {
                tx.send(i).unwrap();
            }
            let waiting = Arc::new(AtomicBool::new(false));
            let coroutine = {
                let (tx, waiting) = (tx.clone(), waiting.clone());
                hebra::spawn(move || {
                    waiting.store(true, Ordering::Release);
                    tx.send(100)
                })
            };
            let plain = {
                let tx = tx.clone();
                thread::spawn(move || tx.send(200))
            };
            yield_until(&waiting);
            hebra::sleep(SETTLE);
            assert!(!coroutine.is_finished(), "bounded({cap}): the send did not wait for room");
            drop(rx);
            assert_eq!(coroutine.join().unwrap(), Err(SendError(100)));
            assert_eq!(hebra::unblock(move || plain.join().unwrap()), Err(SendError(200)));
        });
    }
}

/// A receiver waiting on an empty channel learns of the last sender's drop.
#[test]
fn dropping_the_senders_wakes_a_waiting_receiver() {
    for cap in [0, 1] {
        run_with(2, move || {
            let (tx, rx) = chan::bounded::<u8>(cap);
            let coroutine = {
                let rx = rx.clone();
                hebra::spawn(move || rx.recv())
            };
            let plain = thread::spawn(move || rx.recv_timeout(HANG_BOUND));
            hebra::sleep(SETTLE);
            drop(tx);
            assert_eq!(coroutine.join().unwrap(), Err(RecvError));
            assert_eq!(
                hebra::unblock(move || plain.join().unwrap()),
                Err(chan::RecvTimeoutError::Disconnected)
            );
        });
    }
}

#[test]
fn every_message_is_dropped_exactly_once() {
    // Received, still queued when the channel goes away, and handed back by a send.
    for cap in [Some(8), None] {
        let counter = DropCounter::new();
        let (tx, rx) = match cap {
            Some(cap) => chan::bounded(cap),
            None => chan::unbounded(),
        };
        for _ in 0..8 {
            tx.send(counter.token()).unwrap();
        }
        drop(rx.recv().unwrap());
        drop(rx.try_recv().unwrap());
        assert_eq!(counter.drops(), 2);
        drop(tx);
        assert_eq!(counter.drops(), 2, "the messages left wait for the receiver");
        drop(rx);
        assert_eq!(counter.drops(), 8, "the channel drops what nobody can receive any more");
    }

    // The last receiver's drop frees the messages even while senders live on.
    let counter = DropCounter::new();
    let (tx, rx) = chan::bounded(4);
    for _ in 0..4 {
        tx.send(counter.token()).unwrap();
    }
    drop(rx);
    assert_eq!(counter.drops(), 4);
    let back = tx.send(counter.token()).unwrap_err();
    assert_eq!(counter.drops(), 4, "a failed send does not drop the message it hands back");
    drop(back);
    assert_eq!(counter.drops(), 5);
    let back = tx.try_send(counter.token()).unwrap_err();
    drop(back);
    drop(tx);
    assert_eq!(counter.drops(), 6);
}

/// A rendezvous sender waiting when the receivers go gets its message back, not dropped.
#[test]
fn a_waiting_rendezvous_sender_gets_its_message_back_undropped() {
    run_with(2, || {
        let counter = DropCounter::new();
        let (tx, rx) = chan::bounded(0);
        let sender = {
            let token = counter.token();
            hebra::spawn(move || tx.send(token).map_err(|SendError(token)| token))
        };
        hebra::sleep(SETTLE);
        drop(rx);
        let token = sender.join().unwrap().expect_err("nobody received the message");
        assert_eq!(counter.drops(), 0, "the message came back whole");
        drop(token);
        assert_eq!(counter.drops(), 1);
    });
}

#[test]
fn plain_threads_use_channels_without_any_runtime() {
    on_threads("channels between plain threads", || {
        for cap in [0, 1, 16] {
            let (tx, rx) = chan::bounded(cap);
            let (back_tx, back_rx) = chan::bounded(cap);
            let echo = thread::spawn(move || {
                for msg in rx {
                    back_tx.send(msg * 2).unwrap();
                }
            });
            let sum: u64 = (0..1_000u64)
                .map(|i| {
                    tx.send(i).unwrap();
                    back_rx.recv().unwrap()
                })
                .sum();
            assert_eq!(sum, 999 * 1_000);
            drop(tx);
            echo.join().unwrap();
            assert_eq!(back_rx.recv(), Err(RecvError));
        }
        // Many threads on one channel.
        let (tx, rx) = chan::bounded(2);
        let producers: Vec<_> = (0..8u64)
            .map(|p| {
                let tx = tx.clone();
                thread::spawn(move || (0..500).for_each(|i| tx.send(p * 500 + i).unwrap()))
            })
            .collect();
        drop(tx);
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let rx = rx.clone();
                thread::spawn(move || rx.iter().sum::<u64>())
            })
            .collect();
        producers.into_iter().for_each(|p| p.join().unwrap());
        let sum: u64 = consumers.into_iter().map(|c| c.join().unwrap()).sum();
        assert_eq!(sum, (0..4_000u64).sum());
    });
}

/// Coroutines and plain threads on opposite ends, in both directions, waiting on either
/// side (rendezvous and a one-slot buffer).
#[test]
fn coroutines_and_threads_talk_in_both_directions() {
    for cap in [0, 1] {
        run_with(2, move || {
            let (to_thread, from_coroutine) = chan::bounded::<u32>(cap);
            let (to_coroutine, from_thread) = chan::bounded::<u32>(cap);
            let plain = thread::spawn(move || {
                for msg in from_coroutine {
                    to_coroutine.send(msg + 1).unwrap();
                }
            });
            let mut value = 0;
            for _ in 0..1_000 {
                to_thread.send(value).unwrap();
                value = from_thread.recv().unwrap();
            }
            assert_eq!(value, 1_000);
            drop(to_thread);
            assert_eq!(from_thread.recv(), Err(RecvError));
            hebra::unblock(move || plain.join().unwrap());
        });
    }
}

/// Coroutines of two different runtimes talk over channels, waiting on both sides.
#[test]
fn coroutines_of_two_runtimes_talk() {
    within("two runtimes", HANG_BOUND, || {
        let first = hebra::Builder::new().workers(1).build().unwrap();
        let second = hebra::Builder::new().workers(2).build().unwrap();
        let (ping_tx, ping_rx) = chan::bounded::<u32>(0);
        let (pong_tx, pong_rx) = chan::bounded::<u32>(0);
        let echo = second.spawn(move || {
            for msg in ping_rx {
                pong_tx.send(msg + 1).unwrap();
            }
        });
        let last = first.block_on(move || {
            let mut value = 0;
            for _ in 0..1_000 {
                ping_tx.send(value).unwrap();
                value = pong_rx.recv().unwrap();
            }
            value
        });
        assert_eq!(last, 1_000);
        echo.join().unwrap();
    });
}

/// Both ends can be shared between threads by reference, like crossbeam's.
#[test]
fn both_ends_are_send_and_sync_for_any_send_message() {
    fn assert_send_sync<T: Send + Sync>() {}
    // `Cell` is Send but not Sync: the channel hands each message to one party only.
    assert_send_sync::<chan::Sender<std::cell::Cell<u8>>>();
    assert_send_sync::<chan::Receiver<std::cell::Cell<u8>>>();
    let (tx, rx) = chan::unbounded::<u32>();
    thread::scope(|scope| {
        for i in 0..4 {
            let tx = &tx;
            scope.spawn(move || tx.send(i).unwrap());
        }
    });
    let rx = &rx;
    let sum: u32 = thread::scope(|scope| {
        let parts: Vec<_> = (0..2).map(|_| scope.spawn(move || rx.try_iter().take(2).sum::<u32>())).collect();
        parts.into_iter().map(|p| p.join().unwrap()).sum()
    });
    assert_eq!(sum, 6);
}

/// On a single worker, a coroutine waiting on a channel (to receive, or to send to a full
/// channel) parks: the worker keeps running the others.
#[test]
fn a_waiting_coroutine_does_not_block_its_worker() {
    run_with(1, || {
        let (tx, rx) = chan::bounded::<u32>(1);
        let (full_tx, full_rx) = chan::bounded::<u32>(1);
        full_tx.send(0).unwrap();
        let started = Arc::new(AtomicUsize::new(0));
        let receiver = {
            let started = started.clone();
            hebra::spawn(move || {
                started.fetch_add(1, Ordering::AcqRel);
                rx.recv()
            })
        };
        let sender = {
            let started = started.clone();
            hebra::spawn(move || {
                started.fetch_add(1, Ordering::AcqRel);
                full_tx.send(1)
            })
        };
        // One worker, and it is ours: the two run only while we yield, and each goes as
        // far as its wait.
        while started.load(Ordering::Acquire) < 2 {
            hebra::yield_now();
        }
        hebra::yield_now();
        let other = hebra::spawn(|| (0..1_000u32).sum::<u32>());
        assert_eq!(other.join().unwrap(), 499_500, "the waiting coroutines held the worker");
        assert!(!receiver.is_finished() && !sender.is_finished());
        tx.send(7).unwrap();
        assert_eq!(full_rx.recv(), Ok(0));
        assert_eq!(receiver.join().unwrap(), Ok(7));
        assert_eq!(sender.join().unwrap(), Ok(()));
        assert_eq!(full_rx.recv(), Ok(1));
    });
}

/// A rendezvous send returns only once a receiver has taken the message.
#[test]
fn a_rendezvous_send_waits_for_a_receiver() {
    run_with(2, || {
        let (tx, rx) = chan::bounded(0);
        let sent = Arc::new(AtomicBool::new(false));
        let sender = {
            let sent = sent.clone();
            hebra::spawn(move || {
                tx.send("hello").unwrap();
                sent.store(true, Ordering::Release);
                tx.send("again").unwrap();
            })
        };
        hebra::sleep(SETTLE);
        assert!(!sent.load(Ordering::Acquire), "the send returned with no receiver");
        assert_eq!(rx.len(), 0, "a rendezvous channel holds nothing");
        assert_eq!(rx.recv(), Ok("hello"));
        hebra::sleep(SETTLE);
        assert!(!sender.is_finished(), "the second send returned with no receiver");
        assert!(sent.load(Ordering::Acquire));
        assert_eq!(rx.recv(), Ok("again"));
        sender.join().unwrap();
    });
}

/// A plain thread's rendezvous send also waits, for a coroutine's receive.
#[test]
fn a_thread_rendezvous_send_waits_for_a_coroutine_receiver() {
    run_with(2, || {
        let (tx, rx) = chan::bounded(0);
        let sent = Arc::new(AtomicBool::new(false));
        let plain = {
            let sent = sent.clone();
            thread::spawn(move || {
                tx.send(1).unwrap();
                sent.store(true, Ordering::Release);
            })
        };
        hebra::sleep(SETTLE);
        assert!(!sent.load(Ordering::Acquire), "the send returned with no receiver");
        assert_eq!(rx.recv(), Ok(1));
        hebra::unblock(move || plain.join().unwrap());
        assert!(sent.load(Ordering::Acquire));
    });
}

/// One producer's messages come out in the order it sent them, for every kind of channel
/// and with other producers interleaving.
#[test]
fn messages_of_one_producer_arrive_in_order() {
    for cap in [Some(0), Some(1), Some(7), None] {
        run_with(2, move || {
            let (tx, rx) = match cap {
                Some(cap) => chan::bounded(cap),
                None => chan::unbounded(),
            };
            let producers: Vec<_> = (0..4u32)
                .map(|p| {
                    let tx = tx.clone();
                    hebra::spawn(move || (0..2_000u32).for_each(|i| tx.send((p, i)).unwrap()))
                })
                .collect();
            drop(tx);
            let mut next = [0u32; 4];
            for (p, i) in rx {
                assert_eq!(i, next[p as usize], "{cap:?}: producer {p}'s messages out of order");
                next[p as usize] += 1;
            }
            assert_eq!(next, [2_000; 4]);
            producers.into_iter().for_each(|p| p.join().unwrap());
        });
    }
}

/// Waiting parties are served in the order they started waiting: a receiver that waits
/// first gets the first message.
#[test]
fn waiting_receivers_are_served_in_arrival_order() {
    run_with(1, || {
        let (tx, rx) = chan::bounded::<usize>(4);
        let waiting = Arc::new(AtomicUsize::new(0));
        let receivers: Vec<_> = (0..4)
            .map(|_| {
                let (rx, waiting) = (rx.clone(), waiting.clone());
                hebra::spawn(move || {
                    let me = waiting.fetch_add(1, Ordering::AcqRel);
                    (me, rx.recv().unwrap())
                })
            })
            .collect();
        // One worker: each receiver runs up to its wait before the next one starts.
        while waiting.load(Ordering::Acquire) < 4 {
            hebra::yield_now();
        }
        let mut receivers: Vec<Option<_>> = receivers.into_iter().map(Some).collect();
        for i in 0..4 {
            tx.send(i).unwrap();
            // One message: exactly one receiver finishes, and it must be the i-th to wait.
            let served = loop {
                if let Some(j) = receivers.iter().position(|r| r.as_ref().is_some_and(|r| r.is_finished())) {
                    break j;
                }
                hebra::yield_now();
            };
            let (arrival, got) = receivers[served].take().unwrap().join().unwrap();
            assert_eq!((arrival, got), (i, i), "message {i} went to the receiver that waited {arrival}th");
        }
    });
}

/// Waiting senders are served in the order they started waiting too, on a full buffer
/// and on a rendezvous channel: messages come out in the senders' arrival order.
#[test]
fn waiting_senders_are_served_in_arrival_order() {
    for cap in [0, 1] {
        run_with(1, move || {
            let (tx, rx) = chan::bounded::<usize>(cap);
            if cap == 1 {
                tx.send(usize::MAX).unwrap();
            }
            let waiting = Arc::new(AtomicUsize::new(0));
            let senders: Vec<_> = (0..4)
                .map(|_| {
                    let (tx, waiting) = (tx.clone(), waiting.clone());
                    hebra::spawn(move || {
                        // One worker: this runs up to the send's wait before the next
                        // sender starts, so `me` is the order of the waits.
                        let me = waiting.fetch_add(1, Ordering::AcqRel);
                        tx.send(me).unwrap();
                    })
                })
                .collect();
            while waiting.load(Ordering::Acquire) < 4 {
                hebra::yield_now();
            }
            if cap == 1 {
                assert_eq!(rx.recv(), Ok(usize::MAX));
            }
            let order: Vec<usize> = (0..4).map(|_| rx.recv().unwrap()).collect();
            assert_eq!(order, [0, 1, 2, 3], "bounded({cap}): senders served out of order");
            senders.into_iter().for_each(|s| s.join().unwrap());
        });
    }
}
