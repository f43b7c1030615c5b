//! The sharing system calls' backends: grants made, re-granted, mapped
//! and revoked on behalf of the running process, and its partitions' ACLs
//! read. The words of a `GrantSpec` are decoded into types first (an
//! identity, rights, a page range: bad input is a typed `abi::Error`
//! before anything changes); the ACL and the VASS decide
//! (`share::registry`); a grant travels as an IPC handle
//! (`ipc::calls::insert_grant`, `abi::ipc::GRANT_RIGHTS`).
//!
//! Locks are taken one after the other, never nested across the IPC
//! registry: a handle is resolved to its grant first (the IPC lock), then
//! the process table and the memory service are locked for the operation.
//! A grant whose handle cannot be made (the handle table is full) is
//! revoked again: nothing of a failed call stays behind.

use crate::history::{Change, Event};
use crate::ipc;
use crate::memory;
use crate::share::acl::{self, Caller, Identity};
use crate::share::registry::{GrantRef, Through};
use crate::vass::{PartitionId, PartitionKind, SpaceId};
use abi::ipc::GRANT_RIGHTS;
use abi::{AclEntry, Error, GrantSpec, HandleRights, Rights};
use alloc::vec::Vec;
use super::memory::PAGE_SIZE;
use super::partition_calls::{requested_page, HEAP_WINDOW};
use super::table::*;

/// Who the running process is to an ACL.
fn caller(process: &Process, pid: Pid) -> Caller {
    Caller { pid, program: process.shaping.identity }
}

/// Whether `rights` is a set a grant or a mapping may name: not empty,
/// and writing or executing only with reading (a page table cannot map a
/// page writable or executable but unreadable).
fn page_rights_valid(rights: Rights) -> bool {
    !rights.is_empty() && (rights.contains(Rights::READ) || !rights.intersects(Rights::WRITE | Rights::EXECUTE))
}

/// What a `GrantSpec` asks for, decoded: the identity (`table` tells
/// whether a pid names a live process), the rights and the page range.
fn decode(spec: &GrantSpec, table: &ProcessTable, own_program: u64) -> Result<(Identity, Rights, acl::PageRange), Error> {
    let identity = match spec.identity_kind {
        GrantSpec::PROCESS if table.processes.contains_key(&spec.identity) => Identity::Process(spec.identity),
        // Pids are never reused: a grant to one that is not running could
        // never be used.
        GrantSpec::PROCESS => return Err(Error::NotFound),
        GrantSpec::PROGRAM if spec.identity == 0 => Identity::Program(own_program),
        GrantSpec::PROGRAM => Identity::Program(spec.identity),
        _ => return Err(Error::InvalidArgument),
    };
    let rights = u32::try_from(spec.rights).ok().and_then(Rights::from_bits).filter(|&rights| page_rights_valid(rights)).ok_or(Error::InvalidArgument)?;
    if spec.length == 0 || !spec.offset.is_multiple_of(PAGE_SIZE) || !spec.length.is_multiple_of(PAGE_SIZE) {
        return Err(Error::InvalidArgument);
    }
    let start = spec.offset / PAGE_SIZE;
    let end = start.checked_add(spec.length / PAGE_SIZE).ok_or(Error::InvalidArgument)?;
    Ok((identity, rights, acl::PageRange { start, end }))
}

/// Makes the grant `spec` describes on the authority of `through` and
/// gives the caller a handle to it.
fn grant(through: impl FnOnce(Pid) -> Result<Through, Error>, spec: &GrantSpec) -> Result<u64, Error> {
    let pid = current_pid().ok_or(Error::InvalidArgument)?;
    let through = through(pid)?;
    let made = {
        let table = TABLE.lock();
        let process = table.processes.get(&pid).ok_or(Error::InvalidArgument)?;
        let who = caller(process, pid);
        let (identity, rights, range) = decode(spec, &table, who.program)?;
        let mut memory = memory::lock();
        let space = memory.space(SpaceId(pid)).ok_or(Error::InvalidArgument)?;
        (space.shares.grant(space.vass, who, through, identity, rights, range)?, who)
    };
    let (made, who) = made;
    match ipc::calls::insert_grant(pid, made, GRANT_RIGHTS) {
        Ok(handle) => Ok(handle),
        Err(error) => {
            let mut memory = memory::lock();
            if let Some(mut space) = memory.space(SpaceId(pid)) {
                let crate::memory::Space { vass, shares, tables, frames, .. } = &mut space;
                let _ = shares.revoke(vass, tables, frames, who, made);
            }
            Err(error)
        }
    }
}

