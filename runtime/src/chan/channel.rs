//! One channel and its blocking operations: Go's `hchan` shape, a std mutex over the
//! [`State`], held for a few instructions at a time and never across a wait.
//!
//! Every operation first tries to complete under the lock. If it cannot, it registers
//! an entry with a fresh [`Signal`] *under the same lock*, so no party that frees room
//! or adds a message can slip between the check and the registration; then it unlocks
//! and waits. Wakes happen after unlocking, so the woken party does not run into the
//! lock its waker still holds.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::error::{RecvTimeoutError, SendTimeoutError, TryRecvError, TrySendError};
use super::state::{Entry, Pair, State, Wakes, claim_first, pair_key};
use crate::sync::{Claim, Interrupted, Signal, wait_or_unwind};

pub(super) struct Channel<T> {
    state: Mutex<State<T>>,
    /// Buffer size: 0 for a rendezvous channel, `usize::MAX` for an unbounded one.
    pub(super) cap: usize,
    senders: AtomicUsize,
    receivers: AtomicUsize,
}

/// What a reservation holds until the operation completes (see `select.rs`), and what
/// a claim granted a party that waited.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Token {
    /// A message, a slot or a rendezvous partner was reserved; otherwise the other
    /// side is gone and the operation reports it.
    pub(super) granted: bool,
    /// The key of the rendezvous pair the message passes through.
    pub(super) pair: Option<usize>,
}

impl Token {
    /// What `claim` granted the owner of `signal` on a channel: on a rendezvous channel
    /// the claimer opened a pair keyed by that signal.
    pub(super) fn from_claim(signal: &Arc<Signal>, claim: Claim, rendezvous: bool) -> Token {
        Token { granted: claim.granted, pair: (rendezvous && claim.granted).then(|| pair_key(signal)) }
    }
}

/// What a receive found under the lock.
enum Taken<T> {
    Message(T, Wakes),
    /// A `select!` sender was claimed (wake it after unlocking) and will write into the
    /// pair with this key.
    Pair(usize, Arc<Signal>),
    Empty,
    Disconnected,
}

impl<T> Channel<T> {
    pub(super) fn new(cap: usize) -> Channel<T> {
        Channel {
            state: Mutex::new(State::new(cap)),
            cap,
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing panics while holding the lock (messages are dropped after unlocking),
        // so a poisoned lock still guards a consistent state.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn is_rendezvous(&self) -> bool {
        self.cap == 0
    }

    pub(super) fn add_sender(&self) {
        self.senders.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn add_receiver(&self) {
        self.receivers.fetch_add(1, Ordering::Relaxed);
    }

    /// Sends, waiting until `deadline` for room or for a receiver.
    pub(super) fn send(&self, message: T, deadline: Option<Instant>) -> Result<(), SendTimeoutError<T>> {
        let mut message = Some(message);
        loop {
            let mut state = self.lock();
            let msg = message.take().expect("the message is ours until it is sent");
            let msg = match self.try_send_locked(&mut state, msg) {
                Ok(woken) => {
                    drop(state);
                    wake(woken);
                    return Ok(());
                }
                Err(TrySendError::Disconnected(msg)) => return Err(SendTimeoutError::Disconnected(msg)),
                Err(TrySendError::Full(msg)) => msg,
            };
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Err(SendTimeoutError::Timeout(msg));
            }
            let signal = Signal::new();
            // Whoever serves this sender takes the message from the entry: a receiver
            // that frees a slot, or a rendezvous receiver.
            state.senders.push_back(Entry { signal: signal.clone(), index: 0, message: Some(msg) });
            drop(state);
            let outcome = wait_or_unwind(&signal, deadline, |claim| self.withdraw(&signal, claim, true));
            if outcome.is_ok_and(|claim| claim.granted) {
                // The message went from the entry into the buffer or to a receiver.
                Signal::recycle(signal);
                return Ok(());
            }
            let mut state = self.lock();
            if let Some(msg) = State::unregister(&mut state.senders, &signal) {
                message = Some(msg);
            }
            drop(state);
            Signal::recycle(signal);
            let msg = message.take().expect("an unsent message is back in our hands");
            match outcome {
                Ok(_) => message = Some(msg), // the receivers are gone: the retry says so
                Err(Interrupted::TimedOut) => return Err(SendTimeoutError::Timeout(msg)),
                Err(Interrupted::Cancelled) => return Err(SendTimeoutError::Disconnected(msg)),
            }
        }
    }

    /// Sends without waiting; `Ok` carries a receiver to wake after unlocking.
    pub(super) fn try_send_locked(
        &self,
        state: &mut State<T>,
        message: T,
    ) -> Result<Option<Arc<Signal>>, TrySendError<T>> {
        if state.receivers_gone {
            return Err(TrySendError::Disconnected(message));
        }
        if !self.is_rendezvous() {
            return if state.has_room(self.cap) {
                Ok(state.push(message))
            } else {
                Err(TrySendError::Full(message))
            };
        }
        match claim_first(&mut state.receivers, None, true) {
            Some(entry) => {
                let woken = entry.signal.clone();
                state.pairs.push(Pair::new(entry.signal, Some(message), None));
                Ok(Some(woken))
            }
            None => Err(TrySendError::Full(message)),
        }
    }

    /// Pushes into the slot a receiver promised this sender; hands the message back if
    /// every receiver left in the meantime.
    pub(super) fn push_promised(&self, message: T) -> Result<(), T> {
        let mut state = self.lock();
        state.promised_slots -= 1;
        if state.receivers_gone {
            return Err(message);
        }
        let woken = state.push(message);
        drop(state);
        wake(woken);
        Ok(())
    }

    /// Receives, waiting until `deadline` for a message.
    pub(super) fn recv(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        loop {
            let mut state = self.lock();
            match self.take_locked(&mut state) {
                Taken::Message(msg, wakes) => {
                    drop(state);
                    wakes.wake();
                    return Ok(msg);
                }
                Taken::Pair(key, sender) => {
                    drop(state);
                    sender.wake();
                    match self.wait_pair(key) {
                        Some(msg) => return Ok(msg),
                        None => continue,
                    }
                }
                Taken::Disconnected => return Err(RecvTimeoutError::Disconnected),
                Taken::Empty => {}
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Err(RecvTimeoutError::Timeout);
            }
            let signal = Signal::new();
            state.receivers.push_back(Entry { signal: signal.clone(), index: 0, message: None });
            drop(state);
            match wait_or_unwind(&signal, deadline, |claim| self.withdraw(&signal, claim, false)) {
                Ok(claim) if claim.granted => {
                    let message = self.take_granted(&signal);
                    Signal::recycle(signal);
                    if let Some(msg) = message {
                        return Ok(msg);
                    }
                }
                outcome => {
                    State::unregister(&mut self.lock().receivers, &signal);
                    Signal::recycle(signal);
                    match outcome {
                        Ok(_) => continue, // the senders are gone: the retry says so
                        Err(Interrupted::TimedOut) => return Err(RecvTimeoutError::Timeout),
                        Err(Interrupted::Cancelled) => return Err(RecvTimeoutError::Disconnected),
                    }
                }
            }
        }
    }

    /// Receives without waiting for a sender (but for a chosen `select!` sender that is
    /// about to write its message).
    pub(super) fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut state = self.lock();
        match self.take_locked(&mut state) {
            Taken::Message(msg, wakes) => {
                drop(state);
                wakes.wake();
                Ok(msg)
            }
            Taken::Pair(key, sender) => {
                drop(state);
                sender.wake();
                self.wait_pair(key).ok_or(TryRecvError::Empty)
            }
            Taken::Empty => Err(TryRecvError::Empty),
            Taken::Disconnected => Err(TryRecvError::Disconnected),
        }
    }

