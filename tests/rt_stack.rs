//! `hebra::coroutine::shrink_stack`: the pages below the caller's frame go back to the
//! kernel, and everything the coroutine still uses (its frames, its locals, the frames
//! of the waits that follow) survives, under load from many coroutines on several
//! workers.

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::run_with;

/// Recurses `depth` times with 1 KiB of locals per frame and returns a sum that
/// depends on every frame's bytes, so none of it is optimised away.
#[inline(never)]
fn deep(depth: u32, seed: u8) -> u64 {
    let frame = black_box([seed.wrapping_add(depth as u8); 1024]);
    let below = if depth == 0 { 0 } else { deep(depth - 1, seed) };
    below + frame.iter().map(|&b| u64::from(b)).sum::<u64>()
}

#[test]
fn shrinking_discards_the_pages_deeper_calls_touched() {
    run_with(1, || {
        hebra::spawn(|| {
            let expected = deep(24, 7);
            let discarded = hebra::coroutine::shrink_stack();
            // 24 KiB of frames were touched below this one; all but the margin kept
            // under the caller's frame is discarded (at least 16 KiB).
            assert!(discarded >= 16 * 1024, "discarded only {discarded} bytes");
            assert!(discarded <= hebra::DEFAULT_STACK_SIZE, "discarded {discarded} bytes of a 64 KiB stack");
            assert_eq!(deep(24, 7), expected, "the stack works as before");
        })
        .join()
        .unwrap();
    });
}

#[test]
fn locals_and_waits_survive_a_shrink_on_every_coroutine() {
    run_with(2, || {
        let coroutines: Vec<_> = (0..200u32)
            .map(|i| {
                hebra::spawn(move || {
                    let mine = black_box([i as u8; 512]);
                    for round in 0..5u32 {
                        let before = deep(8 + round, i as u8);
                        hebra::coroutine::shrink_stack();
                        // A wait right after the shrink: its frames, and the saved
                        // state of the switch, live in pages that were just discarded.
                        hebra::sleep(Duration::from_millis(1));
                        hebra::yield_now();
                        assert_eq!(deep(8 + round, i as u8), before);
                    }
                    assert!(mine.iter().all(|&b| b == i as u8), "a local above the shrink changed");
                    i
                })
            })
            .collect();
        for (i, coroutine) in coroutines.into_iter().enumerate() {
            assert_eq!(coroutine.join().unwrap(), i as u32);
        }
    });
}

#[test]
fn shrinking_is_a_no_op_on_a_plain_thread() {
    assert_eq!(hebra::coroutine::shrink_stack(), 0);
}
