//! An IPC endpoint: a bounded queue of small messages, each with a few
//! handles, between the holders of its send and receive handles.
//!
//! An endpoint is pure state: it says whom to wake and hands back what it
//! could not deliver, and the kernel's system calls block and wake tasks
//! (`W`, a task id there) and move handles (`O`, what a handle names)
//! accordingly, so the rules are tested on the host:
//!
//! - **Send never blocks.** A message goes to the back of the queue (at
//!   most [`QUEUE_DEPTH`]); a full queue or an endpoint nobody can receive
//!   from any more refuses it and hands the message back whole, so the
//!   sender loses none of the handles it carried.
//! - **Receive** takes the oldest message. With none queued it fails with
//!   [`IpcError::WouldBlock`], registering the caller as a waiter if it
//!   asked to block; a send wakes the longest waiting receiver, which
//!   tries again (another receiver may have taken the message meanwhile,
//!   then it waits again).
//! - **Closing** the last send handle wakes every waiting receiver, whose
//!   next receive (once the queue is drained) fails with
//!   [`IpcError::PeerClosed`]: nobody hangs on a dead peer. Closing the
//!   last receive handle refuses every later send and hands the queued
//!   messages back for their handles to be closed (and wakes any receiver
//!   still registered, whose handle went with it).
//! - **No stale waiters.** A waiter stays registered only while it is
//!   blocked here (a send takes it off, a close takes them all), and a
//!   blocked process cannot end (it has one thread; only a running process
//!   exits or is killed), so nothing ever withdraws a waiter.

#![forbid(unsafe_code)]

use super::handles::Entry;
use abi::HandleRights;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// The most bytes a message carries.
pub const MAX_MESSAGE_BYTES: usize = abi::ipc::MAX_BYTES;
/// The most handles a message carries.
pub const MAX_MESSAGE_HANDLES: usize = abi::ipc::MAX_HANDLES;
/// The most messages an endpoint queues.
pub const QUEUE_DEPTH: usize = abi::ipc::QUEUE_DEPTH;

/// Why an endpoint refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpcError {
    /// The other side is gone: no receive handle is left (for a send), or
    /// no send handle is left and nothing is queued (for a receive).
    PeerClosed,
    /// The queue holds [`QUEUE_DEPTH`] messages.
    Full,
    /// Nothing is queued (the caller may wait).
    WouldBlock,
    /// More than [`MAX_MESSAGE_BYTES`] bytes or [`MAX_MESSAGE_HANDLES`]
    /// handles.
    TooLarge,
}

/// A message: who sent it, its bytes and the handles it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message<O> {
    /// The sending process.
    pub sender: u64,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// The handles it carries, taken from the sender's table.
    pub handles: Vec<Entry<O>>,
    /// The handle to answer it with, for a call (outside the handle limit).
    pub reply: Option<Entry<O>>,
}

impl<O> Message<O> {
    /// Whether it is within the limits.
    pub fn fits(&self) -> bool {
        fits(self.bytes.len(), self.handles.len())
    }

    /// Every handle it carries, the reply's included.
    pub fn handle_count(&self) -> usize {
        self.handles.len() + usize::from(self.reply.is_some())
    }

    /// Its handles, the reply's last, for closing.
    pub fn into_handles(self) -> impl Iterator<Item = Entry<O>> {
        self.handles.into_iter().chain(self.reply)
    }
}

/// Whether `bytes` bytes and `handles` handles are within the limits.
pub fn fits(bytes: usize, handles: usize) -> bool {
    bytes <= MAX_MESSAGE_BYTES && handles <= MAX_MESSAGE_HANDLES
}

/// A message refused, with why: the caller gives its handles back.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused<O> {
    /// Why.
    pub error: IpcError,
    /// The message, untouched.
    pub message: Message<O>,
}

/// What closing a handle leaves to do.
#[derive(Debug, PartialEq, Eq)]
pub struct Closed<O, W> {
    /// Receivers to wake (the last send handle went).
    pub wake: Vec<W>,
    /// Messages nobody can receive any more (the last receive handle
    /// went), whose handles must be closed.
    pub dropped: Vec<Message<O>>,
}

/// One endpoint.
#[derive(Debug)]
pub struct Endpoint<O, W> {
    queue: VecDeque<Message<O>>,
    receivers: VecDeque<W>,
    send_handles: usize,
    receive_handles: usize,
}

