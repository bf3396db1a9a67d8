//! A tour of spawning, joining, panics and parking: the `std::thread` shapes, on
//! coroutines.
//!
//! Run with `cargo run --release --example spawn`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn main() {
    hebra::run(|| {
        println!("{} workers", hebra::workers());

        // Spawn and join, like std::thread.
        let handles: Vec<_> = (0..4u64).map(|i| hebra::spawn(move || i * i)).collect();
        let squares: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        println!("squares: {squares:?}");

        // A panic ends one coroutine; its JoinHandle gets the payload, the runtime lives on.
        let failed = hebra::spawn(|| -> u32 { panic!("this coroutine fails on purpose") });
        let payload = failed.join().unwrap_err();
        println!("joined a panicked coroutine: {:?}", payload.downcast_ref::<&str>());

        // Ten thousand sleepers cost ten thousand small stacks, not ten thousand threads.
        let start = Instant::now();
        let sleepers: Vec<_> =
            (0..10_000).map(|_| hebra::spawn(|| hebra::sleep(Duration::from_millis(50)))).collect();
        sleepers.into_iter().for_each(|h| h.join().unwrap());
        println!("10,000 concurrent 50 ms sleeps took {:?}", start.elapsed());

        // park / unpark, across workers or from a plain OS thread.
        let ready = Arc::new(AtomicBool::new(false));
        let waiter = {
            let ready = ready.clone();
            hebra::coroutine::Builder::new()
                .name("parked".into())
                .spawn(move || {
                    while !ready.load(Ordering::Acquire) {
                        hebra::coroutine::park();
                    }
                    hebra::coroutine::current().name().unwrap_or("?").to_owned()
                })
                .unwrap()
        };
        let coroutine = waiter.coroutine().clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            ready.store(true, Ordering::Release);
            coroutine.unpark();
        });
        println!("coroutine '{}' was unparked by a plain thread", waiter.join().unwrap());

        // Blocking work goes to a helper thread while the coroutine parks.
        let sum = hebra::unblock(|| (1..=1_000_000u64).sum::<u64>());
        println!("sum computed on a helper thread: {sum}");
    });
}
