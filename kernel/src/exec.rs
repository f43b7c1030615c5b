//! Executable validation: turns the bytes of an ELF file into a checked
//! load plan, or names exactly what is wrong with it.
//!
//! Parsing uses the `elf` crate; the checks on top are the kernel's rules:
//! a statically linked x86_64 `ET_EXEC` (user programs are linked `-no-pie`
//! at 0x400000, so position-independent `ET_DYN` files are refused), at most
//! [`MAX_SEGMENTS`] loadable segments, each inside the file and inside the
//! user image region, none writable and executable, no two sharing a page,
//! and an entry point inside an executable segment. Checks run in a fixed
//! order, so each malformed file maps to one deterministic error.

#![forbid(unsafe_code)]

use crate::mm::layout::USER_IMAGE;
use alloc::vec::Vec;
use core::fmt;
use elf::abi::{EM_X86_64, ET_EXEC, PF_W, PF_X, PT_DYNAMIC, PT_INTERP, PT_LOAD};
use elf::endian::AnyEndian;
use elf::ElfBytes;

pub use abi::PAGE_SIZE;
/// Largest executable accepted.
pub const MAX_FILE_SIZE: usize = 64 << 20;
/// Most loadable segments accepted.
pub const MAX_SEGMENTS: usize = 16;

const ELF_HEADER_SIZE: usize = 64;
const PROGRAM_HEADER_SIZE: u64 = 56;

/// One loadable segment of a checked executable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentPlan {
    /// Where the segment starts in memory (`p_vaddr`).
    pub vaddr: u64,
    /// Its size in memory (`p_memsz`).
    pub mem_size: u64,
    /// Where its bytes start in the file (`p_offset`).
    pub file_offset: u64,
    /// How many bytes come from the file (`p_filesz`); the rest is zero.
    pub file_size: u64,
    /// Mapped writable.
    pub writable: bool,
    /// Mapped executable.
    pub executable: bool,
}

impl SegmentPlan {
    /// First address of the page-rounded mapping.
    pub fn page_start(&self) -> u64 {
        self.vaddr & !(PAGE_SIZE - 1)
    }

    /// One past the last address of the page-rounded mapping.
    pub fn page_end(&self) -> u64 {
        (self.vaddr + self.mem_size).next_multiple_of(PAGE_SIZE)
    }
}

/// A checked executable: where to start and what to map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadPlan {
    /// The entry point.
    pub entry: u64,
    /// Loadable segments, sorted by address.
    pub segments: Vec<SegmentPlan>,
}

