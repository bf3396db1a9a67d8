//! Coroutine stacks: guarded mappings, recycled through a per-worker pool.
//!
//! A stack is a [`Mapping`] with a guard page below it, so an overflow faults (and the
//! fault handler names the coroutine) instead of corrupting a neighbour.
//!
//! Each worker keeps a pool for the runtime's default stack size:
//!
//! - a *hot* cache of at most [`HOT_CAPACITY`] stacks, reused as they are (a `Vec`
//!   pop: a few nanoseconds, no system call);
//! - a *cold* list of at most [`COLD_CAPACITY`] stacks whose pages were given back to the
//!   kernel (`madvise`): no resident memory, and reusing one costs a page fault per
//!   touched page instead of `mmap` + `mprotect` (and, when it was freed, a `munmap`
//!   whose TLB shootdown interrupts every other worker);
//! - anything beyond that is unmapped.
//!
//! Every [`TRIM_INTERVAL`] the worker cools the hot stacks that stayed unused for the
//! whole interval (the low-water mark of the hot cache) and unmaps half of the cold
//! stacks that stayed unused, so resident memory falls back right after a burst and the
//! map count (two maps per stack, see `vm.max_map_count`) within seconds. If the system
//! refuses a new mapping, the worker unmaps its cold list and tries once more.

use std::io;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::time::{Duration, Instant};

use corosensei::stack::valgrind::ValgrindStackRegistration;
use corosensei::stack::{Stack as CorosenseiStack, StackPointer};

use crate::sys::Mapping;

pub(crate) const HOT_CAPACITY: usize = 256;
pub(crate) const COLD_CAPACITY: usize = 4096;
pub(crate) const TRIM_INTERVAL: Duration = Duration::from_secs(1);

/// A guarded coroutine stack.
pub(crate) struct Stack {
    // Declared first so that valgrind forgets the stack before it is unmapped.
    _valgrind: ValgrindStackRegistration,
    mapping: Mapping,
}

impl Stack {
    pub(crate) fn new(size: usize) -> io::Result<Stack> {
        let mapping = Mapping::with_guard(size)?;
        let valgrind =
            ValgrindStackRegistration::new(mapping.usable_start() as *mut u8, mapping.usable_len());
        Ok(Stack { _valgrind: valgrind, mapping })
    }

    pub(crate) fn guard(&self) -> Range<usize> {
        self.mapping.guard_range()
    }

    pub(crate) fn usable_len(&self) -> usize {
        self.mapping.usable_len()
    }

    fn discard(&self) {
        self.mapping.discard(self.mapping.usable_start(), self.mapping.end());
    }
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack").field("mapping", &self.mapping).finish_non_exhaustive()
    }
}

// SAFETY: the mapping has a PROT_NONE guard page right below `limit`'s usable part and
// at least corosensei's MIN_STACK_SIZE usable bytes (our own minimum is larger); both
// addresses are page aligned, hence aligned to STACK_ALIGNMENT; the memory lives as long
// as the `Stack`, which the coroutine owns while it runs.
unsafe impl CorosenseiStack for Stack {
    fn base(&self) -> StackPointer {
        NonZeroUsize::new(self.mapping.end()).expect("a mapping never ends at address 0")
    }

    fn limit(&self) -> StackPointer {
        NonZeroUsize::new(self.mapping.guard_range().start).expect("a mapping never starts at address 0")
    }
}

/// One worker's pool of stacks of the runtime's default size.
#[derive(Debug)]
pub(crate) struct StackPool {
    /// The runtime's stack size as asked for, and as mapped (whole pages).
    size: usize,
    mapped_size: usize,
    hot: Vec<Stack>,
    cold: Vec<Stack>,
    /// Smallest lengths of `hot` and `cold` since the last trim: that many stacks sat
    /// unused for the whole interval.
    hot_low: usize,
    cold_low: usize,
    last_trim: Instant,
}

impl StackPool {
    pub(crate) fn new(size: usize) -> StackPool {
        StackPool {
            size,
            mapped_size: size.next_multiple_of(crate::sys::page_size()),
            hot: Vec::new(),
            cold: Vec::new(),
            hot_low: 0,
            cold_low: 0,
            last_trim: Instant::now(),
        }
    }

    /// A stack of at least `size` usable bytes.
    pub(crate) fn get(&mut self, size: usize) -> io::Result<Stack> {
        if size != self.size {
            return self.map(size);
        }
        if let Some(stack) = self.hot.pop() {
            self.hot_low = self.hot_low.min(self.hot.len());
            return Ok(stack);
        }
        match self.cold.pop() {
            Some(stack) => {
                self.cold_low = self.cold_low.min(self.cold.len());
                Ok(stack)
            }
            None => self.map(size),
        }
    }

