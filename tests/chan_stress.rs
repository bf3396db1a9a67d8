//! Channel stress on a 2-worker runtime and on plain threads: no message is lost or
//! duplicated, no wakeup is lost, nothing deadlocks. Every message carries a unique id;
//! a [`Ledger`] records each delivery (a second delivery fails at once) and checks at the
//! end that every id arrived exactly once, besides the counts and sums.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use common::within;
use hebra::chan::{self, Receiver, RecvTimeoutError, Select, SendTimeoutError, Sender};
use rand::Rng;

/// Far above what any test here takes in a debug build on a loaded 2-core machine.
const BOUND: Duration = Duration::from_secs(180);

/// Which message ids were delivered: each exactly once.
struct Ledger {
    seen: Vec<AtomicBool>,
}

impl Ledger {
    fn new(ids: usize) -> Arc<Ledger> {
        Arc::new(Ledger { seen: (0..ids).map(|_| AtomicBool::new(false)).collect() })
    }

    /// Records the delivery of `id`; panics if it was delivered before.
    fn deliver(&self, id: u64) {
        let first = !self.seen[id as usize].swap(true, Ordering::Relaxed);
        assert!(first, "message {id} was delivered twice");
    }

    fn assert_all_delivered(&self) {
        let missing: Vec<usize> = self
            .seen
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.load(Ordering::Relaxed))
            .map(|(i, _)| i)
            .collect();
        assert!(
            missing.is_empty(),
            "{} messages were lost, first ones: {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
    }
}

/// What one consumer received.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    count: u64,
    sum: u64,
}

impl Tally {
    fn add(&mut self, id: u64) {
        self.count += 1;
        self.sum += id;
    }

    fn total(tallies: impl IntoIterator<Item = Tally>) -> Tally {
        tallies
            .into_iter()
            .fold(Tally::default(), |a, b| Tally { count: a.count + b.count, sum: a.sum + b.sum })
    }

    /// The tally of ids `0..n`, each once.
    fn of_all(n: u64) -> Tally {
        Tally { count: n, sum: n * n.saturating_sub(1) / 2 }
    }
}

/// Message ids are `producer * per_producer + i`: an ordered consumer checks that each
/// producer's messages reach it in the order they were sent (the channel is FIFO, and a
/// consumer's receives follow one another).
struct Consumer {
    tally: Tally,
    /// The last id seen from each producer; `None` for an unordered consumer.
    last: Option<Vec<Option<u64>>>,
    per_producer: u64,
    ledger: Arc<Ledger>,
}

impl Consumer {
    fn new(producers: usize, per_producer: u64, ledger: Arc<Ledger>) -> Consumer {
        Consumer { tally: Tally::default(), last: Some(vec![None; producers]), per_producer, ledger }
    }

    /// A consumer that does not check the order (messages took several paths).
    fn unordered(ledger: Arc<Ledger>) -> Consumer {
        Consumer { tally: Tally::default(), last: None, per_producer: 1, ledger }
    }

    fn take(&mut self, id: u64) {
        self.ledger.deliver(id);
        self.tally.add(id);
        if let Some(last) = &mut self.last {
            let producer = (id / self.per_producer) as usize;
            if let Some(last) = last[producer] {
                assert!(last < id, "producer {producer}'s message {id} overtook its message {last}");
            }
            last[producer] = Some(id);
        }
    }

    fn drain(mut self, rx: &Receiver<u64>) -> Tally {
        for id in rx {
            self.take(id);
        }
        self.tally
    }
}

fn produce(tx: &Sender<u64>, producer: u64, per_producer: u64) {
    for i in 0..per_producer {
        tx.send(producer * per_producer + i).expect("the consumers outlive the producers");
    }
}

/// Joins plain threads from a coroutine without blocking its worker.
fn join_threads<T: Send + 'static>(threads: Vec<thread::JoinHandle<T>>) -> Vec<T> {
    hebra::unblock(move || threads.into_iter().map(|t| t.join().expect("a plain thread panicked")).collect())
}

/// A 2-worker runtime running `f` under the stress bound.
fn stress<F: FnOnce() + Send + 'static>(what: &str, f: F) {
    within(what, BOUND, move || {
        let runtime = hebra::Builder::new().workers(2).build().expect("cannot build a runtime");
        runtime.block_on(f);
    });
}