impl<O, W: PartialEq> Endpoint<O, W> {
    /// A new endpoint; no handle to it exists yet ([`Endpoint::opened`]).
    pub fn new() -> Endpoint<O, W> {
        Endpoint { queue: VecDeque::new(), receivers: VecDeque::new(), send_handles: 0, receive_handles: 0 }
    }

    /// Messages queued.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The messages queued, oldest first.
    pub fn messages(&self) -> impl Iterator<Item = &Message<O>> {
        self.queue.iter()
    }

    /// Empties the queue (the endpoint is being freed as unreachable) and
    /// returns the messages, for their handles to be closed.
    pub fn take_messages(&mut self) -> Vec<Message<O>> {
        self.queue.drain(..).collect()
    }

    /// Whether no handle to it is left (it can be dropped).
    pub fn unreferenced(&self) -> bool {
        self.send_handles == 0 && self.receive_handles == 0
    }

    /// Counts a new handle with `rights`.
    pub fn opened(&mut self, rights: HandleRights) {
        self.send_handles += usize::from(rights.contains(HandleRights::SEND));
        self.receive_handles += usize::from(rights.contains(HandleRights::RECEIVE));
    }

    /// Uncounts a handle with `rights` that was closed (or went with a
    /// dead process): see the module documentation.
    pub fn closed(&mut self, rights: HandleRights) -> Closed<O, W> {
        let mut closed = Closed { wake: Vec::new(), dropped: Vec::new() };
        if rights.contains(HandleRights::SEND) && self.send_handles > 0 {
            self.send_handles -= 1;
            if self.send_handles == 0 {
                closed.wake.extend(self.receivers.drain(..));
            }
        }
        if rights.contains(HandleRights::RECEIVE) && self.receive_handles > 0 {
            self.receive_handles -= 1;
            if self.receive_handles == 0 {
                closed.dropped.extend(self.queue.drain(..));
                // A receiver still waiting lost its handle (a process that
                // ended): woken, its retry finds the handle gone.
                closed.wake.extend(self.receivers.drain(..));
            }
        }
        closed
    }

    /// Whether a message of `bytes` bytes and `handles` handles would be
    /// queued now ([`Endpoint::send`] refuses exactly when this does), so a
    /// sender can check before it takes the handles from its table.
    pub fn check(&self, bytes: usize, handles: usize) -> Result<(), IpcError> {
        if !fits(bytes, handles) {
            Err(IpcError::TooLarge)
        } else if self.receive_handles == 0 {
            Err(IpcError::PeerClosed)
        } else if self.queue.len() >= QUEUE_DEPTH {
            Err(IpcError::Full)
        } else {
            Ok(())
        }
    }

    /// How many handles the next message to be received carries.
    pub fn next_handle_count(&self) -> Option<usize> {
        self.queue.front().map(Message::handle_count)
    }

    /// Queues `message`; returns the receiver to wake, if one waits.
    pub fn send(&mut self, message: Message<O>) -> Result<Option<W>, Refused<O>> {
        if let Err(error) = self.check(message.bytes.len(), message.handles.len()) {
            return Err(Refused { error, message });
        }
        self.queue.push_back(message);
        Ok(self.receivers.pop_front())
    }

    /// Takes the oldest message. With none queued: `PeerClosed` if no
    /// send handle is left, else `WouldBlock`, after registering `waiter`
    /// (once) to be woken by the next send.
    pub fn receive(&mut self, waiter: Option<W>) -> Result<Message<O>, IpcError> {
        if let Some(message) = self.queue.pop_front() {
            return Ok(message);
        }
        if self.send_handles == 0 {
            return Err(IpcError::PeerClosed);
        }
        if let Some(waiter) = waiter
            && !self.receivers.contains(&waiter)
        {
            self.receivers.push_back(waiter);
        }
        Err(IpcError::WouldBlock)
    }
}

