//! `select!` and `Select`: which arm runs, when the `default` arms run, fairness between
//! ready arms, disconnected arms, lazy send messages, and completing an operation with
//! the wrong channel. Rendezvous pairing and reservations: `chan_select_rendezvous.rs`.

mod common;

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{HANG_BOUND, run_with, within};
use hebra::chan::{self, Receiver, RecvError, Select, SendError, Sender};

/// A wait that must end some other way than by this timeout: far above any hand-over.
const NEVER: Duration = HANG_BOUND;

#[test]
fn recv_arm_of_the_ready_channel_runs() {
    let (tx1, rx1) = chan::unbounded::<i32>();
    let (_tx2, rx2) = chan::unbounded::<i32>();
    tx1.send(5).unwrap();
    let got = hebra::select! {
        recv(rx1) -> msg => msg.unwrap(),
        recv(rx2) -> _ => panic!("nothing was sent on rx2"),
    };
    assert_eq!(got, 5);
}

#[test]
fn select_waits_until_an_arm_is_ready() {
    run_with(2, || {
        let (tx1, rx1) = chan::bounded::<i32>(0);
        let (tx2, rx2) = chan::bounded::<&str>(1);
        let sender = hebra::spawn(move || {
            hebra::sleep(Duration::from_millis(20));
            tx2.send("late").unwrap();
            tx1
        });
        let got = hebra::select! {
            recv(rx1) -> _ => panic!("nothing was sent on rx1"),
            recv(rx2) -> msg => msg,
        };
        assert_eq!(got, Ok("late"));
        drop(sender.join().unwrap());
    });
}

#[test]
fn send_arm_sends_when_there_is_room() {
    let (tx, rx) = chan::bounded(1);
    let (_full_tx, full_rx) = chan::bounded::<i32>(0);
    hebra::select! {
        send(tx, 10) -> res => assert_eq!(res, Ok(())),
        recv(full_rx) -> _ => panic!("nothing was sent on full_rx"),
    }
    assert_eq!(rx.try_recv(), Ok(10));
}

#[test]
fn default_runs_only_when_nothing_is_ready() {
    let (tx, rx) = chan::bounded::<i32>(1);
    let mut defaults = 0;
    hebra::select! {
        recv(rx) -> _ => panic!("the channel is empty"),
        default => defaults += 1,
    }
    tx.send(1).unwrap();
    hebra::select! {
        recv(rx) -> msg => assert_eq!(msg, Ok(1)),
        default => defaults += 1,
    }
    assert_eq!(defaults, 1);
    // A full channel's send arm is not ready either.
    tx.send(2).unwrap();
    let chosen = hebra::select! {
        send(tx, 3) -> _ => "send",
        default => "default",
    };
    assert_eq!(chosen, "default");
}

#[test]
fn default_with_a_timeout_fires_and_the_coroutine_goes_on() {
    run_with(2, || {
        let (_tx, rx) = chan::bounded::<i32>(0);
        let (full_tx, full_rx) = chan::bounded::<i32>(0);
        let timeout = Duration::from_millis(50);
        let start = Instant::now();
        let fired = hebra::select! {
            recv(rx) -> _ => false,
            send(full_tx, 1) -> _ => false,
            default(timeout) => true,
        };
        assert!(fired);
        assert!(start.elapsed() >= timeout, "the timeout arm ran early: {:?}", start.elapsed());
        // Nothing of the select is left registered: the channels work as before.
        let peer = hebra::spawn(move || full_tx.send(2));
        assert_eq!(full_rx.recv(), Ok(2));
        peer.join().unwrap().unwrap();
        assert_eq!(rx.try_recv(), Err(chan::TryRecvError::Empty));
    });
}

#[test]
fn default_timeout_does_not_fire_when_an_arm_becomes_ready() {
    run_with(2, || {
        let (tx, rx) = chan::bounded::<i32>(0);
        let sender = hebra::spawn(move || {
            hebra::sleep(Duration::from_millis(10));
            tx.send(4).unwrap();
        });
        let got = hebra::select! {
            recv(rx) -> msg => msg.unwrap(),
            default(NEVER) => panic!("the message never came"),
        };
        assert_eq!(got, 4);
        sender.join().unwrap();
    });
}