/// Everything that can be wrong with an executable. `index` is the
/// segment's position in the program header table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecError {
    /// Larger than [`MAX_FILE_SIZE`].
    TooLarge,
    /// Shorter than an ELF header, or the program header table runs past the end.
    Truncated,
    /// Does not start with the ELF magic.
    NotElf,
    /// Not a 64-bit ELF.
    Not64Bit,
    /// Not little-endian.
    NotLittleEndian,
    /// Unknown ELF version.
    BadVersion,
    /// Not for x86_64.
    WrongMachine,
    /// Not `ET_EXEC` (position-independent and dynamically linked programs are not supported).
    WrongType,
    /// The headers cannot be parsed.
    Malformed,
    /// No loadable segment.
    NoSegments,
    /// More than [`MAX_SEGMENTS`] loadable segments.
    TooManySegments,
    /// The segment's file bytes overflow or lie past the end of the file.
    SegmentFileRange {
        /// Segment index.
        index: usize,
    },
    /// More file bytes than memory bytes.
    FileSizeExceedsMemSize {
        /// Segment index.
        index: usize,
    },
    /// Alignment not a power of two, or address and offset disagree modulo it.
    BadAlignment {
        /// Segment index.
        index: usize,
    },
    /// The segment leaves the user image region (or wraps around).
    OutsideUserSpace {
        /// Segment index.
        index: usize,
    },
    /// The segment is both writable and executable.
    WritableAndExecutable {
        /// Segment index.
        index: usize,
    },
    /// Two segments share a page.
    Overlap {
        /// The earlier segment's index.
        first: usize,
        /// The later segment's index.
        second: usize,
    },
    /// The entry point is not inside an executable segment.
    EntryNotExecutable,
    /// A segment with no memory.
    EmptySegment {
        /// Segment index.
        index: usize,
    },
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::TooLarge => write!(f, "file larger than {MAX_FILE_SIZE} bytes"),
            ExecError::Truncated => write!(f, "file truncated"),
            ExecError::NotElf => write!(f, "not an ELF file"),
            ExecError::Not64Bit => write!(f, "not a 64-bit ELF file"),
            ExecError::NotLittleEndian => write!(f, "not little-endian"),
            ExecError::BadVersion => write!(f, "unknown ELF version"),
            ExecError::WrongMachine => write!(f, "not an x86_64 executable"),
            ExecError::WrongType => write!(f, "not a static ET_EXEC executable (no PIE, no dynamic linking)"),
            ExecError::Malformed => write!(f, "malformed ELF headers"),
            ExecError::NoSegments => write!(f, "no loadable segment"),
            ExecError::TooManySegments => write!(f, "more than {MAX_SEGMENTS} loadable segments"),
            ExecError::SegmentFileRange { index } => write!(f, "segment {index} lies outside the file"),
            ExecError::FileSizeExceedsMemSize { index } => write!(f, "segment {index} has more file than memory bytes"),
            ExecError::BadAlignment { index } => write!(f, "segment {index} is misaligned"),
            ExecError::OutsideUserSpace { index } => write!(f, "segment {index} lies outside the user image region"),
            ExecError::WritableAndExecutable { index } => write!(f, "segment {index} is both writable and executable"),
            ExecError::Overlap { first, second } => write!(f, "segments {first} and {second} share a page"),
            ExecError::EntryNotExecutable => write!(f, "entry point outside every executable segment"),
            ExecError::EmptySegment { index } => write!(f, "segment {index} is empty"),
        }
    }
}

fn check_identification(bytes: &[u8]) -> Result<(), ExecError> {
    if bytes.len() > MAX_FILE_SIZE {
        return Err(ExecError::TooLarge);
    }
    if bytes.len() < ELF_HEADER_SIZE {
        return Err(if bytes.len() >= 4 && bytes[..4] != *b"\x7fELF" { ExecError::NotElf } else { ExecError::Truncated });
    }
    if bytes[..4] != *b"\x7fELF" {
        return Err(ExecError::NotElf);
    }
    if bytes[4] != 2 {
        return Err(ExecError::Not64Bit);
    }
    if bytes[5] != 1 {
        return Err(ExecError::NotLittleEndian);
    }
    if bytes[6] != 1 || u32::from_le_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]) != 1 {
        return Err(ExecError::BadVersion);
    }
    Ok(())
}

/// Checks the program header table's entry size and bounds from the raw
/// header, before the parser sees it.
fn check_program_header_table(bytes: &[u8]) -> Result<(), ExecError> {
    let field = |range: core::ops::Range<usize>| {
        bytes[range].iter().rev().fold(0u64, |value, &byte| value << 8 | u64::from(byte))
    };
    let (offset, entry_size, count) = (field(32..40), field(54..56), field(56..58));
    if count > 0 && entry_size != PROGRAM_HEADER_SIZE {
        return Err(ExecError::Malformed);
    }
    let end = count.checked_mul(PROGRAM_HEADER_SIZE).and_then(|size| size.checked_add(offset));
    if end.is_none_or(|end| end > bytes.len() as u64) {
        return Err(ExecError::Truncated);
    }
    Ok(())
}

