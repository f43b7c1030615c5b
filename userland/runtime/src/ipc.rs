//! Endpoints and handles (see `abi::ipc` for the rules): typed wrappers
//! over the IPC system calls.
//!
//! ```no_run
//! use runtime::ipc::{self, Handle};
//! let endpoint = ipc::endpoint_create()?;
//! let send_only = endpoint.duplicate(abi::HandleRights::SEND | abi::HandleRights::TRANSFER)?;
//! let child = ipc::spawn_with_handles("bin/worker", &[], 0, &[ipc::moved(send_only)])?;
//! let message = ipc::receive(endpoint)?;
//! # Ok::<(), abi::Error>(())
//! ```

use crate::sys::call;
use abi::ipc::{HandleTransfer, ObjectKind, ReceiveFlags, Received, Transfer};
use abi::{Arg, Error, HandleRights, Syscall};
use alloc::vec::Vec;

pub use abi::ipc::{ENDPOINT_RIGHTS, MAX_BYTES, MAX_HANDLES, QUEUE_DEPTH};

/// A handle in this process's table: a plain value, closed explicitly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Handle(pub u64);

impl Handle {
    /// Its value.
    pub fn raw(self) -> u64 {
        self.0
    }

    /// Closes it: the value names nothing from now on.
    pub fn close(self) -> Result<(), Error> {
        call(Syscall::HandleClose, [self.0, 0, 0, 0, 0, 0]).map(|_| ())
    }

    /// A second handle to the same object with `rights` (at most its own).
    pub fn duplicate(self, rights: HandleRights) -> Result<Handle, Error> {
        call(Syscall::HandleDuplicate, [self.0, u64::from(rights.bits()), 0, 0, 0, 0]).map(Handle)
    }

    /// What it names, and its rights.
    pub fn info(self) -> Result<(ObjectKind, HandleRights), Error> {
        let word = call(Syscall::HandleInfo, [self.0, 0, 0, 0, 0, 0])?;
        abi::ipc::decode_info(word).ok_or(Error::InvalidArgument)
    }
}

/// Passes `handle` on with all its rights, closing it here.
pub fn moved(handle: Handle) -> HandleTransfer {
    HandleTransfer { handle: handle.0, rights: handle.info().map_or(HandleRights::empty(), |(_, rights)| rights), how: Transfer::Move }
}

/// Passes `handle` on with `rights`, closing it here.
pub fn moved_with(handle: Handle, rights: HandleRights) -> HandleTransfer {
    HandleTransfer { handle: handle.0, rights, how: Transfer::Move }
}

/// Passes on a duplicate of `handle` with `rights`, keeping it here.
pub fn duplicated(handle: Handle, rights: HandleRights) -> HandleTransfer {
    HandleTransfer { handle: handle.0, rights, how: Transfer::Duplicate }
}

/// A new endpoint, under a handle with [`ENDPOINT_RIGHTS`].
pub fn endpoint_create() -> Result<Handle, Error> {
    call(Syscall::EndpointCreate, [0; 6]).map(Handle)
}

/// The `index`th handle this process was spawned with.
pub fn startup_handle(index: u64) -> Result<Handle, Error> {
    call(Syscall::HandleStartup, [index, 0, 0, 0, 0, 0]).map(Handle)
}

fn transfer_words(transfers: &[HandleTransfer]) -> Vec<u64> {
    transfers.iter().flat_map(|transfer| transfer.to_words()).collect()
}

/// Queues `bytes` and the handles `transfers` name on `endpoint` (or
/// answers a call on its reply handle). Never blocks.
pub fn send(endpoint: Handle, bytes: &[u8], transfers: &[HandleTransfer]) -> Result<(), Error> {
    let words = transfer_words(transfers);
    let arguments = [endpoint.0, bytes.as_ptr() as u64, bytes.len() as u64, words.as_ptr() as u64, transfers.len() as u64, 0];
    call(Syscall::IpcSend, arguments).map(|_| ())
}

/// Answers the call `request` came with.
pub fn reply(request: &Received, bytes: &[u8], transfers: &[HandleTransfer]) -> Result<(), Error> {
    send(Handle(request.reply), bytes, transfers)
}

/// Answers the call `request` came with (`bytes`, no handles), then
/// receives the next message on `endpoint`, waiting for one: a server's
/// step in one system call.
pub fn reply_receive(request: &Received, bytes: &[u8], endpoint: Handle) -> Result<Received, Error> {
    let mut words = [0u64; Received::WORDS];
    let arguments = [request.reply, bytes.as_ptr() as u64, bytes.len() as u64, endpoint.0, words.as_mut_ptr() as u64, 0];
    call(Syscall::IpcReplyReceive, arguments)?;
    Received::from_words(&words).ok_or(Error::InvalidArgument)
}

fn receive_with(endpoint: Handle, flags: ReceiveFlags) -> Result<Received, Error> {
    let mut words = [0u64; Received::WORDS];
    call(Syscall::IpcReceive, [endpoint.0, words.as_mut_ptr() as u64, flags.bits(), 0, 0, 0])?;
    Received::from_words(&words).ok_or(Error::InvalidArgument)
}

/// The oldest message on `endpoint`, waiting for one.
pub fn receive(endpoint: Handle) -> Result<Received, Error> {
    receive_with(endpoint, ReceiveFlags::empty())
}

/// The oldest message on `endpoint`, or `WouldBlock`.
pub fn try_receive(endpoint: Handle) -> Result<Received, Error> {
    receive_with(endpoint, ReceiveFlags::NONBLOCK)
}

/// Sends like [`send`] and waits for the answer.
pub fn call_endpoint(endpoint: Handle, bytes: &[u8], transfers: &[HandleTransfer]) -> Result<Received, Error> {
    let words = transfer_words(transfers);
    let mut out = [0u64; Received::WORDS];
    let arguments =
        [endpoint.0, bytes.as_ptr() as u64, bytes.len() as u64, words.as_ptr() as u64, transfers.len() as u64, out.as_mut_ptr() as u64];
    call(Syscall::IpcCall, arguments)?;
    Received::from_words(&out).ok_or(Error::InvalidArgument)
}

/// Starts `path` like `sys::spawn_with_budget`, passing it the handles
/// `transfers` name as its startup handles.
pub fn spawn_with_handles(path: &str, args: &[&str], budget: u64, transfers: &[HandleTransfer]) -> Result<u64, Error> {
    let arguments: Vec<Arg> = args.iter().map(|a| Arg { ptr: a.as_ptr() as u64, len: a.len() as u64 }).collect();
    let mut list = Vec::with_capacity(1 + 2 * transfers.len());
    list.push(transfers.len() as u64);
    list.extend(transfer_words(transfers));
    call(
        Syscall::Spawn,
        [path.as_ptr() as u64, path.len() as u64, arguments.as_ptr() as u64, arguments.len() as u64, budget, list.as_ptr() as u64],
    )
}
