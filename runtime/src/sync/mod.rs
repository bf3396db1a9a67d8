//! Locks and coordination for coroutines: they park the coroutine, never its worker.

mod signal;

pub(crate) use signal::{Claim, Interrupted, Signal};
