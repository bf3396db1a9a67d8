//! Running coroutines on their home worker: start, resume, commit a wait, retire, and
//! unwind at shutdown; with the worker's table of started coroutines and its run queue.
//!
//! A started coroutine's corosensei object sits in the worker's table under a fixed
//! slot for its whole life (the slot is in its header, so a wake from another thread can
//! name it). It is resumed in place: the table stays borrowed while the coroutine runs,
//! so code on a coroutine must never touch the table (it would panic, not misbehave).
//! Nothing does: spawning and waking go through the deque and the run queue.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::Instant;

use corosensei::CoroutineResult;
use slab::Slab;

use super::worker::Worker;
use crate::coroutine::Coroutine;
use crate::coroutine::running::{self, StackBounds, Suspend};
use crate::coroutine::stack::Stack;
use crate::coroutine::task;
use crate::coroutine::wait::Waiter;
use crate::timer::TimerKey;

type Object = corosensei::Coroutine<(), Suspend, (), Stack>;

/// A started coroutine, owned by its home worker.
pub(super) struct Local {
    object: Object,
    handle: Coroutine,
    /// The deadline of the wait it is suspended in, if any.
    timer: Option<TimerKey>,
}

/// The worker's table of started coroutines.
pub(super) struct Coroutines {
    table: RefCell<Slab<Local>>,
}

impl Coroutines {
    pub(super) fn new() -> Coroutines {
        Coroutines { table: RefCell::new(Slab::new()) }
    }
}

/// What the worker runs next.
pub(super) enum Next {
    Resume(u32),
    Start(Coroutine),
}

enum Ready {
    Resume(u32),
    /// A fresh coroutine pinned to this worker (`Builder::worker`).
    Start(Coroutine),
}

/// Consecutive picks from `runnext` while `ready` waits, before `ready` gets a turn.
const RUNNEXT_STREAK: u32 = 16;

/// Runnable started coroutines of one worker: the slot of the one woken last, which runs
/// next (a message ping-pong then never waits behind the whole queue), then FIFO.
pub(super) struct RunQueue {
    runnext: Option<u32>,
    ready: VecDeque<Ready>,
    streak: u32,
}

impl RunQueue {
    pub(super) fn new() -> RunQueue {
        RunQueue { runnext: None, ready: VecDeque::new(), streak: 0 }
    }

    pub(super) fn push_woken(&mut self, slot: u32) {
        if let Some(previous) = self.runnext.replace(slot) {
            self.ready.push_back(Ready::Resume(previous));
        }
    }

    fn push_back(&mut self, slot: u32) {
        self.ready.push_back(Ready::Resume(slot));
    }

    pub(super) fn push_pinned(&mut self, coroutine: Coroutine) {
        self.ready.push_back(Ready::Start(coroutine));
    }

    pub(super) fn pop(&mut self) -> Option<Next> {
        if let Some(slot) = self.runnext.take() {
            if self.streak < RUNNEXT_STREAK || self.ready.is_empty() {
                self.streak += 1;
                return Some(Next::Resume(slot));
            }
            self.ready.push_back(Ready::Resume(slot));
        }
        self.streak = 0;
        self.ready.pop_front().map(|ready| match ready {
            Ready::Resume(slot) => Next::Resume(slot),
            Ready::Start(coroutine) => Next::Start(coroutine),
        })
    }

    pub(super) fn is_empty(&self) -> bool {
        self.runnext.is_none() && self.ready.is_empty()
    }

    pub(super) fn take_pinned(&mut self) -> Vec<Coroutine> {
        let mut pinned = Vec::new();
        self.ready.retain(|ready| match ready {
            Ready::Start(coroutine) => {
                pinned.push(coroutine.clone());
                false
            }
            Ready::Resume(_) => true,
        });
        pinned
    }

    pub(super) fn clear(&mut self) {
        self.runnext = None;
        self.ready.clear();
    }
}

