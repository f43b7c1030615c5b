//! A process's memory regions: what it may touch, with which rights, and
//! whether pages are committed up front or on first touch.
//!
//! The kernel checks every user pointer against this map before copying,
//! commits demand pages from it in the page-fault handler, and uses it to
//! name the fault that kills a process. Pure bookkeeping: tested on the host.

#![forbid(unsafe_code)]

use crate::mm::layout;
use abi::{Error, FaultKind, Rights};
use alloc::vec::Vec;

/// Bytes per page.
pub const PAGE_SIZE: u64 = 4096;

/// What a region holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    /// A segment of the program image.
    Image,
    /// The user stack.
    Stack,
}

/// A page-aligned range of a process's address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First address (page aligned).
    pub start: u64,
    /// One past the last address (page aligned).
    pub end: u64,
    /// What the process may do there.
    pub rights: Rights,
    /// What it holds.
    pub kind: RegionKind,
    /// Pages are committed on first touch rather than up front.
    pub on_demand: bool,
}

impl Region {
    /// Whether `address` is inside.
    pub fn contains(&self, address: u64) -> bool {
        self.start <= address && address < self.end
    }

    /// Number of pages.
    pub fn pages(&self) -> u64 {
        (self.end - self.start) / PAGE_SIZE
    }
}

/// Why a region could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionError {
    /// Start or end is not page aligned, or the region is empty.
    Misaligned,
    /// The region leaves user space.
    OutsideUserSpace,
    /// It overlaps an existing region.
    Overlap,
}

/// A range of user memory named by a process: only an allegation until it
/// is checked against that process's regions ([`UserSlice::check`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserSlice {
    address: u64,
    length: u64,
}

/// A user range checked against a process's regions for some rights. Only
/// [`UserSlice::check`] makes one, and only these are copied to or from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckedUserSlice {
    address: u64,
    length: u64,
}

impl UserSlice {
    /// The range `[address, address + length)` as the process named it.
    pub fn new(address: u64, length: u64) -> UserSlice {
        UserSlice { address, length }
    }

    /// Requires the start to be aligned to `align` (for structures).
    pub fn aligned(self, align: u64) -> Result<UserSlice, Error> {
        if self.address.is_multiple_of(align) { Ok(self) } else { Err(Error::BadAddress) }
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.length
    }

    /// Whether the range is empty.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Checks the range with another authority (the VASS): `grants(address,
    /// length)` says whether the process may access it.
    pub fn check_against(self, grants: impl FnOnce(u64, u64) -> bool) -> Result<CheckedUserSlice, Error> {
        if grants(self.address, self.length) {
            Ok(CheckedUserSlice { address: self.address, length: self.length })
        } else {
            Err(Error::BadAddress)
        }
    }

    /// Checks the range against `regions` for `needed` rights.
    pub fn check(self, regions: &RegionMap, needed: Rights) -> Result<CheckedUserSlice, Error> {
        regions.check_range(self.address, self.length, needed)?;
        Ok(CheckedUserSlice { address: self.address, length: self.length })
    }
}

impl CheckedUserSlice {
    /// First address.
    pub fn address(&self) -> u64 {
        self.address
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.length
    }

    /// Whether the range is empty.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }
}

/// The regions of one process, sorted by address and disjoint.
#[derive(Clone, Debug, Default)]
pub struct RegionMap {
    regions: Vec<Region>,
}

/// How a process touched memory (shared with the VASS core).
pub use crate::vass::Access;

impl RegionMap {
    /// An empty map.
    pub fn new() -> RegionMap {
        RegionMap::default()
    }

    /// The regions in address order.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// Adds a region.
    pub fn insert(&mut self, region: Region) -> Result<(), RegionError> {
        if region.start >= region.end || !region.start.is_multiple_of(PAGE_SIZE) || !region.end.is_multiple_of(PAGE_SIZE) {
            return Err(RegionError::Misaligned);
        }
        if !layout::USER.contains(region.start) || region.end > layout::USER.end {
            return Err(RegionError::OutsideUserSpace);
        }
        let index = self.regions.partition_point(|existing| existing.start < region.start);
        let overlaps_previous = index > 0 && self.regions[index - 1].end > region.start;
        let overlaps_next = self.regions.get(index).is_some_and(|next| next.start < region.end);
        if overlaps_previous || overlaps_next {
            return Err(RegionError::Overlap);
        }
        self.regions.insert(index, region);
        Ok(())
    }

