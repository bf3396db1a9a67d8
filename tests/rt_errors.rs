//! Panics and misuse: a panicking coroutine is isolated and its payload reaches `join`;
//! `run` re-raises its closure's panic; calls that need a runtime (or must not run in
//! one) fail with a clear message; invalid settings are `InvalidInput` errors.

mod common;

use std::io::ErrorKind;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{HANG_BOUND, panic_message, run_with, within};
use hebra::coroutine::{self, Builder};

#[test]
fn a_panicking_coroutine_gives_its_payload_to_join_and_the_runtime_lives_on() {
    run_with(2, || {
        let failed = hebra::spawn(|| -> u32 { panic!("boom {}", 42) });
        let payload = failed.join().unwrap_err();
        assert_eq!(panic_message(&*payload), "boom 42");

        let static_payload = hebra::spawn(|| panic!("static message"));
        let payload = static_payload.join().unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"static message"));

        // A panic after a park, many at once, on both workers: the workers survive all.
        let handles: Vec<_> = (0..200u32)
            .map(|i| {
                Builder::new()
                    .worker(i as usize % 2)
                    .spawn(move || {
                        hebra::sleep(Duration::from_millis(1));
                        if i % 2 == 0 {
                            panic!("even {i}");
                        }
                        i
                    })
                    .unwrap()
            })
            .collect();
        for (i, handle) in handles.into_iter().enumerate() {
            match handle.join() {
                Ok(value) => assert_eq!(value as usize, i),
                Err(payload) => {
                    assert_eq!(i % 2, 0);
                    assert_eq!(panic_message(&*payload), format!("even {i}"));
                }
            }
        }
        let after: Vec<_> = (0..2).map(|w| Builder::new().worker(w).spawn(move || w).unwrap()).collect();
        for (w, handle) in after.into_iter().enumerate() {
            assert_eq!(handle.join().unwrap(), w, "worker {w} stopped serving");
        }
    });
}

#[test]
fn run_reraises_a_panic_of_its_closure() {
    let result = within("hebra::run", HANG_BOUND, || {
        panic::catch_unwind(|| hebra::run(|| -> () { panic!("main failed") }))
    });
    let payload = result.unwrap_err();
    assert_eq!(panic_message(&*payload), "main failed");
    // And the process can run another runtime afterwards.
    assert_eq!(within("hebra::run", HANG_BOUND, || hebra::run(|| 5)), 5);
}

#[test]
fn block_on_reraises_and_the_runtime_stays_usable() {
    within("block_on", HANG_BOUND, || {
        let runtime = hebra::Builder::new().workers(2).build().unwrap();
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            runtime.block_on(|| -> () { panic!("block_on body failed") })
        }));
        assert_eq!(panic_message(&*result.unwrap_err()), "block_on body failed");
        assert_eq!(runtime.block_on(|| 1 + 1), 2);
    });
}

#[test]
fn spawn_outside_a_runtime_panics_with_a_message() {
    let payload = panic::catch_unwind(|| hebra::spawn(|| ())).unwrap_err();
    let message = panic_message(&*payload);
    assert!(message.contains("outside"), "unclear message: {message}");
}

#[test]
fn workers_outside_a_runtime_panics() {
    let payload = panic::catch_unwind(hebra::workers).unwrap_err();
    assert!(panic_message(&*payload).contains("outside"));
}

#[test]
fn current_outside_a_coroutine_panics_with_a_message() {
    let payload = panic::catch_unwind(coroutine::current).unwrap_err();
    let message = panic_message(&*payload);
    assert!(message.contains("outside"), "unclear message: {message}");
}

#[test]
fn builder_spawn_outside_a_runtime_is_an_error() {
    let err = Builder::new().spawn(|| ()).unwrap_err();
    assert!(err.to_string().contains("outside"), "unclear message: {err}");
}

#[test]
fn run_and_block_on_inside_a_runtime_panic_with_a_message() {
    let (run_message, block_on_message) = run_with(2, || {
        let run = panic::catch_unwind(|| hebra::run(|| ())).unwrap_err();
        let other = hebra::Builder::new().workers(1).build().unwrap();
        let block_on = panic::catch_unwind(AssertUnwindSafe(|| other.block_on(|| ()))).unwrap_err();
        (panic_message(&*run), panic_message(&*block_on))
    });
    for message in [run_message, block_on_message] {
        assert!(message.contains("inside a hebra runtime"), "unclear message: {message}");
    }
}

#[test]
fn invalid_runtime_settings_are_invalid_input() {
    let cases = [
        ("0 workers", hebra::Builder::new().workers(0)),
        ("stack below MIN_STACK_SIZE", hebra::Builder::new().stack_size(hebra::MIN_STACK_SIZE - 1)),
        ("0 stack", hebra::Builder::new().stack_size(0)),
        ("0 blocking threads", hebra::Builder::new().max_blocking_threads(0)),
    ];
    for (what, builder) in cases {
        let err = builder.build().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{what}: {err}");
        assert!(!err.to_string().is_empty(), "{what}: no message");
    }
    // The smallest valid stack works, and coroutines can run on it.
    let runtime = hebra::Builder::new().workers(1).stack_size(hebra::MIN_STACK_SIZE).build().unwrap();
    assert_eq!(runtime.spawn(|| 3).join().unwrap(), 3);
}

#[test]
fn invalid_coroutine_settings_are_invalid_input() {
    run_with(2, || {
        let err = Builder::new().stack_size(hebra::MIN_STACK_SIZE - 1).spawn(|| ()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("stack"), "unclear message: {err}");

        let err = Builder::new().worker(2).spawn(|| ()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains('2'), "unclear message: {err}");
        let err = Builder::new().worker(usize::MAX).spawn(|| ()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");

        let ok = Builder::new().stack_size(hebra::MIN_STACK_SIZE).worker(1).spawn(|| 1).unwrap();
        assert_eq!(ok.join().unwrap(), 1);
    });
}

#[test]
fn a_coroutine_joining_itself_panics_instead_of_hanging() {
    let outcome = run_with(1, || {
        let slot: Arc<Mutex<Option<hebra::JoinHandle<()>>>> = Arc::default();
        let outcome = Arc::new(AtomicUsize::new(0));
        let handle = {
            let (slot, outcome) = (slot.clone(), outcome.clone());
            hebra::spawn(move || {
                let own = loop {
                    if let Some(handle) = slot.lock().unwrap().take() {
                        break handle;
                    }
                    hebra::sleep(Duration::from_millis(1));
                };
                let joined = panic::catch_unwind(AssertUnwindSafe(move || own.join()));
                outcome.store(if joined.is_err() { 1 } else { 2 }, Ordering::SeqCst);
            })
        };
        *slot.lock().unwrap() = Some(handle);
        while outcome.load(Ordering::SeqCst) == 0 {
            hebra::sleep(Duration::from_millis(1));
        }
        outcome.load(Ordering::SeqCst)
    });
    assert_eq!(outcome, 1, "joining oneself must panic");
}
