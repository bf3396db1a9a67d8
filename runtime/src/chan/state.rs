//! What a channel's mutex guards: the buffer, the two lists of waiting parties, the
//! rendezvous hand-overs in progress, and the disconnection flags.
//!
//! # Hand-offs and promises instead of retries
//!
//! A party that frees room or adds a message *claims* one waiting party of the other
//! side ([`Signal::claim`] with `granted`) and serves it there and then. A receiver that
//! frees a slot moves the first waiting sender's message into the buffer (its entry
//! holds it), so that sender's work is done before it even runs again. Where the party
//! must act itself, it is promised what it needs: a message to a receiver
//! (`promised_messages`), a slot to a `select!` send arm (`promised_slots`). Parties that
//! arrive later see only what is not promised, so a woken party never finds its slot or
//! message taken, and waiting parties are served in order: no woken party has to queue
//! again, and none starves behind later arrivals.
//!
//! # Rendezvous (`bounded(0)`)
//!
//! There is no buffer: a message passes from a sender to a receiver that is waiting, or
//! is taken from a waiting sender's entry. A `select!` send arm has no message until it
//! has been chosen, so its entry is empty; the receiver that claims it opens a
//! [`Pair`] keyed by that sender's signal and waits there for the message. A `select!`
//! that claims a waiting receiver for a send arm opens a pair the same way.
//!
//! A handed-over message whose receiver gives up before taking it (a dropped
//! [`SelectedOperation`](super::SelectedOperation), a coroutine unwound at shutdown) is
//! never lost: it goes to another waiting receiver, or waits in `queue` for the next.
//!
//! # Who removes an entry
//!
//! Its claimer, when the claim grants something; otherwise its owner, after its wait
//! ends (a timeout, a disconnection, another arm of its `select!`) or while the runtime
//! unwinds it at shutdown (`wait_or_unwind`). Nobody else: an entry whose claim fails is
//! skipped, never dropped, because a sender's entry holds the message its owner must
//! get back.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::sync::{Claim, Signal};

/// The parties an operation claimed, woken after the lock is released (so that they do
/// not run into the lock their waker still holds): at most a sender and a receiver.
#[derive(Default)]
pub(super) struct Wakes([Option<Arc<Signal>>; 2]);

impl Wakes {
    pub(super) fn add(&mut self, signal: Option<Arc<Signal>>) {
        if let Some(free) = self.0.iter_mut().find(|slot| slot.is_none()) {
            *free = signal;
        } else {
            debug_assert!(signal.is_none(), "an operation wakes at most two parties");
        }
    }

    pub(super) fn wake(self) {
        self.0.into_iter().flatten().for_each(|signal| signal.wake());
    }
}

/// A waiting party: a plain operation (index 0) or one arm of a `select!`.
pub(super) struct Entry<T> {
    pub(super) signal: Arc<Signal>,
    pub(super) index: usize,
    /// A plain sender's message, taken by whoever serves it; empty for `select!` send
    /// arms (their message does not exist yet) and for receivers.
    pub(super) message: Option<T>,
}

/// A rendezvous hand-over whose message has not reached the receiver yet.
pub(super) struct Pair<T> {
    /// The signal of the party that was claimed: both sides know it.
    pub(super) key: Arc<Signal>,
    pub(super) message: Option<T>,
    /// The sender gave up (its `select!` send arm was dropped unfinished): retry.
    pub(super) abandoned: bool,
    /// A receiver waiting for the message.
    pub(super) receiver: Option<Arc<Signal>>,
    /// A claimed receiver that is woken only once the message is there.
    pub(super) wake_on_write: Option<Arc<Signal>>,
}

impl<T> Pair<T> {
    pub(super) fn new(key: Arc<Signal>, message: Option<T>, wake_on_write: Option<Arc<Signal>>) -> Pair<T> {
        Pair { key, message, abandoned: false, receiver: None, wake_on_write }
    }

    /// The parties that must hear the pair changed (its message was written, or its
    /// sender gave up), claimed now and woken by the caller after unlocking.
    pub(super) fn take_wakes(&mut self) -> Wakes {
        let mut wakes = Wakes::default();
        let receiver =
            self.receiver.take().filter(|receiver| receiver.claim(Claim { index: 0, granted: true }));
        wakes.add(receiver);
        wakes.add(self.wake_on_write.take());
        wakes
    }
}

/// Identifies a pair by its key's address, which is stable while the pair holds the key.
pub(super) fn pair_key(signal: &Arc<Signal>) -> usize {
    Arc::as_ptr(signal) as usize
}

pub(super) struct State<T> {
    pub(super) queue: VecDeque<T>,
    pub(super) promised_slots: usize,
    pub(super) promised_messages: usize,
    pub(super) senders: VecDeque<Entry<T>>,
    pub(super) receivers: VecDeque<Entry<T>>,
    pub(super) pairs: Vec<Pair<T>>,
    pub(super) senders_gone: bool,
    pub(super) receivers_gone: bool,
}

