//! What several programs share: the client side of `bin/share-peer`, the
//! process `test-share`, `test-acl`, `bench-sharing` and `swap-replica`
//! tell what to do with grants.

#![no_std]

extern crate alloc;

use abi::ipc::{HandleTransfer, Received};
use abi::{Error, ExitReason, HandleRights};
use alloc::vec::Vec;
use runtime::ipc::{self, Handle};

/// What a peer answered: its status (an `abi::Error` when negative), the
/// words after it, and the message itself (for the handles it carries).
pub type Answer = (Result<u64, Error>, Vec<u64>, Received);

/// A running `bin/share-peer`: the handle its calls go to, and its pid.
pub struct SharePeer {
    /// Where its operations are called.
    pub calls: Handle,
    /// Its pid.
    pub pid: u64,
}

impl SharePeer {
    /// Starts one, limited to `budget` committed pages (0: none).
    pub fn start(budget: u64) -> Result<SharePeer, Error> {
        let endpoint = ipc::endpoint_create()?;
        let calls = endpoint.duplicate(HandleRights::SEND)?;
        let pid = ipc::spawn_with_handles("bin/share-peer", &[], budget, &[ipc::moved_with(endpoint, HandleRights::RECEIVE)])?;
        Ok(SharePeer { calls, pid })
    }

    /// Operation `op` with `arguments` (and the handles `transfers` name),
    /// as `bin/share-peer` documents them.
    pub fn call(&self, op: u8, arguments: &[u64], transfers: &[HandleTransfer]) -> Result<Answer, Error> {
        let mut bytes = Vec::with_capacity(1 + 8 * arguments.len());
        bytes.push(op);
        for argument in arguments {
            bytes.extend_from_slice(&argument.to_le_bytes());
        }
        let answer = ipc::call_endpoint(self.calls, &bytes, transfers)?;
        let words: Vec<u64> = answer.data().as_chunks::<8>().0.iter().map(|chunk| u64::from_le_bytes(*chunk)).collect();
        let status = match words.first().copied().map(|word| word as i64) {
            Some(code) if code < 0 => Err(Error::from_code(-code).unwrap_or(Error::InvalidArgument)),
            Some(value) => Ok(value as u64),
            None => Err(Error::InvalidArgument),
        };
        Ok((status, words.get(1..).map(<[u64]>::to_vec).unwrap_or_default(), answer))
    }

    /// Operation `op`'s first word after the status, or its error.
    pub fn value(&self, op: u8, arguments: &[u64], transfers: &[HandleTransfer]) -> Result<u64, Error> {
        let (status, words, _) = self.call(op, arguments, transfers)?;
        status.map(|_| words.first().copied().unwrap_or(0))
    }

    /// Maps `grant` (moved to it) with `rights` (operation 1): the view's
    /// id and address.
    pub fn map(&self, grant: Handle, rights: abi::Rights) -> Result<(u64, u64), Error> {
        let (status, words, _) = self.call(1, &[u64::from(rights.bits()), 0], &[ipc::moved(grant)])?;
        status?;
        Ok((words[0], words[1]))
    }

    /// Reads the word at `offset` of its view (operation 3).
    pub fn read(&self, offset: u64) -> Result<u64, Error> {
        self.value(3, &[offset], &[])
    }

    /// Writes `value` at `offset` of its view (operation 2).
    pub fn write(&self, offset: u64, value: u64) -> Result<(), Error> {
        self.call(2, &[offset, value], &[])?.0.map(|_| ())
    }

    /// Ends it (its caller goes: it exits) and says how it ended.
    pub fn end(self) -> Option<ExitReason> {
        let _ = self.calls.close();
        runtime::sys::wait(self.pid).ok().and_then(|status| status.reason())
    }
}
