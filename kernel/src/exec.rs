//! Executable validation: turns ELF bytes into a checked load plan.
//! (Interim version: being replaced by the complete validator.)

#![forbid(unsafe_code)]

use alloc::vec::Vec;
use core::fmt;
use elf::abi::{EM_X86_64, ET_EXEC, PF_W, PF_X, PT_LOAD};
use elf::endian::AnyEndian;
use elf::ElfBytes;

/// Bytes per page.
pub const PAGE_SIZE: u64 = 4096;

/// One loadable segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentPlan {
    /// p_vaddr.
    pub vaddr: u64,
    /// p_memsz.
    pub mem_size: u64,
    /// p_offset.
    pub file_offset: u64,
    /// p_filesz.
    pub file_size: u64,
    /// PF_W.
    pub writable: bool,
    /// PF_X.
    pub executable: bool,
}

impl SegmentPlan {
    /// Page-rounded start.
    pub fn page_start(&self) -> u64 {
        self.vaddr & !(PAGE_SIZE - 1)
    }
    /// Page-rounded end.
    pub fn page_end(&self) -> u64 {
        (self.vaddr + self.mem_size).next_multiple_of(PAGE_SIZE)
    }
}

/// A checked plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadPlan {
    /// Entry point.
    pub entry: u64,
    /// Segments by address.
    pub segments: Vec<SegmentPlan>,
}

/// Why an executable was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecError {
    /// Not a parsable ELF.
    Malformed,
    /// Not an x86_64 ET_EXEC.
    WrongType,
    /// A segment is out of bounds, W+X, or outside user space.
    BadSegment,
    /// Entry not in an executable segment.
    EntryNotExecutable,
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Validates `bytes` and returns its load plan.
pub fn plan(bytes: &[u8]) -> Result<LoadPlan, ExecError> {
    let file = ElfBytes::<AnyEndian>::minimal_parse(bytes).map_err(|_| ExecError::Malformed)?;
    if file.ehdr.e_type != ET_EXEC || file.ehdr.e_machine != EM_X86_64 {
        return Err(ExecError::WrongType);
    }
    let mut segments = Vec::new();
    for header in file.segments().ok_or(ExecError::Malformed)?.iter().filter(|h| h.p_type == PT_LOAD) {
        let end = header.p_offset.checked_add(header.p_filesz).ok_or(ExecError::BadSegment)?;
        let mem_end = header.p_vaddr.checked_add(header.p_memsz).ok_or(ExecError::BadSegment)?;
        let writable = header.p_flags & PF_W != 0;
        let executable = header.p_flags & PF_X != 0;
        if end > bytes.len() as u64
            || header.p_filesz > header.p_memsz
            || (writable && executable)
            || !crate::mm::layout::USER_IMAGE.contains(header.p_vaddr)
            || mem_end > crate::mm::layout::USER_IMAGE.end
        {
            return Err(ExecError::BadSegment);
        }
        segments.push(SegmentPlan {
            vaddr: header.p_vaddr,
            mem_size: header.p_memsz,
            file_offset: header.p_offset,
            file_size: header.p_filesz,
            writable,
            executable,
        });
    }
    segments.sort_by_key(|s| s.vaddr);
    let entry = file.ehdr.e_entry;
    if !segments.iter().any(|s| s.executable && s.vaddr <= entry && entry < s.vaddr + s.mem_size) {
        return Err(ExecError::EntryNotExecutable);
    }
    Ok(LoadPlan { entry, segments })
}