    /// The region containing `address`.
    pub fn find(&self, address: u64) -> Option<&Region> {
        let index = self.regions.partition_point(|region| region.end <= address);
        self.regions.get(index).filter(|region| region.contains(address))
    }

    /// Checks that `[start, start + length)` lies entirely in regions that
    /// grant `needed`. An empty range is always valid (and touches nothing).
    pub fn check_range(&self, start: u64, length: u64, needed: Rights) -> Result<(), Error> {
        if length == 0 {
            return Ok(());
        }
        let end = start.checked_add(length).ok_or(Error::BadAddress)?;
        let mut cursor = start;
        while cursor < end {
            let region = self.find(cursor).ok_or(Error::BadAddress)?;
            if !region.rights.contains(needed) {
                return Err(Error::BadAddress);
            }
            cursor = region.end;
        }
        Ok(())
    }

    /// Whether a page fault at `address` can be resolved by committing a
    /// fresh page: the address is in a demand region that allows `access`,
    /// and the page was not present.
    pub fn demand_region(&self, address: u64, access: Access, page_present: bool) -> Option<&Region> {
        if page_present {
            return None;
        }
        self.find(address).filter(|region| region.on_demand && region.rights.contains(access.right()))
    }

    /// Names the fault that kills a process after an unresolved page fault.
    pub fn classify_page_fault(&self, address: u64, access: Access, page_present: bool) -> FaultKind {
        if address < PAGE_SIZE {
            return FaultKind::NullDereference;
        }
        let stack_bottom = self.regions.iter().find(|r| r.kind == RegionKind::Stack).map(|r| r.start);
        if let Some(bottom) = stack_bottom
            && layout::USER_STACK.contains(address)
            && address < bottom
        {
            return FaultKind::StackOverflow;
        }
        match (self.find(address), access) {
            (None, _) => FaultKind::UnmappedAccess,
            (Some(_), Access::Write) => FaultKind::WriteToReadOnly,
            (Some(_), Access::Execute) => FaultKind::ExecuteNonExecutable,
            (Some(_), Access::Read) if page_present => FaultKind::OtherException,
            (Some(_), Access::Read) => FaultKind::UnmappedAccess,
        }
    }
}