    fn take_locked(&self, state: &mut State<T>) -> Taken<T> {
        if state.available() > 0 {
            let (msg, wakes) = state.pop(self.is_rendezvous());
            return Taken::Message(msg, wakes);
        }
        if self.is_rendezvous()
            && let Some(mut entry) = claim_first(&mut state.senders, None, true)
        {
            return match entry.message.take() {
                Some(msg) => {
                    let mut wakes = Wakes::default();
                    wakes.add(Some(entry.signal));
                    Taken::Message(msg, wakes)
                }
                None => {
                    // A `select!` sender: it writes once it runs again.
                    let key = pair_key(&entry.signal);
                    let woken = entry.signal.clone();
                    state.pairs.push(Pair::new(entry.signal, None, None));
                    Taken::Pair(key, woken)
                }
            };
        }
        if state.senders_gone { Taken::Disconnected } else { Taken::Empty }
    }

    /// Takes what a claim granted to this receiver's `signal`: the promised message, or
    /// the rendezvous hand-over keyed by the signal. `None`: retry.
    fn take_granted(&self, signal: &Arc<Signal>) -> Option<T> {
        if self.is_rendezvous() { self.wait_pair(pair_key(signal)) } else { Some(self.take_promised()) }
    }

    /// Takes the message a sender promised this receiver.
    pub(super) fn take_promised(&self) -> T {
        let mut state = self.lock();
        state.promised_messages -= 1;
        let (msg, wakes) = state.pop(self.is_rendezvous());
        drop(state);
        wakes.wake();
        msg
    }

    /// Waits until the sender of pair `key` has written its message; `false` (and the
    /// pair gone) if the sender gave up, or if this coroutine is being unwound.
    pub(super) fn settle_pair(&self, key: usize) -> bool {
        loop {
            let mut state = self.lock();
            let Some(index) = state.pair_index(key) else { return false };
            let pair = &mut state.pairs[index];
            if pair.message.is_some() {
                return true;
            }
            if pair.abandoned {
                state.pairs.swap_remove(index);
                return false;
            }
            let signal = Signal::new();
            pair.receiver = Some(signal.clone());
            drop(state);
            let outcome = wait_or_unwind(&signal, None, |_| self.forget_pair(key));
            Signal::recycle(signal);
            if outcome.is_err() {
                self.forget_pair(key);
                return false;
            }
        }
    }