/// `grant_create`: the owner of `partition` grants what `spec` says.
pub fn grant_create(partition: PartitionId, spec: &GrantSpec) -> Result<u64, Error> {
    grant(|_| Ok(Through::Owner(partition)), spec)
}

/// `grant_derive`: a re-grant through the grant `handle` names.
pub fn grant_derive(handle: u64, spec: &GrantSpec) -> Result<u64, Error> {
    grant(|pid| Ok(Through::Grant(ipc::calls::grant_of(pid, handle, HandleRights::empty())?)), spec)
}

/// `grant_map`: maps the grant `handle` names (with `MAP`) into the
/// caller's space with `rights`, at `at` (0: wherever it fits); with
/// `GRANT_MAP_COPY_ON_WRITE` in `flags`, a private snapshot. Returns the
/// view's id and address.
pub fn grant_map(handle: u64, rights: u64, at: u64, flags: u64) -> Result<(PartitionId, u64), Error> {
    let private = match flags {
        0 => false,
        abi::GRANT_MAP_COPY_ON_WRITE => true,
        _ => return Err(Error::InvalidArgument),
    };
    let rights = u32::try_from(rights)
        .ok()
        .and_then(Rights::from_bits)
        .filter(|&rights| page_rights_valid(rights) && rights.contains(Rights::READ) && !rights.contains(Rights::GRANT))
        .ok_or(Error::InvalidArgument)?;
    let at = requested_page(at)?;
    let pid = current_pid().ok_or(Error::InvalidArgument)?;
    let grant: GrantRef = ipc::calls::grant_of(pid, handle, HandleRights::MAP)?;
    let mut table = TABLE.lock();
    let mut memory = memory::lock();
    let (process, mut space) = own(&mut table, &mut memory)?;
    let who = caller(process, pid);
    let crate::memory::Space { vass, shares, tables, frames, .. } = &mut space;
    let (view, range) = shares.map(vass, tables, frames, who, grant, rights, at, HEAP_WINDOW, private)?;
    process.history.record(Event::Partition { partition: view, change: Change::Created, range, kind: PartitionKind::Shared.code() });
    Ok((view, range.start * PAGE_SIZE))
}

/// `grant_revoke`: revokes the grant `handle` names and every grant made
/// from it. Returns how many views were revoked.
pub fn grant_revoke(handle: u64) -> Result<u64, Error> {
    let pid = current_pid().ok_or(Error::InvalidArgument)?;
    let grant = ipc::calls::grant_of(pid, handle, HandleRights::empty())?;
    let mut table = TABLE.lock();
    let mut memory = memory::lock();
    let (process, mut space) = own(&mut table, &mut memory)?;
    let who = caller(process, pid);
    // The views revoked are other processes' (or the caller's own).
    space.check_over(Some(crate::vass::Scope::Full));
    let crate::memory::Space { vass, shares, tables, frames, .. } = &mut space;
    Ok(shares.revoke(vass, tables, frames, who, grant)? as u64)
}

/// `acl_read`: the ACL of `partition`, which the caller owns.
pub fn acl_read(partition: PartitionId) -> Result<Vec<AclEntry>, Error> {
    let pid = current_pid().ok_or(Error::InvalidArgument)?;
    let table = TABLE.lock();
    let process = table.processes.get(&pid).ok_or(Error::InvalidArgument)?;
    let who = caller(process, pid);
    let memory = memory::lock_untimed();
    let rows = memory.shares().rows(&memory, who, partition)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let (identity_kind, identity) = match row.identity {
                Identity::Process(pid) => (GrantSpec::PROCESS, pid),
                Identity::Program(hash) => (GrantSpec::PROGRAM, hash),
            };
            AclEntry {
                grant: row.grant.0,
                identity_kind,
                identity,
                rights: u64::from(row.rights.bits()),
                effective: u64::from(row.effective.bits()),
                offset: row.range.start * PAGE_SIZE,
                length: row.range.pages() * PAGE_SIZE,
                granted_by: row.granted_by.map_or(0, |grant| grant.0),
                granted_by_pid: row.granted_by_pid,
                mappings: row.mappings,
            }
        })
        .collect())
}