impl<T> State<T> {
    pub(super) fn new(cap: usize) -> State<T> {
        State {
            // A bounded buffer is allocated once; an unbounded one grows as needed.
            queue: if cap == usize::MAX { VecDeque::new() } else { VecDeque::with_capacity(cap) },
            promised_slots: 0,
            promised_messages: 0,
            senders: VecDeque::new(),
            receivers: VecDeque::new(),
            pairs: Vec::new(),
            senders_gone: false,
            receivers_gone: false,
        }
    }

    /// Messages not promised to a woken receiver.
    pub(super) fn available(&self) -> usize {
        self.queue.len() - self.promised_messages
    }

    /// Room for one more message beyond the slots promised to woken senders.
    pub(super) fn has_room(&self, cap: usize) -> bool {
        self.queue.len() + self.promised_slots < cap
    }

    /// Takes the first message. Unless `rendezvous` (where `queue` holds only re-homed
    /// messages and frees no room), the freed slot goes to the first waiting sender:
    /// its message moves into the buffer now (Go's hand-off, so the slot never sits
    /// empty while that sender's worker gets round to running it), or, for a `select!`
    /// send arm that has no message yet, the slot is promised to it. The caller wakes
    /// the returned parties after unlocking.
    pub(super) fn pop(&mut self, rendezvous: bool) -> (T, Wakes) {
        let message = self.queue.pop_front().expect("the caller checked or was promised a message");
        let mut wakes = Wakes::default();
        if !rendezvous {
            self.fill_freed_slot(&mut wakes);
        }
        (message, wakes)
    }

    /// Gives one free slot to the first waiting sender (see [`State::pop`]).
    pub(super) fn fill_freed_slot(&mut self, wakes: &mut Wakes) {
        let Some(mut sender) = claim_first(&mut self.senders, None, true) else { return };
        match sender.message.take() {
            Some(message) => {
                let receiver = self.push(message);
                wakes.add(receiver);
            }
            None => self.promised_slots += 1,
        }
        wakes.add(Some(sender.signal));
    }

    /// Adds a message and promises it to a waiting receiver, whose signal the caller
    /// wakes after unlocking.
    pub(super) fn push(&mut self, message: T) -> Option<Arc<Signal>> {
        self.queue.push_back(message);
        let woken = claim_first(&mut self.receivers, None, true);
        if woken.is_some() {
            self.promised_messages += 1;
        }
        woken.map(|entry| entry.signal)
    }

    /// Removes `signal`'s entries from a waiting list; returns a message one held.
    pub(super) fn unregister(list: &mut VecDeque<Entry<T>>, signal: &Arc<Signal>) -> Option<T> {
        let mut message = None;
        list.retain_mut(|entry| {
            let own = Arc::ptr_eq(&entry.signal, signal);
            if own {
                message = message.take().or_else(|| entry.message.take());
            }
            !own
        });
        message
    }

    /// Rendezvous: finds a new receiver for a message whose receiver gave up after it
    /// was handed over (the sender already returned): a waiting receiver (woken by the
    /// caller after unlocking), or else the next one, from `queue`, which a rendezvous
    /// channel uses for nothing else. `Err` if every receiver is gone.
    pub(super) fn rehome(&mut self, message: T) -> Result<Option<Arc<Signal>>, T> {
        if self.receivers_gone {
            return Err(message);
        }
        match claim_first(&mut self.receivers, None, true) {
            Some(entry) => {
                let woken = entry.signal.clone();
                self.pairs.push(Pair::new(entry.signal, Some(message), None));
                Ok(Some(woken))
            }
            None => {
                self.queue.push_back(message);
                Ok(None)
            }
        }
    }

    pub(super) fn pair_index(&self, key: usize) -> Option<usize> {
        self.pairs.iter().position(|pair| pair_key(&pair.key) == key)
    }

    /// Claims every waiting entry of `list` without a grant (the other side is gone);
    /// the entries stay for their owners to remove. Returns the signals to wake.
    pub(super) fn claim_all(list: &VecDeque<Entry<T>>) -> Vec<Arc<Signal>> {
        list.iter()
            .filter(|entry| entry.signal.claim(Claim { index: entry.index, granted: false }))
            .map(|entry| entry.signal.clone())
            .collect()
    }
}

/// Claims the first waiting entry that is not `own`'s (a `select!` may wait on both
/// ends of one channel and must not meet itself) and removes it from the list.
pub(super) fn claim_first<T>(
    list: &mut VecDeque<Entry<T>>,
    own: Option<&Arc<Signal>>,
    granted: bool,
) -> Option<Entry<T>> {
    let position = list.iter().position(|entry| {
        !own.is_some_and(|own| Arc::ptr_eq(own, &entry.signal))
            && entry.signal.claim(Claim { index: entry.index, granted })
    })?;
    list.remove(position)
}

/// Whether some entry other than `own`'s still waits (a hint: the claim decides).
pub(super) fn has_waiting<T>(list: &VecDeque<Entry<T>>, own: &Arc<Signal>) -> bool {
    list.iter().any(|entry| !Arc::ptr_eq(own, &entry.signal) && entry.signal.is_waiting())
}
