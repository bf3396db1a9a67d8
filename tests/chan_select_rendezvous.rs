//! Selections and hand-overs: a select never pairs with itself on a rendezvous channel but
//! always meets another select; a selected operation dropped unfinished gives its
//! reservation (a message, a slot, a rendezvous partner) back; a select whose partner
//! gives up does not wait beyond its `default`; a select at shutdown.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{HANG_BOUND, run_with};
use hebra::chan::{self, Receiver, Select};

/// A wait that must end some other way than by this timeout: far above any hand-over.
const NEVER: Duration = HANG_BOUND;

/// Long enough for a party that would act to have acted (checks that something did *not*
/// happen; no test waits for it to pass in order to succeed).
const SETTLE: Duration = Duration::from_millis(100);

/// A select with a send and a receive arm on the same rendezvous channel must not hand
/// its message to itself: alone, it times out.
#[test]
fn send_and_recv_arms_on_one_rendezvous_channel_do_not_pair_with_each_other() {
    run_with(2, || {
        let (tx, rx) = chan::bounded::<i32>(0);
        for _ in 0..20 {
            let outcome = hebra::select! {
                send(tx, 1) -> _ => "sent",
                recv(rx) -> _ => "received",
                default(Duration::from_millis(5)) => "timed out",
            };
            assert_eq!(outcome, "timed out", "the select paired with itself");
        }
        // With a partner on either side, the matching arm runs.
        let receiver = {
            let rx = rx.clone();
            hebra::spawn(move || rx.recv())
        };
        let outcome = hebra::select! {
            send(tx, 2) -> res => { res.unwrap(); "sent" },
            recv(rx) -> _ => "received",
            default(NEVER) => "timed out",
        };
        assert_eq!(outcome, "sent");
        assert_eq!(receiver.join().unwrap(), Ok(2));

        let sender = {
            let tx = tx.clone();
            hebra::spawn(move || tx.send(3))
        };
        let outcome = hebra::select! {
            send(tx, 4) -> _ => None,
            recv(rx) -> msg => Some(msg),
            default(NEVER) => None,
        };
        assert_eq!(outcome, Some(Ok(3)));
        sender.join().unwrap().unwrap();
    });
}

/// Two selects, each with both arms on one rendezvous channel, pair with each other:
/// exactly one sends and the other receives.
#[test]
fn two_selects_with_both_arms_on_one_rendezvous_channel_meet() {
    run_with(2, || {
        let (tx, rx) = chan::bounded::<u32>(0);
        for round in 0..200 {
            let both = |me: u32| {
                let (tx, rx) = (tx.clone(), rx.clone());
                move || {
                    hebra::select! {
                        send(tx, me) -> res => { res.unwrap(); None },
                        recv(rx) -> msg => Some(msg.unwrap()),
                        default(NEVER) => panic!("round {round}: the two selects never met"),
                    }
                }
            };
            let a = hebra::spawn(both(1));
            let b = hebra::spawn(both(2));
            let outcomes = (a.join().unwrap(), b.join().unwrap());
            assert!(
                outcomes == (None, Some(1)) || outcomes == (Some(2), None),
                "round {round}: {outcomes:?}"
            );
        }
    });
}