/// Checks `bytes` and returns how to load them.
pub fn plan(bytes: &[u8]) -> Result<LoadPlan, ExecError> {
    check_identification(bytes)?;
    check_program_header_table(bytes)?;
    let file = ElfBytes::<AnyEndian>::minimal_parse(bytes).map_err(|_| ExecError::Malformed)?;
    let header = &file.ehdr;
    if header.e_machine != EM_X86_64 {
        return Err(ExecError::WrongMachine);
    }
    if header.e_type != ET_EXEC {
        return Err(ExecError::WrongType);
    }
    let headers = file.segments().ok_or(ExecError::NoSegments)?;
    let mut segments: Vec<(usize, SegmentPlan)> = Vec::new();
    for (index, program_header) in headers.iter().enumerate() {
        match program_header.p_type {
            PT_INTERP | PT_DYNAMIC => return Err(ExecError::WrongType),
            PT_LOAD => {}
            _ => continue,
        }
        if segments.len() == MAX_SEGMENTS {
            return Err(ExecError::TooManySegments);
        }
        let file_end = program_header.p_offset.checked_add(program_header.p_filesz);
        if file_end.is_none_or(|end| end > bytes.len() as u64) {
            return Err(ExecError::SegmentFileRange { index });
        }
        if program_header.p_filesz > program_header.p_memsz {
            return Err(ExecError::FileSizeExceedsMemSize { index });
        }
        if program_header.p_memsz == 0 {
            return Err(ExecError::EmptySegment { index });
        }
        let align = program_header.p_align;
        if align > 1 && (!align.is_power_of_two() || program_header.p_vaddr % align != program_header.p_offset % align) {
            return Err(ExecError::BadAlignment { index });
        }
        let end = program_header.p_vaddr.checked_add(program_header.p_memsz);
        if program_header.p_vaddr < USER_IMAGE.start || end.is_none_or(|end| end > USER_IMAGE.end) {
            return Err(ExecError::OutsideUserSpace { index });
        }
        let writable = program_header.p_flags & PF_W != 0;
        let executable = program_header.p_flags & PF_X != 0;
        if writable && executable {
            return Err(ExecError::WritableAndExecutable { index });
        }
        segments.push((
            index,
            SegmentPlan {
                vaddr: program_header.p_vaddr,
                mem_size: program_header.p_memsz,
                file_offset: program_header.p_offset,
                file_size: program_header.p_filesz,
                writable,
                executable,
            },
        ));
    }
    if segments.is_empty() {
        return Err(ExecError::NoSegments);
    }
    segments.sort_by_key(|(_, segment)| segment.vaddr);
    for pair in segments.windows(2) {
        let ((first_index, first), (second_index, second)) = (pair[0], pair[1]);
        if first.page_end() > second.page_start() {
            let (first, second) = (first_index.min(second_index), first_index.max(second_index));
            return Err(ExecError::Overlap { first, second });
        }
    }
    let entry = header.e_entry;
    let entry_ok = segments
        .iter()
        .any(|(_, segment)| segment.executable && segment.vaddr <= entry && entry < segment.vaddr + segment.mem_size);
    if !entry_ok {
        return Err(ExecError::EntryNotExecutable);
    }
    Ok(LoadPlan { entry, segments: segments.into_iter().map(|(_, segment)| segment).collect() })
}

/// Builds ELF images for tests (host only).
#[cfg(test)]
pub mod builder {
    use alloc::vec;
    use alloc::vec::Vec;

    /// One program header to write.
    #[derive(Clone, Copy, Debug)]
    pub struct Segment {
        /// `p_type`.
        pub kind: u32,
        /// `p_flags`.
        pub flags: u32,
        /// `p_offset`.
        pub offset: u64,
        /// `p_vaddr`.
        pub vaddr: u64,
        /// `p_filesz`.
        pub file_size: u64,
        /// `p_memsz`.
        pub mem_size: u64,
        /// `p_align`.
        pub align: u64,
    }

    /// Writes an ELF64 header at 0, program headers at 64, then zeros up to `file_size`.
    pub fn build(kind: u16, machine: u16, entry: u64, segments: &[Segment], file_size: usize) -> Vec<u8> {
        let table_end = 64 + 56 * segments.len();
        let mut bytes = vec![0u8; file_size.max(table_end)];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2;
        bytes[5] = 1;
        bytes[6] = 1;
        bytes[16..18].copy_from_slice(&kind.to_le_bytes());
        bytes[18..20].copy_from_slice(&machine.to_le_bytes());
        bytes[20..24].copy_from_slice(&1u32.to_le_bytes());
        bytes[24..32].copy_from_slice(&entry.to_le_bytes());
        bytes[32..40].copy_from_slice(&64u64.to_le_bytes());
        bytes[52..54].copy_from_slice(&64u16.to_le_bytes());
        bytes[54..56].copy_from_slice(&56u16.to_le_bytes());
        bytes[56..58].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        bytes[58..60].copy_from_slice(&64u16.to_le_bytes());
        for (index, segment) in segments.iter().enumerate() {
            let at = 64 + 56 * index;
            bytes[at..at + 4].copy_from_slice(&segment.kind.to_le_bytes());
            bytes[at + 4..at + 8].copy_from_slice(&segment.flags.to_le_bytes());
            bytes[at + 8..at + 16].copy_from_slice(&segment.offset.to_le_bytes());
            bytes[at + 16..at + 24].copy_from_slice(&segment.vaddr.to_le_bytes());
            bytes[at + 24..at + 32].copy_from_slice(&segment.vaddr.to_le_bytes());
            bytes[at + 32..at + 40].copy_from_slice(&segment.file_size.to_le_bytes());
            bytes[at + 40..at + 48].copy_from_slice(&segment.mem_size.to_le_bytes());
            bytes[at + 48..at + 56].copy_from_slice(&segment.align.to_le_bytes());
        }
        bytes
    }