impl<O, W: PartialEq> Default for Endpoint<O, W> {
    fn default() -> Self {
        Endpoint::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const BOTH: HandleRights = HandleRights::SEND.union(HandleRights::RECEIVE);

    fn message(sender: u64, bytes: &[u8]) -> Message<char> {
        Message { sender, bytes: bytes.to_vec(), handles: Vec::new(), reply: None }
    }

    fn endpoint() -> Endpoint<char, u32> {
        let mut endpoint = Endpoint::new();
        endpoint.opened(HandleRights::SEND);
        endpoint.opened(HandleRights::RECEIVE);
        endpoint
    }

    #[test]
    fn messages_arrive_in_order_and_wake_the_longest_waiting_receiver() {
        let mut endpoint = endpoint();
        assert_eq!(endpoint.receive(Some(7)), Err(IpcError::WouldBlock));
        assert_eq!(endpoint.receive(Some(8)), Err(IpcError::WouldBlock));
        assert_eq!(endpoint.receive(Some(7)), Err(IpcError::WouldBlock), "a waiter is registered once");
        assert_eq!(endpoint.send(message(1, b"first")), Ok(Some(7)));
        assert_eq!(endpoint.send(message(1, b"second")), Ok(Some(8)));
        assert_eq!(endpoint.send(message(2, b"third")), Ok(None));
        let got: Vec<Vec<u8>> = (0..3).map(|_| endpoint.receive(None).unwrap().bytes).collect();
        assert_eq!(got, vec![b"first".to_vec(), b"second".to_vec(), b"third".to_vec()]);
        assert_eq!(endpoint.receive(None), Err(IpcError::WouldBlock));
    }

    #[test]
    fn a_refused_message_comes_back_whole() {
        let mut endpoint = endpoint();
        for index in 0..QUEUE_DEPTH {
            endpoint.send(message(1, &[index as u8])).unwrap();
        }
        let carrying = Message { sender: 1, bytes: b"x".to_vec(), handles: vec![Entry { object: 'h', rights: HandleRights::SEND }], reply: None };
        let refused = endpoint.send(carrying.clone()).unwrap_err();
        assert_eq!(refused, Refused { error: IpcError::Full, message: carrying.clone() });
        let big = Message { sender: 1, bytes: vec![0; MAX_MESSAGE_BYTES + 1], handles: Vec::new(), reply: None };
        assert_eq!(endpoint.send(big).unwrap_err().error, IpcError::TooLarge);
        let many = Message { sender: 1, bytes: Vec::new(), handles: vec![Entry { object: 'h', rights: HandleRights::SEND }; MAX_MESSAGE_HANDLES + 1], reply: None };
        assert_eq!(endpoint.send(many).unwrap_err().error, IpcError::TooLarge);
        assert_eq!(endpoint.queued(), QUEUE_DEPTH, "nothing refused was queued");
    }

    #[test]
    fn receivers_never_hang_on_a_closed_sender() {
        let mut endpoint = endpoint();
        endpoint.opened(HandleRights::SEND);
        endpoint.send(message(1, b"last words")).unwrap();
        assert_eq!(endpoint.closed(HandleRights::SEND).wake, Vec::<u32>::new(), "another send handle is left");
        assert_eq!(endpoint.receive(Some(3)).unwrap().bytes, b"last words".to_vec());
        assert_eq!(endpoint.receive(Some(3)), Err(IpcError::WouldBlock));
        let closed = endpoint.closed(HandleRights::SEND);
        assert_eq!(closed.wake, vec![3], "the waiting receiver is woken");
        assert_eq!(endpoint.receive(Some(3)), Err(IpcError::PeerClosed));
        assert!(!endpoint.unreferenced());
        endpoint.closed(HandleRights::RECEIVE);
        assert!(endpoint.unreferenced());
    }

    #[test]
    fn closing_the_receiver_refuses_sends_and_returns_the_queue() {
        let mut endpoint: Endpoint<char, u32> = Endpoint::new();
        endpoint.opened(BOTH);
        let carrying = Message { sender: 1, bytes: Vec::new(), handles: vec![Entry { object: 'g', rights: HandleRights::MAP }], reply: None };
        endpoint.send(carrying.clone()).unwrap();
        endpoint.receive(None).unwrap();
        assert_eq!(endpoint.receive(Some(9)), Err(IpcError::WouldBlock));
        endpoint.send(carrying.clone()).unwrap_or_else(|_| panic!("queued"));
        endpoint.send(carrying.clone()).unwrap();
        let closed = endpoint.closed(HandleRights::RECEIVE);
        assert_eq!(closed.dropped, vec![carrying.clone(), carrying], "their handles go back to be closed");
        assert_eq!(closed.wake, Vec::<u32>::new(), "the send woke the waiter already");
        assert_eq!(endpoint.send(message(1, b"late")).unwrap_err().error, IpcError::PeerClosed);
        assert_eq!(endpoint.queued(), 0);
    }

    #[test]
    fn a_receiver_whose_handle_went_is_woken() {
        let mut endpoint = endpoint();
        assert_eq!(endpoint.receive(Some(4)), Err(IpcError::WouldBlock));
        assert_eq!(endpoint.closed(HandleRights::RECEIVE).wake, vec![4]);
        assert_eq!(endpoint.send(message(1, b"m")).unwrap_err().error, IpcError::PeerClosed);
    }
}