#[test]
fn a_plain_thread_selects_too() {
    within("select on a plain thread", HANG_BOUND, || {
        let (tx, rx) = chan::bounded::<i32>(0);
        let (_other_tx, other_rx) = chan::bounded::<i32>(0);
        let sender = thread::spawn(move || {
            thread::sleep(Duration::from_millis(10));
            tx.send(6).unwrap();
        });
        let got = hebra::select! {
            recv(other_rx) -> _ => panic!("nothing was sent on other_rx"),
            recv(rx) -> msg => msg.unwrap(),
        };
        assert_eq!(got, 6);
        sender.join().unwrap();
        let fired = hebra::select! {
            recv(other_rx) -> _ => false,
            default(Duration::from_millis(10)) => true,
        };
        assert!(fired);
    });
}

/// Two always-ready arms are chosen about equally: each at least a quarter of the time.
#[test]
fn ready_arms_are_chosen_fairly() {
    const SELECTIONS: usize = 10_000;
    let (tx1, rx1) = chan::unbounded::<()>();
    let (tx2, rx2) = chan::unbounded::<()>();
    for _ in 0..SELECTIONS {
        tx1.send(()).unwrap();
        tx2.send(()).unwrap();
    }
    let mut chosen = [0; 2];
    for _ in 0..SELECTIONS {
        hebra::select! {
            recv(rx1) -> msg => { msg.unwrap(); chosen[0] += 1 },
            recv(rx2) -> msg => { msg.unwrap(); chosen[1] += 1 },
        }
    }
    assert!(chosen.iter().all(|&n| n >= SELECTIONS / 4), "unfair choice between two ready arms: {chosen:?}");

    // The same with a send arm that is always ready, and a default arm that must never run.
    let (tx3, _rx3) = chan::unbounded::<()>();
    let mut chosen = [0; 3];
    for _ in 0..SELECTIONS {
        hebra::select! {
            recv(rx1) -> msg => { msg.unwrap(); chosen[0] += 1 },
            recv(rx2) -> msg => { msg.unwrap(); chosen[1] += 1 },
            send(tx3, ()) -> res => { res.unwrap(); chosen[2] += 1 },
            default => panic!("three arms were ready"),
        }
        // Keep the receive arms ready.
        tx1.send(()).unwrap();
        tx2.send(()).unwrap();
    }
    assert!(
        chosen.iter().all(|&n| n >= SELECTIONS / 6),
        "unfair choice between three ready arms: {chosen:?}"
    );
}

/// `Select` is fair too, and the index tells which operation was chosen.
#[test]
fn select_api_is_fair_and_reports_the_index() {
    const SELECTIONS: usize = 10_000;
    let (tx1, rx1) = chan::bounded::<u8>(1);
    let (tx2, rx2) = chan::bounded::<u8>(1);
    let mut chosen = [0; 2];
    for _ in 0..SELECTIONS {
        let _ = tx1.try_send(1);
        let _ = tx2.try_send(2);
        let mut select = Select::new();
        let first = select.recv(&rx1);
        let second = select.recv(&rx2);
        assert_eq!((first, second), (0, 1), "indices count the operations added");
        let operation = select.select();
        let index = operation.index();
        match index {
            0 => assert_eq!(operation.recv(&rx1), Ok(1)),
            1 => assert_eq!(operation.recv(&rx2), Ok(2)),
            i => panic!("index {i} was never handed out"),
        }
        chosen[index] += 1;
    }
    assert!(chosen.iter().all(|&n| n >= SELECTIONS / 4), "unfair Select: {chosen:?}");
}

#[test]
fn disconnected_channels_make_their_arms_ready_with_an_error() {
    let (tx, rx) = chan::bounded::<i32>(0);
    drop(tx);
    let got = hebra::select! {
        recv(rx) -> msg => msg,
        default(NEVER) => panic!("a disconnected receive arm is ready"),
    };
    assert_eq!(got, Err(RecvError));

    let (tx, rx) = chan::bounded::<String>(0);
    drop(rx);
    let got = hebra::select! {
        send(tx, "kept".to_string()) -> res => res,
        default(NEVER) => panic!("a disconnected send arm is ready"),
    };
    assert_eq!(got, Err(SendError("kept".to_string())), "the send arm hands the message back");

    // Buffered channels drain first, then report the disconnection.
    let (tx, rx) = chan::bounded::<i32>(2);
    tx.send(1).unwrap();
    drop(tx);
    let first = hebra::select! { recv(rx) -> msg => msg };
    let second = hebra::select! { recv(rx) -> msg => msg };
    assert_eq!((first, second), (Ok(1), Err(RecvError)));
}

