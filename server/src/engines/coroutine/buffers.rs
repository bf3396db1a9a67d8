//! Per-worker pools of the buffers connections read requests into and write responses
//! from. A connection holds buffers only while it answers a request and gives them
//! back before it waits for the next one, so ten thousand idle keep-alive connections
//! hold none (nginx frees its header buffers on keep-alive for the same reason), and a
//! busy worker reuses a few warm buffers instead of calling the allocator per request.
//!
//! The pools are thread-locals of the worker thread. A coroutine never holds a borrow
//! of one across a wait, so sharing them between the worker's coroutines is safe.

use std::cell::RefCell;

use crate::engines::input::InputPool;

/// Buffers kept per pool and worker: more than a worker has requests in progress at
/// once in practice (each coroutine gives its buffers back before it parks on a read).
const POOLED: usize = 64;
/// Buffers that grew past this (a large head, a 64 KiB inline file) are freed rather
/// than pooled, so the pools stay small.
const POOLED_CAPACITY: usize = 16 * 1024;

thread_local! {
    static INPUT: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static OUTPUT: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// The worker's pool of read buffers, for an [`Input`](crate::engines::input::Input).
#[derive(Default)]
pub(super) struct Inputs;

impl InputPool for Inputs {
    /// A read buffer: its length is its size, every byte initialized; empty when the
    /// pool is.
    fn take(&mut self) -> Vec<u8> {
        INPUT.with(|pool| pool.borrow_mut().pop()).unwrap_or_default()
    }

    fn give(&mut self, buffer: Vec<u8>) {
        give(&INPUT, buffer);
    }
}

/// An empty response buffer, with the capacity of its last use.
pub(super) fn take_output() -> Vec<u8> {
    OUTPUT.with(|pool| pool.borrow_mut().pop()).unwrap_or_default()
}

pub(super) fn give_output(mut buffer: Vec<u8>) {
    buffer.clear();
    give(&OUTPUT, buffer);
}

fn give(pool: &'static std::thread::LocalKey<RefCell<Vec<Vec<u8>>>>, buffer: Vec<u8>) {
    if buffer.capacity() == 0 || buffer.capacity() > POOLED_CAPACITY {
        return;
    }
    pool.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < POOLED {
            pool.push(buffer);
        }
    });
}