    fn map(&mut self, size: usize) -> io::Result<Stack> {
        match Stack::new(size) {
            Err(err) if err.kind() == io::ErrorKind::OutOfMemory && !self.cold.is_empty() => {
                // Most likely the map count: our idle mappings are worth more as a new stack.
                self.cold.clear();
                self.cold_low = 0;
                Stack::new(size)
            }
            result => result,
        }
    }

    /// Returns a stack whose coroutine has finished.
    pub(crate) fn put(&mut self, stack: Stack) {
        if stack.usable_len() != self.mapped_size {
            return;
        }
        if self.hot.len() < HOT_CAPACITY {
            self.hot.push(stack);
        } else if self.cold.len() < COLD_CAPACITY {
            stack.discard();
            self.cold.push(stack);
        }
    }

    /// When the next trim is due, if there is anything to trim.
    pub(crate) fn next_trim(&self) -> Option<Instant> {
        (!self.hot.is_empty() || !self.cold.is_empty()).then(|| self.last_trim + TRIM_INTERVAL)
    }

    /// Cools the hot stacks and unmaps half of the cold stacks that stayed unused since
    /// the last trim, if it is time.
    pub(crate) fn maybe_trim(&mut self, now: Instant) {
        if now < self.last_trim + TRIM_INTERVAL {
            return;
        }
        let unmap = self.cold_low.min(self.cold.len()).div_ceil(2);
        self.cold.drain(..unmap);
        let cool = self.hot_low.min(self.hot.len());
        for stack in self.hot.drain(..cool) {
            if self.cold.len() < COLD_CAPACITY {
                stack.discard();
                self.cold.push(stack);
            }
        }
        if cool + unmap > 0 {
            tracing::trace!(cooled = cool, unmapped = unmap, "trimmed idle coroutine stacks");
        }
        self.hot_low = self.hot.len();
        self.cold_low = self.cold.len();
        self.last_trim = now;
    }

    #[cfg(test)]
    fn counts(&self) -> (usize, usize) {
        (self.hot.len(), self.cold.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: usize = 16 * 1024;

    #[test]
    fn hot_cache_is_bounded_and_reused() {
        let mut pool = StackPool::new(SIZE);
        let stacks: Vec<_> = (0..HOT_CAPACITY + 3).map(|_| pool.get(SIZE).unwrap()).collect();
        let first = stacks[0].guard();
        for s in stacks {
            pool.put(s);
        }
        assert_eq!(pool.counts(), (HOT_CAPACITY, 3));
        let again = pool.get(SIZE).unwrap();
        assert_ne!(again.guard(), first, "LIFO: the most recently returned stack comes back");
        pool.put(again);
    }

    #[test]
    fn trim_cools_then_unmaps_only_stacks_idle_for_a_whole_interval() {
        let mut pool = StackPool::new(SIZE);
        let stacks: Vec<_> = (0..4).map(|_| pool.get(SIZE).unwrap()).collect();
        for s in stacks {
            pool.put(s);
        }
        let t0 = Instant::now() + TRIM_INTERVAL;
        pool.maybe_trim(t0);
        assert_eq!(pool.counts(), (4, 0), "no interval has passed with unused stacks yet");
        let s = pool.get(SIZE).unwrap();
        pool.put(s);
        pool.maybe_trim(t0 + TRIM_INTERVAL);
        assert_eq!(pool.counts(), (1, 3), "three stacks stayed unused for the interval");
        pool.maybe_trim(t0 + 2 * TRIM_INTERVAL);
        assert_eq!(pool.counts(), (0, 2), "the last hot one cooled; two of three cold ones unmapped");
        pool.maybe_trim(t0 + 3 * TRIM_INTERVAL);
        pool.maybe_trim(t0 + 4 * TRIM_INTERVAL);
        assert_eq!(pool.counts(), (0, 0));
        assert_eq!(pool.next_trim(), None, "nothing left to trim: an idle worker may sleep");
    }

    #[test]
    fn other_sizes_bypass_the_pool() {
        let mut pool = StackPool::new(SIZE);
        let big = pool.get(4 * SIZE).unwrap();
        assert!(big.usable_len() >= 4 * SIZE);
        pool.put(big);
        assert_eq!(pool.counts(), (0, 0));
    }
}
