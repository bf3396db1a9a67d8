//! What only a separate process can show: a stack overflow aborts with a message naming
//! the coroutine, a panic with `RUST_BACKTRACE=1` fits in a coroutine's stack, and an
//! idle runtime does not burn CPU. Each test re-executes this test binary as a child
//! (see `common::child`) and watches it from outside.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{HANG_BOUND, assert_child_passed, child, is_child, output_within, within};

const OVERFLOWING_NAME: &str = "deep-recursion-7";

/// Recurses without bound; the array and `black_box` keep every frame on the stack.
fn recurse(depth: u64) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    let frame = std::hint::black_box([depth; 64]);
    recurse(depth + 1) + frame[(depth % 64) as usize]
}

#[test]
fn stack_overflow_aborts_with_a_message_naming_the_coroutine() {
    const TEST: &str = "stack_overflow_aborts_with_a_message_naming_the_coroutine";
    if is_child(TEST) {
        hebra::run(|| {
            let handle =
                hebra::coroutine::Builder::new().name(OVERFLOWING_NAME.into()).spawn(|| recurse(0)).unwrap();
            let _ = handle.join();
        });
        unreachable!("the overflowing coroutine returned");
    }
    let output = output_within(child(TEST), HANG_BOUND);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGABRT),
        "the child did not abort (status {:?}); stderr:\n{stderr}",
        output.status
    );
    assert!(stderr.contains("overflowed its stack"), "no overflow report; stderr:\n{stderr}");
    assert!(stderr.contains(OVERFLOWING_NAME), "the report does not name the coroutine; stderr:\n{stderr}");
}

/// Panics in a coroutine of `stack_size` with `RUST_BACKTRACE=1`; the child must print
/// the panic with a backtrace, join the coroutine and exit normally.
fn panic_with_backtrace_in_child(test: &str, stack_size: usize) {
    if is_child(test) {
        let runtime = hebra::Builder::new().workers(2).stack_size(stack_size).build().unwrap();
        let joined = runtime
            .block_on(|| hebra::spawn(|| -> () { panic!("deliberate panic for the backtrace test") }).join());
        assert!(joined.is_err(), "the panicking coroutine joined Ok");
        return;
    }
    let mut command = child(test);
    command.env("RUST_BACKTRACE", "1");
    let output = output_within(command, HANG_BOUND);
    assert_child_passed(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("deliberate panic for the backtrace test"),
        "the panic message was not printed; stderr:\n{stderr}"
    );
    assert!(stderr.contains("stack backtrace"), "no backtrace was printed; stderr:\n{stderr}");
}

#[test]
fn a_panic_with_backtrace_fits_in_a_default_stack() {
    panic_with_backtrace_in_child(
        "a_panic_with_backtrace_fits_in_a_default_stack",
        hebra::DEFAULT_STACK_SIZE,
    );
}

#[test]
fn a_panic_with_backtrace_fits_in_the_smallest_stack() {
    panic_with_backtrace_in_child("a_panic_with_backtrace_fits_in_the_smallest_stack", hebra::MIN_STACK_SIZE);
}

/// utime + stime of process `pid`, in clock ticks (fields 14 and 15 of /proc/pid/stat).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("no /proc/pid/stat");
    // The command name (field 2) may contain spaces; the fields after it do not.
    let after_name = &stat[stat.rfind(')').expect("malformed stat") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // after_name starts at field 3, so field n is fields[n - 3].
    let utime: u64 = fields[14 - 3].parse().unwrap();
    let stime: u64 = fields[15 - 3].parse().unwrap();
    utime + stime
}

#[test]
fn an_idle_runtime_uses_almost_no_cpu() {
    const TEST: &str = "an_idle_runtime_uses_almost_no_cpu";
    const READY: &str = "idle-child-ready";
    if is_child(TEST) {
        hebra::run(|| {
            // Some activity first, so that stacks are pooled and timers were used.
            let handles: Vec<_> =
                (0..100).map(|_| hebra::spawn(|| hebra::sleep(Duration::from_millis(1)))).collect();
            handles.into_iter().for_each(|h| h.join().unwrap());
            println!("{READY}");
            hebra::coroutine::park_timeout(Duration::from_secs(4));
        });
        return;
    }
    within("idle child", HANG_BOUND, || {
        let mut process =
            child(TEST).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("cannot start the child");
        let pid = process.id();
        let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();
        assert!(lines.any(|line| line.is_ok_and(|l| l.contains(READY))), "the child never got ready");
        // Let the pool trim and the monitor back off before measuring.
        std::thread::sleep(Duration::from_millis(500));
        let before = cpu_ticks(pid);
        let start = Instant::now();
        std::thread::sleep(Duration::from_secs(2));
        let used = cpu_ticks(pid) - before;
        let window = start.elapsed();
        // SAFETY: sysconf only reads a configuration value.
        let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        let share = used as f64 / ticks_per_second / window.as_secs_f64();
        let status = process.wait().unwrap();
        assert!(status.success(), "the idle child failed: {status:?}");
        assert!(
            share < 0.05,
            "an idle runtime used {:.1}% of a core ({used} ticks in {window:?})",
            share * 100.0
        );
    });
}

/// Uses at least `kib` KiB of stack.
fn use_stack(kib: usize) -> u8 {
    if kib == 0 {
        return 0;
    }
    let frame = std::hint::black_box([kib as u8; 1024]);
    use_stack(kib - 1).wrapping_add(frame[kib % 1024])
}

#[test]
fn stack_size_settings_give_a_coroutine_that_much_room() {
    const TEST: &str = "stack_size_settings_give_a_coroutine_that_much_room";
    // Far more than the default 64 KiB, well within 512 KiB. If a setting were ignored
    // the coroutine would overflow and abort, so this runs in a child process.
    const DEEP_KIB: usize = 200;
    if is_child(TEST) {
        let runtime = hebra::Builder::new().workers(1).stack_size(512 * 1024).build().unwrap();
        runtime.spawn(|| use_stack(DEEP_KIB)).join().unwrap();
        let runtime = hebra::Builder::new().workers(1).build().unwrap();
        runtime
            .block_on(|| {
                hebra::coroutine::Builder::new()
                    .stack_size(512 * 1024)
                    .spawn(|| use_stack(DEEP_KIB))
                    .unwrap()
                    .join()
            })
            .unwrap();
        return;
    }
    assert_child_passed(&output_within(child(TEST), HANG_BOUND));
}
