//! Waiting on several channel operations at once: [`Select`] and the [`select!`]
//! macro built on it.
//!
//! A selection runs in rounds. It first tries every operation in a random order (so
//! that no ready arm is favoured) and *reserves* the first one that can proceed: a
//! promised message or slot, a claimed rendezvous partner, or a disconnection to report.
//! If none can, it registers one [`Signal`] with every operation and waits; the first
//! channel to claim the signal picks the arm and reserves it on the selection's behalf,
//! exactly as it would for a single blocked operation. If an operation turns ready while
//! the others are still being registered, the selection cancels its signal and starts
//! a new round. The chosen operation is completed by [`SelectedOperation::send`] or
//! [`SelectedOperation::recv`], which is how `select!`'s send arms evaluate their
//! message only once they have been chosen.
//!
//! [`select!`]: crate::select!

use std::cell::Cell;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::channel::{Channel, Token};
use super::error::{RecvError, SelectTimeoutError, SendError, TrySelectError};
use super::state::{Entry, Pair, State, claim_first, has_waiting, pair_key};
use super::{Receiver, Sender};
use crate::sync::{Claim, Interrupted, Signal, wait_or_unwind};

/// One end of a channel, seen by a selection without its message type.
pub(super) trait Operation {
    /// Reserves the operation if it can proceed now.
    fn try_reserve(&self, token: &mut Token) -> bool;
    /// Registers `signal` for arm `index`; `false` (and nothing registered) if the
    /// operation is ready now.
    fn register(&self, signal: &Arc<Signal>, index: usize) -> bool;
    fn unregister(&self, signal: &Arc<Signal>);
    /// Waits until a reserved rendezvous hand-over has its message; `false` if the
    /// sender gave up (the selection starts a new round).
    fn settle(&self, token: &Token) -> bool;
    /// Gives back a reservation that will not be used.
    fn release(&self, token: &Token);
    /// The channel and the direction, to check what completes the operation.
    fn identity(&self) -> (usize, bool);
    fn is_rendezvous(&self) -> bool;
}

fn channel_id<T>(channel: &Arc<Channel<T>>) -> usize {
    Arc::as_ptr(channel) as usize
}

impl<T> Operation for Receiver<T> {
    fn try_reserve(&self, token: &mut Token) -> bool {
        let channel = &*self.channel;
        let mut state = channel.lock();
        if state.available() > 0 {
            state.promised_messages += 1;
            *token = Token { granted: true, pair: None };
            return true;
        }
        if channel.is_rendezvous()
            && let Some(mut entry) = claim_first(&mut state.senders, None, true)
        {
            *token = Token { granted: true, pair: Some(pair_key(&entry.signal)) };
            let sender = entry.signal.clone();
            let message = entry.message.take();
            state.pairs.push(Pair::new(entry.signal, message, None));
            drop(state);
            sender.wake();
            return true;
        }
        *token = Token::default();
        state.senders_gone
    }

    fn register(&self, signal: &Arc<Signal>, index: usize) -> bool {
        let channel = &*self.channel;
        let mut state = channel.lock();
        let ready = state.senders_gone
            || state.available() > 0
            || (channel.is_rendezvous() && has_waiting(&state.senders, signal));
        if !ready {
            state.receivers.push_back(Entry { signal: signal.clone(), index, message: None });
        }
        !ready
    }

    fn unregister(&self, signal: &Arc<Signal>) {
        State::unregister(&mut self.channel.lock().receivers, signal);
    }

    fn settle(&self, token: &Token) -> bool {
        token.pair.is_none_or(|key| self.channel.settle_pair(key))
    }

    fn release(&self, token: &Token) {
        self.channel.release_receive(*token);
    }

    fn identity(&self) -> (usize, bool) {
        (channel_id(&self.channel), false)
    }

    fn is_rendezvous(&self) -> bool {
        self.channel.is_rendezvous()
    }
}

impl<T> Operation for Sender<T> {
    fn try_reserve(&self, token: &mut Token) -> bool {
        let channel = &*self.channel;
        let mut state = channel.lock();
        *token = Token::default();
        if state.receivers_gone {
            return true;
        }
        if !channel.is_rendezvous() {
            if state.has_room(channel.cap) {
                state.promised_slots += 1;
                token.granted = true;
            }
            return token.granted;
        }
        let Some(entry) = claim_first(&mut state.receivers, None, true) else { return false };
        *token = Token { granted: true, pair: Some(pair_key(&entry.signal)) };
        // The receiver is woken once the message is written.
        let wake_on_write = Some(entry.signal.clone());
        state.pairs.push(Pair {
            key: entry.signal,
            message: None,
            abandoned: false,
            receiver: None,
            wake_on_write,
        });
        true
    }

