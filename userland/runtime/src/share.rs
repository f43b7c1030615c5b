//! Sharing partitions (see `abi::Syscall::GrantCreate` and what follows):
//! typed wrappers over the grant and ACL system calls. A grant is named by
//! an IPC handle ([`Handle`]) and travels in messages like any other.
//!
//! ```no_run
//! use abi::{PartitionKind, Rights};
//! use runtime::{ipc, share, sys};
//! let ring = sys::partition_create(64 * 1024, PartitionKind::Shared, Rights::READ | Rights::WRITE)?;
//! let grant = share::grant_create(ring.id, share::Identity::Process(7), Rights::READ, 0, 64 * 1024)?;
//! // ... send `ipc::moved(grant)` to process 7, which calls:
//! let view = share::grant_map(grant, Rights::READ, 0)?;
//! # Ok::<(), abi::Error>(())
//! ```

use crate::ipc::Handle;
use crate::sys::{call, Partition};
use abi::{AclEntry, Error, GrantSpec, Rights, Syscall};
use alloc::vec;
use alloc::vec::Vec;

pub use abi::ipc::GRANT_RIGHTS;

/// Whom a grant is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    /// One process, by pid (pids are never reused).
    Process(u64),
    /// Every instance of the program whose ELF file has this hash.
    Program(u64),
    /// Every instance of the caller's own program.
    OwnProgram,
}

fn spec(identity: Identity, rights: Rights, offset: u64, length: u64) -> GrantSpec {
    let (identity_kind, identity) = match identity {
        Identity::Process(pid) => (GrantSpec::PROCESS, pid),
        Identity::Program(hash) => (GrantSpec::PROGRAM, hash),
        Identity::OwnProgram => (GrantSpec::PROGRAM, 0),
    };
    GrantSpec { identity_kind, identity, rights: u64::from(rights.bits()), offset, length }
}

/// Grants `identity` `rights` over bytes `[offset, offset + length)` (page
/// aligned) of partition `partition`, which the caller owns.
pub fn grant_create(partition: u64, identity: Identity, rights: Rights, offset: u64, length: u64) -> Result<Handle, Error> {
    let words = spec(identity, rights, offset, length).to_words();
    call(Syscall::GrantCreate, [partition, words.as_ptr() as u64, 0, 0, 0, 0]).map(Handle)
}

/// Re-grants through `grant` (held with `Rights::GRANT`): at most its
/// rights, within its range (offsets into the partition).
pub fn grant_derive(grant: Handle, identity: Identity, rights: Rights, offset: u64, length: u64) -> Result<Handle, Error> {
    let words = spec(identity, rights, offset, length).to_words();
    call(Syscall::GrantDerive, [grant.raw(), words.as_ptr() as u64, 0, 0, 0, 0]).map(Handle)
}

/// Maps `grant` into this process at `at` (0: wherever it fits) with
/// `rights`: a partition of kind shared.
pub fn grant_map(grant: Handle, rights: Rights, at: u64) -> Result<Partition, Error> {
    let mut base = 0u64;
    let id = call(Syscall::GrantMap, [grant.raw(), u64::from(rights.bits()), at, &raw mut base as u64, 0, 0])?;
    Ok(Partition { id, base })
}

/// Maps `grant` as a private, copy-on-write snapshot of what it covers,
/// writable with `rights` (the writes are this process's own).
pub fn grant_map_private(grant: Handle, rights: Rights, at: u64) -> Result<Partition, Error> {
    let mut base = 0u64;
    let id = call(Syscall::GrantMap, [grant.raw(), u64::from(rights.bits()), at, &raw mut base as u64, abi::GRANT_MAP_COPY_ON_WRITE, 0])?;
    Ok(Partition { id, base })
}

/// Revokes `grant` and every grant made from it; returns how many views
/// were unmapped.
pub fn grant_revoke(grant: Handle) -> Result<u64, Error> {
    call(Syscall::GrantRevoke, [grant.raw(), 0, 0, 0, 0, 0])
}

/// The ACL of partition `partition` (the caller's own).
pub fn acl_read(partition: u64) -> Result<Vec<AclEntry>, Error> {
    let mut capacity = 8;
    loop {
        let mut words = vec![0u64; capacity * AclEntry::WORDS];
        let count = call(Syscall::AclRead, [partition, words.as_mut_ptr() as u64, capacity as u64, 0, 0, 0])? as usize;
        if count <= capacity {
            return Ok(words.as_chunks::<{ AclEntry::WORDS }>().0.iter().take(count).map(|chunk| AclEntry::from_words(*chunk)).collect());
        }
        capacity = count;
    }
}