/// Disconnection while the select waits wakes it.
#[test]
fn a_waiting_select_learns_of_a_disconnection() {
    run_with(2, || {
        let (tx, rx) = chan::bounded::<i32>(0);
        let (_idle_tx, idle_rx) = chan::bounded::<i32>(0);
        let dropper = hebra::spawn(move || {
            hebra::sleep(Duration::from_millis(20));
            drop(tx);
        });
        let got = hebra::select! {
            recv(idle_rx) -> _ => panic!("nothing was sent on idle_rx"),
            recv(rx) -> msg => msg,
            default(NEVER) => panic!("the disconnection did not wake the select"),
        };
        assert_eq!(got, Err(RecvError));
        dropper.join().unwrap();

        let (tx, rx) = chan::bounded::<i32>(1);
        tx.send(0).unwrap();
        let dropper = hebra::spawn(move || {
            hebra::sleep(Duration::from_millis(20));
            drop(rx);
        });
        let got = hebra::select! {
            send(tx, 1) -> res => res,
            default(NEVER) => panic!("the disconnection did not wake the select"),
        };
        assert_eq!(got, Err(SendError(1)));
        dropper.join().unwrap();
    });
}

/// A send arm's message expression runs only if the arm is chosen.
#[test]
fn send_arm_message_is_evaluated_only_when_chosen() {
    let evaluated = Cell::new(0);
    let message = || {
        evaluated.set(evaluated.get() + 1);
        7
    };
    let (full_tx, full_rx) = chan::bounded::<i32>(1);
    full_tx.send(0).unwrap();
    let (ready_tx, ready_rx) = chan::bounded::<i32>(1);
    ready_tx.send(1).unwrap();
    for _ in 0..100 {
        hebra::select! {
            send(full_tx, message()) -> _ => panic!("the channel is full"),
            recv(ready_rx) -> msg => { ready_tx.send(msg.unwrap()).unwrap(); }
        }
    }
    hebra::select! {
        send(full_tx, message()) -> _ => panic!("the channel is full"),
        default => {}
    }
    assert_eq!(evaluated.get(), 0, "an arm that was not chosen evaluated its message");
    assert_eq!(full_rx.recv(), Ok(0));
    hebra::select! {
        send(full_tx, message()) -> res => res.unwrap(),
        default => panic!("the channel has room"),
    }
    assert_eq!(evaluated.get(), 1);
    assert_eq!(full_rx.recv(), Ok(7));
}

#[test]
fn try_select_and_select_timeout() {
    run_with(2, || {
        let (tx, rx) = chan::bounded::<i32>(1);
        let (full_tx, full_rx) = chan::bounded::<i32>(0);
        let mut select = Select::new();
        let recv_index = select.recv(&rx);
        let send_index = select.send(&full_tx);
        assert_eq!((recv_index, send_index), (0, 1));
        assert!(select.try_select().is_err(), "nothing is ready");
        let start = Instant::now();
        assert!(select.select_timeout(Duration::from_millis(20)).is_err());
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert!(select.select_deadline(Instant::now() - Duration::from_millis(1)).is_err());

        tx.send(1).unwrap();
        let operation = select.try_select().expect("rx holds a message");
        assert_eq!(operation.index(), recv_index);
        assert_eq!(operation.recv(&rx), Ok(1));

        let receiver = {
            // A clone: the send arm must not turn ready by the receivers' disconnection.
            let full_rx = full_rx.clone();
            hebra::spawn(move || full_rx.recv())
        };
        let operation = select.select_timeout(NEVER).expect("the receiver comes");
        assert_eq!(operation.index(), send_index);
        operation.send(&full_tx, 2).unwrap();
        assert_eq!(receiver.join().unwrap(), Ok(2));

        // The same selection is reusable, and a deadline far away acts as no deadline.
        tx.send(3).unwrap();
        let operation = select.select_deadline(Instant::now() + NEVER).unwrap();
        assert_eq!(operation.index(), recv_index);
        assert_eq!(operation.recv(&rx), Ok(3));
        drop(full_rx);
    });
}

#[test]
fn an_empty_select_only_times_out() {
    let mut select = Select::new();
    assert!(select.try_select().is_err());
    assert!(select.select_timeout(Duration::from_millis(5)).is_err());
    let nothing = hebra::select! { default => "default" };
    assert_eq!(nothing, "default");
    let timeout = hebra::select! { default(Duration::from_millis(5)) => "timeout" };
    assert_eq!(timeout, "timeout");
}