/// The stress shape shared by the channel kinds: `producers` senders of `per_producer`
/// messages each and `consumers` receivers on one channel, where every
/// `thread_producer_every`-th producer and every 4th consumer is a plain thread and the
/// rest are coroutines; every message must arrive exactly once.
fn producers_and_consumers(
    (tx, rx): (Sender<u64>, Receiver<u64>),
    producers: u64,
    per_producer: u64,
    consumers: usize,
    thread_producer_every: u64,
) {
    let ledger = Ledger::new((producers * per_producer) as usize);
    let mut consumer_threads = Vec::new();
    let mut consumer_coroutines = Vec::new();
    for c in 0..consumers {
        let (rx, ledger) = (rx.clone(), ledger.clone());
        let consume = move || Consumer::new(producers as usize, per_producer, ledger).drain(&rx);
        if c % 4 == 0 {
            consumer_threads.push(thread::spawn(consume));
        } else {
            consumer_coroutines.push(hebra::spawn(consume));
        }
    }
    drop(rx);
    let mut producer_threads = Vec::new();
    let mut producer_coroutines = Vec::new();
    for p in 0..producers {
        let tx = tx.clone();
        let send_all = move || produce(&tx, p, per_producer);
        if p % thread_producer_every == 0 {
            producer_threads.push(thread::spawn(send_all));
        } else {
            producer_coroutines.push(hebra::spawn(send_all));
        }
    }
    drop(tx);
    producer_coroutines.into_iter().for_each(|p| p.join().expect("a producer coroutine panicked"));
    join_threads(producer_threads);
    let mut tallies: Vec<Tally> =
        consumer_coroutines.into_iter().map(|c| c.join().expect("a consumer coroutine panicked")).collect();
    tallies.extend(join_threads(consumer_threads));
    assert_eq!(Tally::total(tallies), Tally::of_all(producers * per_producer));
    ledger.assert_all_delivered();
}

/// The shape: 1,000 producers × 1,000 messages into `bounded(16)`, drained by 16
/// consumers, all coroutines of a 2-worker runtime.
#[test]
fn thousand_producers_into_bounded_16_drained_by_16_consumers() {
    const PRODUCERS: u64 = 1_000;
    const PER_PRODUCER: u64 = 1_000;
    const CONSUMERS: usize = 16;
    stress("1,000 x 1,000 into bounded(16)", || {
        let ledger = Ledger::new((PRODUCERS * PER_PRODUCER) as usize);
        let (tx, rx) = chan::bounded(16);
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let (rx, ledger) = (rx.clone(), ledger.clone());
                hebra::spawn(move || Consumer::new(PRODUCERS as usize, PER_PRODUCER, ledger).drain(&rx))
            })
            .collect();
        drop(rx);
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let tx = tx.clone();
                hebra::spawn(move || produce(&tx, p, PER_PRODUCER))
            })
            .collect();
        drop(tx);
        producers.into_iter().for_each(|p| p.join().expect("a producer panicked"));
        let tallies = consumers.into_iter().map(|c| c.join().expect("a consumer panicked"));
        assert_eq!(Tally::total(tallies), Tally::of_all(PRODUCERS * PER_PRODUCER));
        ledger.assert_all_delivered();
    });
}

/// The same shape with plain OS threads on both sides next to the coroutines: every
/// fourth consumer and every 25th producer is a thread.
#[test]
fn thousand_producers_mixing_threads_and_coroutines_on_both_sides() {
    const PRODUCERS: u64 = 1_000;
    const PER_PRODUCER: u64 = 1_000;
    const CONSUMERS: usize = 16;
    stress("mixed threads and coroutines into bounded(16)", || {
        producers_and_consumers(chan::bounded(16), PRODUCERS, PER_PRODUCER, CONSUMERS, 25);
    });
}

/// Rendezvous: every message passes straight from a sender to a receiver, with many of
/// each on both workers and on plain threads.
#[test]
fn rendezvous_with_many_senders_and_receivers() {
    const PRODUCERS: u64 = 64;
    const PER_PRODUCER: u64 = 4_000;
    const CONSUMERS: usize = 16;
    stress("bounded(0) stress", || {
        producers_and_consumers(chan::bounded(0), PRODUCERS, PER_PRODUCER, CONSUMERS, 8);
    });
}

/// Unbounded: senders never wait; receivers on both workers and on threads.
#[test]
fn unbounded_with_many_senders_and_receivers() {
    const PRODUCERS: u64 = 100;
    const PER_PRODUCER: u64 = 5_000;
    const CONSUMERS: usize = 8;
    stress("unbounded stress", || {
        producers_and_consumers(chan::unbounded(), PRODUCERS, PER_PRODUCER, CONSUMERS, 10);
    });
}

