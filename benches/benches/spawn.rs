//! Spawn and join a trivial closure from inside a coroutine (task), one at a time and in
//! batches of 10,000 spawns followed by 10,000 joins. Time per coroutine.
//!
//! `std::thread` is there for reference in the one-at-a-time group only: 10,000 threads
//! at once measure the kernel rather than a scheduler.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use hebra_benches::{MEASUREMENT_TIME, SAMPLE_SIZE, WARM_UP_TIME};

/// Coroutines spawned before the first join in the batch group.
const BATCH: usize = 10_000;

fn spawn_join(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_join");

    let hebra = &hebra_benches::runtimes().hebra;
    group.bench_function("hebra", |b| {
        b.iter_custom(|iters| {
            hebra.block_on(move || {
                hebra_benches::timed(iters, || {
                    hebra::spawn(|| {}).join().expect("the coroutine panicked");
                })
            })
        })
    });

    let tokio = &hebra_benches::runtimes().tokio;
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            let task = tokio.spawn(async move {
                let start = Instant::now();
                for _ in 0..iters {
                    tokio::spawn(async {}).await.expect("the task panicked");
                }
                start.elapsed()
            });
            tokio.block_on(task).expect("the measuring task panicked")
        })
    });

    group.bench_function("may", |b| {
        b.iter_custom(|iters| {
            let measuring = move || {
                hebra_benches::timed(iters, || {
                    // SAFETY: an empty closure touches no thread-local storage and needs
                    // no stack to speak of.
                    let child = unsafe { may::coroutine::spawn(|| {}) };
                    child.join().expect("the coroutine panicked");
                })
            };
            // SAFETY: the measuring loop touches no thread-local storage across a park
            // and needs a few hundred bytes of stack.
            let measuring = unsafe { may::coroutine::spawn(measuring) };
            measuring.join().expect("the measuring coroutine panicked")
        })
    });

    group.bench_function("std_thread", |b| {
        b.iter_custom(|iters| {
            hebra_benches::timed(iters, || {
                std::thread::spawn(|| {}).join().expect("the thread panicked");
            })
        })
    });

    group.finish();
}

fn spawn_batch(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_batch_10k");

    let hebra = &hebra_benches::runtimes().hebra;
    group.bench_function("hebra", |b| {
        b.iter_custom(|iters| {
            hebra.block_on(move || {
                let mut handles = Vec::with_capacity(BATCH);
                in_batches(iters, || {
                    handles.extend((0..BATCH).map(|_| hebra::spawn(|| {})));
                    for handle in handles.drain(..) {
                        handle.join().expect("the coroutine panicked");
                    }
                })
            })
        })
    });

    let tokio = &hebra_benches::runtimes().tokio;
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            let task = tokio.spawn(async move {
                let mut handles = Vec::with_capacity(BATCH);
                let batches = iters.div_ceil(BATCH as u64);
                let start = Instant::now();
                for _ in 0..batches {
                    handles.extend((0..BATCH).map(|_| tokio::spawn(async {})));
                    for handle in handles.drain(..) {
                        handle.await.expect("the task panicked");
                    }
                }
                scale_to(iters, batches, start.elapsed())
            });
            tokio.block_on(task).expect("the measuring task panicked")
        })
    });

    group.bench_function("may", |b| {
        b.iter_custom(|iters| {
            let measuring = move || {
                let mut handles = Vec::with_capacity(BATCH);
                in_batches(iters, || {
                    // SAFETY: an empty closure touches no thread-local storage and needs
                    // no stack to speak of.
                    handles.extend((0..BATCH).map(|_| unsafe { may::coroutine::spawn(|| {}) }));
                    for handle in handles.drain(..) {
                        handle.join().expect("the coroutine panicked");
                    }
                })
            };
            // SAFETY: the measuring loop touches no thread-local storage across a park
            // and needs a few hundred bytes of stack (the handles are on the heap).
            let measuring = unsafe { may::coroutine::spawn(measuring) };
            measuring.join().expect("the measuring coroutine panicked")
        })
    });

    group.finish();
}

/// Runs whole batches until at least `iters` coroutines ran, and returns what `iters` of
/// them took at the measured rate, so that criterion's time per iteration is the time
/// per coroutine and its iteration planning stays right.
fn in_batches(iters: u64, mut batch: impl FnMut()) -> Duration {
    let batches = iters.div_ceil(BATCH as u64);
    let start = Instant::now();
    for _ in 0..batches {
        batch();
    }
    scale_to(iters, batches, start.elapsed())
}

fn scale_to(iters: u64, batches: u64, elapsed: Duration) -> Duration {
    elapsed.mul_f64(iters as f64 / (batches * BATCH as u64) as f64)
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(WARM_UP_TIME)
        .measurement_time(MEASUREMENT_TIME)
        .sample_size(SAMPLE_SIZE);
    targets = spawn_join, spawn_batch
}
criterion_main!(benches);