/// Maps a CPU exception vector (other than page faults) to a fault kind.
pub fn classify_exception(vector: u8) -> FaultKind {
    match vector {
        0 => FaultKind::DivideError,
        6 => FaultKind::InvalidOpcode,
        13 => FaultKind::GeneralProtection,
        _ => FaultKind::OtherException,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(start: u64, end: u64, rights: Rights, kind: RegionKind) -> Region {
        Region { start, end, rights, kind, on_demand: kind != RegionKind::Image }
    }

    fn sample() -> RegionMap {
        let mut map = RegionMap::new();
        map.insert(region(0x40_0000, 0x40_1000, Rights::READ, RegionKind::Image)).unwrap();
        map.insert(region(0x40_1000, 0x40_3000, Rights::READ | Rights::EXECUTE, RegionKind::Image)).unwrap();
        map.insert(region(0x40_3000, 0x40_4000, Rights::READ | Rights::WRITE, RegionKind::Image)).unwrap();
        let stack_top = layout::USER_STACK.end;
        map.insert(region(stack_top - 0x10_0000, stack_top, Rights::READ | Rights::WRITE, RegionKind::Stack)).unwrap();
        map
    }

    #[test]
    fn regions_must_be_aligned_disjoint_and_in_user_space() {
        let mut map = sample();
        let rw = Rights::READ | Rights::WRITE;
        assert_eq!(map.insert(region(0x40_0800, 0x40_1000, rw, RegionKind::Image)), Err(RegionError::Misaligned));
        assert_eq!(map.insert(region(0x40_2000, 0x40_2000, rw, RegionKind::Image)), Err(RegionError::Misaligned));
        assert_eq!(map.insert(region(0x40_2000, 0x40_5000, rw, RegionKind::Image)), Err(RegionError::Overlap));
        assert_eq!(map.insert(region(0x3f_f000, 0x40_1000, rw, RegionKind::Image)), Err(RegionError::Overlap));
        let kernel = 0xffff_8000_0000_0000;
        assert_eq!(map.insert(region(kernel, kernel + 0x1000, rw, RegionKind::Image)), Err(RegionError::OutsideUserSpace));
        assert_eq!(
            map.insert(region(layout::USER.end - 0x1000, layout::USER.end + 0x1000, rw, RegionKind::Image)),
            Err(RegionError::OutsideUserSpace)
        );
        assert_eq!(map.regions().len(), 4);
    }

    #[test]
    fn range_checks_follow_regions_and_rights() {
        let map = sample();
        assert_eq!(map.check_range(0x40_0000, 0x1000, Rights::READ), Ok(()));
        assert_eq!(map.check_range(0x40_0ff0, 0x20, Rights::READ), Ok(()), "spans two regions");
        assert_eq!(map.check_range(0x40_0000, 0x1000, Rights::WRITE), Err(Error::BadAddress));
        assert_eq!(map.check_range(0x40_3ff0, 0x20, Rights::READ), Err(Error::BadAddress), "runs off the end");
        assert_eq!(map.check_range(0, 8, Rights::READ), Err(Error::BadAddress));
        assert_eq!(map.check_range(u64::MAX - 4, 16, Rights::READ), Err(Error::BadAddress));
        assert_eq!(map.check_range(0xffff_8000_0000_0000, 8, Rights::READ), Err(Error::BadAddress));
        assert_eq!(map.check_range(0, 0, Rights::WRITE), Ok(()), "empty ranges touch nothing");
    }

    #[test]
    fn user_slices_must_be_checked_and_aligned() {
        let map = sample();
        let slice = UserSlice::new(0x40_3008, 16);
        let checked = slice.check(&map, Rights::WRITE).unwrap();
        assert_eq!((checked.address(), checked.len()), (0x40_3008, 16));
        assert_eq!(slice.aligned(8), Ok(slice));
        assert_eq!(UserSlice::new(0x40_3004, 8).aligned(8), Err(Error::BadAddress));
        assert_eq!(UserSlice::new(0x40_1000, 8).check(&map, Rights::WRITE), Err(Error::BadAddress));
        assert_eq!(UserSlice::new(0, 0).check(&map, Rights::WRITE).map(|c| c.is_empty()), Ok(true));
        assert_eq!(UserSlice::new(0x5000, 8).check_against(|a, l| a == 0x5000 && l == 8).map(|c| c.len()), Ok(8));
        assert_eq!(UserSlice::new(0x5000, 8).check_against(|_, _| false), Err(Error::BadAddress));
    }

    #[test]
    fn demand_paging_needs_a_demand_region_with_the_right() {
        let map = sample();
        let stack = layout::USER_STACK.end - 0x100;
        assert!(map.demand_region(stack, Access::Write, false).is_some());
        assert!(map.demand_region(stack, Access::Write, true).is_none(), "present pages are not re-committed");
        assert!(map.demand_region(stack, Access::Execute, false).is_none());
        assert!(map.demand_region(0x40_0000, Access::Read, false).is_none(), "image pages are eager");
        assert!(map.demand_region(0x1000_0000, Access::Read, false).is_none());
    }

    #[test]
    fn faults_are_named_by_address_and_access() {
        let map = sample();
        let stack_bottom = layout::USER_STACK.end - 0x10_0000;
        assert_eq!(map.classify_page_fault(0, Access::Read, false), FaultKind::NullDereference);
        assert_eq!(map.classify_page_fault(0x8, Access::Write, false), FaultKind::NullDereference);
        assert_eq!(map.classify_page_fault(stack_bottom - 8, Access::Write, false), FaultKind::StackOverflow);
        assert_eq!(map.classify_page_fault(0x40_1010, Access::Write, true), FaultKind::WriteToReadOnly);
        assert_eq!(map.classify_page_fault(0x40_3010, Access::Execute, true), FaultKind::ExecuteNonExecutable);
        assert_eq!(map.classify_page_fault(0x5000_0000, Access::Read, false), FaultKind::UnmappedAccess);
        assert_eq!(map.classify_page_fault(0xffff_ffff_8000_0000, Access::Read, true), FaultKind::UnmappedAccess);
        assert_eq!(classify_exception(0), FaultKind::DivideError);
        assert_eq!(classify_exception(6), FaultKind::InvalidOpcode);
        assert_eq!(classify_exception(13), FaultKind::GeneralProtection);
        assert_eq!(classify_exception(17), FaultKind::OtherException);
    }
}