    /// A typical program: R headers at 0x400000, RX code, RW data with bss.
    pub fn typical() -> (Vec<Segment>, u64) {
        let load = |flags, offset, vaddr, file_size, mem_size| Segment {
            kind: 1,
            flags,
            offset,
            vaddr,
            file_size,
            mem_size,
            align: 0x1000,
        };
        (
            vec![
                load(4, 0, 0x40_0000, 0x200, 0x200),
                load(5, 0x200, 0x40_1200, 0x100, 0x100),
                load(6, 0x300, 0x40_2300, 0x80, 0x2000),
            ],
            0x40_1210,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::builder::{build, typical, Segment};
    use super::*;
    use elf::abi::ET_DYN;
    use proptest::prelude::*;

    const EXEC: u16 = ET_EXEC;
    const X86: u16 = EM_X86_64;

    fn typical_image() -> Vec<u8> {
        let (segments, entry) = typical();
        build(EXEC, X86, entry, &segments, 0x400)
    }

    fn with(change: impl FnOnce(&mut Vec<Segment>, &mut u64)) -> Result<LoadPlan, ExecError> {
        let (mut segments, mut entry) = typical();
        change(&mut segments, &mut entry);
        plan(&build(EXEC, X86, entry, &segments, 0x400))
    }

    #[test]
    fn a_typical_program_is_accepted() {
        let plan = plan(&typical_image()).unwrap();
        assert_eq!(plan.entry, 0x40_1210);
        assert_eq!(plan.segments.len(), 3);
        let data = plan.segments[2];
        assert!(data.writable && !data.executable);
        assert_eq!((data.file_size, data.mem_size), (0x80, 0x2000));
        assert_eq!((data.page_start(), data.page_end()), (0x40_2000, 0x40_5000));
        assert!(plan.segments[1].executable && !plan.segments[1].writable);
    }

    #[test]
    fn identification_errors() {
        let image = typical_image();
        assert_eq!(plan(&[]), Err(ExecError::Truncated));
        assert_eq!(plan(&image[..63]), Err(ExecError::Truncated));
        assert_eq!(plan(b"MZ\x90\x00 not an elf file at all, but long enough to be a header......."), Err(ExecError::NotElf));
        let mut bad = image.clone();
        bad[4] = 1;
        assert_eq!(plan(&bad), Err(ExecError::Not64Bit));
        let mut bad = image.clone();
        bad[5] = 2;
        assert_eq!(plan(&bad), Err(ExecError::NotLittleEndian));
        let mut bad = image.clone();
        bad[6] = 0;
        assert_eq!(plan(&bad), Err(ExecError::BadVersion));
        let (segments, entry) = typical();
        assert_eq!(plan(&build(EXEC, 0x28, entry, &segments, 0x400)), Err(ExecError::WrongMachine));
        assert_eq!(plan(&build(ET_DYN, X86, entry, &segments, 0x400)), Err(ExecError::WrongType));
        assert_eq!(plan(&alloc::vec![0u8; MAX_FILE_SIZE + 1]), Err(ExecError::TooLarge));
    }

    #[test]
    fn table_errors() {
        let mut image = typical_image();
        image[54] = 32; // e_phentsize
        assert_eq!(plan(&image), Err(ExecError::Malformed));
        let (segments, entry) = typical();
        let image = build(EXEC, X86, entry, &segments, 0);
        assert_eq!(plan(&image[..64 + 56 * 2]), Err(ExecError::Truncated));
        assert_eq!(plan(&build(EXEC, X86, entry, &[], 0x400)), Err(ExecError::NoSegments));
        let many: Vec<Segment> = (0..17)
            .map(|i| Segment { kind: 1, flags: 4, offset: 0, vaddr: 0x40_0000 + i * 0x1000, file_size: 0, mem_size: 8, align: 0 })
            .collect();
        assert_eq!(plan(&build(EXEC, X86, 0x40_0000, &many, 0x1000)), Err(ExecError::TooManySegments));
        assert_eq!(with(|s, _| s[0].kind = PT_INTERP), Err(ExecError::WrongType));
        assert_eq!(with(|s, _| s[2].kind = PT_DYNAMIC), Err(ExecError::WrongType));
        assert!(with(|s, _| s[0].kind = 0x6474_e551).is_ok(), "PT_GNU_STACK and friends are ignored");
    }

    #[test]
    fn segment_errors() {
        assert_eq!(with(|s, _| s[1].offset = 0x10_0000), Err(ExecError::SegmentFileRange { index: 1 }));
        assert_eq!(with(|s, _| s[1].offset = u64::MAX - 8), Err(ExecError::SegmentFileRange { index: 1 }));
        assert_eq!(with(|s, _| s[2].file_size = 0x3000), Err(ExecError::SegmentFileRange { index: 2 }));
        assert_eq!(with(|s, _| s[2].mem_size = 0x10), Err(ExecError::FileSizeExceedsMemSize { index: 2 }));
        assert_eq!(with(|s, _| s[1].align = 3), Err(ExecError::BadAlignment { index: 1 }));
        assert_eq!(with(|s, _| s[1].vaddr += 8), Err(ExecError::BadAlignment { index: 1 }));
        assert_eq!(with(|s, _| s[0].vaddr = 0x1000), Err(ExecError::OutsideUserSpace { index: 0 }));
        assert_eq!(with(|s, _| s[0].vaddr = 0xffff_8000_0000_0000), Err(ExecError::OutsideUserSpace { index: 0 }));
        assert_eq!(
            with(|s, _| {
                s[2].vaddr = u64::MAX - 0xfff + 0x300;
                s[2].mem_size = 0x2000;
            }),
            Err(ExecError::OutsideUserSpace { index: 2 })
        );
        assert_eq!(with(|s, _| s[1].flags = 7), Err(ExecError::WritableAndExecutable { index: 1 }));
        assert_eq!(
            with(|s, _| {
                s[0].file_size = 0;
                s[0].mem_size = 0;
            }),
            Err(ExecError::EmptySegment { index: 0 })
        );
        assert_eq!(
            with(|s, _| {
                s[0].file_size = 0x1300;
                s[0].mem_size = 0x1300;
            }),
            Err(ExecError::SegmentFileRange { index: 0 })
        );
        assert_eq!(with(|s, _| s[0].mem_size = 0x1300), Err(ExecError::Overlap { first: 0, second: 1 }));
        assert_eq!(with(|_, entry| *entry = 0x40_2400), Err(ExecError::EntryNotExecutable));
        assert_eq!(with(|_, entry| *entry = 0), Err(ExecError::EntryNotExecutable));
        assert_eq!(with(|_, entry| *entry = 0x40_1300), Err(ExecError::EntryNotExecutable), "one past the end");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn mutations_never_panic_and_accepted_plans_are_sound(
            flips in proptest::collection::vec((0usize..0x400, any::<u8>()), 1..8)
        ) {
            let mut image = typical_image();
            for (at, value) in flips {
                image[at] = value;
            }
            if let Ok(plan) = plan(&image) {
                for (index, segment) in plan.segments.iter().enumerate() {
                    prop_assert!(USER_IMAGE.contains(segment.vaddr));
                    prop_assert!(segment.vaddr + segment.mem_size <= USER_IMAGE.end);
                    prop_assert!(!(segment.writable && segment.executable));
                    prop_assert!(segment.file_offset + segment.file_size <= image.len() as u64);
                    if let Some(next) = plan.segments.get(index + 1) {
                        prop_assert!(segment.page_end() <= next.page_start());
                    }
                }
            }
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = plan(&bytes);
        }
    }
}
