//! A process-wide `SIGSEGV`/`SIGBUS` handler that runs on an alternate signal stack.
//!
//! Contract: [`install_fault_handler`] installs, once per process, a handler that passes
//! each fault address to a `check` function. `check` must be async-signal-safe: no
//! allocation, no locks, only [`write_stderr`] and `std::process::abort`. It either
//! reports and aborts, or returns to say the fault is not one it knows; then the handler
//! that was installed before ours (Rust's own stack-overflow reporter, a sanitizer, ...)
//! gets the fault, or the default action runs if there was none, so foreign faults still
//! crash the way they would without us.
//!
//! A thread that overflows its stack can only run a handler on another stack: every
//! thread that runs coroutines keeps an [`AltStack`].

use std::io;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Mapping, syscall};

/// Called with the fault address; returns only if the fault is not its own.
pub type FaultCheck = fn(usize);

const SIGNALS: [libc::c_int; 2] = [libc::SIGSEGV, libc::SIGBUS];

static CHECK: AtomicUsize = AtomicUsize::new(0);
static PREVIOUS: OnceLock<[libc::sigaction; 2]> = OnceLock::new();

/// Installs the fault handler once per process; later calls do nothing.
pub fn install_fault_handler(check: FaultCheck) -> io::Result<()> {
    // Published before the handler exists, so the handler never sees 0.
    CHECK.store(check as usize, Ordering::Release);
    let mut result = Ok(());
    PREVIOUS.get_or_init(|| {
        let mut previous = [zeroed_sigaction(), zeroed_sigaction()];
        for (signal, old) in SIGNALS.iter().zip(previous.iter_mut()) {
            let mut action = zeroed_sigaction();
            action.sa_sigaction = on_fault as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            // SAFETY: `action` is a fully initialised sigaction whose handler has the
            // SA_SIGINFO signature; `old` is valid for writes.
            if let Err(err) = syscall!(sigaction(*signal, &action, old)) {
                result = Err(err);
            }
        }
        previous
    });
    result
}

fn zeroed_sigaction() -> libc::sigaction {
    // SAFETY: sigaction is a plain C struct for which all-zero is a valid value
    // (SIG_DFL, empty mask, no flags).
    unsafe { MaybeUninit::zeroed().assume_init() }
}

extern "C" fn on_fault(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let check = CHECK.load(Ordering::Acquire);
    if check != 0 {
        // SAFETY: CHECK only ever holds a `FaultCheck` stored by install_fault_handler.
        let check: FaultCheck = unsafe { std::mem::transmute::<usize, FaultCheck>(check) };
        check(addr);
    }
    let Some(previous) = PREVIOUS.get() else {
        return reset_to_default(signal);
    };
    let index = SIGNALS.iter().position(|&s| s == signal).unwrap_or(0);
    let previous = &previous[index];
    let handler = previous.sa_sigaction;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // Returning re-executes the faulting instruction, which now gets the default
        // action (a core dump), exactly as if no handler had been installed.
        return reset_to_default(signal);
    }
    if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with SA_SIGINFO, so it has this
        // signature; we forward the arguments the kernel gave us.
        let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(handler) };
        handler(signal, info, context);
    } else {
        // SAFETY: without SA_SIGINFO the previous handler has the one-argument signature.
        let handler: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
        handler(signal);
    }
}

fn reset_to_default(signal: libc::c_int) {
    let action = zeroed_sigaction();
    // SAFETY: installing SIG_DFL is async-signal-safe and always valid.
    unsafe { libc::sigaction(signal, &action, ptr::null_mut()) };
}

/// Writes all of `bytes` to standard error with `write(2)`: async-signal-safe.
pub fn write_stderr(bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: the pointer and length describe the live slice `rest`.
        let n = unsafe { libc::write(libc::STDERR_FILENO, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        rest = &rest[n as usize..];
    }
}

/// An alternate signal stack owned by the current thread, removed again on drop.
#[derive(Debug)]
pub struct AltStack {
    mapping: Option<Mapping>,
}

impl AltStack {
    /// Gives the current thread an alternate signal stack unless it already has one
    /// (threads started by `std::thread` usually do).
    pub fn ensure() -> io::Result<AltStack> {
        let mut current = MaybeUninit::<libc::stack_t>::zeroed();
        // SAFETY: a null new stack only queries; `current` is valid for writes.
        syscall!(sigaltstack(ptr::null(), current.as_mut_ptr()))?;
        // SAFETY: sigaltstack succeeded, so it initialised `current`.
        let current = unsafe { current.assume_init() };
        if current.ss_flags & libc::SS_DISABLE == 0 {
            return Ok(AltStack { mapping: None });
        }
        let size = (libc::SIGSTKSZ * 4).max(64 * 1024);
        let mapping = Mapping::with_guard(size)?;
        let stack = libc::stack_t {
            ss_sp: mapping.usable_start() as *mut libc::c_void,
            ss_flags: 0,
            ss_size: mapping.usable_len(),
        };
        // SAFETY: the stack memory is a live mapping owned by the returned guard, which
        // disables the alternate stack before unmapping it.
        syscall!(sigaltstack(&stack, ptr::null_mut()))?;
        Ok(AltStack { mapping: Some(mapping) })
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        if self.mapping.is_some() {
            let disable = libc::stack_t { ss_sp: ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
            // SAFETY: disabling this thread's alternate stack before its memory goes away.
            unsafe { libc::sigaltstack(&disable, ptr::null_mut()) };
        }
    }
}