/// The same channel may appear in several arms; a message goes to one of them.
#[test]
fn the_same_receiver_in_two_arms_receives_once() {
    let (tx, rx) = chan::bounded::<i32>(1);
    tx.send(1).unwrap();
    let got = hebra::select! {
        recv(rx) -> msg => msg,
        recv(rx) -> msg => msg,
    };
    assert_eq!(got, Ok(1));
    assert!(rx.try_recv().is_err(), "one message, one receive");
}

#[test]
#[should_panic(expected = "this receiver's operation was not the one selected")]
fn completing_with_another_receiver_panics() {
    let (tx, rx) = chan::bounded::<i32>(1);
    let (_other_tx, other_rx) = chan::bounded::<i32>(1);
    tx.send(1).unwrap();
    let mut select = Select::new();
    select.recv(&rx);
    select.recv(&other_rx);
    let operation = select.select();
    assert_eq!(operation.index(), 0, "only rx is ready");
    let _ = operation.recv(&other_rx);
}

#[test]
#[should_panic(expected = "this sender's operation was not the one selected")]
fn completing_a_receive_as_a_send_panics() {
    let (tx, rx) = chan::bounded::<i32>(1);
    tx.send(1).unwrap();
    let mut select = Select::new();
    select.recv(&rx);
    let operation = select.select();
    let _ = operation.send(&tx, 2);
}

#[test]
#[should_panic(expected = "this sender's operation was not the one selected")]
fn completing_with_a_sender_of_another_channel_panics() {
    let (tx, _rx) = chan::bounded::<i32>(1);
    let (other_tx, _other_rx) = chan::bounded::<i32>(1);
    let mut select = Select::new();
    select.send(&tx);
    let operation = select.select();
    let _ = operation.send(&other_tx, 1);
}

/// A select with 32 operations (the macro's limit) compiles and picks the ready one.
#[test]
fn a_select_with_32_arms_works() {
    let channels: Vec<(Sender<usize>, Receiver<usize>)> = (0..32).map(|_| chan::bounded(1)).collect();
    let r: Vec<&Receiver<usize>> = channels.iter().map(|(_, rx)| rx).collect();
    for ready in [0, 19, 31] {
        channels[ready].0.send(ready).unwrap();
        let got = hebra::select! {
            recv(r[0]) -> m => m, recv(r[1]) -> m => m, recv(r[2]) -> m => m, recv(r[3]) -> m => m,
            recv(r[4]) -> m => m, recv(r[5]) -> m => m, recv(r[6]) -> m => m, recv(r[7]) -> m => m,
            recv(r[8]) -> m => m, recv(r[9]) -> m => m, recv(r[10]) -> m => m, recv(r[11]) -> m => m,
            recv(r[12]) -> m => m, recv(r[13]) -> m => m, recv(r[14]) -> m => m, recv(r[15]) -> m => m,
            recv(r[16]) -> m => m, recv(r[17]) -> m => m, recv(r[18]) -> m => m, recv(r[19]) -> m => m,
            recv(r[20]) -> m => m, recv(r[21]) -> m => m, recv(r[22]) -> m => m, recv(r[23]) -> m => m,
            recv(r[24]) -> m => m, recv(r[25]) -> m => m, recv(r[26]) -> m => m, recv(r[27]) -> m => m,
            recv(r[28]) -> m => m, recv(r[29]) -> m => m, recv(r[30]) -> m => m, recv(r[31]) -> m => m,
            default(NEVER) => panic!("channel {ready} holds a message"),
        };
        assert_eq!(got, Ok(ready));
    }
}

/// Arm bodies may be blocks or expressions, with or without trailing commas, and
/// patterns may destructure the result.
#[test]
fn macro_syntax_variants() {
    let (tx, rx) = chan::bounded::<(i32, i32)>(1);
    tx.send((1, 2)).unwrap();
    let sum = hebra::select! {
        recv(rx) -> msg => { let (a, b) = msg.unwrap(); a + b }
        default => 0
    };
    assert_eq!(sum, 3);
    let done = Arc::new(AtomicBool::new(false));
    hebra::select! {
        send(tx, (3, 4)) -> res => {
            res.unwrap();
            done.store(true, Ordering::Relaxed);
        }
        recv(rx) -> _ => {}
    }
    assert!(done.load(Ordering::Relaxed));
}
