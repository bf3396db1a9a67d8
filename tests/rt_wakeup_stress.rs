//! Lost-wakeup stress: 10,000 coroutines ping-pong with park/unpark in pairs split across
//! the two workers, while plain OS threads both drive more coroutines and unpark
//! everything at random. Every coroutine must finish: this is a hang detector.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::Duration;

use common::within;
use hebra::coroutine::{self, Builder, Coroutine};
use rand::Rng;

/// 2 × PAIRS coroutines ping-pong across workers.
const PAIRS: usize = 5_000;
/// Coroutines whose partner is a plain OS thread, per driving thread.
const DRIVEN_PER_THREAD: usize = 500;
const DRIVING_THREADS: usize = 2;
const NOISE_THREADS: usize = 2;
const ROUNDS: usize = 100;

/// Far above the few seconds this takes in a debug build on 2 cores.
const BOUND: Duration = Duration::from_secs(120);

#[derive(Default)]
struct Pair {
    turn: AtomicUsize,
    first: OnceLock<Coroutine>,
}

/// Parks until `turn` equals `want`. Spurious returns (noise unparks) just loop.
fn park_until(turn: &AtomicUsize, want: usize) {
    while turn.load(Ordering::Acquire) != want {
        coroutine::park();
    }
}

fn spawn_pair(pair: Arc<Pair>) -> [hebra::JoinHandle<()>; 2] {
    let second = {
        let pair = pair.clone();
        Builder::new()
            .worker(1)
            .spawn(move || {
                for round in 0..ROUNDS {
                    park_until(&pair.turn, 2 * round + 1);
                    pair.turn.store(2 * round + 2, Ordering::Release);
                    pair.first.get().expect("set before the first turn").unpark();
                }
            })
            .unwrap()
    };
    let peer = second.coroutine().clone();
    let first = Builder::new()
        .worker(0)
        .spawn(move || {
            pair.first.set(coroutine::current()).unwrap();
            for round in 0..ROUNDS {
                park_until(&pair.turn, 2 * round);
                pair.turn.store(2 * round + 1, Ordering::Release);
                peer.unpark();
            }
        })
        .unwrap();
    [first, second]
}

/// A plain thread that plays the other half of the ping-pong of `driven` coroutines.
fn drive(driven: Vec<(Arc<AtomicUsize>, Coroutine)>) {
    let mut left = driven.len();
    while left > 0 {
        left = 0;
        let mut moved = false;
        for (turn, coroutine) in &driven {
            let now = turn.load(Ordering::Acquire);
            if now < 2 * ROUNDS {
                left += 1;
            }
            if now % 2 == 1 {
                turn.store(now + 1, Ordering::Release);
                coroutine.unpark();
                moved = true;
            }
        }
        if !moved {
            // Leave the two cores to the workers while they catch up.
            thread::sleep(Duration::from_micros(100));
        }
    }
}

#[test]
fn ten_thousand_coroutines_ping_pong_without_losing_a_wakeup() {
    within("park/unpark stress", BOUND, || {
        let runtime = hebra::Builder::new().workers(2).build().unwrap();
        runtime.block_on(|| {
            let pairs: Vec<Arc<Pair>> = (0..PAIRS).map(|_| Arc::default()).collect();
            let mut handles: Vec<hebra::JoinHandle<()>> =
                pairs.iter().flat_map(|p| spawn_pair(p.clone())).collect();

            let mut drivers = Vec::new();
            for t in 0..DRIVING_THREADS {
                let driven: Vec<_> = (0..DRIVEN_PER_THREAD)
                    .map(|i| {
                        let turn = Arc::new(AtomicUsize::new(0));
                        let mine = turn.clone();
                        let handle = Builder::new()
                            .worker((t + i) % 2)
                            .spawn(move || {
                                for round in 0..ROUNDS {
                                    mine.store(2 * round + 1, Ordering::Release);
                                    park_until(&mine, 2 * round + 2);
                                }
                            })
                            .unwrap();
                        let coroutine = handle.coroutine().clone();
                        handles.push(handle);
                        (turn, coroutine)
                    })
                    .collect();
                drivers.push(thread::spawn(move || drive(driven)));
            }

            let everyone: Arc<Vec<Coroutine>> =
                Arc::new(handles.iter().map(|h| h.coroutine().clone()).collect());
            let stop = Arc::new(AtomicBool::new(false));
            let noise: Vec<_> = (0..NOISE_THREADS)
                .map(|_| {
                    let (everyone, stop) = (everyone.clone(), stop.clone());
                    thread::spawn(move || {
                        let mut rng = rand::rng();
                        while !stop.load(Ordering::Relaxed) {
                            for _ in 0..100 {
                                everyone[rng.random_range(0..everyone.len())].unpark();
                            }
                            thread::sleep(Duration::from_micros(200));
                        }
                    })
                })
                .collect();

            for handle in handles {
                handle.join().expect("a ping-pong coroutine panicked");
            }
            stop.store(true, Ordering::Relaxed);
            noise.into_iter().for_each(|t| t.join().unwrap());
            drivers.into_iter().for_each(|t| t.join().unwrap());
            for pair in &pairs {
                assert_eq!(pair.turn.load(Ordering::Acquire), 2 * ROUNDS);
            }
        });
    });
}
