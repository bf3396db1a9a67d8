//! Poisoning as `std::sync` does it: a lock whose guard is dropped while its holder
//! panics is marked poisoned, and later lockers get their guard wrapped in a
//! [`PoisonError`].
//!
//! The flag is only a hint to the next holder, never part of the lock's own protocol,
//! so it is read and written `Relaxed`: the lock's acquire/release orders it with the
//! data it guards.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LockResult, PoisonError};
use std::thread;

/// Whether a lock is poisoned.
#[derive(Debug)]
pub(crate) struct Flag(AtomicBool);

impl Flag {
    pub(crate) const fn new() -> Flag {
        Flag(AtomicBool::new(false))
    }

    #[inline]
    pub(crate) fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn clear(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    /// Starts a critical section: `Err` if the lock is already poisoned (the caller
    /// holds the lock either way).
    #[inline]
    pub(crate) fn guard(&self) -> LockResult<Guard> {
        let guard = Guard { panicking: thread::panicking() };
        if self.get() { Err(PoisonError::new(guard)) } else { Ok(guard) }
    }

    /// Ends a critical section: poisons the lock if a panic started inside it. A
    /// section entered while already unwinding (a lock taken in a destructor) does not
    /// poison, as in std.
    #[inline]
    pub(crate) fn done(&self, guard: &Guard) {
        if !guard.panicking && thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    /// `Ok(value)`, or `Err` carrying it if the lock is poisoned.
    #[inline]
    pub(crate) fn result<T>(&self, value: T) -> LockResult<T> {
        if self.get() { Err(PoisonError::new(value)) } else { Ok(value) }
    }
}

/// Whether the holder was already panicking when it took the lock.
#[derive(Debug)]
pub(crate) struct Guard {
    panicking: bool,
}

/// Maps the value of a lock result, poisoned or not.
#[inline]
pub(crate) fn map_result<T, U>(result: LockResult<T>, f: impl FnOnce(T) -> U) -> LockResult<U> {
    match result {
        Ok(value) => Ok(f(value)),
        Err(poisoned) => Err(PoisonError::new(f(poisoned.into_inner()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_the_section_poisons() {
        let flag = Flag::new();
        let result = std::panic::catch_unwind(|| {
            let guard = flag.guard().unwrap();
            struct Done<'a>(&'a Flag, Guard);
            impl Drop for Done<'_> {
                fn drop(&mut self) {
                    self.0.done(&self.1);
                }
            }
            let _done = Done(&flag, guard);
            panic!("inside the critical section");
        });
        assert!(result.is_err());
        assert!(flag.get());
        assert!(flag.guard().is_err(), "the next holder learns about it");
        flag.clear();
        assert!(flag.guard().is_ok());
    }

    #[test]
    fn a_section_without_panic_does_not_poison() {
        let flag = Flag::new();
        let guard = flag.guard().unwrap();
        flag.done(&guard);
        assert!(!flag.get());
        assert_eq!(map_result(flag.result(2), |n| n * 2).unwrap(), 4);
    }
}