/// Short random timeouts on both sides race with deliveries: every message is either
/// received exactly once or handed back to its sender in the timeout error, never both,
/// never neither.
fn timeouts_race(cap: usize) {
    const PRODUCERS: u64 = 32;
    const PER_PRODUCER: u64 = 3_000;
    const CONSUMERS: usize = 8;
    let ledger = Ledger::new((PRODUCERS * PER_PRODUCER) as usize);
    let (tx, rx) = chan::bounded(cap);
    let timeouts = Arc::new(AtomicU64::new(0));
    let mut consumer_threads = Vec::new();
    let mut consumer_coroutines = Vec::new();
    for c in 0..CONSUMERS {
        let (rx, ledger, timeouts) = (rx.clone(), ledger.clone(), timeouts.clone());
        let consume = move || {
            let mut consumer = Consumer::new(PRODUCERS as usize, PER_PRODUCER, ledger);
            let mut rng = rand::rng();
            loop {
                match rx.recv_timeout(Duration::from_micros(rng.random_range(0..300))) {
                    Ok(id) => consumer.take(id),
                    Err(RecvTimeoutError::Timeout) => {
                        timeouts.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(RecvTimeoutError::Disconnected) => return consumer.tally,
                }
            }
        };
        if c % 4 == 0 {
            consumer_threads.push(thread::spawn(consume));
        } else {
            consumer_coroutines.push(hebra::spawn(consume));
        }
    }
    drop(rx);
    let mut producer_threads = Vec::new();
    let mut producer_coroutines = Vec::new();
    for p in 0..PRODUCERS {
        let (tx, ledger, timeouts) = (tx.clone(), ledger.clone(), timeouts.clone());
        // Returns the tally of the messages handed back.
        let send_all = move || {
            let mut returned = Tally::default();
            let mut rng = rand::rng();
            for i in 0..PER_PRODUCER {
                let id = p * PER_PRODUCER + i;
                match tx.send_timeout(id, Duration::from_micros(rng.random_range(0..300))) {
                    Ok(()) => {}
                    Err(SendTimeoutError::Timeout(back)) => {
                        assert_eq!(back, id, "a timed-out send handed back another message");
                        timeouts.fetch_add(1, Ordering::Relaxed);
                        ledger.deliver(id);
                        returned.add(id);
                    }
                    Err(SendTimeoutError::Disconnected(_)) => panic!("the consumers outlive the producers"),
                }
            }
            returned
        };
        if p % 8 == 0 {
            producer_threads.push(thread::spawn(send_all));
        } else {
            producer_coroutines.push(hebra::spawn(send_all));
        }
    }
    drop(tx);
    let mut tallies: Vec<Tally> =
        producer_coroutines.into_iter().map(|p| p.join().expect("a producer coroutine panicked")).collect();
    tallies.extend(join_threads(producer_threads));
    let returned = Tally::total(tallies.iter().copied());
    tallies.extend(consumer_coroutines.into_iter().map(|c| c.join().expect("a consumer coroutine panicked")));
    tallies.extend(join_threads(consumer_threads));
    assert_eq!(Tally::total(tallies), Tally::of_all(PRODUCERS * PER_PRODUCER));
    ledger.assert_all_delivered();
    // Not an assertion: with timeouts this short some fire on any machine, but that is
    // what the test hopes for, not what the channel promises.
    eprintln!(
        "bounded({cap}): {} of {} sends timed out; {} timeouts in all",
        returned.count,
        PRODUCERS * PER_PRODUCER,
        timeouts.load(Ordering::Relaxed)
    );
}

#[test]
fn send_and_recv_timeouts_racing_on_bounded_4() {
    stress("timeouts racing on bounded(4)", || timeouts_race(4));
}

#[test]
fn send_and_recv_timeouts_racing_on_rendezvous() {
    stress("timeouts racing on bounded(0)", || timeouts_race(0));
}

/// A forwarder of the select stress: takes messages from `a` (a rendezvous channel the
/// producers' selects send on) and from `c`, and passes them on to `c`, holding a few in
/// between. Its select has a send and a receive arm on the same rendezvous channel `c`,
/// which must never pair with each other. Once `a` is disconnected it flushes what it
/// holds.
fn forward(a: &Receiver<u64>, c_tx: &Sender<u64>, c_rx: &Receiver<u64>) -> u64 {
    let mut held = std::collections::VecDeque::new();
    let mut forwarded = 0;
    loop {
        let mut a_closed = false;
        if held.is_empty() {
            hebra::select! {
                recv(a) -> id => match id {
                    Ok(id) => held.push_back(id),
                    Err(_) => a_closed = true,
                },
                recv(c_rx) -> id => held.push_back(id.expect("every forwarder holds a sender of c")),
            }
        } else {
            hebra::select! {
                recv(a) -> id => match id {
                    Ok(id) => held.push_back(id),
                    Err(_) => a_closed = true,
                },
                recv(c_rx) -> id => held.push_back(id.expect("every forwarder holds a sender of c")),
                // Evaluated only when chosen: a message leaves `held` only if it is sent.
                send(c_tx, held.pop_front().expect("not empty")) -> sent => {
                    sent.expect("the consumers outlive the forwarders");
                    forwarded += 1;
                }
            }
        }
        if a_closed {
            for id in held.drain(..) {
                c_tx.send(id).expect("the consumers outlive the forwarders");
                forwarded += 1;
            }
            return forwarded;
        }
    }
}

/// A consumer of the select stress: receives from `b` and `c` with a `Select` built for
/// the channels still open.
fn consume_selecting(b: &Receiver<u64>, c: &Receiver<u64>, mut consumer: Consumer) -> Tally {
    let mut open = [true, true];
    while open.contains(&true) {
        let mut select = Select::new();
        let b_index = open[0].then(|| select.recv(b));
        let c_index = open[1].then(|| select.recv(c));
        let operation = select.select();
        let (which, result) = if Some(operation.index()) == b_index {
            (0, operation.recv(b))
        } else {
            assert_eq!(Some(operation.index()), c_index, "the selection chose an index it did not hand out");
            (1, operation.recv(c))
        };
        match result {
            Ok(id) => consumer.take(id),
            Err(_) => open[which] = false,
        }
    }
    consumer.tally
}

/// Many selects at once, with send and receive arms, on rendezvous and buffered channels,
/// on both workers and on plain threads: producers select between sending on `a`
/// (rendezvous) and `b` (bounded(3)); forwarders select between receiving from `a` and
/// `c` and sending on `c` (rendezvous); consumers select between receiving from `b` and
/// `c`. Every message reaches a consumer exactly once.
#[test]
fn selects_with_send_and_recv_arms_lose_and_duplicate_nothing() {
    stress("select stress", || select_network(5_000));
}

/// The same network on a single worker: other interleavings, all hand-overs local.
#[test]
fn selects_on_one_worker_lose_and_duplicate_nothing() {
    within("select stress on one worker", BOUND, || {
        let runtime = hebra::Builder::new().workers(1).build().expect("cannot build a runtime");
        runtime.block_on(|| select_network(2_000));
    });
}

/// See [`selects_with_send_and_recv_arms_lose_and_duplicate_nothing`].
fn select_network(per_producer: u64) {
    const PRODUCERS: u64 = 24;
    const FORWARDERS: usize = 6;
    const CONSUMERS: usize = 8;
    let ledger = Ledger::new((PRODUCERS * per_producer) as usize);
    let (a_tx, a_rx) = chan::bounded::<u64>(0);
    let (b_tx, b_rx) = chan::bounded::<u64>(3);
    let (c_tx, c_rx) = chan::bounded::<u64>(0);

    let mut consumer_threads = Vec::new();
    let mut consumer_coroutines = Vec::new();
    for i in 0..CONSUMERS {
        let (b_rx, c_rx) = (b_rx.clone(), c_rx.clone());
        // Forwarders reorder the messages that pass through them.
        let consumer = Consumer::unordered(ledger.clone());
        let consume = move || consume_selecting(&b_rx, &c_rx, consumer);
        if i % 4 == 0 {
            consumer_threads.push(thread::spawn(consume));
        } else {
            consumer_coroutines.push(hebra::spawn(consume));
        }
    }
    drop(b_rx);

    let mut forwarder_threads = Vec::new();
    let mut forwarder_coroutines = Vec::new();
    for i in 0..FORWARDERS {
        let (a_rx, c_tx, c_rx) = (a_rx.clone(), c_tx.clone(), c_rx.clone());
        let run = move || forward(&a_rx, &c_tx, &c_rx);
        if i % 3 == 0 {
            forwarder_threads.push(thread::spawn(run));
        } else {
            forwarder_coroutines.push(hebra::spawn(run));
        }
    }
    drop((a_rx, c_tx, c_rx));

    let mut producer_threads = Vec::new();
    let mut producer_coroutines = Vec::new();
    for p in 0..PRODUCERS {
        let (a_tx, b_tx) = (a_tx.clone(), b_tx.clone());
        let send_all = move || {
            for i in 0..per_producer {
                let id = p * per_producer + i;
                hebra::select! {
                    send(a_tx, id) -> sent => sent.expect("the forwarders outlive the producers"),
                    send(b_tx, id) -> sent => sent.expect("the consumers outlive the producers"),
                }
            }
        };
        if p % 6 == 0 {
            producer_threads.push(thread::spawn(send_all));
        } else {
            producer_coroutines.push(hebra::spawn(send_all));
        }
    }
    drop((a_tx, b_tx));

    producer_coroutines.into_iter().for_each(|p| p.join().expect("a producer coroutine panicked"));
    join_threads(producer_threads);
    let mut forwarded: u64 =
        forwarder_coroutines.into_iter().map(|f| f.join().expect("a forwarder coroutine panicked")).sum();
    forwarded += join_threads(forwarder_threads).into_iter().sum::<u64>();
    let mut tallies: Vec<Tally> =
        consumer_coroutines.into_iter().map(|c| c.join().expect("a consumer coroutine panicked")).collect();
    tallies.extend(join_threads(consumer_threads));
    assert_eq!(Tally::total(tallies), Tally::of_all(PRODUCERS * per_producer));
    ledger.assert_all_delivered();
    assert!(forwarded > 0, "no message went through a forwarder: the rendezvous arms were never chosen");
}

/// Selects whose `default(timeout)` arms race with deliveries, on a rendezvous and a
/// buffered channel: a message is either received once or, when the producer's select
/// timed out, kept by the producer (its send arm's message is never evaluated).
#[test]
fn select_timeouts_racing_lose_and_duplicate_nothing() {
    const PRODUCERS: u64 = 16;
    const PER_PRODUCER: u64 = 3_000;
    const CONSUMERS: usize = 8;
    stress("select timeouts racing", || {
        let ledger = Ledger::new((PRODUCERS * PER_PRODUCER) as usize);
        let (a_tx, a_rx) = chan::bounded::<u64>(0);
        let (b_tx, b_rx) = chan::bounded::<u64>(2);

        let mut consumer_threads = Vec::new();
        let mut consumer_coroutines = Vec::new();
        for i in 0..CONSUMERS {
            let (a_rx, b_rx) = (a_rx.clone(), b_rx.clone());
            let mut consumer = Consumer::unordered(ledger.clone());
            let consume = move || {
                let mut rng = rand::rng();
                let mut open = [true, true];
                while open.contains(&true) {
                    hebra::select! {
                        recv(a_rx) -> id => match id {
                            Ok(id) => consumer.take(id),
                            Err(_) => open[0] = false,
                        },
                        recv(b_rx) -> id => match id {
                            Ok(id) => consumer.take(id),
                            Err(_) => open[1] = false,
                        },
                        default(Duration::from_micros(rng.random_range(0..300))) => {}
                    }
                }
                consumer.tally
            };
            if i % 4 == 0 {
                consumer_threads.push(thread::spawn(consume));
            } else {
                consumer_coroutines.push(hebra::spawn(consume));
            }
        }
        drop((a_rx, b_rx));

        let mut producer_threads = Vec::new();
        let mut producer_coroutines = Vec::new();
        for p in 0..PRODUCERS {
            let (a_tx, b_tx, ledger) = (a_tx.clone(), b_tx.clone(), ledger.clone());
            // Returns the tally of the messages the producer kept.
            let send_all = move || {
                let mut rng = rand::rng();
                let mut kept = Tally::default();
                let mut evaluated = 0;
                for i in 0..PER_PRODUCER {
                    let id = p * PER_PRODUCER + i;
                    hebra::select! {
                        send(a_tx, { evaluated += 1; id }) -> sent => sent.expect("the consumers outlive the producers"),
                        send(b_tx, { evaluated += 1; id }) -> sent => sent.expect("the consumers outlive the producers"),
                        default(Duration::from_micros(rng.random_range(0..300))) => {
                            ledger.deliver(id);
                            kept.add(id);
                        }
                    }
                }
                assert_eq!(
                    evaluated + kept.count,
                    PER_PRODUCER,
                    "a send arm's message was evaluated but not sent"
                );
                kept
            };
            if p % 4 == 0 {
                producer_threads.push(thread::spawn(send_all));
            } else {
                producer_coroutines.push(hebra::spawn(send_all));
            }
        }
        drop((a_tx, b_tx));

        let mut tallies: Vec<Tally> = producer_coroutines
            .into_iter()
            .map(|p| p.join().expect("a producer coroutine panicked"))
            .collect();
        tallies.extend(join_threads(producer_threads));
        tallies.extend(
            consumer_coroutines.into_iter().map(|c| c.join().expect("a consumer coroutine panicked")),
        );
        tallies.extend(join_threads(consumer_threads));
        assert_eq!(Tally::total(tallies), Tally::of_all(PRODUCERS * PER_PRODUCER));
        ledger.assert_all_delivered();
    });
}
