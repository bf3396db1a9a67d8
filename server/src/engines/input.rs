//! A connection's read buffer, the same in every engine: the bytes received and not
//! yet used, in a buffer held only while there are some. Where buffers come from is
//! the engine's [`InputPool`] (the coroutine engine's per-worker pool, the threads
//! engine's allocator, a `sped` loop's pool), so each keeps its own memory policy:
//! an idle connection, with nothing pending, gives its buffer back and holds none.

use std::io::{self, Read};

/// Least size of a buffer that grows: a typical request head.
const INITIAL_SIZE: usize = 4096;

/// Where an [`Input`] takes its buffer from, and gives it back to.
pub(super) trait InputPool {
    /// A buffer whose length is its size, every byte initialized; or an empty one,
    /// which grows when first read into.
    fn take(&mut self) -> Vec<u8>;
    fn give(&mut self, buffer: Vec<u8>);
}

/// Unprocessed input, at `data[start..end]`; `data` is empty while the connection has
/// no buffer.
#[derive(Debug, Default)]
pub(super) struct Input {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl Input {
    pub(super) fn pending(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    pub(super) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Whether the last read filled the room it was given: if not, the socket had
    /// nothing more at the time.
    pub(super) fn is_full(&self) -> bool {
        self.end == self.data.len()
    }

    pub(super) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Keeps only the first `len` pending bytes.
    pub(super) fn truncate(&mut self, len: usize) {
        self.end = self.end.min(self.start + len);
    }

    pub(super) fn extend(&mut self, bytes: &[u8], pool: &mut impl InputPool) {
        if !bytes.is_empty() {
            self.make_room(bytes.len(), usize::MAX, pool);
            self.data[self.end..self.end + bytes.len()].copy_from_slice(bytes);
            self.end += bytes.len();
        }
    }

    /// Reads once from `reader` into room made by compacting, or growing the buffer up
    /// to `max` bytes; returns the bytes read.
    pub(super) fn read_from(
        &mut self,
        mut reader: impl Read,
        max: usize,
        pool: &mut impl InputPool,
    ) -> io::Result<usize> {
        self.make_room(1, max, pool);
        if self.is_full() {
            // The parser decides every head of `max` bytes, so this is unreachable.
            return Err(io::Error::other("request head over the buffer limit"));
        }
        let n = reader.read(&mut self.data[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// Gives the buffer back to `pool` if nothing is pending in it.
    pub(super) fn release(&mut self, pool: &mut impl InputPool) {
        if self.is_empty() && !self.data.is_empty() {
            pool.give(std::mem::take(&mut self.data));
        }
    }

    /// Drops the pending bytes and gives the buffer back.
    pub(super) fn clear(&mut self, pool: &mut impl InputPool) {
        self.start = 0;
        self.end = 0;
        self.release(pool);
    }

    fn make_room(&mut self, wanted: usize, max: usize, pool: &mut impl InputPool) {
        if self.data.is_empty() {
            self.data = pool.take();
        }
        if self.data.len() - self.end >= wanted {
            return;
        }
        if self.start > 0 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let needed = self.end + wanted;
        if self.data.len() < needed {
            let grown = needed.max(self.data.len() * 2).max(INITIAL_SIZE).min(max.max(needed));
            self.data.resize(grown, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lends buffers of `size` bytes and keeps what it is given.
    struct Lender {
        size: usize,
        free: Vec<Vec<u8>>,
    }

    impl InputPool for Lender {
        fn take(&mut self) -> Vec<u8> {
            self.free.pop().unwrap_or_else(|| vec![0; self.size])
        }

        fn give(&mut self, buffer: Vec<u8>) {
            self.free.push(buffer);
        }
    }

    #[test]
    fn extending_compacts_then_grows() {
        const SIZE: usize = 16 * 1024;
        let mut pool = Lender { size: SIZE, free: Vec::new() };
        let mut input = Input::default();
        input.extend(&vec![1; SIZE - 10], &mut pool);
        input.consume(100);
        input.extend(&[2; 50], &mut pool);
        assert_eq!(input.data.len(), SIZE, "compacted, not grown");
        input.extend(&vec![3; SIZE], &mut pool);
        assert_eq!(input.pending().len(), 2 * SIZE - 60);
        assert_eq!(input.pending()[SIZE - 111..SIZE - 109], [1, 2]);
    }

    #[test]
    fn an_empty_buffer_grows_to_the_initial_size_within_the_limit() {
        let mut pool = Lender { size: 0, free: Vec::new() };
        let mut input = Input::default();
        assert_eq!(input.read_from(&b"GET /"[..], 100, &mut pool).unwrap(), 5);
        assert_eq!((input.pending(), input.data.len()), (&b"GET /"[..], 100));
        input.clear(&mut pool);
        assert_eq!(input.read_from(&b"GET /"[..], usize::MAX, &mut pool).unwrap(), 5);
        assert_eq!(input.data.len(), 100, "the buffer given back is reused");
        input.clear(&mut pool);
        pool.free.clear();
        input.read_from(&b"GET /"[..], usize::MAX, &mut pool).unwrap();
        assert_eq!(input.data.len(), INITIAL_SIZE);
        assert!(!input.is_full());
    }

    #[test]
    fn a_buffer_goes_back_only_when_nothing_is_pending() {
        let mut pool = Lender { size: 64, free: Vec::new() };
        let mut input = Input::default();
        input.extend(b"GET / HTTP/1.1\r\n", &mut pool);
        input.release(&mut pool);
        assert!(pool.free.is_empty(), "a buffer with pending bytes stays");
        input.consume(16);
        input.release(&mut pool);
        assert_eq!(pool.free.len(), 1);
        assert!(input.data.is_empty());
    }
}
