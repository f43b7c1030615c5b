//! Copies between kernel and user memory: each range is checked against
//! the running process's partitions first ([`check_user_slice`]: a
//! `UserSlice` becomes a `CheckedUserSlice` only when the memory service
//! grants the whole range), and the copy itself runs in a user-access
//! (SMAP) window through a probe with a fault fixup, so a fault on the way
//! (a page unmapped meanwhile, or one whose swap copy is lost) becomes
//! `BadAddress` instead of a kernel crash; a lost page also kills the
//! process when its system call returns.

use crate::arch::cpu::UserAccessWindow;
use crate::arch::probe;
use abi::{Error, Rights};
use alloc::vec;
use alloc::vec::Vec;
use super::memory::{CheckedUserSlice, UserSlice, PAGE_SIZE};
use crate::memory;
use super::{table::*, fault::*};
use crate::vass::SpaceId;
/// The error for a kernel copy to or from the running process's memory
/// that faulted: `BadAddress`. If the fault was on a page whose copy in
/// swap is lost, the process is marked to be killed when its system call
/// returns ([`end_syscall`]): not here, where the call still holds memory
/// it must free.
pub(super) fn user_copy_failed(fault: probe::ProbeFault) -> Error {
    let address = fault.address.as_u64();
    let mut table = TABLE.lock();
    if let Some(pid) = current_pid()
        && lost_copy_of(&memory::lock_untimed(), pid, address / PAGE_SIZE).is_some()
        && let Some(process) = table.processes.get_mut(&pid)
    {
        process.lost_page = Some(address);
    }
    Error::BadAddress
}

/// Checks a user range against the running process's partitions; one
/// that reaches into a view whose grant was revoked is `Revoked`.
pub(super) fn check_user_slice(slice: UserSlice, needed: Rights) -> Result<CheckedUserSlice, Error> {
    let pid = current_pid().ok_or(Error::BadAddress)?;
    let memory = memory::lock_untimed();
    slice.check_against(|address, length| memory.grants(SpaceId(pid), address, length, needed)).map_err(|error| {
        if memory.revoked_in(SpaceId(pid), slice.address(), slice.len()) { Error::Revoked } else { error }
    })
}

/// Checks that `slice` is writable memory of the running process (its
/// pages may still have to be committed by the copy).
pub fn check_writable(slice: UserSlice) -> Result<(), Error> {
    check_user_slice(slice, Rights::WRITE).map(|_| ())
}

/// Copies user memory named by the running process into a kernel buffer,
/// after checking it is readable memory of that process.
pub fn copy_from_user(slice: UserSlice) -> Result<Vec<u8>, Error> {
    let checked = check_user_slice(slice, Rights::READ)?;
    let mut buffer = vec![0u8; usize::try_from(checked.len()).map_err(|_| Error::TooLarge)?];
    if !checked.is_empty() {
        let _window = UserAccessWindow::open();
        // No TABLE lock is held here, so demand pages can be committed meanwhile.
        // SAFETY: the source was checked against the process's regions (a fault
        // is still caught by the probe); the destination is our own buffer.
        unsafe { probe::copy(buffer.as_mut_ptr() as u64, checked.address(), checked.len()) }
            .map_err(user_copy_failed)?;
    }
    Ok(buffer)
}

/// Copies user memory named by the running process into `buffer` (as
/// long as the slice), after checking it is readable memory of that
/// process: [`copy_from_user`] without an allocation.
pub fn copy_from_user_into(slice: UserSlice, buffer: &mut [u8]) -> Result<(), Error> {
    if slice.len() != buffer.len() as u64 {
        return Err(Error::InvalidArgument);
    }
    let checked = check_user_slice(slice, Rights::READ)?;
    if !checked.is_empty() {
        let _window = UserAccessWindow::open();
        // SAFETY: as in `copy_from_user`; the destination is the caller's
        // buffer of exactly the checked length.
        unsafe { probe::copy(buffer.as_mut_ptr() as u64, checked.address(), checked.len()) }
            .map_err(user_copy_failed)?;
    }
    Ok(())
}

/// Copies `data` into user memory named by the running process, after
/// checking it is writable memory of that process and exactly `data` long.
pub fn copy_to_user(slice: UserSlice, data: &[u8]) -> Result<(), Error> {
    if slice.len() != data.len() as u64 {
        return Err(Error::InvalidArgument);
    }
    let checked = check_user_slice(slice, Rights::WRITE)?;
    if !checked.is_empty() {
        let _window = UserAccessWindow::open();
        // SAFETY: the destination was checked to be writable memory of the
        // running process; the source is a kernel slice of the same length.
        unsafe { probe::copy(checked.address(), data.as_ptr() as u64, checked.len()) }
            .map_err(user_copy_failed)?;
    }
    Ok(())
}