/// A select's send arm and another select's receive arm on a rendezvous channel meet,
/// whichever starts waiting first, between coroutines and with a plain thread.
#[test]
fn a_send_arm_and_a_recv_arm_of_two_selects_meet_on_a_rendezvous_channel() {
    run_with(2, || {
        let (tx, rx) = chan::bounded::<usize>(0);
        let (_idle_tx, idle_rx) = chan::bounded::<usize>(0);
        let (idle2_tx, _idle2_rx) = chan::bounded::<usize>(0);
        const ROUNDS: usize = 500;
        let sender = {
            let (tx, idle_rx) = (tx.clone(), idle_rx.clone());
            hebra::spawn(move || {
                for i in 0..ROUNDS {
                    if i % 3 == 0 {
                        hebra::yield_now();
                    }
                    hebra::select! {
                        send(tx, i) -> res => res.unwrap(),
                        recv(idle_rx) -> _ => panic!("nothing was sent on idle_rx"),
                        default(NEVER) => panic!("message {i}: the selects never met"),
                    }
                }
            })
        };
        let receiver = {
            let (rx, idle2_tx) = (rx.clone(), idle2_tx.clone());
            hebra::spawn(move || {
                (0..ROUNDS)
                    .map(|i| {
                        if i % 5 == 0 {
                            hebra::yield_now();
                        }
                        hebra::select! {
                            recv(rx) -> msg => msg.unwrap(),
                            send(idle2_tx, usize::MAX) -> _ => panic!("nobody receives on idle2"),
                            default(NEVER) => panic!("message {i}: the selects never met"),
                        }
                    })
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(receiver.join().unwrap(), (0..ROUNDS).collect::<Vec<_>>());
        sender.join().unwrap();

        // A plain thread's select against a coroutine's select, both ways.
        let plain = {
            let (tx, rx) = (tx.clone(), rx.clone());
            thread::spawn(move || {
                for i in 0..ROUNDS {
                    hebra::select! {
                        send(tx, i) -> res => res.unwrap(),
                        default(NEVER) => panic!("the thread's send never met a receiver"),
                    }
                    let got = hebra::select! {
                        recv(rx) -> msg => msg.unwrap(),
                        default(NEVER) => panic!("the thread's receive never met a sender"),
                    };
                    assert_eq!(got, i + ROUNDS);
                }
            })
        };
        for i in 0..ROUNDS {
            let got = hebra::select! {
                recv(rx) -> msg => msg.unwrap(),
                default(NEVER) => panic!("the coroutine's receive never met a sender"),
            };
            assert_eq!(got, i);
            hebra::select! {
                send(tx, i + ROUNDS) -> res => res.unwrap(),
                default(NEVER) => panic!("the coroutine's send never met a receiver"),
            }
        }
        hebra::unblock(move || plain.join().unwrap());
    });
}

/// Dropping a selected operation unfinished panics, and gives its reservation back: the
/// message (or slot) is still there for the next party.
#[test]
fn dropping_an_unfinished_operation_panics_and_gives_the_reservation_back() {
    let (tx, rx) = chan::bounded::<i32>(1);
    tx.send(1).unwrap();
    let dropped = catch_unwind(AssertUnwindSafe(|| {
        let mut select = Select::new();
        select.recv(&rx);
        drop(select.select());
    }));
    let message = common::panic_message(&*dropped.expect_err("dropping it unfinished panics"));
    assert!(message.contains("without completing"), "{message}");
    assert_eq!(rx.try_recv(), Ok(1), "the reserved message was given back");

    let dropped = catch_unwind(AssertUnwindSafe(|| {
        let mut select = Select::new();
        select.send(&tx);
        drop(select.select());
    }));
    assert!(dropped.is_err());
    assert_eq!(tx.try_send(2), Ok(()), "the reserved slot was given back");
    assert_eq!(rx.try_recv(), Ok(2));
}

/// The same on a rendezvous channel: a waiting partner is released, not lost.
#[test]
fn dropping_an_unfinished_rendezvous_operation_releases_the_partner() {
    run_with(2, || {
        let (tx, rx) = chan::bounded::<i32>(0);
        // A receiver the dropped send arm had claimed must get the next message.
        let receiver = {
            let rx = rx.clone();
            hebra::spawn(move || rx.recv())
        };
        let dropped = catch_unwind(AssertUnwindSafe(|| {
            let mut select = Select::new();
            select.send(&tx);
            drop(select.select_timeout(NEVER).expect("the receiver comes"));
        }));
        assert!(dropped.is_err());
        hebra::sleep(SETTLE);
        assert!(!receiver.is_finished(), "the receiver got something from a send that never happened");
        tx.send(5).unwrap();
        assert_eq!(receiver.join().unwrap(), Ok(5));
    });
}

/// A plain rendezvous sender whose message a selection's receive arm reserved: if that
/// operation is dropped unfinished, the message must not vanish while its sender was
/// told it went through.
#[test]
fn dropping_an_unfinished_rendezvous_receive_does_not_lose_the_senders_message() {
    run_with(2, || {
        let (tx, rx) = chan::bounded::<i32>(0);
        let sender = hebra::spawn(move || tx.send(6));
        let dropped = catch_unwind(AssertUnwindSafe(|| {
            let mut select = Select::new();
            select.recv(&rx);
            drop(select.select_timeout(NEVER).expect("the sender comes"));
        }));
        assert!(dropped.is_err());
        let received = rx.recv_timeout(Duration::from_secs(1));
        let sent = sender.join().unwrap();
        // Either the message is received after all, or its sender gets it back.
        assert!(
            received == Ok(6) || sent.is_err(),
            "the message was lost: the send said {sent:?}, the next receive {received:?}"
        );
    });
}

/// Sets its flag when dropped, also while unwinding.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A send arm's message expression that panics.
fn failing_message() -> u8 {
    panic!("the message expression fails")
}

/// Waits (parking, or sleeping on a plain thread) until `done` says so or `limit` passes.
fn eventually(limit: Duration, done: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > limit {
            return false;
        }
        hebra::sleep(Duration::from_millis(5));
    }
    true
}

/// A select with a `default` arm must not wait for long. Here its receive arm claims a
/// waiting select's send arm on a rendezvous channel, whose message expression then
/// panics: the receive has nothing to take, and must not fall back to waiting for some
/// other sender (one is alive, idle).
#[test]
fn a_select_with_default_does_not_wait_when_its_partner_send_arm_panics() {
    run_with(2, || {
        let (tx, rx) = chan::bounded::<u8>(0);
        let partner_gone = Arc::new(AtomicBool::new(false));
        let partner = {
            let tx = tx.clone();
            let gone = SetOnDrop(partner_gone.clone());
            hebra::spawn(move || {
                let _gone = gone;
                hebra::select! {
                    send(tx, {
                        hebra::sleep(Duration::from_millis(20));
                        failing_message()
                    }) -> _ => {}
                }
            })
        };
        // Until the partner waits, the default arm runs; then the receive arm claims it.
        // Once the partner is gone there is nothing to receive and the default arm runs
        // again: every select must return promptly, and the loop then ends.
        let selecting = hebra::spawn(move || {
            loop {
                let outcome = hebra::select! {
                    recv(rx) -> msg => Some(msg),
                    default => None,
                };
                if outcome.is_some() || partner_gone.load(Ordering::SeqCst) {
                    return outcome;
                }
                hebra::sleep(Duration::from_millis(1));
            }
        });
        let finished = eventually(Duration::from_secs(10), || selecting.is_finished());
        drop(tx); // lets a stuck receive end, so that the runtime can shut down
        assert!(partner.join().is_err(), "the partner's message expression panics");
        let outcome = selecting.join().unwrap();
        assert!(finished, "the select with a default arm waited for a sender (then got {outcome:?})");
    });
}

/// The same with `default(timeout)`: the select ends by its timeout at the latest.
#[test]
fn a_select_with_a_timeout_ends_when_its_partner_send_arm_panics() {
    run_with(2, || {
        let (tx, rx) = chan::bounded::<u8>(0);
        let selecting = hebra::spawn(move || {
            hebra::select! {
                recv(rx) -> msg => Some(msg),
                default(Duration::from_millis(500)) => None,
            }
        });
        hebra::sleep(Duration::from_millis(20)); // the select is waiting by then, usually
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            hebra::select! {
                send(tx, failing_message()) -> _ => {},
                default(NEVER) => {}
            }
        }));
        assert!(panicked.is_err());
        let finished = eventually(Duration::from_secs(10), || selecting.is_finished());
        drop(tx);
        let outcome = selecting.join().unwrap();
        assert!(finished, "the select outlived its 500 ms timeout by 10 s (then got {outcome:?})");
    });
}