impl Worker {
    /// First run of a fresh coroutine: from here on this worker is its home.
    pub(super) fn start(&self, coroutine: Coroutine) {
        let header = coroutine.header();
        let stack = match self.stacks.borrow_mut().get(header.stack_size) {
            Ok(stack) => stack,
            Err(err) => {
                tracing::error!(%err, coroutine = ?coroutine.id(), "cannot allocate a coroutine stack");
                let payload = format!("hebra: could not allocate a coroutine stack: {err}");
                coroutine.runnable().cancel(Box::new(payload));
                return;
            }
        };
        let bounds = StackBounds { guard: stack.guard(), usable: stack.usable_len() };
        let body = coroutine.clone();
        let object = Object::with_stack(stack, move |yielder, ()| running::run(yielder, body, bounds));
        let slot = {
            let mut table = self.coroutines.table.borrow_mut();
            let entry = table.vacant_entry();
            let slot = u32::try_from(entry.key()).expect("more than 2^32 coroutines on one worker");
            let header = coroutine.header();
            header.home.store(self.index(), Ordering::Relaxed);
            header.slot.store(slot, Ordering::Relaxed);
            entry.insert(Local { object, handle: coroutine, timer: None });
            slot
        };
        self.resume(slot);
    }

    /// Runs the coroutine in `slot` until it suspends or finishes.
    pub(super) fn resume(&self, slot: u32) {
        let mut table = self.coroutines.table.borrow_mut();
        let Some(local) = table.get_mut(slot as usize) else {
            tracing::error!(slot, "scheduled a coroutine that is not in the table");
            return;
        };
        if let Some(timer) = local.timer.take() {
            self.timers.borrow_mut().cancel(timer);
        }
        // The task catches the coroutine's own panics; this guard only catches one
        // escaping the runtime's code around it, so that it cannot kill the worker.
        let mut result = panic::catch_unwind(AssertUnwindSafe(|| local.object.resume(())));
        // A coroutine that yields while nothing else is runnable goes on right here:
        // the tick still counts, so maintenance (timers, I/O) still runs on schedule.
        while matches!(result, Ok(CoroutineResult::Yield(Suspend::Yield))) && self.alone_tick() {
            result = panic::catch_unwind(AssertUnwindSafe(|| local.object.resume(())));
        }
        match result {
            Ok(CoroutineResult::Yield(Suspend::Yield)) => self.run_queue.borrow_mut().push_back(slot),
            Ok(CoroutineResult::Yield(Suspend::Wait { deadline })) => {
                if !self.commit(local, deadline) {
                    self.push_woken(slot);
                }
            }
            Ok(CoroutineResult::Return(())) => {
                let local = table.remove(slot as usize);
                self.stacks.borrow_mut().put(local.object.into_stack());
            }
            Err(_) => {
                tracing::error!(coroutine = ?local.handle.id(), "panic outside the coroutine's own code");
                table.remove(slot as usize);
            }
        }
    }

    /// Publishes the wait a coroutine suspended in and arms its deadline. Returns `false`
    /// if the wait was already taken: the coroutine must run again.
    fn commit(&self, local: &mut Local, deadline: Option<Instant>) -> bool {
        let state = &local.handle.header().state;
        let seq = state.seq();
        if !state.commit() {
            return false;
        }
        tracing::trace!(coroutine = ?local.handle.id(), ?deadline, "park");
        if let Some(deadline) = deadline {
            let waiter = Waiter::Coroutine { coroutine: local.handle.clone(), seq };
            local.timer = Some(self.timers.borrow_mut().insert(deadline, waiter));
        }
        true
    }

    /// Unwinds every started coroutine of this worker (shutdown). Their destructors run
    /// on their own stacks, on this thread. Returns whether there were any.
    pub(super) fn unwind_all(&self) -> bool {
        let slots: Vec<usize> = self.coroutines.table.borrow().iter().map(|(slot, _)| slot).collect();
        let mut any = false;
        for slot in slots {
            // Out of the table before unwinding: destructors may wake or spawn.
            let Some(mut local) = self.coroutines.table.borrow_mut().try_remove(slot) else {
                continue;
            };
            any = true;
            if let Some(timer) = local.timer.take() {
                self.timers.borrow_mut().cancel(timer);
            }
            local.handle.header().state.cancel();
            if panic::catch_unwind(AssertUnwindSafe(|| local.object.force_unwind())).is_err() {
                tracing::error!(coroutine = ?local.handle.id(), "panic while unwinding a coroutine");
            }
            // A coroutine unwound before its body ran never completed its task.
            local.handle.runnable().cancel(task::cancelled_payload());
            if local.object.done() {
                self.stacks.borrow_mut().put(local.object.into_stack());
            }
        }
        any
    }
}
