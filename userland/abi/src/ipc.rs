//! Inter-process communication over endpoints: the limits, and the
//! structures `ipc_send`, `ipc_receive`, `ipc_call` and `spawn` pass.
//!
//! An endpoint is a bounded queue of small messages ([`MAX_BYTES`] bytes
//! and up to [`MAX_HANDLES`] handles each). A process names it, and every
//! other kernel object, through a handle: a word that means something only
//! in the process's own table (values differ from process to process, and
//! a closed handle's value never names anything again). A handle carries
//! [`HandleRights`]; a handle passed on carries at most the rights of the
//! one it came from.
//!
//! - `endpoint_create` gives a handle with every endpoint right; duplicate
//!   it with fewer (`handle_duplicate`) to hand out send-only handles.
//! - `ipc_send` never blocks: a full queue is `QueueFull`, an endpoint
//!   nobody can receive from any more `PeerClosed`, and a refused message
//!   leaves every handle it would have carried with the sender.
//! - `ipc_receive` takes the oldest message, blocking unless
//!   [`ReceiveFlags::NONBLOCK`] (then `WouldBlock`); once no send handle
//!   is left and the queue is drained, `PeerClosed`.
//! - `ipc_call` sends and waits for the answer: the receiver finds a
//!   one-shot reply handle in [`Received::reply`] and answers with
//!   `ipc_send` on it (which closes it). If the reply handle is closed
//!   unanswered (its holder closed it, or ended), the caller gets
//!   `PeerClosed`.
//! - `spawn` may pass handles to the child: its *startup handles*, which
//!   the child reads with `handle_startup(index)` in the order given.

use crate::HandleRights;

/// The most bytes a message carries.
pub const MAX_BYTES: usize = 128;
/// The most handles a message (or a spawn) carries.
pub const MAX_HANDLES: usize = 4;
/// The most messages an endpoint queues.
pub const QUEUE_DEPTH: usize = 16;

/// The rights of a new grant's handle (`grant_create`, `grant_derive`).
pub const GRANT_RIGHTS: HandleRights = HandleRights::MAP.union(HandleRights::TRANSFER).union(HandleRights::DUPLICATE);

/// The rights `endpoint_create` gives.
pub const ENDPOINT_RIGHTS: HandleRights = HandleRights::SEND
    .union(HandleRights::RECEIVE)
    .union(HandleRights::DUPLICATE)
    .union(HandleRights::TRANSFER);

crate::coded_enum! {
    /// How a handle leaves its sender's table.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum Transfer: u32 {
        /// The sender's handle is closed; the receiver gets it.
        Move = 0 => "move",
        /// The sender keeps its handle (which needs `DUPLICATE`); the
        /// receiver gets a second one.
        Duplicate = 1 => "duplicate",
    }
}

crate::coded_enum! {
    /// What a handle names.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum ObjectKind: u32 {
        /// An endpoint.
        Endpoint = 1 => "endpoint",
        /// A one-shot reply to an `ipc_call`.
        Reply = 2 => "reply",
        /// A grant of a shared partition (`grant_create`).
        Grant = 3 => "grant",
    }
}

bitflags::bitflags! {
    /// How `ipc_receive` waits.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct ReceiveFlags: u64 {
        /// Fail with `WouldBlock` instead of waiting for a message.
        const NONBLOCK = 1 << 0;
    }
}

/// One handle a message (or a spawn) passes on: its value in the sender's
/// table, the rights the receiver gets (at most the handle's own) and
/// whether the sender keeps it. Two words: `handle`, `rights | how << 32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandleTransfer {
    /// The handle, in the sender's table.
    pub handle: u64,
    /// The rights the receiver's handle has.
    pub rights: HandleRights,
    /// Moved or duplicated.
    pub how: Transfer,
}

impl HandleTransfer {
    /// Words per transfer.
    pub const WORDS: usize = 2;

    /// Its words.
    pub fn to_words(self) -> [u64; 2] {
        [self.handle, u64::from(self.rights.bits()) | u64::from(self.how.code()) << 32]
    }

    /// The transfer the words describe; `None` if they name unknown rights
    /// or an unknown way.
    pub fn from_words(words: [u64; 2]) -> Option<HandleTransfer> {
        let rights = HandleRights::from_bits(words[1] as u32)?;
        let how = Transfer::from_code((words[1] >> 32) as u32)?;
        Some(HandleTransfer { handle: words[0], rights, how })
    }
}

/// A handle that arrived in a message: its value in the receiver's table,
/// its rights and what it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceivedHandle {
    /// The handle, in the receiver's table.
    pub handle: u64,
    /// Its rights.
    pub rights: HandleRights,
    /// What it names.
    pub kind: ObjectKind,
}

/// What `ipc_receive` and `ipc_call` write: [`Received::WORDS`] words,
/// `sender`, `reply`, `byte_count | handle_count << 32`, then
/// [`MAX_HANDLES`] times `handle`, `rights | kind << 32` (zero past
/// `handle_count`), then the bytes (zero past `byte_count`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// The sending process's pid.
    pub sender: u64,
    /// The one-shot handle to answer an `ipc_call` with (0: the message
    /// was sent, not called).
    pub reply: u64,
    /// Bytes in `bytes`.
    pub byte_count: usize,
    /// The handles it carried, now the receiver's.
    pub handles: [Option<ReceivedHandle>; MAX_HANDLES],
    /// Its bytes.
    pub bytes: [u8; MAX_BYTES],
}