/// At shutdown the runtime unwinds parked coroutines; a destructor that selects on a
/// channel nobody will serve must not take the process down (a receive there fails with
/// a disconnection instead of waiting; a select panics, which during an unwind aborts).
#[test]
fn a_select_in_a_destructor_at_shutdown_does_not_abort_the_process() {
    const NAME: &str = "a_select_in_a_destructor_at_shutdown_does_not_abort_the_process";
    if !common::is_child(NAME) {
        let output = common::output_within(common::child(NAME), HANG_BOUND);
        common::assert_child_passed(&output);
        return;
    }

    struct SelectOnDrop(Receiver<u8>, Arc<AtomicBool>);
    impl Drop for SelectOnDrop {
        fn drop(&mut self) {
            let outcome = hebra::select! { recv(self.0) -> msg => msg };
            self.1.store(outcome.is_err(), Ordering::Release);
        }
    }

    let failed_fast = Arc::new(AtomicBool::new(false));
    let guarded = Arc::new(AtomicBool::new(false));
    let (tx, rx) = chan::bounded::<u8>(0);
    let (idle_tx, idle_rx) = chan::bounded::<u8>(0);
    let runtime = hebra::Builder::new().workers(2).build().unwrap();
    let parked = {
        let (failed_fast, guarded) = (failed_fast.clone(), guarded.clone());
        runtime.spawn(move || {
            let _guard = SelectOnDrop(rx, failed_fast);
            guarded.store(true, Ordering::Release);
            let _ = idle_rx.recv();
        })
    };
    while !guarded.load(Ordering::Acquire) {
        thread::yield_now();
    }
    thread::sleep(SETTLE); // lets it reach the receive, usually; either way it is unwound
    drop(runtime);
    assert!(parked.join().is_err(), "the coroutine was unwound");
    assert!(failed_fast.load(Ordering::Acquire), "the destructor's select reported the disconnection");
    drop((tx, idle_tx));
}