    fn register(&self, signal: &Arc<Signal>, index: usize) -> bool {
        let channel = &*self.channel;
        let mut state = channel.lock();
        let ready = state.receivers_gone
            || if channel.is_rendezvous() {
                has_waiting(&state.receivers, signal)
            } else {
                state.has_room(channel.cap)
            };
        if !ready {
            state.senders.push_back(Entry { signal: signal.clone(), index, message: None });
        }
        !ready
    }

    fn unregister(&self, signal: &Arc<Signal>) {
        State::unregister(&mut self.channel.lock().senders, signal);
    }

    fn settle(&self, _: &Token) -> bool {
        true
    }

    fn release(&self, token: &Token) {
        self.channel.release_send(*token);
    }

    fn identity(&self) -> (usize, bool) {
        (channel_id(&self.channel), true)
    }

    fn is_rendezvous(&self) -> bool {
        self.channel.is_rendezvous()
    }
}

/// Waits on several send and receive operations and completes exactly one of them:
/// the type behind [`select!`](crate::select!), for a set of operations known only at
/// run time. Same API as `crossbeam_channel::Select`.
///
/// ```
/// use hebra::chan::{self, Select};
///
/// hebra::run(|| {
///     let (tx1, rx1) = chan::unbounded::<i32>();
///     let (tx2, rx2) = chan::unbounded::<i32>();
///     hebra::spawn(move || tx2.send(2).unwrap());
///
///     let mut select = Select::new();
///     let first = select.recv(&rx1);
///     let second = select.recv(&rx2);
///     let operation = select.select();
///     match operation.index() {
///         i if i == first => panic!("nothing is sent on rx1: {:?}", operation.recv(&rx1)),
///         i if i == second => assert_eq!(operation.recv(&rx2), Ok(2)),
///         _ => unreachable!(),
///     }
///     drop(tx1);
/// });
/// ```
pub struct Select<'a> {
    operations: Vec<&'a dyn Operation>,
}

impl<'a> Select<'a> {
    /// An empty selection; [`Select::select`] on it waits forever.
    pub fn new() -> Select<'a> {
        Select { operations: Vec::with_capacity(4) }
    }

    /// Adds a send operation; returns its index.
    pub fn send<T>(&mut self, sender: &'a Sender<T>) -> usize {
        self.operations.push(sender);
        self.operations.len() - 1
    }

    /// Adds a receive operation; returns its index.
    pub fn recv<T>(&mut self, receiver: &'a Receiver<T>) -> usize {
        self.operations.push(receiver);
        self.operations.len() - 1
    }

    /// Selects an operation that is ready now.
    pub fn try_select(&mut self) -> Result<SelectedOperation<'a>, TrySelectError> {
        self.run(Some(Instant::now())).ok_or(TrySelectError)
    }

    /// Waits until one of the operations is ready and selects it.
    ///
    /// While the runtime unwinds this coroutine at shutdown (a destructor selecting on
    /// channels nobody serves) it does not wait: it selects one of the operations, whose
    /// completion reports the disconnected error unless it can complete at once.
    ///
    /// # Panics
    ///
    /// An empty selection panics at shutdown instead of waiting forever.
    pub fn select(&mut self) -> SelectedOperation<'a> {
        self.run(None).expect("a selection without a deadline ends with an operation")
    }

    /// Like [`Select::select`], giving up after `timeout`.
    pub fn select_timeout(&mut self, timeout: Duration) -> Result<SelectedOperation<'a>, SelectTimeoutError> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.select_deadline(deadline),
            None => Ok(self.select()),
        }
    }

    /// Like [`Select::select`], giving up at `deadline`.
    pub fn select_deadline(
        &mut self,
        deadline: Instant,
    ) -> Result<SelectedOperation<'a>, SelectTimeoutError> {
        self.run(Some(deadline)).ok_or(SelectTimeoutError)
    }

    fn run(&self, deadline: Option<Instant>) -> Option<SelectedOperation<'a>> {
        let count = self.operations.len();
        loop {
            let start = random_below(count);
            let order = (0..count).map(|k| (start + k) % count);
            let mut token = Token::default();
            if let Some(index) = order.clone().find(|&index| self.operations[index].try_reserve(&mut token)) {
                if self.operations[index].settle(&token) {
                    return Some(self.selected(index, token));
                }
                continue;
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return None;
            }
            let signal = Signal::new();
            let registered: Vec<usize> =
                order.take_while(|&index| self.operations[index].register(&signal, index)).collect();
            let outcome = if registered.len() < count {
                signal.cancel().ok_or(None)
            } else {
                // Unwound at shutdown while waiting: leave every channel, and give back
                // what a claim that came first reserved.
                let on_unwind = |claim: Option<Claim>| {
                    for &index in &registered {
                        self.operations[index].unregister(&signal);
                    }
                    if let Some(claim) = claim {
                        let operation = self.operations[claim.index];
                        operation.release(&Token::from_claim(&signal, claim, operation.is_rendezvous()));
                    }
                };
                wait_or_unwind(&signal, deadline, on_unwind).map_err(Some)
            };
            for &index in &registered {
                self.operations[index].unregister(&signal);
            }
            let chosen = outcome.map(|claim| {
                (claim.index, Token::from_claim(&signal, claim, self.operations[claim.index].is_rendezvous()))
            });
            // A rendezvous pair keyed by this signal holds its own reference to it.
            Signal::recycle(signal);
            match chosen {
                Ok((index, token)) if self.operations[index].settle(&token) => {
                    return Some(self.selected(index, token));
                }
                // The chosen partner gave up, or an operation turned ready while
                // registering: another round.
                Ok(_) | Err(None) => continue,
                Err(Some(Interrupted::TimedOut)) => return None,
                // Unwound at shutdown: must not wait. Completing an operation without a
                // grant reports the disconnected error, as a plain send or receive does.
                Err(Some(Interrupted::Cancelled)) if count > 0 => {
                    return Some(self.selected(start, Token::default()));
                }
                Err(Some(Interrupted::Cancelled)) => {
                    panic!("hebra::chan::Select: an empty selection cannot wait while the runtime shuts down")
                }
            }
        }
    }

    fn selected(&self, index: usize, token: Token) -> SelectedOperation<'a> {
        SelectedOperation { index, operation: self.operations[index], token, finished: false }
    }
}