impl Default for Received {
    fn default() -> Self {
        Received { sender: 0, reply: 0, byte_count: 0, handles: [None; MAX_HANDLES], bytes: [0; MAX_BYTES] }
    }
}

impl Received {
    /// Words it crosses the boundary as.
    pub const WORDS: usize = 3 + 2 * MAX_HANDLES + MAX_BYTES / 8;

    /// Its bytes, as many as were sent.
    pub fn data(&self) -> &[u8] {
        &self.bytes[..self.byte_count.min(MAX_BYTES)]
    }

    /// The handles it carried, in the order sent.
    pub fn received_handles(&self) -> impl Iterator<Item = ReceivedHandle> + '_ {
        self.handles.iter().flatten().copied()
    }

    /// Its words.
    pub fn to_words(&self) -> [u64; Self::WORDS] {
        let mut words = [0; Self::WORDS];
        let count = self.handles.iter().flatten().count() as u64;
        words[0] = self.sender;
        words[1] = self.reply;
        words[2] = self.byte_count as u64 | count << 32;
        for (i, handle) in self.handles.iter().flatten().enumerate() {
            words[3 + 2 * i] = handle.handle;
            words[4 + 2 * i] = u64::from(handle.rights.bits()) | u64::from(handle.kind.code()) << 32;
        }
        for (word, chunk) in words[3 + 2 * MAX_HANDLES..].iter_mut().zip(self.bytes.as_chunks::<8>().0) {
            *word = u64::from_le_bytes(*chunk);
        }
        words
    }

    /// The message the words describe; `None` if they are not one the
    /// kernel writes (counts over the limits, unknown rights or kinds).
    pub fn from_words(words: &[u64; Self::WORDS]) -> Option<Received> {
        let byte_count = (words[2] & u64::from(u32::MAX)) as usize;
        let handle_count = (words[2] >> 32) as usize;
        if byte_count > MAX_BYTES || handle_count > MAX_HANDLES {
            return None;
        }
        let mut received = Received { sender: words[0], reply: words[1], byte_count, ..Received::default() };
        for i in 0..handle_count {
            let info = words[4 + 2 * i];
            let rights = HandleRights::from_bits(info as u32)?;
            let kind = ObjectKind::from_code((info >> 32) as u32)?;
            received.handles[i] = Some(ReceivedHandle { handle: words[3 + 2 * i], rights, kind });
        }
        for (chunk, word) in received.bytes.as_chunks_mut::<8>().0.iter_mut().zip(&words[3 + 2 * MAX_HANDLES..]) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        Some(received)
    }
}

/// What `handle_info` returns for a handle: `kind | rights << 32`.
pub fn encode_info(kind: ObjectKind, rights: HandleRights) -> u64 {
    u64::from(kind.code()) | u64::from(rights.bits()) << 32
}

/// The kind and rights `handle_info` returned.
pub fn decode_info(word: u64) -> Option<(ObjectKind, HandleRights)> {
    Some((ObjectKind::from_code(word as u32)?, HandleRights::from_bits((word >> 32) as u32)?))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    #[test]
    fn a_received_message_round_trips_through_its_words() {
        let mut received = Received { sender: 7, reply: 0x1_0000_0003, byte_count: 11, ..Received::default() };
        received.bytes[..11].copy_from_slice(b"hello there");
        received.handles[0] = Some(ReceivedHandle { handle: 5, rights: HandleRights::SEND, kind: ObjectKind::Endpoint });
        received.handles[1] = Some(ReceivedHandle { handle: 9, rights: ENDPOINT_RIGHTS, kind: ObjectKind::Reply });
        let words = received.to_words();
        assert_eq!(words[2], 11 | 2 << 32);
        let back = Received::from_words(&words).expect("valid words");
        assert_eq!(back, received);
        assert_eq!(back.data(), b"hello there");
        assert_eq!(back.received_handles().map(|h| h.handle).collect::<Vec<_>>(), [5, 9]);
    }

    #[test]
    fn words_a_kernel_never_writes_are_refused() {
        let mut words = Received::default().to_words();
        words[2] = (MAX_BYTES as u64) + 1;
        assert_eq!(Received::from_words(&words), None);
        words[2] = (MAX_HANDLES as u64 + 1) << 32;
        assert_eq!(Received::from_words(&words), None);
        words[2] = 1 << 32;
        words[4] = 99 << 32;
        assert_eq!(Received::from_words(&words), None, "unknown kind");
    }

    #[test]
    fn transfers_round_trip_and_unknown_ways_are_refused() {
        let transfer = HandleTransfer { handle: 3, rights: HandleRights::SEND | HandleRights::TRANSFER, how: Transfer::Duplicate };
        assert_eq!(HandleTransfer::from_words(transfer.to_words()), Some(transfer));
        assert_eq!(HandleTransfer::from_words([3, 2 << 32]), None);
        assert_eq!(HandleTransfer::from_words([3, 1 << 31]), None, "unknown right");
    }

    #[test]
    fn handle_info_round_trips() {
        let word = encode_info(ObjectKind::Reply, HandleRights::SEND);
        assert_eq!(decode_info(word), Some((ObjectKind::Reply, HandleRights::SEND)));
        assert_eq!(decode_info(0), None);
    }
}
