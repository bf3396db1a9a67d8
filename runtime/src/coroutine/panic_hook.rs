//! Runs the panic hook on the worker's stack when a coroutine panics.
//!
//! The default hook with `RUST_BACKTRACE=1` symbolises a backtrace, which takes far more
//! stack than a coroutine has. We wrap whatever hook is installed when the first runtime
//! is built: on a coroutine, the wrapped hook runs on the worker's own stack
//! (`Yielder::on_parent_stack`); corosensei links the two stacks, so the backtrace still
//! shows the coroutine's frames. A hook installed later with `std::panic::set_hook`
//! replaces ours; such a hook runs on the coroutine's stack (see the README's caveats).

use std::panic;
use std::sync::Once;

use super::running;

/// Wraps the current panic hook (once per process).
pub(crate) fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let hook = SameThread(|| previous(info));
            if running::on_worker_stack(move || hook.call()).is_none() {
                previous(info);
            }
        }));
    });
}

/// Carries a closure across a stack switch that corosensei guards with a `Send` bound.
struct SameThread<F>(F);

impl<F: FnOnce()> SameThread<F> {
    fn call(self) {
        (self.0)()
    }
}

// SAFETY: `on_parent_stack` requires `Send` so that a closure cannot smuggle the yielder
// to another thread, but it runs the closure synchronously on this same OS thread, only on
// another stack. Ours captures the hook and its `&PanicHookInfo`, never the yielder, and
// both stay on this thread for the duration of the call.
unsafe impl<F> Send for SameThread<F> {}