impl Default for Select<'_> {
    fn default() -> Self {
        Select::new()
    }
}

impl fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select").field("operations", &self.operations.len()).finish()
    }
}

/// The operation a [`Select`] chose, reserved for the caller: complete it with
/// [`send`](SelectedOperation::send) or [`recv`](SelectedOperation::recv) on the same
/// channel end that was added.
///
/// Dropping it without completing the operation gives the reservation back (a message
/// already handed over goes to another receiver) and then panics, as
/// `crossbeam-channel` does: a selection that forgot its operation is a bug.
#[must_use = "the selected operation must be completed with `send` or `recv`"]
pub struct SelectedOperation<'a> {
    index: usize,
    operation: &'a dyn Operation,
    token: Token,
    finished: bool,
}

impl SelectedOperation<'_> {
    /// The index [`Select::send`] or [`Select::recv`] returned for this operation.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Completes the selected send operation with `message`.
    ///
    /// # Panics
    ///
    /// If `sender` is not the end whose send operation was selected.
    pub fn send<T>(mut self, sender: &Sender<T>, message: T) -> Result<(), SendError<T>> {
        assert!(
            self.operation.identity() == (channel_id(&sender.channel), true),
            "SelectedOperation::send: this sender's operation was not the one selected"
        );
        self.finished = true;
        let channel = &*sender.channel;
        match (self.token.granted, self.token.pair) {
            (true, None) => channel.push_promised(message).map_err(SendError),
            (true, Some(key)) => channel.write_pair(key, message).map_err(SendError),
            // The receivers are gone, or the runtime is unwinding this coroutine: a
            // plain send reports it without waiting.
            (false, _) => channel.send(message, None).map_err(|err| SendError(err.into_inner())),
        }
    }

    /// Completes the selected receive operation.
    ///
    /// # Panics
    ///
    /// If `receiver` is not the end whose receive operation was selected.
    pub fn recv<T>(mut self, receiver: &Receiver<T>) -> Result<T, RecvError> {
        assert!(
            self.operation.identity() == (channel_id(&receiver.channel), false),
            "SelectedOperation::recv: this receiver's operation was not the one selected"
        );
        self.finished = true;
        let channel = &*receiver.channel;
        match (self.token.granted, self.token.pair) {
            (true, None) => Ok(channel.take_promised()),
            // Settled before the selection returned: the message is there, unless the
            // runtime is unwinding this coroutine.
            (true, Some(key)) => channel.wait_pair(key).ok_or(RecvError),
            // The senders are gone, or the runtime is unwinding this coroutine: a plain
            // receive drains what is left and reports it without waiting.
            (false, _) => channel.recv(None).map_err(|_| RecvError),
        }
    }
}

impl Drop for SelectedOperation<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.operation.release(&self.token);
            if !std::thread::panicking() {
                panic!("dropped a SelectedOperation without completing the operation");
            }
        }
    }
}

impl fmt::Debug for SelectedOperation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectedOperation").field("index", &self.index).finish()
    }
}

/// A number below `count` from a per-thread xorshift generator: the arm a selection
/// tries first, so that no ready arm is favoured.
fn random_below(count: usize) -> usize {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(RandomState::new().hash_one(0u8) | 1);
    }
    if count <= 1 {
        return 0;
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        // Multiply-shift maps the 64-bit value to 0..count without a division.
        ((u128::from(x) * count as u128) >> 64) as usize
    })
}
