//! Yield round trip: one coroutine (task, thread) yielding in a loop; time per yield.
//!
//! With nothing else runnable, each yield goes to the scheduler and straight back, so
//! this is the cost of one trip through the scheduler loop plus two context switches.

use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use hebra_benches::{MEASUREMENT_TIME, SAMPLE_SIZE, WARM_UP_TIME};

fn yield_now(c: &mut Criterion) {
    let mut group = c.benchmark_group("yield_now");

    let hebra = &hebra_benches::runtimes().hebra;
    group.bench_function("hebra", |b| {
        b.iter_custom(|iters| hebra.block_on(move || hebra_benches::timed(iters, hebra::yield_now)))
    });

    let tokio = &hebra_benches::runtimes().tokio;
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            // Spawned, so that the loop runs on a worker (block_on's future would not).
            let task = tokio.spawn(async move {
                let start = Instant::now();
                for _ in 0..iters {
                    tokio::task::yield_now().await;
                }
                start.elapsed()
            });
            tokio.block_on(task).expect("the yield task panicked")
        })
    });

    group.bench_function("may", |b| {
        b.iter_custom(|iters| {
            let measuring = move || hebra_benches::timed(iters, may::coroutine::yield_now);
            // SAFETY: the loop touches no thread-local storage across a yield and needs a
            // few hundred bytes of stack.
            let coroutine = unsafe { may::coroutine::spawn(measuring) };
            coroutine.join().expect("the yield coroutine panicked")
        })
    });

    group.bench_function("std_thread", |b| {
        b.iter_custom(|iters| hebra_benches::timed(iters, std::thread::yield_now))
    });

    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(WARM_UP_TIME)
        .measurement_time(MEASUREMENT_TIME)
        .sample_size(SAMPLE_SIZE);
    targets = yield_now
}
criterion_main!(benches);
