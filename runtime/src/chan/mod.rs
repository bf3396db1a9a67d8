//! Multi-producer multi-consumer channels for coroutines, with `crossbeam-channel`'s
//! API, and [`select!`](crate::select!) to wait on several at once.
//!
//! A coroutine that must wait (to receive from an empty channel, to send to a full one)
//! parks, and its worker runs other coroutines; a plain OS thread blocks. Both can use
//! the same channel, on either side.
//!
//! - [`bounded`]`(cap)`: holds up to `cap` messages; senders wait when it is full.
//!   `bounded(0)` is a rendezvous channel: a send waits for a receiver to take the
//!   message.
//! - [`unbounded`]: senders never wait.
//!
//! Both ends can be cloned. When every [`Sender`] is gone, receivers drain what is left
//! and then get a disconnection error; when every [`Receiver`] is gone, sends fail and
//! hand the message back.
//!
//! ```
//! use hebra::chan;
//!
//! hebra::run(|| {
//!     let (tx, rx) = chan::bounded(16);
//!     for producer in 0..4 {
//!         let tx = tx.clone();
//!         hebra::spawn(move || {
//!             for i in 0..100 {
//!                 tx.send(producer * 100 + i).unwrap();
//!             }
//!         });
//!     }
//!     drop(tx); // the loop below ends once every producer is done
//!     let sum: u64 = rx.iter().sum();
//!     assert_eq!(sum, (0..400).sum());
//! });
//! ```
//!
//! # Fairness
//!
//! Waiting senders and receivers are served in the order they started waiting: a party
//! that frees a slot or adds a message claims the first waiting party of the other side
//! and *promises* it that slot or message, so a party arriving later cannot take it.
//!
//! # At shutdown
//!
//! When a runtime shuts down it unwinds the coroutines still parked. A destructor that
//! sends, receives or selects then does not wait: an operation that would wait fails
//! with the disconnected error (a send hands its message back).

mod channel;
mod error;
mod select;
mod select_macro;
mod state;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use channel::Channel;

pub use error::{
    RecvError, RecvTimeoutError, SelectTimeoutError, SendError, SendTimeoutError, TryRecvError,
    TrySelectError, TrySendError,
};
pub use select::{Select, SelectedOperation};

/// A channel that holds at most `cap` messages; `bounded(0)` is a rendezvous channel.
///
/// ```
/// use hebra::chan::{self, TrySendError};
///
/// let (tx, rx) = chan::bounded(1);
/// tx.send(1).unwrap();
/// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
/// assert_eq!(rx.recv(), Ok(1));
/// ```
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    // usize::MAX is the unbounded channel's marker; nobody can fill that many slots.
    with_capacity(cap.min(usize::MAX - 1))
}

/// A channel without a limit: sends never wait.
///
/// ```
/// use hebra::chan;
///
/// let (tx, rx) = chan::unbounded();
/// for i in 0..1000 {
///     tx.send(i).unwrap();
/// }
/// drop(tx);
/// assert_eq!(rx.iter().count(), 1000);
/// ```
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    with_capacity(usize::MAX)
}

fn with_capacity<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let channel = Arc::new(Channel::new(cap));
    (Sender { channel: channel.clone() }, Receiver { channel })
}

/// A deadline `timeout` from now; `None` when it lies beyond what `Instant` can hold.
fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// The sending end of a channel. Clone it for more producers.
pub struct Sender<T> {
    channel: Arc<Channel<T>>,
}

/// The receiving end of a channel. Clone it for more consumers: each message goes to
/// exactly one of them.
pub struct Receiver<T> {
    channel: Arc<Channel<T>>,
}

impl<T> Sender<T> {
    /// Sends a message, waiting while the channel is full (for `bounded(0)`, until a
    /// receiver takes it). Fails, handing the message back, if every receiver is gone.
    pub fn send(&self, msg: T) -> Result<(), SendError<T>> {
        self.channel.send(msg, None).map_err(|err| SendError(err.into_inner()))
    }

    /// Sends a message if that needs no waiting.
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        let mut state = self.channel.lock();
        let woken = self.channel.try_send_locked(&mut state, msg)?;
        drop(state);
        channel::wake(woken);
        Ok(())
    }

    /// Like [`Sender::send`], giving up after `timeout`.
    pub fn send_timeout(&self, msg: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.channel.send(msg, deadline_after(timeout))
    }

    /// Like [`Sender::send`], giving up at `deadline`.
    pub fn send_deadline(&self, msg: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.channel.send(msg, Some(deadline))
    }
}

impl<T> Receiver<T> {
    /// Receives a message, waiting while the channel is empty. Fails once the channel
    /// is empty and every sender is gone.
    pub fn recv(&self) -> Result<T, RecvError> {
        self.channel.recv(None).map_err(|_| RecvError)
    }

    /// Receives a message if one is ready.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.channel.try_recv()
    }

    /// Like [`Receiver::recv`], giving up after `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.channel.recv(deadline_after(timeout))
    }

    /// Like [`Receiver::recv`], giving up at `deadline`.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.channel.recv(Some(deadline))
    }

    /// Iterates over received messages, waiting for each; ends when the channel is
    /// empty and disconnected.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { receiver: self }
    }

    /// Iterates over the messages ready now, without waiting.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { receiver: self }
    }
}

/// The methods both ends share.
macro_rules! common_methods {
    ($end:ident) => {
        impl<T> $end<T> {
            /// Whether the channel holds no message.
            pub fn is_empty(&self) -> bool {
                self.channel.lock().queue.is_empty()
            }

            /// Whether the channel is full (a rendezvous channel always is).
            pub fn is_full(&self) -> bool {
                self.channel.lock().queue.len() >= self.channel.cap
            }

            /// The number of messages in the channel.
            pub fn len(&self) -> usize {
                self.channel.lock().queue.len()
            }

            /// The channel's capacity; `None` for an unbounded channel.
            pub fn capacity(&self) -> Option<usize> {
                (self.channel.cap != usize::MAX).then_some(self.channel.cap)
            }

            /// Whether both handles belong to the same channel.
            pub fn same_channel(&self, other: &$end<T>) -> bool {
                Arc::ptr_eq(&self.channel, &other.channel)
            }
        }

        impl<T> fmt::Debug for $end<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(concat!(stringify!($end), " { .. }"))
            }
        }
    };
}

common_methods!(Sender);
common_methods!(Receiver);

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.channel.add_sender();
        Sender { channel: self.channel.clone() }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.channel.add_receiver();
        Receiver { channel: self.channel.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.channel.drop_sender();
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.channel.drop_receiver();
    }
}

/// A blocking iterator over a receiver's messages ([`Receiver::iter`]).
pub struct Iter<'a, T> {
    receiver: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.receiver.recv().ok()
    }
}

/// A non-blocking iterator over the messages ready now ([`Receiver::try_iter`]).
pub struct TryIter<'a, T> {
    receiver: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.receiver.try_recv().ok()
    }
}

/// A blocking iterator that owns its receiver (`for msg in rx`).
pub struct IntoIter<T> {
    receiver: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.receiver.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;

    fn into_iter(self) -> IntoIter<T> {
        IntoIter { receiver: self }
    }
}

macro_rules! iterator_debug {
    ($($iter:ident),*) => {$(
        impl<T> fmt::Debug for $iter<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(concat!(stringify!($iter), " { .. }"))
            }
        }
    )*};
}

iterator_debug!(Iter, TryIter);

impl<T> fmt::Debug for IntoIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("IntoIter { .. }")
    }
}