    /// Drops pair `key` for a receiver that will not take its message (it is being
    /// unwound, or it dropped its selected operation): the message, if written, goes to
    /// another receiver, and a sender that writes later finds no pair and does the same.
    fn forget_pair(&self, key: usize) {
        let mut state = self.lock();
        let Some(index) = state.pair_index(key) else { return };
        let message = state.pairs.swap_remove(index).message;
        let woken = message.map(|msg| state.rehome(msg));
        drop(state);
        // Every receiver gone (Err): nobody can have the message; it is dropped here.
        wake(woken.and_then(Result::ok).flatten());
    }

    /// Takes the message of pair `key`, waiting for its sender to write it. `None` if
    /// the sender gave up, or if this coroutine is being unwound.
    pub(super) fn wait_pair(&self, key: usize) -> Option<T> {
        if !self.settle_pair(key) {
            return None;
        }
        let mut state = self.lock();
        let index = state.pair_index(key).expect("only its receiver removes a settled pair");
        state.pairs.swap_remove(index).message
    }

    /// Writes a `select!` sender's message into pair `key`. If the receiver gave up
    /// meanwhile, the message goes to another; `Err` if every receiver is gone.
    pub(super) fn write_pair(&self, key: usize, message: T) -> Result<(), T> {
        let mut state = self.lock();
        let Some(index) = state.pair_index(key) else {
            let woken = state.rehome(message)?;
            drop(state);
            wake(woken);
            return Ok(());
        };
        let pair = &mut state.pairs[index];
        pair.message = Some(message);
        let wakes = pair.take_wakes();
        drop(state);
        wakes.wake();
        Ok(())
    }

    /// Gives back what a receiver was granted and will not take (its selected operation
    /// was dropped, or it is being unwound): a promised message or a handed-over one
    /// goes to the next receiver, since its sender may already have returned.
    pub(super) fn release_receive(&self, token: Token) {
        if let Some(key) = token.pair {
            return self.forget_pair(key);
        }
        if !token.granted {
            return;
        }
        let mut state = self.lock();
        state.promised_messages -= 1;
        let mut wakes = Wakes::default();
        if self.is_rendezvous() {
            // Re-homed messages wait in `queue`; a waiting receiver takes one as a pair.
            if let Some(msg) = state.queue.pop_front() {
                wakes.add(state.rehome(msg).ok().flatten());
            }
        } else if let Some(entry) = claim_first(&mut state.receivers, None, true) {
            state.promised_messages += 1;
            wakes.add(Some(entry.signal));
        }
        drop(state);
        wakes.wake();
    }

    /// Gives back what a `select!` send arm was granted and will not use: the promised
    /// slot goes to the next sender; a claimed rendezvous receiver retries.
    pub(super) fn release_send(&self, token: Token) {
        let mut state = self.lock();
        match token.pair {
            Some(key) => {
                let Some(index) = state.pair_index(key) else { return };
                let pair = &mut state.pairs[index];
                pair.abandoned = true;
                let wakes = pair.take_wakes();
                drop(state);
                wakes.wake();
            }
            None if token.granted => {
                state.promised_slots -= 1;
                let mut wakes = Wakes::default();
                state.fill_freed_slot(&mut wakes);
                drop(state);
                wakes.wake();
            }
            None => {}
        }
    }

    /// Cleans up after a plain operation whose coroutine the runtime unwound while it
    /// waited (the code after its wait never runs): what a claim that came first granted
    /// is given back, and otherwise the entry, with a sender's message, leaves.
    fn withdraw(&self, signal: &Arc<Signal>, claim: Option<Claim>, sending: bool) {
        let token = claim.map(|claim| Token::from_claim(signal, claim, self.is_rendezvous()));
        match token {
            // A plain sender's message already went into the buffer or to a receiver.
            Some(token) if token.granted && sending => {}
            Some(token) if token.granted => self.release_receive(token),
            _ => {
                let mut state = self.lock();
                let list = if sending { &mut state.senders } else { &mut state.receivers };
                let message = State::unregister(list, signal);
                drop(state);
                drop(message);
            }
        }
    }

    /// Drops a sender handle; the last one disconnects the channel.
    pub(super) fn drop_sender(&self) {
        // AcqRel: the last handle's disconnection comes after every other handle's sends.
        if self.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            let mut state = self.lock();
            state.senders_gone = true;
            let woken = State::claim_all(&state.receivers);
            drop(state);
            woken.iter().for_each(|signal| signal.wake());
        }
    }

    /// Drops a receiver handle; the last one disconnects the channel and drops the
    /// messages nobody can receive any more.
    pub(super) fn drop_receiver(&self) {
        if self.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            let mut state = self.lock();
            state.receivers_gone = true;
            let discarded = std::mem::take(&mut state.queue);
            state.promised_messages = 0;
            let woken = State::claim_all(&state.senders);
            drop(state);
            woken.iter().for_each(|signal| signal.wake());
            drop(discarded);
        }
    }
}

pub(super) fn wake(signal: Option<Arc<Signal>>) {
    if let Some(signal) = signal {
        signal.wake();
    }
}
