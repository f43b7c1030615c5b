//! User pointers and fault names: a pointer a process passes is only an
//! allegation ([`UserSlice`]) until the VASS says the process's partitions
//! grant it ([`CheckedUserSlice`]), and a page fault the VASS cannot
//! resolve is named from what the VASS knows about the address. Pure
//! bookkeeping: tested on the host.

#![forbid(unsafe_code)]

use crate::mm::layout;
use abi::{Error, FaultKind, Rights};

pub use abi::PAGE_SIZE;

/// A range of user memory named by a process: only an allegation until it
/// is checked against that process's partitions ([`UserSlice::check_against`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserSlice {
    address: u64,
    length: u64,
}

/// A user range checked against a process's partitions for some rights.
/// Only [`UserSlice::check_against`] makes one, and only these are copied
/// to or from.
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

    /// First address, as named (not checked).
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

    /// Checks the range with another authority (the VASS): `grants(address,
    /// length)` says whether the process may access it.
    pub fn check_against(self, grants: impl FnOnce(u64, u64) -> bool) -> Result<CheckedUserSlice, Error> {
        if grants(self.address, self.length) {
            Ok(CheckedUserSlice { address: self.address, length: self.length })
        } else {
            Err(Error::BadAddress)
        }
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

/// How a process touched memory (shared with the VASS core).
pub use crate::vass::Access;

/// Names the fault that kills a process after a page fault the VASS could
/// not resolve. `granted` is the rights of the partition at `address`
/// (`None`: no partition there); `stack_bottom` is the lowest address of
/// the process's stack partition.
pub fn classify_page_fault(
    address: u64,
    access: Access,
    page_present: bool,
    granted: Option<Rights>,
    stack_bottom: Option<u64>,
) -> FaultKind {
    if address < PAGE_SIZE {
        return FaultKind::NullDereference;
    }
    if let Some(bottom) = stack_bottom
        && layout::USER_STACK.contains(address)
        && address < bottom
    {
        return FaultKind::StackOverflow;
    }
    match (granted, access) {
        (None, _) => FaultKind::UnmappedAccess,
        (Some(rights), _) if rights.contains(access.right()) && !page_present => FaultKind::OutOfMemory,
        (Some(_), Access::Write) => FaultKind::WriteToReadOnly,
        (Some(_), Access::Execute) => FaultKind::ExecuteNonExecutable,
        (Some(_), Access::Read) if page_present => FaultKind::OtherException,
        (Some(_), Access::Read) => FaultKind::UnmappedAccess,
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

    #[test]
    fn user_slices_are_checked_by_an_authority_and_aligned() {
        let slice = UserSlice::new(0x40_3008, 16);
        let checked = slice.check_against(|a, l| a == 0x40_3008 && l == 16).unwrap();
        assert_eq!((checked.address(), checked.len()), (0x40_3008, 16));
        assert_eq!(slice.aligned(8), Ok(slice));
        assert_eq!(UserSlice::new(0x40_3004, 8).aligned(8), Err(Error::BadAddress));
        assert_eq!(UserSlice::new(0x5000, 8).check_against(|_, _| false), Err(Error::BadAddress));
        assert_eq!(UserSlice::new(0, 0).check_against(|_, l| l == 0).map(|c| c.is_empty()), Ok(true));
    }

    #[test]
    fn faults_are_named_by_address_access_and_partition() {
        let stack_bottom = layout::USER_STACK.end - 0x10_0000;
        let code = Some(Rights::READ | Rights::EXECUTE);
        let data = Some(Rights::READ | Rights::WRITE);
        let classify = |address, access, present, granted| classify_page_fault(address, access, present, granted, Some(stack_bottom));
        assert_eq!(classify(0, Access::Read, false, None), FaultKind::NullDereference);
        assert_eq!(classify(0x8, Access::Write, false, None), FaultKind::NullDereference);
        assert_eq!(classify(stack_bottom - 8, Access::Write, false, None), FaultKind::StackOverflow);
        assert_eq!(classify(stack_bottom - 8, Access::Write, false, data), FaultKind::StackOverflow);
        assert_eq!(classify(0x40_1010, Access::Write, true, code), FaultKind::WriteToReadOnly);
        assert_eq!(classify(0x40_1010, Access::Write, false, code), FaultKind::WriteToReadOnly);
        assert_eq!(classify(0x40_3010, Access::Execute, true, data), FaultKind::ExecuteNonExecutable);
        assert_eq!(classify(0x40_3010, Access::Write, false, data), FaultKind::OutOfMemory, "allowed but not committed");
        assert_eq!(classify(0x40_3010, Access::Read, true, Some(Rights::WRITE)), FaultKind::OtherException);
        assert_eq!(classify(0x5000_0000, Access::Read, false, None), FaultKind::UnmappedAccess);
        assert_eq!(classify(0xffff_ffff_8000_0000, Access::Read, true, None), FaultKind::UnmappedAccess);
        assert_eq!(classify_page_fault(0x7fff_0000_1000, Access::Read, false, None, None), FaultKind::UnmappedAccess);
        assert_eq!(classify_exception(0), FaultKind::DivideError);
        assert_eq!(classify_exception(6), FaultKind::InvalidOpcode);
        assert_eq!(classify_exception(13), FaultKind::GeneralProtection);
        assert_eq!(classify_exception(17), FaultKind::OtherException);
    }
}
